"""Encode a document dataset with any tokenizer and pack it into training shards (Megatron .bin/.idx + Parquet).

    python pipelines/pack_shards.py --tokenizer ../shared/data/tokenizers/gpt2 --input OUT/documents --output SHARDS
    python pipelines/pack_shards.py --tokenizer tok.model --input 'raw/*.jsonl.zst' --output SHARDS --set shards.pack.context_length=2048

--input takes documents/v1 Parquet written by ingest.py (a folder or files; ids are kept) or raw files of any
format ingest.py reads (they are ingested first, into OUTPUT/documents). Writes OUTPUT/shards/ with manifest.json,
OUTPUT/ledger.duckdb; check the result with pipelines/verify_shards.py OUTPUT/shards.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script, with or without pip install

import ray  # noqa: E402

from operators.core.cli import make_parser, parse_config  # noqa: E402
from operators.core.ingest_config import IngestConfig  # noqa: E402
from operators.core.runtime import cluster_cpus, init_ray, shutdown_ray  # noqa: E402
from operators.encode import Encoder, EncoderConfig, load_engine  # noqa: E402
from operators.ledger import Ledger  # noqa: E402
from operators.shards import ShardWriterConfig  # noqa: E402
from pipelines._ingest import documents_input  # noqa: E402
from pipelines._report import run_guard  # noqa: E402
from pipelines._shards import pack_dataset  # noqa: E402


@dataclass(frozen=True, kw_only=True, slots=True)
class PackShardsConfig:
    """Encode + pack job."""

    text_column: str = "text"
    """Column of the documents to encode."""
    encode_batch_size: int = 1024
    """Documents per encode batch."""
    workers: int = 0
    """Encoder actors: 0 = one per cluster CPU (at most 8)."""
    shards: ShardWriterConfig = field(default_factory=ShardWriterConfig)
    """Shard writing and packing (--set shards.pack.context_length=2048, shards.pack.eos_id=..., shards.formats=[parquet])."""
    ingest: IngestConfig = field(default_factory=IngestConfig)
    """Ingestion options when --input names raw files."""

    def __post_init__(self) -> None:
        if self.encode_batch_size <= 0:
            raise ValueError("encode_batch_size must be > 0")
        if self.workers < 0:
            raise ValueError("workers must be >= 0")


def main(argv: list[str] | None = None) -> int:
    parser = make_parser(__doc__, PackShardsConfig)
    parser.add_argument("--tokenizer", required=True, metavar="PATH",
                        help="tokenizer.json, a folder with one (or GPT-2 encoder.json + vocab.bpe), or a sentencepiece .model")
    args, cfg = parse_config(parser, PackShardsConfig, argv)
    output = Path(args.output).resolve()
    ledger = Ledger(output / "ledger.duckdb")
    run_id = ledger.start_run("pack_shards", {"input": args.input, "tokenizer": args.tokenizer, **dataclasses.asdict(cfg)})
    runtime = init_ray(args.num_cpus, quiet=args.quiet)
    with run_guard(ledger, parser):
        # 1. documents: ingested Parquet as is, anything else through ingestion first
        docs = documents_input(args.input, cfg.ingest, output, ledger)
        engine = load_engine(args.tokenizer)
        workers = cfg.workers or cluster_cpus()

        # 2. encode in an actor pool (the tokenizer loads once per actor), 3. pack + commit on the driver
        t0 = time.perf_counter()
        ds = ray.data.read_parquet(docs).select_columns(["id", cfg.text_column])
        ds = ds.map_batches(Encoder, fn_constructor_args=(EncoderConfig(tokenizer=args.tokenizer, text_column=cfg.text_column),),
                            batch_size=cfg.encode_batch_size, batch_format="pyarrow", concurrency=(1, workers))
        manifest = pack_dataset(ds, output / "shards", cfg.shards, vocab_size=engine.vocab_size,
                                tokenizer_hash=engine.sha256, run_id=run_id, ledger=ledger)
        seconds = time.perf_counter() - t0
    shutdown_ray(runtime)
    t = manifest["totals"]
    print(f"shards: {output / 'shards'}  ({t['documents']} documents, {t['tokens']} tokens, {t['rows']} rows of "
          f"{cfg.shards.pack.context_length}, utilization {t['utilization']:.2%}, {seconds:.1f} s)\n"
          f"verify: python pipelines/verify_shards.py {output / 'shards'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
