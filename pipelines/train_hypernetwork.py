"""Train the ZeTT hypernetwork for the packaged all-MiniLM-L6-v2 on UDHR text and Python code.

    python pipelines/train_hypernetwork.py --output checkpoints/hypernet-minilm --set max_minutes=30
    python pipelines/train_hypernetwork.py --output /tmp/hn --set steps=20 --set batch_size=4   # a smoke run

Reads the train split of ../shared/data (text/udhr, code; the benchmark's held-out split is never read), samples
one unigram tokenizer per batch, and distils the frozen base model's outputs into the predicted embeddings (see
operators/transfer/hypernet_train.py). Uses CUDA when present; shows a progress bar with the running loss.
Writes OUT/hypernet.safetensors + OUT/hypernet.json (every save_every steps and at the end) and OUT/README.md
with the exact command and the training summary; OUT/ledger.duckdb records the run (git-ignored). No Ray: training is one process (torch uses the threads).
"""

from __future__ import annotations

import dataclasses
import shlex
import sys
from pathlib import Path

import torch

from tokenmill.operators.core.cli import fail, make_parser, parse_config
from tokenmill.operators.transfer.base_model import BASE_MODEL_NAME, load_base_model, pick_device
from tokenmill.operators.transfer.checkpoint_readme import write_checkpoint_readme
from tokenmill.operators.transfer.extra import MissingExtra, require_transfer
from tokenmill.operators.transfer.hypernet import save_hypernet
from tokenmill.operators.transfer.hypernet_data import load_corpus
from tokenmill.operators.transfer.hypernet_train import HypernetTrainConfig, HypernetTrainer
from tokenmill.pipelines._report import job


def command_line(argv: list[str] | None) -> str:
    """The command as typed from the project root (script path relative to it)."""
    args = sys.argv[1:] if argv is None else argv
    return "python pipelines/train_hypernetwork.py " + " ".join(shlex.quote(a) for a in args)


def main(argv: list[str] | None = None) -> int:
    parser = make_parser(__doc__, HypernetTrainConfig, inputs=False)
    args, cfg = parse_config(parser, HypernetTrainConfig, argv)
    try:  # before any work: the base model, transformers and safetensors are the transfer extra
        require_transfer("train_hypernetwork")
    except MissingExtra as exc:
        fail(str(exc))
    if args.num_cpus and not cfg.threads:
        cfg = dataclasses.replace(cfg, threads=args.num_cpus)
    out = Path(args.output).resolve()
    device = pick_device(cfg.device)
    base = load_base_model(device=device)
    corpus = load_corpus(cfg.data_root or None, split="train", max_chars=cfg.max_chars, eval_fraction=cfg.eval_fraction)
    trainer = HypernetTrainer(cfg, base, corpus)
    command = command_line(argv)
    fingerprint = base.fingerprint()
    dtype = torch.float16 if cfg.save_dtype == "float16" else torch.float32

    def save(tr: HypernetTrainer, summary: dict) -> None:
        save_hypernet(
            tr.model,
            out,
            base_name=BASE_MODEL_NAME,
            base_fingerprint=fingerprint,
            dtype=dtype,
            extra={"training": {"command": command, "device": str(device), **summary, "config": dataclasses.asdict(cfg)}},
        )

    with job(parser, args, "train_hypernetwork", dataclasses.asdict(cfg), out / "ledger.duckdb") as run:
        summary = trainer.train(save, show_progress=not args.quiet)
        write_checkpoint_readme(out, command, summary, cfg, str(device))
        run.ledger.add_stage(
            "train_hypernetwork",
            rows_in=int(summary["steps"]) * cfg.batch_size,
            rows_out=int(summary["steps"]),
            rows_quarantined=0,
            seconds=summary["minutes"] * 60,
        )
        run.ledger.add_artifact(out / "hypernet.safetensors", "hypernet")
    print(
        f"hypernetwork: {summary['steps']} steps in {summary['minutes']:.1f} min; loss "
        f"{summary.get('first50_loss', float('nan')):.4f} -> {summary.get('last50_loss', float('nan')):.4f}; "
        f"checkpoint: {out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
