"""Scheduled, incremental corpus rebuilds: sources → cached partitions → dedup/mix → packed shards → verify → publish.

    python pipelines/build_corpus.py --config corpus.yaml [--set context_length=4096] [--wait 600]

Each partition (an input file, or a byte range of a big one) is read, cleaned, quarantined and encoded once and
cached under OUT/cache/partitions/<content key>; a rebuild recomputes only partitions whose input, source config,
tokenizer or code changed, then re-packs (deterministic: same inputs, same shard bytes). Cached partitions are
verified against their sha256 checksums before use: a corrupt, truncated or incomplete one is logged, removed and
recomputed (ledger cache stage "partitions_corrupt"). The new build is
assembled in OUT/builds/.tmp-<id>/, verified, published as OUT/builds/<id>/ and OUT/builds/CURRENT is switched to
it atomically. OUT/ledger.duckdb records every run, cache hits/misses, stages, quarantine reasons and artifacts.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import datetime as dt
import json
import logging
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script, with or without pip install

import ray  # noqa: E402

from operators.build import BuildLock, BuildStore, PartitionBuilder, load_build_config, partition_key  # noqa: E402
from operators.build.assemble import assemble_build  # noqa: E402
from operators.build.partition import (CorruptPartition, code_fingerprint, remove_partition,  # noqa: E402
                                       remove_stale_tmp, verify_partition)
from operators.build.report import write_build_report  # noqa: E402
from operators.core.config import ConfigError, load_overrides  # noqa: E402
from operators.core.runtime import cluster_cpus, ray_runtime  # noqa: E402
from operators.encode import load_engine  # noqa: E402
from operators.io import fingerprint, plan_read_tasks, resolve_inputs  # noqa: E402
from operators.ledger import Ledger  # noqa: E402
from operators.shards import verify_shard_set  # noqa: E402
from pipelines._report import run_guard  # noqa: E402

log = logging.getLogger("tokenmill.build")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, metavar="corpus.yaml", help="the corpus config (see README)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a top-level key, e.g. --set context_length=4096 (default: none)")
    parser.add_argument("--wait", type=float, default=0.0,
                        help="seconds to wait when another build of the same output holds the lock (default: 0)")
    parser.add_argument("--num-cpus", type=int, default=None, help="CPUs for the embedded Ray (default: all)")
    parser.add_argument("--quiet", action="store_true", help="warnings only, no progress bars (default: off)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        cfg = load_build_config(args.config, load_overrides(None, args.set))
    except ConfigError as exc:
        parser.error(f"config: {exc}")
    output = Path(cfg.output)
    try:
        lock = BuildLock(output, wait=args.wait).__enter__()
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    try:
        return _build(cfg, args, output, parser)
    finally:
        lock.__exit__(None, None, None)


def _build(cfg, args, output: Path, parser) -> int:
    ledger = Ledger(output / "ledger.duckdb")
    run_id = ledger.start_run("build_corpus", dataclasses.asdict(cfg))
    store = BuildStore(output)
    cache_dir = output / "cache" / "partitions"
    cache_dir.mkdir(parents=True, exist_ok=True)
    with run_guard(ledger, parser):
        # under the lock no other build writes here: half-written partitions of killed runs can go
        if stale := remove_stale_tmp(cache_dir):
            log.info("removed %d stale partition folder(s) left by interrupted builds", stale)
        # 1. plan: every partition of every source, addressed by content
        t0 = time.perf_counter()
        engine = load_engine(cfg.tokenizer["path"])
        code = code_fingerprint()
        partitions, inputs = [], []
        for src in cfg.sources:
            files = resolve_inputs(list(src.input), src.ingest.format)
            fps = {f.uri: fingerprint(f.uri) for f in files}
            inputs += [(f.uri, f.size, f.mtime, fps[f.uri]) for f in files]
            for task in plan_read_tasks(files, src.ingest.split_bytes):
                partitions.append({"key": partition_key(task, fps[task["uri"]], src.name, src.ingest, engine.sha256, code),
                                   "source_name": src.name, "task": json.dumps(task),
                                   "ingest": json.dumps(dataclasses.asdict(src.ingest))})
        ledger.add_inputs(inputs)
        misses = [p for p in partitions if not (cache_dir / p["key"] / "meta.json").is_file()]
        build_key = _build_key(cfg, [p["key"] for p in partitions], engine.sha256, code)
        current = store.load_summary(store.current())
        if current is not None and current.get("build_key") == build_key:
            # The published build is complete and verified on its own: the cache is not read, so not verified here.
            ledger.add_cache("partitions", hits=len(partitions) - len(misses), misses=len(misses))
            ledger.add_cache("build", hits=1, misses=0)
            print(f"up to date: build {current['build_id']} already has these inputs, config, tokenizer and code "
                  f"({len(partitions)} partitions); nothing recomputed\n  CURRENT -> {current['build_id']}")
            return 0
        ledger.add_cache("build", hits=0, misses=1)
        # Before use, every cached partition is checked against its checksums; a bad one is recomputed like a miss.
        corrupt = _remove_corrupt(cache_dir, partitions)
        misses = [p for p in partitions if p["key"] in corrupt or not (cache_dir / p["key"] / "meta.json").is_file()]
        ledger.add_cache("partitions", hits=len(partitions) - len(misses), misses=len(misses))
        ledger.add_cache("partitions_corrupt", hits=0, misses=len(corrupt))
        log.info("%d partitions: %d cached, %d to build", len(partitions), len(partitions) - len(misses), len(misses))

        # 2. build the missing partitions on the cluster (retried tasks rewrite the same bytes). Ray starts only
        #    now, and only when a partition must be built: an up-to-date rebuild needs no cluster; assembling
        #    runs on the driver, so Ray stops (and its temp dir goes) as soon as the partitions are cached
        if misses:
            with ray_runtime(args.num_cpus, quiet=args.quiet):
                workers = cfg.workers or cluster_cpus(cap=None)
                ds = ray.data.from_items(misses, override_num_blocks=len(misses))
                ds = ds.map_batches(PartitionBuilder, fn_constructor_args=(str(cache_dir), cfg.tokenizer["path"]),
                                    batch_size=1, batch_format="pyarrow", concurrency=(1, workers))
                ds.materialize()
        seconds_partitions = time.perf_counter() - t0

        # 3. assemble: mix, dedup and pack in canonical order into a staging build, then verify and publish
        t1 = time.perf_counter()
        build_id = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S") + "-" + run_id[-8:]
        staging = store.staging(build_id)
        summary = assemble_build(cfg, [p["key"] for p in partitions], cache_dir, staging, engine, run_id, build_id,
                                 previous=store.load_summary(store.current()),
                                 previous_dir=store.root / store.current() if store.current() else None)
        report = verify_shard_set(staging / "shards")
        if not report.ok:
            raise RuntimeError(f"build {build_id} failed verification, not published: {report.problem}")
        summary["seconds"] = {"partitions": round(seconds_partitions, 3), "assemble": round(time.perf_counter() - t1, 3)}
        summary["build_key"] = build_key
        summary["cache"] = {"partitions": len(partitions), "hits": len(partitions) - len(misses), "misses": len(misses),
                            "corrupt": len(corrupt)}
        (staging / "build.json").write_text(json.dumps(summary, indent=2, sort_keys=True))
        write_build_report(staging, summary)
        final = store.publish(staging, build_id, cfg.keep_builds)
        _record(ledger, summary, final, seconds_partitions)
    t = summary["totals"]
    print(f"build {build_id} published: {final}\n  {t['documents']} documents, {t['tokens']} tokens, {t['rows']} rows, "
          f"utilization {t['utilization']:.2%}; partitions {summary['cache']['misses']} built, "
          f"{summary['cache']['hits']} cached\n  report: {final / 'report.html'}\n  CURRENT -> {build_id}")
    return 0


def _remove_corrupt(cache_dir: Path, partitions: list[dict]) -> set[str]:
    """Verify the cached partitions of this plan (in threads: hashing is I/O and releases the GIL); remove the
    corrupt ones (folders named by their 32-hex key: tokenmill's own) and return their keys."""
    present = list({p["key"]: p for p in partitions if os.path.lexists(cache_dir / p["key"])}.values())

    def check(p: dict) -> CorruptPartition | None:
        try:
            verify_partition(cache_dir / p["key"], p["key"])
        except CorruptPartition as exc:
            return exc
        return None

    with concurrent.futures.ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        problems = list(pool.map(check, present))
    corrupt = set()
    for p, exc in zip(present, problems):
        if exc is None:
            continue
        uri = json.loads(p["task"])["uri"]
        log.warning("cached partition %s (source %s, %s) is corrupt: %s: %s; removing it and recomputing",
                    p["key"], p["source_name"], uri, exc.file, exc.problem)
        remove_partition(cache_dir, p["key"])
        corrupt.add(p["key"])
    return corrupt


def _build_key(cfg, keys: list[str], tokenizer_hash: str, code: str) -> str:
    """Content address of a whole build: its partitions, the assembly settings, the tokenizer and the code."""
    import hashlib

    assembly = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in ("output", "keep_builds", "workers")}
    payload = json.dumps({"partitions": keys, "assembly": assembly, "tokenizer": tokenizer_hash, "code": code,
                          "assemble_code": code_fingerprint(("operators/build", "operators/pack", "operators/shards"))},
                         sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def _record(ledger: Ledger, summary: dict, final: Path, seconds: float) -> None:
    """Stages chain: each stage's rows_in is the previous stage's rows_out."""
    t = summary["totals"]
    read_out = t["records_in"] - t["quarantined_read"]
    ledger.add_stage("partitions", rows_in=t["records_in"], rows_out=read_out,
                     rows_quarantined=t["quarantined_read"], seconds=seconds)
    ledger.add_stage("dedup", rows_in=read_out, rows_out=t["unique_documents"], rows_quarantined=t["duplicates"])
    ledger.add_stage("mix", rows_in=t["unique_documents"], rows_out=t["documents"], rows_quarantined=t["sampled_out"])
    ledger.add_stage("pack_shards", rows_in=t["documents"], rows_out=t["rows"], rows_quarantined=0, bytes=t["tokens"],
                     seconds=summary["seconds"]["assemble"])
    ledger.add_quarantine_reasons([(s, r, n) for (s, r), n in
                                   ((tuple(k.split("/", 1)), v) for k, v in summary["quarantine"].items())])
    ledger.add_artifact(final, "build")


if __name__ == "__main__":
    sys.exit(main())
