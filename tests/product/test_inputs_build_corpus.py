"""build_corpus: the ledger's ``source_counts`` is filled per input file as ingest fills it (before: empty for every
build_corpus run), for a build and for an up-to-date rerun; an output that is a file, under a file or not writable
(from the YAML, --set or --output) is one line and exit 2 (before: a FileExistsError traceback)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import duckdb
import pytest
import yaml

from tokenmill.pipelines import build_corpus


def write_config(root: Path, shared_data: Path, out: Path | str) -> Path:
    src = root / "src"
    src.mkdir(exist_ok=True)
    (src / "eng.txt").write_text((shared_data / "text/udhr/eng.txt").read_text(encoding="utf-8"), encoding="utf-8")
    lines = [json.dumps({"text": f"record {i} of the web source"}) for i in range(20)]
    (src / "web.jsonl").write_text("\n".join([*lines[:10], "{not json", *lines[10:]]) + "\n")  # one to quarantine
    cfg = {
        "output": str(out),
        "sources": [
            {"name": "udhr", "input": [str(src / "eng.txt")], "ingest": {"format": "text", "lang_from": "filename"}},
            {"name": "web", "input": [str(src / "web.jsonl")]},
        ],
        "tokenizer": {"path": str(shared_data / "tokenizers/gpt2")},
    }
    path = root / "corpus.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_source_counts_filled_for_a_build_and_an_up_to_date_rerun(tmp_path, shared_data, ray_local):
    out = tmp_path / "out"
    config = write_config(tmp_path, shared_data, out)
    assert build_corpus.main(["--config", str(config), "--quiet"]) == 0
    assert build_corpus.main(["--config", str(config), "--quiet"]) == 0  # up to date: nothing rebuilt
    summary = json.loads((out / "builds/CURRENT/build.json").read_text())
    with duckdb.connect(str(out / "ledger.duckdb"), read_only=True) as led:
        runs = [r for (r,) in led.execute("SELECT run FROM runs ORDER BY started").fetchall()]
        assert len(runs) == 2
        for run in runs:
            rows = led.execute(
                "SELECT stage, source, records_seen, records_out, records_quarantined FROM source_counts WHERE run = ? ORDER BY source", [run]
            ).fetchall()
            assert rows == [("partitions", str(tmp_path / "src/eng.txt"), 92, 92, 0), ("partitions", str(tmp_path / "src/web.jsonl"), 21, 20, 1)], (run, rows)
    t = summary["totals"]  # the same numbers as the build's own summary
    assert (t["records_seen"], t["quarantined_read"]) == (92 + 21, 1)


@pytest.mark.parametrize("where", ["yaml", "set", "flag"])
def test_output_that_is_a_file_is_one_line(where, tmp_path, shared_data, capsys):
    afile = tmp_path / "afile"
    afile.write_text("mine\n")
    for target, says in ((afile, f"{afile} is a file; give a folder"), (afile / "sub", f"{afile / 'sub'} cannot be created: {afile} is a file")):
        config = write_config(tmp_path, shared_data, target if where == "yaml" else tmp_path / "elsewhere")
        args = {"yaml": [], "set": ["--set", f"output={target}"], "flag": ["--output", str(target)]}[where]
        with pytest.raises(SystemExit) as exc:
            build_corpus.main(["--config", str(config), "--quiet", *args])
        assert exc.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and says in err[0] and "Traceback" not in err[0], err
    assert afile.read_text() == "mine\n" and not (tmp_path / "elsewhere").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere: an unwritable folder cannot be made here")
def test_read_only_output_is_one_line(tmp_path, shared_data, capsys):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    config = write_config(tmp_path, shared_data, locked / "out")
    with pytest.raises(SystemExit) as exc:
        build_corpus.main(["--config", str(config), "--quiet"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{locked} is not writable" in err[0], err
