"""Score tokenizers side by side on a parallel corpus: per-language premium, bytes/token, fertility, unknown rate.

    python pipelines/fairness_report.py --tokenizer gpt2=../shared/data/tokenizers/gpt2 \\
        --tokenizer mistral=../shared/data/tokenizers/mistral/tokenizer.model.v1 \\
        --tokenizer bert=../shared/data/tokenizers/bert-base-uncased \\
        --parallel '../shared/data/text/udhr/*.txt' --output OUT [--set romanize=true]

Writes OUT/fairness.json (``{"tokenizers": {name: {"max_premium", "median_premium", "per_language": ...}}}``),
OUT/fairness.html and its PNG charts. ``--frontier SWEEP`` (the JSON lines of ``benchmarks/multilingual.py
--frontier-out SWEEP``) adds the fairness/compression curve of parity-aware training (OUT/frontier.png, and the
rows in fairness.json and the HTML). With ``romanize=true`` the parallel text is romanized with uroman first
(per language, in a Ray actor pool) and every tokenizer is scored on the romanized text.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tokenmill.operators.core.cli import fail, make_parser, parse_config
from tokenmill.operators.report.fairness import FairnessConfig, fairness_report, load_parallel, summary_table
from tokenmill.operators.report.frontier import load_frontier
from tokenmill.operators.romanize import RomanizerConfig
from tokenmill.pipelines._report import job
from tokenmill.pipelines._romanize import romanize_parallel


@dataclass(frozen=True, kw_only=True, slots=True)
class FairnessJobConfig:
    """Fairness report job."""

    fairness: FairnessConfig = field(default_factory=FairnessConfig)
    """Scoring options (--set fairness.reference_lang=eng, fairness.charts=false)."""
    romanize: bool = False
    """Romanize the parallel text with uroman before scoring."""
    romanizer: RomanizerConfig = field(default_factory=RomanizerConfig)
    """uroman options when romanize=true."""
    workers: int = 0
    """Ray workers (tasks/actors) at once: 0 = one per CPU of the cluster."""

    def __post_init__(self) -> None:
        if self.workers < 0:
            raise ValueError("workers: must be >= 0")


def parse_tokenizers(specs: list[str]) -> dict[str, str]:
    """``NAME=PATH`` strings → ``{name: path}``; exits with a message when one is malformed or missing."""
    out: dict[str, str] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            fail(f"--tokenizer {spec!r}: expected NAME=PATH")
        if not Path(path).exists():
            fail(f"--tokenizer {spec!r}: {path} does not exist")
        out[name] = path
    return out


def main(argv: list[str] | None = None) -> int:
    parser = make_parser(__doc__, FairnessJobConfig, inputs=False)
    parser.add_argument(
        "--tokenizer",
        action="append",
        default=[],
        metavar="NAME=PATH",
        required=True,
        help="a tokenizer to score (tokenizer.json, GPT-2 folder or .model); repeatable",
    )
    parser.add_argument(
        "--parallel", action="append", default=[], required=True, metavar="GLOB", help="parallel corpus files named <lang>[_variant].txt; repeatable"
    )
    parser.add_argument("--frontier", default="", metavar="SWEEP", help="JSON lines of benchmarks/multilingual.py --frontier-out: draw the curve")
    args, cfg = parse_config(parser, FairnessJobConfig, argv)
    tokenizers = parse_tokenizers(args.tokenizer)
    frontier = None
    if args.frontier:
        try:
            frontier = load_frontier(args.frontier)
        except (OSError, ValueError) as exc:
            fail(f"--frontier: {exc}")
    try:
        parallel = load_parallel(args.parallel)
    except ValueError as exc:
        fail(str(exc))
    t0 = time.perf_counter()
    config = {"tokenizers": tokenizers, "parallel": args.parallel, **dataclasses.asdict(cfg)}
    with job(parser, args, "fairness_report", config, Path(args.output).resolve() / "ledger.duckdb") as run:
        if cfg.romanize:
            run.start_ray()
            parallel = romanize_parallel(parallel, cfg.romanizer, cfg.workers)
        try:
            corpus = " ".join(args.parallel) + (" (romanized)" if cfg.romanize else "")
            report = fairness_report(tokenizers, parallel, args.output, cfg.fairness, corpus=corpus, frontier=frontier)
        except ValueError as exc:
            fail(str(exc))
        n = sum(len(v) for v in parallel.values())  # lines scored per tokenizer
        run.ledger.add_stage("fairness_report", rows_in=n, rows_out=n, rows_quarantined=0, seconds=time.perf_counter() - t0)
        run.ledger.add_artifact(Path(args.output) / "fairness.json", "fairness_report")
    print(summary_table(report))
    print(f"fairness report ({len(parallel)} languages, {time.perf_counter() - t0:.1f} s): {Path(args.output) / 'fairness.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
