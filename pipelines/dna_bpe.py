"""DNABERT-2 tokenizer training: FASTA → 1000-bp segments → exact BPE (vocab 4096) → HF tokenizer → encoded segments.

    python pipelines/dna_bpe.py --input '../shared/data/dna/*' --output OUT [--eval 'other/*.fa'] [--set vocab_size=4096]
    ray job submit --working-dir . -- python pipelines/dna_bpe.py --input '/abs/genomes/*.fa' --output /abs/OUT

Writes OUT/dna_segments/, OUT/quarantine/, OUT/tokenizer/ (tokenizer.json, tokenizer_config.json,
special_tokens_map.json: loads in `tokenizers` and `transformers`), OUT/tokens/ (token ids per segment, Parquet),
OUT/shards/ (packed training shards with a manifest), OUT/report.json and OUT/report.md, OUT/ledger.duckdb.
"""

from __future__ import annotations

import dataclasses
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script, with or without pip install

import pyarrow.compute as pc  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
import ray  # noqa: E402

from operators.bpe import BpeModel, BpeTrainerConfig, save_hf_tokenizer, train_bpe  # noqa: E402
from operators.core.cli import make_parser, parse_config  # noqa: E402
from operators.core.config import ConfigError  # noqa: E402
from operators.core.ingest_config import IngestConfig  # noqa: E402
from operators.core.runtime import cluster_cpus, ray_runtime  # noqa: E402
from operators.encode import Encoder, EncoderConfig  # noqa: E402
from operators.io import resolve_inputs  # noqa: E402
from operators.ledger import Ledger, file_sha256  # noqa: E402
from operators.pack import PackerConfig  # noqa: E402
from operators.shards import ShardWriterConfig  # noqa: E402
from operators.report.dna_report import bp_per_token_by_source, write_dna_report  # noqa: E402
from pipelines._ingest import ingest, is_ours, mark_ours  # noqa: E402
from pipelines._report import print_ingest_summary, run_guard  # noqa: E402
from pipelines._shards import pack_dataset  # noqa: E402

SEGMENT_KEY = ("source", "record", "offset", "id")
"""Document key of a segment: tokens and shards are written in this order, never in arrival order (the id, a hash
of the segment's location, breaks ties between FASTA records of the same name)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class DnaBpeConfig:
    """DNA BPE training job; the defaults are DNABERT-2's."""

    vocab_size: int = 4096
    """Vocabulary size including the 5 special tokens [UNK] [CLS] [SEP] [PAD] [MASK]."""
    min_frequency: int = 2
    """A pair must occur at least this often to be merged."""
    max_token_length: int | None = None
    """Longest token in bp; None for no limit."""
    workers: int = 0
    """BPE training actors: 0 = one per node of the Ray cluster (a single machine trains in one process, which is
    fastest there: no per-merge round trips), 1 = in one Ray task, N = N actors."""
    encode_batch_size: int = 2048
    """Segments per batch when encoding with the trained tokenizer."""
    shards: ShardWriterConfig = field(default_factory=lambda: ShardWriterConfig(pack=PackerConfig(
        context_length=4096, bos_id=1, eos_id=2, pad_id=3, split_to_fill=64)))
    """Packed shards (--set shards.pack.context_length=...): [CLS]/[SEP] around each segment, [PAD] fill; 1000-bp
    segments (~200 tokens) fill rows only if the last one may be cut (split_to_fill), never across documents."""
    ingest: IngestConfig = field(default_factory=lambda: IngestConfig(format="fasta"))
    """Ingestion options (segment_length, min_length, n_policy, iupac_policy, dedup, ...): --set ingest.KEY=VALUE."""

    def __post_init__(self) -> None:
        if self.workers < 0:
            raise ValueError("workers must be >= 0 (0 = one per cluster node)")
        if self.encode_batch_size <= 0:
            raise ValueError("encode_batch_size must be > 0")
        self.trainer(workers=1)  # vocab_size / min_frequency / max_token_length errors surface as config errors

    def trainer(self, workers: int) -> BpeTrainerConfig:
        """The BPE trainer config of this job (DNABERT-2 special tokens and alphabet)."""
        return BpeTrainerConfig(vocab_size=self.vocab_size, min_frequency=self.min_frequency,
                                max_token_length=self.max_token_length, workers=workers)


