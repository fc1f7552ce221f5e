"""Ingest raw corpora (JSONL[.gz|.zst], Parquet, text, FASTA) into Arrow/Parquet documents and DNA segments.

    python pipelines/ingest.py --input '../shared/data/text/udhr/*.txt' --set ingest.lang_from=filename --output OUT
    ray job submit --working-dir . -- python pipelines/ingest.py --input ... --output OUT

Writes OUT/documents/ (text) and/or OUT/dna_segments/ (FASTA), OUT/quarantine/ (rejected records with reasons),
OUT/ledger.duckdb, and prints a per-source summary: records in / out / quarantined by reason.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from typing import ClassVar

from tokenmill.operators.core.cli import fail_before_start, make_parser, parse_config
from tokenmill.operators.io import IngestConfig, resolve_inputs
from tokenmill.operators.io.remote import is_remote, stage_output
from tokenmill.pipelines._ingest import ingest
from tokenmill.pipelines._report import job, print_ingest_summary


@dataclass(frozen=True, kw_only=True, slots=True)
class IngestJobConfig:
    """Ingest job: the ``ingest`` section every job shares."""

    ingest: IngestConfig = field(default_factory=IngestConfig)
    """Ingestion options (--set ingest.lang_from=filename, ingest.text_field=content, ingest.dedup=true, ...)."""

    RENAMED: ClassVar[dict[str, str]] = {f: f"ingest.{f}" for f in IngestConfig.__dataclass_fields__}


def main(argv: list[str] | None = None) -> int:
    parser = make_parser(__doc__, IngestJobConfig, remote_output=True)
    args, job_cfg = parse_config(parser, IngestJobConfig, argv)
    cfg = job_cfg.ingest
    # a remote --output is staged here and uploaded in commit order
    with (
        fail_before_start(stage_output(args.output)) as output,
        job(parser, args, "ingest", {"input": args.input, **dataclasses.asdict(cfg)}, output / "ledger.duckdb") as run,
    ):
        resolve_inputs(args.input, cfg.format)  # a bad --input fails here, before Ray starts
        run.start_ray()
        result = ingest(args.input, cfg, output, run.ledger)
    print_ingest_summary(result)
    where = args.output.rstrip("/") if is_remote(args.output) else output
    print(f"outputs: {where}  (ledger: {where}/ledger.duckdb)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
