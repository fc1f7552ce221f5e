"""``ray job submit --working-dir . -- python pipelines/ingest.py`` against a real ``ray start --head``."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.conftest import submit_ray_job

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_ingest_as_ray_job(ray_head, shared_data, tmp_path):
    address, env = ray_head
    out = tmp_path / "job-out"
    # duplicates: shaped like test_dna_bpe's ray-job test: the shared part is conftest.submit_ray_job; each test
    # spells out its own pipeline's command line.
    proc = submit_ray_job(
        address,
        env,
        [
            "python",
            "pipelines/ingest.py",
            "--input",
            str(shared_data / "dna/sarscov2_NC_045512.2.fasta"),
            "--input",
            str(shared_data / "text/udhr/eng.txt"),
            "--output",
            str(out),
            "--quiet",
        ],
        ROOT,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "succeeded" in proc.stdout + proc.stderr
    assert pq.read_table(out / "dna_segments").num_rows == 30  # 29,903 bp in 1000-bp segments
    assert pq.read_table(out / "documents").num_rows > 50
