"""Audit which data mixture a BPE tokenizer's merge list reflects (Hayase et al., 2024).

    python pipelines/mixture_audit.py --tokenizer OUT/tokenizer/tokenizer.json \\
        --category eng='../shared/data/text/udhr/eng.txt' --category code='../shared/data/code/flask/**/*.py' \\
        --output AUDIT [--set audit.max_merges=3000]

Each category's files (read as text, one sample per category) are pre-tokenized the way the tokenizer does; the
merges are applied to every sample step by step and the linear program of :mod:`operators.report.mixture`
(scipy HiGHS, lazily added constraints) estimates the proportions — only when every sample is big enough
(``audit.min_bytes``, ``audit.min_pairs``), with a bootstrap interval and the range the LP cannot rule out next
to each, and a verdict (:mod:`operators.report.mixture_verdict`): ``estimated``, ``under-determined`` (no point
estimate: some share is not pinned down) or ``not enough data`` (no estimate at all). Writes AUDIT/mixture.json
(format ``tokenmill mixture audit v2``) and prints the same on the console; the exit status is 0 for every verdict.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tokenmill.operators.core.atomic import write_text_atomic
from tokenmill.operators.core.cli import fail, make_parser, parse_config
from tokenmill.operators.report.mixture import MixtureAuditConfig, category_sample, load_merges_and_pretokenizer, read_category
from tokenmill.operators.report.mixture_verdict import CategorySample, audit_mixture, format_report
from tokenmill.pipelines._report import job

FORMAT = "tokenmill mixture audit v2"


@dataclass(frozen=True, kw_only=True, slots=True)
class MixtureAuditJobConfig:
    """Mixture audit job."""

    audit: MixtureAuditConfig = field(default_factory=MixtureAuditConfig)
    """LP, sample-size, bootstrap and verdict options (audit.max_merges, audit.min_bytes, audit.bootstrap, ...)."""
    max_bytes_per_category: int = 4 << 20
    """Read at most this many bytes of each category's files (files in sorted order)."""

    def __post_init__(self) -> None:
        if self.max_bytes_per_category < 1:
            raise ValueError("max_bytes_per_category: must be >= 1")


def main(argv: list[str] | None = None) -> int:
    parser = make_parser(__doc__, MixtureAuditJobConfig, inputs=False)
    parser.add_argument("--tokenizer", required=True, metavar="PATH", help="BPE tokenizer.json or GPT-2 folder")
    parser.add_argument(
        "--category", action="append", default=[], required=True, metavar="NAME=GLOB", help="a candidate category and its sample files; repeat (at least two)"
    )
    args, cfg = parse_config(parser, MixtureAuditJobConfig, argv)
    t0 = time.perf_counter()
    try:
        merges, tok = load_merges_and_pretokenizer(args.tokenizer)
    except ValueError as exc:
        fail(str(exc))
    samples = {}
    for spec in args.category:
        name, sep, pattern = spec.partition("=")
        if not sep or not name or not pattern:
            fail(f"--category {spec!r}: expected NAME=GLOB")
        lines = read_category(pattern, cfg.max_bytes_per_category)
        if not lines:
            fail(f"--category {spec!r}: no text in files matching {pattern}")
        samples[name] = CategorySample.from_texts(lines, lambda texts: category_sample(tok, texts), cfg.audit.block_bytes)
    out = Path(args.output).resolve()
    config = {"tokenizer": args.tokenizer, "categories": args.category, **dataclasses.asdict(cfg)}
    with job(parser, args, "mixture_audit", config, out / "ledger.duckdb") as run:
        try:
            result = audit_mixture(samples, merges, cfg.audit)
        except ValueError as exc:
            fail(str(exc))
        report = {"format": FORMAT, "tokenizer": args.tokenizer, "categories": args.category, **result, "seconds": round(time.perf_counter() - t0, 2)}
        write_text_atomic(out / "mixture.json", json.dumps(report, indent=2))
        estimated = len(result["proportions"] or ())
        run.ledger.add_stage("mixture_audit", rows_in=len(samples), rows_out=estimated, rows_quarantined=0, seconds=time.perf_counter() - t0)
        run.ledger.add_artifact(out / "mixture.json", "mixture_audit")
    print(format_report(result))
    if result["lp_solution"] is not None:
        print(f"{result['steps']} merges, {result['constraints']} constraints, {result['rounds']} LP rounds, {result['bootstrap']} bootstrap replicates")
    print(f"mixture audit: {out / 'mixture.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
