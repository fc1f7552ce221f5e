"""Transfer the packaged all-MiniLM-L6-v2 to a new tokenizer: a model folder with new embeddings.

    python pipelines/transfer_tokenizer.py --tokenizer NEW/tokenizer.json --set method=hypernet --output OUT
    python pipelines/transfer_tokenizer.py --tokenizer NEW/tokenizer.json --set method=fvt --output OUT

``hypernet`` predicts every new token's embedding with the ZeTT hypernetwork (default checkpoint:
checkpoints/hypernet-minilm), served by a Ray Data actor pool (``concurrency`` actors, one GPU each when CUDA is
present); ``fvt`` is the mean of the base embeddings of each token's base tokenization; ``fvt_decomp`` and
``random`` are the other baselines. OUT then loads with transformers (AutoModel, AutoTokenizer) and
sentence-transformers (SentenceTransformer(OUT)): the new tokenizer (with [CLS]/[SEP]/... added when missing),
the new embedding matrix, all other weights unchanged.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script, with or without pip install

import pyarrow as pa  # noqa: E402

from operators.core.cli import fail, make_parser, parse_config  # noqa: E402
from operators.core.runtime import ray_runtime  # noqa: E402
from operators.transfer.base_model import BASE_MODEL_NAME, load_base_model  # noqa: E402
from operators.transfer.embed_tokenizer import METHODS, prepare_tokenizer, transfer_embeddings  # noqa: E402
from operators.transfer.hypernet import resolve_checkpoint  # noqa: E402
from operators.transfer.model_export import export_transferred_model  # noqa: E402
from operators.transfer.serve import HypernetEmbedder, HypernetServeConfig  # noqa: E402

@dataclass(frozen=True, kw_only=True, slots=True)
class TransferConfig:
    """Settings of the transfer pipeline."""

    method: Literal["hypernet", "fvt", "fvt_decomp", "random"] = "hypernet"
    """Embedding source for the new tokens: hypernet, fvt, fvt_decomp or random (--set method=fvt)."""
    checkpoint: str = "checkpoints/hypernet-minilm"
    """Hypernetwork checkpoint folder (relative paths: from the project root when not found from here)."""
    concurrency: int = 1
    """Serving actors in the Ray actor pool."""
    batch_size: int = 4096
    """Tokens per map_batches call."""
    seed: int = 0
    """Seed of the random baseline."""

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method: {self.method!r} is not one of {', '.join(METHODS)}")
        if self.concurrency < 1:
            raise ValueError(f"concurrency: must be >= 1, got {self.concurrency}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size: must be >= 1, got {self.batch_size}")


def embed_on_ray(table: pa.Table, serve: HypernetServeConfig, cfg: TransferConfig) -> pa.Table:
    """Run :class:`HypernetEmbedder` over ``table`` as a Ray Data actor pool; rows come back in id order."""
    import ray
    import torch

    ds = ray.data.from_arrow(table).map_batches(
        HypernetEmbedder, fn_constructor_kwargs={"config": serve}, batch_format="pyarrow",
        batch_size=cfg.batch_size, concurrency=cfg.concurrency, num_gpus=1 if torch.cuda.is_available() else 0)
    out = pa.concat_tables([ray.get(ref) for ref in ds.to_arrow_refs()])
    return out.sort_by("id")


def main(argv: list[str] | None = None) -> int:
    parser = make_parser(__doc__, TransferConfig, inputs=False)
    parser.add_argument("--tokenizer", required=True, help="the new tokenizer.json (or a folder holding one)")
    parser.add_argument("--method", nargs="?", const="...", default=None, help=argparse.SUPPRESS)  # the old flag
    args, cfg = parse_config(parser, TransferConfig, argv)
    if args.method is not None:
        parser.error(f"--method is not an option: the method is a config key, use --set method={args.method}")
    tok_path = Path(args.tokenizer) / "tokenizer.json" if Path(args.tokenizer).is_dir() else Path(args.tokenizer)
    if not tok_path.is_file():
        fail(f"--tokenizer {args.tokenizer}: no tokenizer.json there")
    base = load_base_model()
    tokenizer, roles, special_map = prepare_tokenizer(tok_path, base.tokenizer_json)
    metadata = {"method": cfg.method, "source_tokenizer": str(tok_path), "base_model": BASE_MODEL_NAME}
    embedder = None
    with contextlib.ExitStack() as stack:  # Ray only for the hypernetwork's actor pool
        if cfg.method == "hypernet":
            checkpoint = resolve_checkpoint(cfg.checkpoint)
            serve = HypernetServeConfig(checkpoint=str(checkpoint))
            stack.enter_context(ray_runtime(args.num_cpus, quiet=args.quiet))
            embedder = lambda table: embed_on_ray(table, serve, cfg)  # noqa: E731
            metadata["hypernet_checkpoint"] = str(checkpoint)
        matrix = transfer_embeddings(cfg.method, tokenizer, base, special_map, embedder=embedder, seed=cfg.seed)
    out = export_transferred_model(base.folder, tokenizer, matrix, args.output, roles=roles, metadata=metadata)
    print(f"transferred model ({cfg.method}, {matrix.shape[0]} tokens): {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
