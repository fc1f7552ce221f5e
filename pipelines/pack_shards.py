"""Encode documents with any tokenizer and pack them into training shards (Megatron .bin/.idx + Parquet).

    python pipelines/pack_shards.py --tokenizer ../shared/data/tokenizers/gpt2 --input 'raw/*.jsonl.zst' --output OUT
    python pipelines/pack_shards.py --tokenizer tok.model --input OUT/documents --output SHARDS --set shards.pack.context_length=2048

--input takes raw files of any format ingest.py reads, or documents/v1 Parquet written by ingest.py (a folder
or files; ids are kept). The inputs are cut into partitions; each Ray worker reads, cleans, quarantines, encodes,
packs and writes the shards of whole partitions in one streaming pass, and the driver only commits the
manifest. Writes OUT/shards/ (manifest.json), OUT/quarantine/, OUT/ledger.duckdb (and OUT/documents/ with
--set write_documents=true); check the result with pipelines/verify_shards.py OUT/shards.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import dataclass, field
from typing import ClassVar

from tokenmill.operators.core.cli import fail_before_start, make_parser, parse_config
from tokenmill.operators.core.ingest_config import IngestConfig
from tokenmill.operators.core.runtime import ray_workers
from tokenmill.operators.encode import EncodeConfig, tokenizer_arg
from tokenmill.operators.io.remote import is_remote, stage_output
from tokenmill.operators.pack import PackerConfig
from tokenmill.operators.shards import ShardWriterConfig
from tokenmill.pipelines._inputs import check_inputs
from tokenmill.pipelines._report import job
from tokenmill.pipelines._shards import pack_in_workers


@dataclass(frozen=True, kw_only=True, slots=True)
class PackShardsConfig:
    """Encode + pack job."""

    DEPRECATED: ClassVar[dict[str, str]] = {"encode_batch_size": "encode.batch_size"}
    workers: int = 0
    """Ray workers (tasks/actors) at once: 0 = one per CPU of the cluster (each shard writer loads the tokenizer once)."""
    partition_bytes: int = 32 << 20
    """Input bytes per partition at most, the unit a worker packs and writes; inputs under 16 partitions of it are cut
    into about 16 (so every core of a small cluster has work). The shards depend on this and the inputs, never on the
    number of workers; bigger partitions waste fewer slots in their last rows."""
    write_documents: bool = False
    """Also write the cleaned documents to OUT/documents/ (documents/v1 Parquet) when --input is raw files."""
    encode: EncodeConfig = field(default_factory=EncodeConfig)
    """Encoding engine (--set encode.engine=hf to force HF tokenizers), documents per tokenizer call and the workers'
    parity checks."""
    shards: ShardWriterConfig = field(default_factory=lambda: ShardWriterConfig(pack=PackerConfig(eos_id="auto")))
    """Shard writing and packing (--set shards.pack.context_length=2048, shards.formats=[parquet]); documents end with
    the tokenizer's EOS (or SEP) unless shards.pack.eos_id=null."""
    ingest: IngestConfig = field(default_factory=IngestConfig)
    """Ingestion options when --input names raw files."""

    def __post_init__(self) -> None:
        if self.workers < 0:
            raise ValueError("workers must be >= 0")
        if self.partition_bytes < 1 << 20:
            raise ValueError("partition_bytes must be at least 1 MiB (1048576)")


def main(argv: list[str] | None = None) -> int:
    parser = make_parser(__doc__, PackShardsConfig, remote_output=True)
    parser.add_argument(
        "--tokenizer",
        required=True,
        metavar="PATH",
        type=tokenizer_arg,
        help="tokenizer.json, a folder with one (or GPT-2 encoder.json + vocab.bpe), or a sentencepiece .model",
    )
    args, cfg = parse_config(parser, PackShardsConfig, argv)
    with fail_before_start(stage_output(args.output)) as output:  # a remote --output is staged here and uploaded in commit order
        config = {"input": args.input, "tokenizer": args.tokenizer, **dataclasses.asdict(cfg)}
        with job(parser, args, "pack_shards", config, output / "ledger.duckdb") as run:
            # a bad --input fails here, before Ray starts (a folder of ingested documents counts as its *.parquet)
            check_inputs(args.input, cfg.ingest.format)
            run.start_ray()
            t0 = time.perf_counter()
            manifest, ingested = pack_in_workers(
                args.input,
                output,
                run.ledger,
                tokenizer=args.tokenizer,
                shard_cfg=cfg.shards,
                ingest_cfg=cfg.ingest,
                workers=ray_workers(cfg.workers),
                partition_bytes=cfg.partition_bytes,
                encode_batch_size=cfg.encode.batch_size,
                write_documents=cfg.write_documents,
                encode=cfg.encode,
                remote=args.output if is_remote(args.output) else None,  # workers upload their parts themselves
            )
            seconds = time.perf_counter() - t0
    root = args.output.rstrip("/") if is_remote(args.output) else str(output)
    t, shards = manifest["totals"], f"{root}/shards"
    if ingested:  # raw input: what the readers saw and where the documents not packed went
        print(
            f"read: {ingested['records_in']} records; quarantined {ingested['quarantined']} ({root}/quarantine), "
            f"filtered {ingested['filtered']}{f' ({root}/filtered)' if ingested['filtered'] else ''}"
        )
    print(
        f"shards: {shards}  ({t['documents']} documents, {t['tokens']} tokens, {t['rows']} rows of "
        f"{cfg.shards.pack.context_length}, utilization {t['utilization']:.2%}, {seconds:.1f} s, "
        f"encoder {manifest['source']['encoder']['engine']})\n"
        f"verify: tokenmill verify-shards --input {shards}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
