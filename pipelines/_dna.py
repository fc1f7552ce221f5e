"""The steps of pipelines/dna_bpe.py: check the inputs, ingest FASTA into segments, train BPE on them and save the
tokenizer, encode the segments with it (in Ray workers: the driver never holds the corpus), write the report and
print the summary."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import shutil
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import ray

from tokenmill.operators.bpe import BpeModel, BpeTrainerConfig, save_hf_tokenizer, train_bpe
from tokenmill.operators.core.config import ConfigError
from tokenmill.operators.core.ingest_config import IngestConfig
from tokenmill.operators.core.outputs import check_replaceable, mark_ours
from tokenmill.operators.core.runtime import ray_data
from tokenmill.operators.encode import EncodeConfig, load_engine
from tokenmill.operators.io import partition_size, resolve_inputs, runs_of_at_least
from tokenmill.operators.io.remote import is_remote
from tokenmill.operators.ledger import Ledger
from tokenmill.operators.ledger.reconcile import CountMismatch
from tokenmill.operators.report.dna_report import bp_per_token_by_source, write_dna_report
from tokenmill.operators.shards import ShardWriterConfig
from tokenmill.operators.shards.part_writer import SEGMENTS_FORMAT, PartWriterConfig, part_name
from tokenmill.pipelines._ingest import ingest
from tokenmill.pipelines._inputs import check_fasta
from tokenmill.pipelines._report import print_ingest_summary
from tokenmill.pipelines._shards import commit_parts, documents_per_source, record_encoder, write_partitions


@contextlib.contextmanager
def timed(seconds: dict[str, float], phase: str) -> Iterator[None]:
    """Add the wall time of the ``with`` body to ``seconds[phase]``."""
    t0 = time.perf_counter()
    yield
    seconds[phase] = seconds.get(phase, 0.0) + time.perf_counter() - t0


def check_inputs(inputs: list[str], held_out: list[str], fmt: str, outputs: Iterable[Path]) -> None:
    """Fail in milliseconds, before Ray starts: a bad --input/--eval, a file that cannot be FASTA (a .txt, a .jsonl,
    a file with no '>' header at its start), or an output folder tokenmill may not replace."""
    for flag, patterns in [("--input", inputs), ("--eval", held_out)] if held_out else [("--input", inputs)]:
        check_fasta(resolve_inputs(patterns, fmt), flag)
    for path in outputs:
        check_replaceable(path)


def ingest_fasta(inputs: list[str], held_out: list[str], cfg: IngestConfig, output: Path, ledger: Ledger) -> dict[str, Path]:
    """Ingest FASTA into segments (+ quarantine): the training inputs into OUT/dna_segments and the held-out ones,
    the same way, into OUT/eval/dna_segments; returns the segment folders, ``train`` and (if any) ``eval``."""
    train = ingest(inputs, cfg, output, ledger)
    if train.dna_segments is None:
        raise ConfigError("no FASTA input: dna_bpe.py trains on .fa/.fna/.fasta files (optionally .gz/.zst)")
    segments = {"train": train.dna_segments}
    if held_out:
        evaluated = ingest(held_out, cfg, output / "eval", ledger, stage_prefix="eval_")
        if evaluated.dna_segments is not None:
            segments["eval"] = evaluated.dna_segments
    print_ingest_summary(train)
    return segments


def train_on_segments(segment_dir: Path, trainer: BpeTrainerConfig, actors: int, ledger: Ledger) -> BpeModel:
    """Train BPE on the ``seq`` column of the segment Parquet files in ``segment_dir``; the ledger gets stage
    ``train_bpe`` (segments, vocabulary size, bp, seconds).

    ``actors``: 0 = one per live node of the Ray cluster; N > 1 = N BPE actors, each pulling its own blocks of the
    segments; 1 = one Ray task that reads the segments itself and trains in-process (no per-merge round trips).
    """
    files = sorted(str(p) for p in segment_dir.glob("*.parquet"))
    if not files:
        raise ConfigError("the corpus is empty after cleaning: every segment was quarantined (see OUT/quarantine)")
    t0 = time.perf_counter()
    actors = actors or max(1, len([n for n in ray.nodes() if n.get("Alive")]))
    if actors > 1:
        segments = ray_data().read_parquet(files).select_columns(["seq"])
        model = train_bpe(segments, dataclasses.replace(trainer, workers=actors))
    else:
        model = ray.get(_train_in_task.remote(files, dataclasses.replace(trainer, workers=1)))
    ledger.add_stage(
        "train_bpe",
        rows_in=model.stats.get("sequences", 0),
        rows_out=model.vocab_size,
        rows_quarantined=0,
        bytes=model.stats.get("characters", 0),
        seconds=time.perf_counter() - t0,
    )
    return model


@ray.remote(num_cpus=1)
def _train_in_task(files: list[str], trainer: BpeTrainerConfig) -> BpeModel:
    """Train on the ``seq`` column of the segment Parquet ``files`` in this (Ray worker) process."""
    return train_bpe([pq.read_table(f, columns=["seq"]) for f in files], trainer)


def save_tokenizer(model: BpeModel, folder: Path, ledger: Ledger) -> Path:
    """Write the HF tokenizer folder (see :func:`operators.bpe.save_hf_tokenizer`), record it in the ledger and
    return the path of its ``tokenizer.json``."""
    folder = save_hf_tokenizer(model, folder)
    ledger.add_artifact(folder, "tokenizer")
    return folder / "tokenizer.json"


def encode_and_pack(
    segments: dict[str, Path],
    token_dirs: dict[str, Path],
    tokenizer_json: Path,
    shards_dir: Path,
    shard_cfg: ShardWriterConfig,
    *,
    batch_size: int,
    workers: int,
    partition_bp: int,
    segment_length: int,
    ledger: Ledger,
    run_id: str,
    encode: EncodeConfig | None = None,
) -> dict:
    """Encode every segment folder ``segments[name]`` into ``token_dirs[name]`` and pack the training segments into
    ``shards_dir``, all in Ray workers; the driver plans, checks the counts and commits. Returns the manifest.

    Partitions are runs of whole (source, record) pairs in key order, about ``partition_bp`` of sequence each (a
    longer record is a partition of its own): each worker reads its pairs' segments from every segment file, in
    document-key order (:data:`operators.shards.part_writer.SEGMENT_KEY`), so tokens and shards depend on the
    segments and the config only, never on how ingestion laid them out in files or on which worker finished first.
    Tokens folders are replaced only if tokenmill marked them as its own (a new one is marked as it is created, so a
    run that dies half-way leaves a folder the next run may replace); the ledger gets ``encode_<name>`` per folder
    and ``pack_shards``.

    Raises:
        CountMismatch: a worker encoded or packed a different number of segments than the folder holds.
    """
    encode = encode or EncodeConfig()
    engine = load_engine(tokenizer_json, encode.engine)  # proves a fast engine on the parity set; the workers check again
    settings = json.dumps(
        {"shards": dataclasses.asdict(shard_cfg), "tokenizer": engine.sha256, "run": run_id}, sort_keys=True, default=str
    )  # shard names unique to the run: never over a committed file
    manifest: dict = {}
    for name, segment_dir in segments.items():
        t0 = time.perf_counter()
        target = token_dirs[name]
        files = sorted(str(p) for p in segment_dir.glob("*.parquet"))
        with duckdb.connect() as con:  # segment counts per (source, record): the plan, and the count to check
            pairs = con.execute("SELECT source, record, count(*) FROM read_parquet(?) GROUP BY ALL ORDER BY ALL", [files]).fetchall() if files else []
        size = partition_size(sum(pair[2] for pair in pairs) * segment_length, partition_bp)  # small inputs: ~16 partitions
        groups = runs_of_at_least(pairs, lambda pair: pair[2] * segment_length, size)
        items = [
            {
                "index": i,
                # part_name hashes any JSON list; its annotation (list[dict], in operators/shards/part_writer.py) is too narrow
                "name": part_name(i, group, settings),  # type: ignore[arg-type]
                "tasks": json.dumps([{"format": SEGMENTS_FORMAT, "files": files, "keys": [p[:2] for p in group]}]),
            }
            for i, group in enumerate(groups)
        ]
        check_replaceable(target)
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        mark_ours(target, "tokens", run_id)
        train = name == "train"
        if train:
            shards_dir.mkdir(parents=True, exist_ok=True)
        parts = write_partitions(  # one Ray task per partition, as pack-shards'
            items,
            PartWriterConfig(
                shards_dir=str(shards_dir),
                tokenizer=str(tokenizer_json),
                shard_cfg=shard_cfg,
                ingest=IngestConfig(format="fasta"),
                quarantine_dir=None,
                receipts_dir=None,
                documents_dir=None,
                run_id=run_id,
                encode_batch_size=batch_size,
                tokens_dir=str(target),
                write_shards=train,
                encode=encode,
            ),
            workers,
        )
        expected: dict[str, int] = {}
        for source, _, n in pairs:
            expected[source] = expected.get(source, 0) + n
        handled = documents_per_source(parts)
        rows, tokens = bp_per_token_by_source(target, totals_only=True)  # counted again from the written files
        if handled != expected or rows != sum(expected.values()):
            raise CountMismatch(f"{name} segments: {sum(expected.values())} in {segment_dir}, {sum(handled.values())} encoded, {rows} written to {target}")
        encoder = record_encoder(ledger, f"encode_{name}", engine, parts)
        ledger.add_stage(
            f"encode_{name}",
            rows_in=rows,
            rows_out=rows,
            rows_quarantined=0,
            tokens=tokens,
            bytes=sum(f.stat().st_size for f in target.rglob("*.parquet")),
            seconds=time.perf_counter() - t0,
        )
        if train:
            manifest = commit_parts(
                shards_dir,
                parts,
                shard_cfg,
                engine,
                ledger,
                expected_docs=rows,
                seconds=time.perf_counter() - t0,
                source={"partitions": len(parts), "encoder": encoder},
            )
    return manifest


def write_report(output: Path, model: BpeModel, token_dirs: dict[str, Path], seconds: dict[str, float], run_id: str, manifest: dict, ledger: Ledger) -> dict:
    """Write OUT/report.json and OUT/report.md (see :func:`operators.report.dna_report.write_dna_report`), record them
    in the ledger and return the report."""
    report = write_dna_report(output, model, token_dirs, seconds, run_id, shards=manifest["totals"])
    for name in ("report.json", "report.md"):
        ledger.add_artifact(output / name, "report")
    return report


def print_summary(output: Path, manifest: dict, report: dict, context_length: int, shown_as: str | None = None) -> None:
    """Print where the outputs are (``shown_as`` when it is the remote output ``output`` stages), the shard
    utilization and the bp/token."""
    t = manifest["totals"]
    root = shown_as.rstrip("/") if shown_as and is_remote(shown_as) else str(output)
    print(
        f"tokenizer: {root}/tokenizer\ntokens: {root}/tokens\nshards: {root}/shards ({t['rows']} "
        f"rows of {context_length}, utilization {t['utilization']:.2%})\nreport: {root}/report.md "
        f"(vocab {report['vocab_size']}, {report['bp_per_token']:.2f} bp/token)\nledger: {root}/ledger.duckdb"
    )
