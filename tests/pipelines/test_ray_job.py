"""``ray job submit --working-dir . -- python pipelines/ingest.py`` against a real ``ray start --head``."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from tests.conftest import run_ray_job


@pytest.mark.slow
def test_ingest_as_ray_job(ray_head, shared_data, tmp_path):
    out = tmp_path / "job-out"
    args = ["--input", str(shared_data / "dna/sarscov2_NC_045512.2.fasta"), "--input", str(shared_data / "text/udhr/eng.txt")]
    proc = run_ray_job(ray_head, "pipelines/ingest.py", *args, "--output", str(out), "--quiet")
    assert "succeeded" in proc.stdout + proc.stderr
    assert pq.read_table(out / "dna_segments").num_rows == 30  # 29,903 bp in 1000-bp segments
    assert pq.read_table(out / "documents").num_rows > 50
