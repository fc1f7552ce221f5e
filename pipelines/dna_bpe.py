"""DNABERT-2 tokenizer training: FASTA → 1000-bp segments → exact BPE (vocab 4096) → HF tokenizer → encoded segments.

    python pipelines/dna_bpe.py --input '../shared/data/dna/*' --output OUT [--eval 'other/*.fa'] [--set vocab_size=4096]
    ray job submit --working-dir . -- python pipelines/dna_bpe.py --input '/abs/genomes/*.fa' --output /abs/OUT

Writes OUT/dna_segments/, OUT/quarantine/, OUT/tokenizer/ (tokenizer.json, tokenizer_config.json,
special_tokens_map.json: loads in `tokenizers` and `transformers`), OUT/tokens/ (token ids per segment, Parquet),
OUT/shards/ (packed training shards with a manifest), OUT/report.json and OUT/report.md, OUT/ledger.duckdb.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from typing import ClassVar

from tokenmill.operators.bpe import BpeTrainerConfig
from tokenmill.operators.core.cli import fail_before_start, make_parser, parse_config
from tokenmill.operators.core.ingest_config import IngestConfig
from tokenmill.operators.core.runtime import ray_workers
from tokenmill.operators.encode import EncodeConfig
from tokenmill.operators.io.remote import stage_output
from tokenmill.operators.pack import PackerConfig
from tokenmill.operators.shards import ShardWriterConfig
from tokenmill.pipelines._dna import (
    check_inputs,
    encode_and_pack,
    ingest_fasta,
    print_summary,
    save_tokenizer,
    timed,
    train_on_segments,
    write_report,
)
from tokenmill.pipelines._report import job


@dataclass(frozen=True, kw_only=True, slots=True)
class DnaBpeConfig:
    """DNA BPE training job; the defaults are DNABERT-2's."""

    DEPRECATED: ClassVar[dict[str, str]] = {"encode_batch_size": "encode.batch_size"}

    vocab_size: int = 4096
    """Vocabulary size including the 5 special tokens [UNK] [CLS] [SEP] [PAD] [MASK]."""
    min_frequency: int = 2
    """A pair must occur at least this often to be merged."""
    max_token_length: int | None = None
    """Longest token in bp; None for no limit."""
    workers: int = 0
    """Ray workers (tasks/actors) at once: 0 = one per CPU of the cluster (encoders, each loads the tokenizer once)."""
    train_workers: int = 0
    """BPE training actors: 0 = one per node of the Ray cluster (one node: in one process, no per-merge round trips), 1 = in one Ray task, N = N actors."""
    encode: EncodeConfig = field(default_factory=lambda: EncodeConfig(batch_size=2048))
    """Encoding engine (--set encode.engine=hf to force HF tokenizers), segments per tokenizer call and the workers'
    parity checks."""
    partition_bp: int = 32 << 20
    """Sequence (bp) per partition at most, the unit a worker encodes, packs and writes: runs of whole FASTA records in
    key order; inputs under 16 partitions of it are cut into about 16 (so every core of a small cluster has work). The
    shards depend on this and the inputs, never on the number of workers; bigger partitions waste fewer slots."""
    shards: ShardWriterConfig = field(
        default_factory=lambda: ShardWriterConfig(pack=PackerConfig(context_length=4096, bos_id=1, eos_id=2, pad_id=3, split_to_fill=64))
    )
    """Packed shards (--set shards.pack.context_length=...): [CLS]/[SEP] around each segment, [PAD] fill; 1000-bp
    segments (~200 tokens) fill rows only if the last one may be cut (split_to_fill), never across documents."""
    ingest: IngestConfig = field(default_factory=lambda: IngestConfig(format="fasta"))
    """Ingestion options (segment_length, min_length, n_policy, iupac_policy, dedup, ...): --set ingest.KEY=VALUE."""

    def __post_init__(self) -> None:
        if self.partition_bp < 1:
            raise ValueError("partition_bp must be >= 1")
        if self.workers < 0 or self.train_workers < 0:
            raise ValueError("workers and train_workers must be >= 0 (0 = one per CPU / node)")
        self.trainer()  # vocab_size / min_frequency / max_token_length errors surface as config errors

    def trainer(self) -> BpeTrainerConfig:
        """The BPE trainer config of this job (DNABERT-2 special tokens and alphabet)."""
        return BpeTrainerConfig(vocab_size=self.vocab_size, min_frequency=self.min_frequency, max_token_length=self.max_token_length)


def main(argv: list[str] | None = None) -> int:
    parser = make_parser(__doc__, DnaBpeConfig, remote_output=True)
    parser.add_argument("--eval", action="append", default=[], metavar="PATH_OR_GLOB", help="held-out FASTA to report bp/token on; repeatable (default: none)")
    args, cfg = parse_config(parser, DnaBpeConfig, argv)
    with fail_before_start(stage_output(args.output)) as output:  # a remote --output is staged here, uploaded in commit order
        seconds: dict[str, float] = {}
        token_dirs = {"train": output / "tokens", "eval": output / "eval" / "tokens"}  # replaced only if tokenmill's
        config = {"input": args.input, "eval": args.eval, **dataclasses.asdict(cfg)}
        with job(parser, args, "dna_bpe", config, output / "ledger.duckdb") as run:
            ledger, run_id = run.ledger, run.run_id
            check_inputs(args.input, args.eval, cfg.ingest.format, token_dirs.values())
            run.start_ray()  # stopped before the run is marked, however it ends
            with timed(seconds, "ingest"):  # 1. FASTA → segments (+ quarantine), held-out files the same way
                segments = ingest_fasta(args.input, args.eval, cfg.ingest, output, ledger)
            with timed(seconds, "train"):  # 2. exact BPE over the segments, in Ray workers
                model = train_on_segments(segments["train"], cfg.trainer(), cfg.train_workers, ledger)
            tokenizer_json = save_tokenizer(model, output / "tokenizer", ledger)
            with timed(seconds, "encode_pack"):  # 3. encode every segment, pack the training ones, in Ray workers
                manifest = encode_and_pack(
                    segments,
                    token_dirs,
                    tokenizer_json,
                    output / "shards",
                    cfg.shards,
                    batch_size=cfg.encode.batch_size,
                    workers=ray_workers(cfg.workers),
                    partition_bp=cfg.partition_bp,
                    segment_length=cfg.ingest.segment_length,
                    ledger=ledger,
                    run_id=run_id,
                    encode=cfg.encode,
                )
            # 4. report: vocab, token lengths, bp/token overall, per input file and per held-out file
            report = write_report(output, model, {n: token_dirs[n] for n in segments}, seconds, run_id, manifest, ledger)
    print_summary(output, manifest, report, cfg.shards.pack.context_length, shown_as=args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
