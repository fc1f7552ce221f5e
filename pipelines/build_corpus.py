"""Scheduled, incremental corpus rebuilds: sources → cached partitions → dedup/mix → packed shards → verify → publish.

    python pipelines/build_corpus.py --config corpus.yaml [--output OUT] [--set shards.pack.context_length=4096] [--wait 600]

Each partition (an input file, or a byte range of a big one) is read, cleaned, quarantined and encoded once and
cached under OUT/cache/partitions/<content key>; a rebuild recomputes only partitions whose input, source config,
tokenizer or code changed, then re-packs (deterministic: same inputs, same shard bytes). Cached partitions are
verified against their sha256 checksums before use: a corrupt one is logged, removed and recomputed (ledger cache
stage "partitions_corrupt"). The build is assembled in OUT/builds/.tmp-<id>/, verified, published as
OUT/builds/<id>/ and OUT/builds/CURRENT is switched to it atomically. OUT/ledger.duckdb records every run.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from typing import Any

from tokenmill.operators.core.cli import fail_before_start, make_parser, parse_config, remote_or_local_output
from tokenmill.operators.core.config import ConfigError, check_keys, read_yaml
from tokenmill.operators.core.runtime import ray_runtime
from tokenmill.operators.corpus_build import BuildConfig, BuildLock, BuildStore, load_build_config
from tokenmill.operators.corpus_build.assemble import assemble_build
from tokenmill.operators.corpus_build.partition import (
    build_partitions,
    code_fingerprint,
    partition_source_counts,
    remove_stale_tmp,
)
from tokenmill.operators.corpus_build.plan import build_key, missing_partitions, plan_partitions, remove_corrupt
from tokenmill.operators.corpus_build.report import record_build, write_build_report
from tokenmill.operators.encode import load_engine
from tokenmill.operators.io.remote import is_remote, stage_output
from tokenmill.operators.shards import verify_shard_set
from tokenmill.pipelines._report import job


def load_corpus_config(config_file: str, overrides: dict[str, Any]) -> BuildConfig:
    """:func:`load_build_config`, after checking the YAML parses and names only known top-level keys (a typo'd
    ``tokeniser:`` is reported as the typo, with the key it resembles, not as a missing ``tokenizer``)."""
    raw = read_yaml(config_file)
    if not isinstance(raw, dict):
        raise ConfigError(f"--config {config_file}: expected a YAML mapping of key: value, got {type(raw).__name__}")
    check_keys(BuildConfig, {**raw, **overrides})
    return load_build_config(config_file, overrides)


def main(argv: list[str] | None = None) -> int:
    parser = make_parser(__doc__, BuildConfig, inputs=False, output=True, output_required=False, remote_output=True, config_required=True)
    parser.add_argument("--wait", type=float, default=0.0, help="seconds to wait when another build of the same output holds the lock (default: 0)")
    # --output OUT is the YAML's output: OUT (a relative OUT is relative to here, not to the YAML's folder)
    args, cfg = parse_config(parser, BuildConfig, argv, load=load_corpus_config)
    try:  # the YAML's (or --set) output, checked as --output is: a file or an unwritable place is one line, exit 2
        remote_or_local_output(cfg.output)
    except argparse.ArgumentTypeError as exc:
        parser.exit(2, f"{parser.prog}: error: output: {exc}\n")
    with fail_before_start(stage_output(cfg.output, persistent=True, keep_builds=cfg.keep_builds)) as output:  # s3: see README
        try:
            lock = BuildLock(output, wait=args.wait).acquire()
        except RuntimeError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 3
        except OSError as exc:  # a read-only output (or a file where a folder goes) that the check above let through
            parser.exit(2, f"{parser.prog}: error: output: cannot write {exc.filename or output}: {exc.strerror or exc}; choose a folder you can write\n")
        store, cache_dir = BuildStore(output), output / "cache" / "partitions"
        try:
            cache_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            lock.__exit__()
            parser.exit(2, f"{parser.prog}: error: output: cannot write {exc.filename or cache_dir}: {exc.strerror or exc}; choose a folder you can write\n")
        with lock, job(parser, args, "build_corpus", dataclasses.asdict(cfg), output / "ledger.duckdb") as run:
            ledger, run_id = run.ledger, run.run_id
            remove_stale_tmp(cache_dir)  # under the lock no other build writes here; it logs each folder it removes
            # 1. plan: every partition of every source, addressed by content
            t0 = time.perf_counter()
            engine, code = load_engine(cfg.tokenizer.path), code_fingerprint()
            partitions, inputs = plan_partitions(cfg, engine.sha256, code)
            ledger.add_inputs(inputs)
            key = build_key(cfg, [p["key"] for p in partitions], engine.sha256, code)
            current = store.load_summary(store.current())
            if current is not None and current.get("build_key") == key:  # complete and verified on its own
                absent = len(missing_partitions(cache_dir, partitions))
                ledger.add_cache("partitions", hits=len(partitions) - absent, misses=absent)
                ledger.add_cache("build", hits=1, misses=0)
                ledger.add_source_counts("partitions", partition_source_counts(cache_dir, [p["key"] for p in partitions]))
                print(
                    f"up to date: build {current['build_id']} already has these inputs, config, tokenizer and code "
                    f"({len(partitions)} partitions); nothing recomputed\n  CURRENT -> {current['build_id']}"
                )
                return 0
            ledger.add_cache("build", hits=0, misses=1)
            corrupt = remove_corrupt(cache_dir, partitions)  # checked before use; a bad one is rebuilt like a miss
            misses = missing_partitions(cache_dir, partitions, corrupt)
            ledger.add_cache("partitions", hits=len(partitions) - len(misses), misses=len(misses))
            ledger.add_cache("partitions_corrupt", hits=0, misses=len(corrupt))
            # 2. Ray workers build the missing partitions (retried tasks rewrite the same bytes); 3. assembly decides mix
            # and dedup on the driver in canonical order, Ray workers pack the kept rows into a staging build
            with ray_runtime(args.num_cpus, quiet=args.quiet):
                build_partitions(misses, cache_dir, cfg.tokenizer.path, cfg.workers)  # none missing: returns at once
                seconds_partitions, t1 = time.perf_counter() - t0, time.perf_counter()
                build_id = store.new_id(run_id)  # sorts after every published build
                staging, previous = store.staging(build_id), store.current()
                summary = assemble_build(
                    cfg,
                    [p["key"] for p in partitions],
                    cache_dir,
                    staging,
                    engine,
                    run_id,
                    build_id,
                    previous=store.load_summary(previous),
                    previous_dir=store.root / previous if previous else None,
                )
            if not (report := verify_shard_set(staging / "shards")).ok:
                raise RuntimeError(f"build {build_id} failed verification, not published: {report.problem}")
            summary |= {
                "seconds": {"partitions": round(seconds_partitions, 3), "assemble": round(time.perf_counter() - t1, 3)},
                "build_key": key,
                "cache": {"partitions": len(partitions), "hits": len(partitions) - len(misses), "misses": len(misses), "corrupt": len(corrupt)},
            }
            (staging / "build.json").write_text(json.dumps(summary, indent=2, sort_keys=True))
            write_build_report(staging, summary)
            final = store.publish(staging, build_id, cfg.keep_builds)
            record_build(ledger, summary, final, seconds_partitions)
            ledger.add_source_counts("partitions", partition_source_counts(cache_dir, [p["key"] for p in partitions]))
    t, shown = summary["totals"], f"{cfg.output.rstrip('/')}/builds/{build_id}" if is_remote(cfg.output) else final
    print(
        f"build {build_id} published: {shown}\n  {t['documents']} documents, {t['tokens']} tokens, {t['rows']} rows, "
        f"utilization {t['utilization']:.2%}; partitions {len(misses)} built, {len(partitions) - len(misses)} cached\n"
        f"  report: {shown}/report.html\n  CURRENT -> {build_id}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
