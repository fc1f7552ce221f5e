"""The steps of pipelines/dna_bpe.py: check the inputs, ingest FASTA into segments, train BPE on them and save the
tokenizer, encode the segments with it (in Ray workers: the driver never holds the corpus), write the report and
print the summary."""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import time
from pathlib import Path
from typing import Iterable, Iterator

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import ray

from operators.bpe import BpeModel, BpeTrainerConfig, save_hf_tokenizer, train_bpe
from operators.core.config import ConfigError
from operators.core.ingest_config import IngestConfig
from operators.core.runtime import actor_pool
from operators.encode import Encoder, EncoderConfig
from operators.io import resolve_inputs
from operators.io.remote import is_remote, staged_output  # noqa: F401 - staged_output: re-exported for dna_bpe.py
from operators.ledger import Ledger
from operators.report.dna_report import bp_per_token_by_source, write_dna_report
from pipelines._ingest import ingest, is_ours, mark_ours
from pipelines._report import print_ingest_summary

SEGMENT_KEY = ("source", "record", "offset", "id")
"""Document key of a segment: tokens and shards are written in this order, never in arrival order (the id, a hash
of the segment's location, breaks ties between FASTA records of the same name)."""


@contextlib.contextmanager
def timed(seconds: dict[str, float], phase: str) -> Iterator[None]:
    """Add the wall time of the ``with`` body to ``seconds[phase]``."""
    t0 = time.perf_counter()
    yield
    seconds[phase] = seconds.get(phase, 0.0) + time.perf_counter() - t0


def check_inputs(inputs: list[str], held_out: list[str], fmt: str, outputs: Iterable[Path]) -> None:
    """Fail in milliseconds, before Ray starts: a bad --input/--eval, or an output folder tokenmill may not replace."""
    for patterns in [inputs, held_out] if held_out else [inputs]:
        resolve_inputs(patterns, fmt)
    for path in outputs:
        check_replaceable(path)


def ingest_fasta(inputs: list[str], held_out: list[str], cfg: IngestConfig, output: Path,
                 ledger: Ledger) -> dict[str, Path]:
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


def check_replaceable(path: Path) -> None:
    """Raise a ConfigError when ``path`` exists and tokenmill did not mark it as its own (it is never replaced)."""
    if path.exists() and not is_ours(path):
        raise ConfigError(f"{path} exists and was not written by tokenmill (no .tokenmill marker in it): it is never "
                          f"replaced; choose another --output, or move that folder away")


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
        segments = ray.data.read_parquet(files).select_columns(["seq"])
        model = train_bpe(segments, dataclasses.replace(trainer, workers=actors))
    else:
        model = ray.get(_train_in_task.remote(files, dataclasses.replace(trainer, workers=1)))
    ledger.add_stage("train_bpe", rows_in=model.stats.get("sequences", 0), rows_out=model.vocab_size,
                     rows_quarantined=0, bytes=model.stats.get("characters", 0), seconds=time.perf_counter() - t0)
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


def encode_segments(segments: dict[str, Path], token_dirs: dict[str, Path], tokenizer_json: Path, *,
                    batch_size: int, workers: int, ledger: Ledger, run_id: str) -> None:
    """Encode each segment folder ``segments[name]`` with the trained tokenizer into ``token_dirs[name]``; the ledger
    gets a stage ``encode_{name}`` for each (see :func:`encode_segment_dir`)."""
    for name, segment_dir in segments.items():
        encode_segment_dir(segment_dir, token_dirs[name], tokenizer_json, batch_size=batch_size, workers=workers,
                           ledger=ledger, run_id=run_id, stage=f"encode_{name}")


def encode_segment_dir(segment_dir: Path, target: Path, tokenizer_json: Path, *, batch_size: int, workers: int,
                       ledger: Ledger, run_id: str, stage: str) -> None:
    """Encode the segments in ``segment_dir`` with the trained tokenizer in up to ``workers`` Ray workers and write
    them to ``target`` (Parquet, sorted by :data:`SEGMENT_KEY`, replaced only if tokenmill marked it as its own);
    the ledger gets stage ``stage`` (segments, tokens, seconds)."""
    t0 = time.perf_counter()
    encoder = EncoderConfig(tokenizer=str(tokenizer_json), text_column="seq")
    ds = ray.data.read_parquet(str(segment_dir))
    ds = ds.map_batches(Encoder, fn_constructor_args=(encoder,), batch_size=batch_size, batch_format="pyarrow",
                        compute=actor_pool(workers))
    ds = ds.map_batches(_keep_token_columns, batch_format="pyarrow", batch_size=None).sort(list(SEGMENT_KEY))
    check_replaceable(target)
    shutil.rmtree(target, ignore_errors=True)
    ds.write_parquet(str(target), compression="zstd", min_rows_per_file=50_000)
    mark_ours(target, "tokens", run_id)
    rows, tokens = bp_per_token_by_source(target, totals_only=True)
    ledger.add_stage(stage, rows_in=rows, rows_out=rows, rows_quarantined=0, tokens=tokens,
                     bytes=sum(f.stat().st_size for f in target.rglob("*.parquet")), seconds=time.perf_counter() - t0)


def _keep_token_columns(batch: pa.Table) -> pa.Table:
    """Keep what the report and the shards need: ids, position, bp and token counts."""
    return batch.select(["id", "source", "record", "offset", "input_ids", "n_tokens"]).append_column(
        "n_bp", pc.utf8_length(batch["seq"]).cast("int32"))


def write_report(output: Path, model: BpeModel, token_dirs: dict[str, Path], seconds: dict[str, float], run_id: str,
                 manifest: dict, ledger: Ledger) -> dict:
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
    print(f"tokenizer: {root}/tokenizer\ntokens: {root}/tokens\nshards: {root}/shards ({t['rows']} "
          f"rows of {context_length}, utilization {t['utilization']:.2%})\nreport: {root}/report.md "
          f"(vocab {report['vocab_size']}, {report['bp_per_token']:.2f} bp/token)\nledger: {root}/ledger.duckdb")
