"""The docs site's configuration reference (docs/reference/config.md) matches --help for every job (both come from
the job's config dataclass); `make docs` regenerates it."""

from __future__ import annotations

import pytest

from tokenmill.operators.core.config import config_keys
from tokenmill.pipelines import _config_docs

JOBS = _config_docs.job_configs()


def test_every_job_with_a_shared_command_line_is_found():
    assert {"pipelines/ingest.py", "pipelines/pack_shards.py", "pipelines/dna_bpe.py", "pipelines/build_corpus.py"} <= set(JOBS)


def test_config_reference_is_up_to_date():
    assert _config_docs.PAGE.is_file(), "docs/reference/config.md is missing: run make docs"
    problems = _config_docs.problems(_config_docs.PAGE.read_text(encoding="utf-8"), JOBS)
    assert problems == [], "\n".join(problems)


def test_every_key_of_every_job_is_on_the_page():
    """A key is in its job's table or in a shared section with the same type, default and meaning."""
    page = _config_docs.render(JOBS)
    shared = {row for items in _config_docs.shared_rows(JOBS).values() for row in items}
    for job, cls in JOBS.items():
        section = page.split(f"### `tokenmill {_config_docs.command(job)}`")[1].split("\n### ")[0]
        for row in _config_docs.rows(cls):
            key = row[0]
            assert f"| `{key}` |" in section or (key.removeprefix("sources[]."), *row[1:]) in shared, (job, key)


def test_the_readme_has_no_config_tables():
    """The tables moved to the docs site; the README links there instead."""
    readme = (_config_docs.ROOT / "README.md").read_text(encoding="utf-8")
    assert "<!-- config:" not in readme and "| `ingest.format`" not in readme


@pytest.mark.parametrize("job", sorted(JOBS))
def test_help_lists_every_key_with_its_default(job, capsys):
    module = __import__(f"tokenmill.pipelines.{job.split('/')[1][:-3]}", fromlist=["main"])
    with pytest.raises(SystemExit) as exc:
        module.main(["--help"])
    assert exc.value.code == 0
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps nothing in the epilog, but be safe
    for key, tname, default, _doc in config_keys(JOBS[job]):
        assert f"{key} ({tname}, default: {default})" in out, key


def test_a_stale_page_is_reported():
    page = _config_docs.render(JOBS)
    assert _config_docs.problems(page, JOBS) == []
    stale = page.replace("| `vocab_size` |", "| `vocab_sise` |", 1)
    found = _config_docs.problems(stale, JOBS)
    assert found and "differs from the config dataclasses" in found[0] and "vocab_sise" in found[0]
    assert _config_docs.problems("", JOBS)
