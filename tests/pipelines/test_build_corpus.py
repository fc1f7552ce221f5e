"""pipelines/build_corpus.py: clean build, up-to-date rebuild, add-one-file rebuild (byte-identical), lock, lineage."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import duckdb
import pytest
import yaml

from tests.pipelines import copy_udhr
from tokenmill.operators.corpus_build import BuildLock
from tokenmill.operators.shards import verify_shard_set
from tokenmill.pipelines import build_corpus, lineage


def write_config(root: Path, shared_data: Path, udhr: list[str], out: Path) -> Path:
    """A corpus of some UDHR files (copied, so a test can add one) and the click sources at weight 0.5."""
    src = copy_udhr(root, shared_data, udhr)
    cfg = {
        "output": str(out),
        "sources": [
            {"name": "udhr", "input": [str(src / "*.txt")], "ingest": {"format": "text", "lang_from": "filename"}},
            {"name": "code", "input": [str(shared_data / "code/click/**/*.py")], "ingest": {"format": "text", "doc_per": "file"}, "weight": 0.5},
        ],
        "tokenizer": {"path": str(shared_data / "tokenizers/bert-base-uncased/tokenizer.json")},
        "shards": {"pack": {"context_length": 1024}},
        "keep_builds": 2,
    }
    path = root / "corpus.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def summary(out: Path) -> dict:
    current = os.readlink(out / "builds/CURRENT")
    return json.loads((out / "builds" / current / "build.json").read_text())


def test_incremental_rebuilds(tmp_path, shared_data, ray_local, capsys):
    out = tmp_path / "out"
    config = write_config(tmp_path, shared_data, ["eng", "fra", "rus"], out)
    assert build_corpus.main(["--config", str(config), "--quiet"]) == 0
    first = summary(out)
    build = out / "builds" / first["build_id"]
    assert verify_shard_set(build / "shards").ok
    # CURRENT is a relative link any client follows (ls builds/CURRENT/, a moved output folder), plus the id file
    assert os.readlink(out / "builds/CURRENT") == first["build_id"] == (out / "builds/CURRENT.id").read_text().strip()
    assert verify_shard_set(out / "builds/CURRENT/shards").ok
    assert (build / "report.html").is_file() and (build / "report/tokens_per_language.png").is_file()
    assert first["cache"]["misses"] == first["cache"]["partitions"] > 3
    assert set(first["per_lang"]) >= {"eng", "fra", "rus"}
    assert first["totals"]["records_in"] == first["totals"]["quarantined_read"] + first["totals"]["unique_documents"] + first["totals"]["duplicates"]
    t = first["totals"]  # the code source at weight 0.5: what it drops is counted, not silent
    assert t["records_seen"] == t["records_in"] and first["per_source"]["code"]["sampled_out"] == t["sampled_out"] > 0
    assert t["documents"] == t["unique_documents"] - t["sampled_out"] + t["upsampled_copies"]

    # nothing changed: nothing recomputed, CURRENT unchanged
    capsys.readouterr()
    assert build_corpus.main(["--config", str(config), "--quiet"]) == 0
    assert "up to date" in capsys.readouterr().out
    assert summary(out)["build_id"] == first["build_id"]

    # one file added: only its partition is built; shards equal a clean build of the same inputs, byte for byte
    shutil.copyfile(shared_data / "text/udhr/deu.txt", tmp_path / "udhr/deu.txt")
    assert build_corpus.main(["--config", str(config), "--quiet"]) == 0
    second = summary(out)
    assert second["cache"]["misses"] == 1 and second["diff"]["documents_added"] > 0
    assert second["diff"]["documents_removed"] == 0 and second["diff"]["tokens_delta_per_lang"]["deu"] > 0
    clean_out = tmp_path / "clean"
    clean_cfg = yaml.safe_load(config.read_text()) | {"output": str(clean_out)}
    (tmp_path / "clean.yaml").write_text(yaml.safe_dump(clean_cfg))
    assert build_corpus.main(["--config", str(tmp_path / "clean.yaml"), "--quiet"]) == 0
    assert summary(clean_out)["shard_sha256"] == second["shard_sha256"]

    led = duckdb.connect(str(out / "ledger.duckdb"), read_only=True)
    hits = led.execute("SELECT stage, hits, misses FROM cache ORDER BY run, stage").fetchall()
    assert ("build", 1, 0) in hits and ("partitions", first["cache"]["partitions"], 0) in hits
    assert led.execute("SELECT count(*) FROM runs WHERE status = 'succeeded'").fetchone()[0] == 3

    # lineage: every document of a packed row names its source file and location
    docs = lineage.lineage(out / "builds/CURRENT", 0, 0)
    assert docs and all(d["source"] and d["location"] and d["id"] for d in docs)
    assert {Path(d["source"]).suffix for d in docs} <= {".txt", ".py"}


def test_lock_refuses_a_second_build(tmp_path, shared_data, capsys):
    out = tmp_path / "out"
    config = write_config(tmp_path, shared_data, ["eng"], out)
    with BuildLock(out):
        assert build_corpus.main(["--config", str(config), "--quiet"]) == 3
    assert "is being built by pid" in capsys.readouterr().err


def test_config_errors(tmp_path, shared_data):
    out = tmp_path / "out"
    config = write_config(tmp_path, shared_data, ["eng"], out)
    with pytest.raises(SystemExit):
        build_corpus.main(["--config", str(config), "--set", "context_lenght=12"])
    bad = yaml.safe_load(config.read_text())
    bad["sources"][0]["weight"] = -1
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    with pytest.raises(SystemExit):
        build_corpus.main(["--config", str(tmp_path / "bad.yaml")])


def test_near_dedup_quarantines_edited_copies(tmp_path, shared_data, ray_local):
    out = tmp_path / "out"
    config = write_config(tmp_path, shared_data, ["eng"], out)
    lines = [l for l in (shared_data / "text/udhr/eng.txt").read_text().splitlines() if len(l.split()) > 30]
    (tmp_path / "udhr/xxx.txt").write_text("\n".join(l + " indeed" for l in lines[:5]) + "\n")
    cfg = yaml.safe_load(config.read_text()) | {"near_dedup": True, "near_dedup_threshold": 0.7}
    config.write_text(yaml.safe_dump(cfg))
    assert build_corpus.main(["--config", str(config), "--quiet"]) == 0
    result = summary(out)
    assert result["totals"]["near_duplicates"] >= 4
    assert result["quarantine"]["dedup/near_duplicate"] == result["totals"]["near_duplicates"]
    t = result["totals"]
    assert t["records_in"] == t["quarantined_read"] + t["unique_documents"] + t["duplicates"]