def main(argv: list[str] | None = None) -> int:
    parser = make_parser(__doc__, DnaBpeConfig)
    parser.add_argument("--eval", action="append", default=[], metavar="PATH_OR_GLOB",
                        help="held-out FASTA to report bp/token on; repeatable (default: none)")
    args, cfg = parse_config(parser, DnaBpeConfig, argv)
    output = Path(args.output).resolve()
    ledger = Ledger(output / "ledger.duckdb")
    run_id = ledger.start_run("dna_bpe", {"input": args.input, "eval": args.eval, **dataclasses.asdict(cfg)})
    seconds: dict[str, float] = {}
    with run_guard(ledger, parser):
        # a bad --input/--eval fails here, in milliseconds, before Ray starts
        resolve_inputs(args.input, cfg.ingest.format)
        if args.eval:
            resolve_inputs(args.eval, cfg.ingest.format)
        for tokens_dir in (output / "tokens", output / "eval" / "tokens"):  # replaced below: only if ours
            _check_ours(tokens_dir)
        # ray_runtime inside run_guard: Ray is stopped and its temp dir removed before the run is marked failed
        with ray_runtime(args.num_cpus, quiet=args.quiet):
            # 1. ingest: FASTA → segments (+ quarantine), and the held-out files the same way
            t0 = time.perf_counter()
            train = ingest(args.input, cfg.ingest, output, ledger)
            if train.dna_segments is None:
                raise ConfigError("no FASTA input: dna_bpe.py trains on .fa/.fna/.fasta files (optionally .gz/.zst)")
            held_out = (ingest(args.eval, cfg.ingest, output / "eval", ledger, stage_prefix="eval_")
                        if args.eval else None)
            seconds["ingest"] = time.perf_counter() - t0
            print_ingest_summary(train)

            # 2. train: exact BPE over the segments, in Ray workers: the driver never holds the corpus
            t0 = time.perf_counter()
            segment_files = sorted(str(p) for p in train.dna_segments.glob("*.parquet"))
            if not segment_files:
                raise ConfigError("the corpus is empty after cleaning: every segment was quarantined "
                                  "(see OUT/quarantine)")
            workers = cfg.workers or max(1, len([n for n in ray.nodes() if n.get("Alive")]))
            if workers > 1:  # BPE actors, each pulling its own blocks of the segments
                segments = ray.data.read_parquet(segment_files).select_columns(["seq"])
                model = train_bpe(segments, cfg.trainer(workers))
            else:  # one Ray task that reads the segments itself and trains in-process (no per-merge round trips)
                model = ray.get(_train_in_task.remote(segment_files, cfg.trainer(1)))
            seconds["train"] = time.perf_counter() - t0
            n_segments = model.stats.get("sequences", 0)
            ledger.add_stage("train_bpe", rows_in=n_segments, rows_out=model.vocab_size, rows_quarantined=0,
                             bytes=model.stats.get("characters", 0), seconds=seconds["train"])
            tokenizer_dir = save_hf_tokenizer(model, output / "tokenizer")
            ledger.add_artifact(tokenizer_dir, "tokenizer")

            # 3. encode every segment (train and held out) with the trained tokenizer, in Ray map_batches
            t0 = time.perf_counter()
            encoders = cluster_cpus()
            encoder = EncoderConfig(tokenizer=str(Path(tokenizer_dir) / "tokenizer.json"), text_column="seq")
            token_dirs = {"train": output / "tokens"}
            if held_out is not None and held_out.dna_segments is not None:
                token_dirs["eval"] = output / "eval" / "tokens"
            for name, target in token_dirs.items():
                src = train.dna_segments if name == "train" else held_out.dna_segments
                ds = ray.data.read_parquet(str(src))
                ds = ds.map_batches(Encoder, fn_constructor_args=(encoder,), batch_size=cfg.encode_batch_size,
                                    batch_format="pyarrow", concurrency=(1, encoders))
                ds = ds.map_batches(_add_length, batch_format="pyarrow", batch_size=None).sort(list(SEGMENT_KEY))
                _check_ours(target)
                shutil.rmtree(target, ignore_errors=True)
                ds.write_parquet(str(target), compression="zstd", min_rows_per_file=50_000)
                mark_ours(target, "tokens", run_id)
                rows, toks = bp_per_token_by_source(target, totals_only=True)
                ledger.add_stage(f"encode_{name}", rows_in=rows, rows_out=rows, rows_quarantined=0, bytes=toks,
                                 seconds=time.perf_counter() - t0)
            seconds["encode"] = time.perf_counter() - t0

            # 4. pack the training segments into shards in document-key order (driver-side writer: atomic commit,
            #    manifest last): the same inputs and config give the same bytes on a laptop and on a cluster
            t0 = time.perf_counter()
            manifest = pack_dataset(ray.data.read_parquet(str(token_dirs["train"])), output / "shards", cfg.shards,
                                    vocab_size=model.vocab_size, run_id=run_id, ledger=ledger,
                                    tokenizer_hash=file_sha256(Path(tokenizer_dir) / "tokenizer.json"),
                                    order_by=SEGMENT_KEY)
            seconds["pack"] = time.perf_counter() - t0

            # 5. report: vocab, token lengths, bp/token overall, per input file and per held-out file
            report = write_dna_report(output, model, token_dirs, seconds, run_id, shards=manifest["totals"])
            ledger.add_artifact(output / "report.json", "report")
            ledger.add_artifact(output / "report.md", "report")
    print(f"tokenizer: {tokenizer_dir}\ntokens: {output / 'tokens'}\nshards: {output / 'shards'} "
          f"({manifest['totals']['rows']} rows of {cfg.shards.pack.context_length}, "
          f"utilization {manifest['totals']['utilization']:.2%})\nreport: {output / 'report.md'} "
          f"(vocab {report['vocab_size']}, {report['bp_per_token']:.2f} bp/token)\nledger: {output / 'ledger.duckdb'}")
    return 0


@ray.remote(num_cpus=1)
def _train_in_task(files: list[str], trainer: BpeTrainerConfig) -> BpeModel:
    """Train on the ``seq`` column of the segment Parquet ``files`` in this (Ray worker) process."""
    return train_bpe([pq.read_table(f, columns=["seq"]) for f in files], trainer)


def _add_length(batch):
    """Keep what the report and the shards need: ids, position, bp and token counts."""
    return batch.select(["id", "source", "record", "offset", "input_ids", "n_tokens"]).append_column(
        "n_bp", pc.utf8_length(batch["seq"]).cast("int32"))


def _check_ours(path: Path) -> None:
    if path.exists() and not is_ours(path):
        raise ConfigError(f"{path} exists and was not written by tokenmill (no .tokenmill marker in it): it is never "
                          f"replaced; choose another --output, or move that folder away")


if __name__ == "__main__":
    sys.exit(main())
