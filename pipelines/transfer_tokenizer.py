"""Transfer the packaged all-MiniLM-L6-v2 to a new tokenizer: a model folder with new embeddings.

    python pipelines/transfer_tokenizer.py --tokenizer NEW/tokenizer.json --input 'text/*.txt' --output OUT
    python pipelines/transfer_tokenizer.py --tokenizer NEW/tokenizer.json --set method=focus --input 'text/*.txt' --output OUT
    python pipelines/transfer_tokenizer.py --tokenizer NEW/tokenizer.json --donor DONOR_MODEL_DIR --output OUT

``hypernet``: the ZeTT hypernetwork in a Ray Data actor pool (``workers`` actors, a GPU each when present); with
``--input`` (optional: the text the new tokenizer is for), a token without a leading space is embedded by how often
it begins a word there (``self`` after ``(`` is a word to the base model);
``focus``: FOCUS, its fastText model trained on the ``--input`` text; ``--donor DIR`` (a model that already uses the
new tokenizer): OMP transplantation; ``fvt``, ``fvt_decomp``, ``random``: baselines. OUT loads with transformers
and sentence-transformers: the new tokenizer (specials added when missing), new embeddings, all else unchanged.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

from tokenmill.operators.core.cli import fail, make_parser, parse_config
from tokenmill.operators.transfer.base_model import BASE_MODEL_NAME, load_base_model
from tokenmill.operators.transfer.embed_tokenizer import METHODS, prepare_tokenizer, transfer_embeddings, transfer_inputs
from tokenmill.operators.transfer.extra import MissingExtra, require_transfer
from tokenmill.operators.transfer.hypernet import resolve_checkpoint
from tokenmill.operators.transfer.model_export import export_transferred_model
from tokenmill.operators.transfer.serve import HypernetServeConfig, embed_on_ray
from tokenmill.pipelines._report import job


@dataclass(frozen=True, kw_only=True, slots=True)
class TransferConfig:
    """Settings of the transfer pipeline."""

    DEPRECATED: ClassVar[dict[str, str]] = {"concurrency": "workers"}

    method: Literal["hypernet", "focus", "omp", "fvt", "fvt_decomp", "random"] = "hypernet"
    """Embedding source for the new tokens (--set method=focus); omp is chosen by --donor DIR."""
    checkpoint: str = "checkpoints/hypernet-minilm"
    """Hypernetwork checkpoint folder (relative paths: from the project root when not found from here)."""
    workers: int = 1
    """Ray workers (serving actors, a GPU each when present) at once: at least 1 (each holds the hypernetwork)."""
    batch_size: int = 4096
    """Tokens per map_batches call."""
    seed: int = 0
    """Seed of the random baseline and of FOCUS's rows for tokens its fastText model never saw."""

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method: {self.method!r} is not one of {', '.join(METHODS)}")
        if self.workers < 1:
            raise ValueError(f"workers: must be >= 1, got {self.workers}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size: must be >= 1, got {self.batch_size}")


def main(argv: list[str] | None = None) -> int:
    parser = make_parser(__doc__, TransferConfig)  # --input: target text (FOCUS: required; hypernet: optional)
    parser.add_argument("--tokenizer", required=True, help="the new tokenizer.json (or a folder holding one)")
    parser.add_argument("--donor", default=None, help="a model folder that uses the new tokenizer (method omp)")
    parser.add_argument("--method", nargs="?", const="...", default=None, help=argparse.SUPPRESS)  # the old flag
    args, cfg = parse_config(parser, TransferConfig, argv)
    if args.method is not None:
        parser.error(f"--method is not an option: the method is a config key, use --set method={args.method}")
    try:  # before any work: the base model, transformers, fastText and safetensors are the transfer extra
        require_transfer("transfer_tokenizer")
    except MissingExtra as exc:
        fail(str(exc))
    try:  # focus and hypernet read the --input text, omp its --donor model
        tok_path, method, texts, donor = transfer_inputs(args.tokenizer, cfg.method, args.input, args.donor)
    except ValueError as exc:
        fail(str(exc))
    base = load_base_model()
    tokenizer, roles, special_map = prepare_tokenizer(tok_path, base.tokenizer_json)
    metadata = {"method": method, "source_tokenizer": str(tok_path), "base_model": BASE_MODEL_NAME} | ({"donor": str(args.donor)} if args.donor else {})
    embedder, t0 = None, time.perf_counter()
    config = {"tokenizer": args.tokenizer, "input": args.input, "donor": args.donor, **dataclasses.asdict(cfg)}
    with job(parser, args, "transfer_tokenizer", config, Path(args.output).resolve() / "ledger.duckdb") as run:
        if method == "hypernet":  # Ray only for the hypernetwork's actor pool
            checkpoint = resolve_checkpoint(cfg.checkpoint)
            serve = HypernetServeConfig(checkpoint=str(checkpoint))
            run.start_ray()
            embedder = lambda table: embed_on_ray(table, serve, batch_size=cfg.batch_size, actors=cfg.workers)  # noqa: E731
            metadata |= {"hypernet_checkpoint": str(checkpoint), "word_starts_from_input": bool(texts)}
        matrix = transfer_embeddings(method, tokenizer, base, special_map, embedder=embedder, seed=cfg.seed, texts=texts, donor=donor)
        out = export_transferred_model(base.folder, tokenizer, matrix, args.output, roles=roles, metadata=metadata)
        run.ledger.add_stage(f"transfer_{method}", rows_in=matrix.shape[0], rows_out=matrix.shape[0], rows_quarantined=0, seconds=time.perf_counter() - t0)
        run.ledger.add_artifact(out, "model")
    print(f"transferred model ({method}, {matrix.shape[0]} tokens): {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
