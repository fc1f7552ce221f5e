"""Romanize documents with uroman (exact, cached, uroman-fast where provably identical) in a Ray actor pool.

    python pipelines/romanize.py --input '../shared/data/text/udhr/*.txt' --set ingest.lang_from=filename --output OUT

--input takes documents/v1 Parquet (from ingest.py) or raw files (ingested first). Writes OUT/romanized/
(documents with ``text`` kept and ``text_roman`` added, zstd Parquet) and OUT/ledger.duckdb.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

from tokenmill.operators.core.cli import make_parser
from tokenmill.operators.core.runtime import ray_data
from tokenmill.operators.romanize import RomanizerConfig
from tokenmill.pipelines._ingest import documents_input
from tokenmill.pipelines._inputs import DocumentBatchesConfig, check_inputs
from tokenmill.pipelines._report import documents_job
from tokenmill.pipelines._romanize import romanize_dataset


@dataclass(frozen=True, kw_only=True, slots=True)
class RomanizeJobConfig(DocumentBatchesConfig):
    """Romanization job."""

    romanizer: RomanizerConfig = field(default_factory=RomanizerConfig)
    """uroman options (--set romanizer.cache_size=..., romanizer.use_uroman_fast=false)."""
    batch_size: int = 512
    """Documents per batch."""


def main(argv: list[str] | None = None) -> int:
    parser = make_parser(__doc__, RomanizeJobConfig)
    with documents_job(parser, RomanizeJobConfig, "romanize", argv) as (run, args, cfg, output):
        ledger = run.ledger
        check_inputs(args.input, cfg.ingest.format)  # a bad --input fails here, before Ray starts
        run.start_ray()
        docs = documents_input(args.input, cfg.ingest, output, ledger)
        t0 = time.perf_counter()
        ds = romanize_dataset(ray_data().read_parquet(docs), cfg.romanizer, cfg.workers, cfg.batch_size)
        ds.write_parquet(str(output / "romanized"), compression="zstd")
        n = ray_data().read_parquet(str(output / "romanized")).count()
        ledger.add_stage("romanize", rows_in=n, rows_out=n, rows_quarantined=0, seconds=time.perf_counter() - t0)
        ledger.add_artifact(output / "romanized", "romanized")
    print(f"romanized {n} documents: {output / 'romanized'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
