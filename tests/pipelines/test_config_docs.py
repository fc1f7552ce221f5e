"""README's config tables match --help for every job (both come from the job's config dataclass)."""

from __future__ import annotations

import pytest

from tokenmill.operators.core.config import config_keys
from tokenmill.pipelines import _config_docs

JOBS = _config_docs.job_configs()


def test_every_job_with_a_shared_command_line_is_found():
    assert {"pipelines/ingest.py", "pipelines/pack_shards.py", "pipelines/dna_bpe.py",
            "pipelines/build_corpus.py"} <= set(JOBS)


def test_readme_tables_are_up_to_date():
    readme = (_config_docs.ROOT / "README.md").read_text()
    assert _config_docs.problems(readme, JOBS) == []


@pytest.mark.parametrize("job", sorted(JOBS))
def test_help_lists_every_key_with_its_default(job, capsys):
    module = __import__(f"tokenmill.pipelines.{job.split('/')[1][:-3]}", fromlist=["main"])
    with pytest.raises(SystemExit) as exc:
        module.main(["--help"])
    assert exc.value.code == 0
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps nothing in the epilog, but be safe
    for key, tname, default, _doc in config_keys(JOBS[job]):
        assert f"{key} ({tname}, default: {default})" in out, key


def test_a_stale_table_is_reported():
    job, cls = next(iter(JOBS.items()))
    stale = f"<!-- config: {job} -->\n| key | old |\n<!-- end config -->\n"
    assert any("differs from --help" in p for p in _config_docs.problems(stale, {job: cls}))
    assert any("no config table" in p for p in _config_docs.problems("", {job: cls}))
