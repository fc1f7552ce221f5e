"""pipelines/build_corpus.py integrity: cleanup deletes only what tokenmill marked as its own, output: is required,
corrupt/truncated/missing cache entries are recomputed (never published), weight < 1 drops are counted and
quarantined, and a partition whose reader saw more records than it holds fails the build."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import yaml

from tests.pipelines import copy_udhr
from tokenmill.operators.core.config import ConfigError
from tokenmill.operators.corpus_build import BuildStore, load_build_config
from tokenmill.operators.corpus_build.publish import STAGING_MARKER
from tokenmill.pipelines import build_corpus


def small_config(root: Path, shared_data: Path, out: Path, langs=("eng", "fra"), **extra) -> Path:
    """A corpus of a few UDHR files (copied, so a test can add one); ``extra`` are top-level keys."""
    src = copy_udhr(root, shared_data, langs)
    cfg = {
        "output": str(out),
        "sources": [{"name": "udhr", "input": [str(src / "*.txt")], "ingest": {"format": "text", "lang_from": "filename"}}],
        "tokenizer": {"path": str(shared_data / "tokenizers/bert-base-uncased/tokenizer.json")},
        "shards": {"pack": {"context_length": 256}},
        **extra,
    }
    path = root / f"{out.name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def build(config: Path) -> dict:
    assert build_corpus.main(["--config", str(config), "--quiet"]) == 0
    return current_summary(yaml.safe_load(config.read_text())["output"])


def current_summary(out) -> dict:
    builds = Path(out) / "builds"
    return json.loads((builds / os.readlink(builds / "CURRENT") / "build.json").read_text())


def partition_of(out: Path, lang: str) -> Path:
    """The cached partition folder of ``udhr/<lang>.txt``."""
    for meta in (out / "cache/partitions").glob("*/meta.json"):
        if json.loads(meta.read_text())["uri"].endswith(f"/{lang}.txt"):
            return meta.parent
    raise AssertionError(f"no cached partition of {lang}.txt")


def cache_rows(out: Path, stage: str) -> list[tuple]:
    con = duckdb.connect(str(out / "ledger.duckdb"), read_only=True)
    try:
        return con.execute("SELECT hits, misses FROM cache WHERE stage = ? ORDER BY run", [stage]).fetchall()
    finally:
        con.close()


def listed_config(corpus: Path, out: Path, langs: tuple[str, ...], shared_data: Path) -> Path:
    """A config whose source lists files of the shared ``corpus`` folder by name, so builds that list the same
    files read the same paths (document ids derive from them) and must give the same bytes."""
    cfg = {
        "output": str(out),
        "sources": [{"name": "udhr", "input": [str(corpus / f"{lang}.txt") for lang in sorted(langs)], "ingest": {"format": "text", "lang_from": "filename"}}],
        "tokenizer": {"path": str(shared_data / "tokenizers/bert-base-uncased/tokenizer.json")},
        "shards": {"pack": {"context_length": 256}},
    }
    path = out.parent / f"{out.name}-{len(langs)}.yaml"
    out.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, shared_data) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    for lang in ("deu", "eng", "fra", "spa"):
        shutil.copyfile(shared_data / f"text/udhr/{lang}.txt", root / f"{lang}.txt")
    return root


@pytest.fixture(scope="module")
def reference(tmp_path_factory, corpus, shared_data, ray_local) -> dict:
    """A clean build of deu + eng + fra: what a healed rebuild must equal, byte for byte."""
    root = tmp_path_factory.mktemp("reference")
    return build(listed_config(corpus, root / "out", ("deu", "eng", "fra"), shared_data))


# ---- 1. cleanup deletes only what it created -------------------------------------------------------------------


def _fake_build(store: BuildStore, build_id: str) -> None:
    (store.root / build_id).mkdir()
    (store.root / build_id / "build.json").write_text(json.dumps({"format": "tokenmill build v1", "build_id": build_id}))


def test_retention_touches_only_marked_builds(tmp_path):
    store = BuildStore(tmp_path)
    for name in ("aaa_user_dir", "release-1.0", "20200101T000000-00000000"):  # the last: build-like name, no marker
        (store.root / name).mkdir()
        (store.root / name / "notes.txt").write_text("mine")
    (store.root / "20200101T000001-00000001").mkdir()  # a build.json naming another build: not ours
    (store.root / "20200101T000001-00000001" / "build.json").write_text(json.dumps({"format": "tokenmill build v1", "build_id": "20990101T000000-ffffffff"}))
    for old in ("20240101T000000-aaaaaaaa", "20240102T000000-bbbbbbbb"):
        _fake_build(store, old)
    # stale staging: ours (marked) goes, a user's .tmp- folder stays
    (store.root / ".tmp-20240103T000000-cccccccc").mkdir()
    (store.root / ".tmp-20240103T000000-cccccccc" / STAGING_MARKER).write_text("")
    (store.root / ".tmp-20240104T000000-dddddddd").mkdir()
    (store.root / ".tmp-my-scratch").mkdir()
    # the new build's id sorts *before* the existing ones (clock skew): it is still never deleted
    new = "20230101T000000-eeeeeeee"
    staging = store.staging(new)
    assert (staging / STAGING_MARKER).is_file()
    assert not (store.root / ".tmp-20240103T000000-cccccccc").exists()
    assert (store.root / ".tmp-20240104T000000-dddddddd").is_dir() and (store.root / ".tmp-my-scratch").is_dir()
    with pytest.raises(RuntimeError, match="build.json"):  # unmarked staging cannot be published
        store.publish(staging, new, keep=1)
    (staging / "build.json").write_text(json.dumps({"format": "tokenmill build v1", "build_id": new}))
    final = store.publish(staging, new, keep=1)
    assert store.current() == new and final.is_dir() and not (final / STAGING_MARKER).exists()
    assert store.builds() == [new, "20240102T000000-bbbbbbbb"]  # keep 1 newest by id + the one just published
    for name in ("aaa_user_dir", "release-1.0", "20200101T000000-00000000", "20200101T000001-00000001"):
        assert (store.root / name).is_dir(), name


def test_build_ids_sort_in_publishing_order(tmp_path):
    """Two builds in one second (or a clock set back) still get ids that sort after the newest published one."""
    import datetime as dt

    store = BuildStore(tmp_path)
    now = dt.datetime(2026, 12, 8, 2, 12, 17, 500000, tzinfo=dt.UTC)
    assert store.new_id("run-ffffffff", now) == "20261208T021217-ffffffff"  # nothing published: the time itself
    _fake_build(store, "20261208T021217-ffffffff")
    second = store.new_id("run-00000000", now)  # same second, a suffix that sorts first
    assert second == "20261208T021218-00000000" and second > store.builds()[-1]
    _fake_build(store, second)
    assert store.new_id("run-11111111", now - dt.timedelta(hours=1)) == "20261208T021219-11111111"  # clock set back
    later = now + dt.timedelta(minutes=5)
    assert store.new_id("run-22222222", later) == "20261208T021717-22222222"  # a later clock: the time itself


def test_user_folders_survive_keep_builds_1(tmp_path, shared_data, ray_local):
    out = tmp_path / "out"
    for name in ("aaa_user_dir", "release-1.0"):
        (out / "builds" / name).mkdir(parents=True)
        (out / "builds" / name / "README").write_text("a user's folder")
    config = small_config(tmp_path, shared_data, out, langs=("eng",), keep_builds=1)
    first = build(config)
    shutil.copyfile(shared_data / "text/udhr/fra.txt", tmp_path / "udhr/fra.txt")
    second = build(config)
    builds = out / "builds"
    assert (builds / second["build_id"] / "build.json").is_file()  # CURRENT names a build that exists
    assert (builds / "aaa_user_dir/README").is_file() and (builds / "release-1.0/README").is_file()
    assert BuildStore(out).builds()[-1] == second["build_id"] and len(BuildStore(out).builds()) <= 2
    if first["build_id"] < second["build_id"]:  # ids are per second: distinct unless both builds ran in one second
        assert not (builds / first["build_id"]).exists()


# ---- 2. output: is required --------------------------------------------------------------------------------------


def test_config_without_output_is_an_error(tmp_path, shared_data, capsys):
    config = small_config(tmp_path, shared_data, tmp_path / "out")
    cfg = yaml.safe_load(config.read_text())
    del cfg["output"]
    config.write_text(yaml.safe_dump(cfg))
    with pytest.raises(ConfigError, match="output: is required, e.g. output: /data/builds/web"):
        load_build_config(config)
    with pytest.raises(SystemExit):
        build_corpus.main(["--config", str(config), "--quiet"])
    assert "output: is required" in capsys.readouterr().err
    assert not (tmp_path / "cache").exists() and not (tmp_path / "builds").exists()  # nothing next to the config
    assert load_build_config(config, {"output": "elsewhere"}).output == str(tmp_path / "elsewhere")


# ---- 3. corrupt cache entries are recomputed, never published ------------------------------------------------------


def _flip_one_bit_in_input_ids(path: Path) -> None:
    """Rewrite tokens.parquet with one bit of one token id flipped: still valid Parquet, other content."""
    table = pq.read_table(path)
    ids = table["input_ids"].combine_chunks()
    values = ids.values.to_numpy().copy()
    values[len(values) // 2] ^= 1
    flipped = pa.ListArray.from_arrays(ids.offsets, pa.array(values, pa.int32()))
    table = table.set_column(table.schema.get_field_index("input_ids"), "input_ids", flipped)
    pq.write_table(table, path, compression="zstd")
    assert pq.read_table(path).num_rows == table.num_rows


def test_flipped_bit_in_cache_is_recomputed(tmp_path, shared_data, corpus, reference):
    out = tmp_path / "out"
    build(listed_config(corpus, out, ("eng", "fra"), shared_data))
    tokens = partition_of(out, "fra") / "tokens.parquet"
    before = tokens.read_bytes()
    _flip_one_bit_in_input_ids(tokens)
    assert tokens.read_bytes() != before
    healed = build(listed_config(corpus, out, ("deu", "eng", "fra"), shared_data))  # a file added to the corpus
    assert healed["cache"]["corrupt"] == 1 and healed["cache"]["misses"] == 2  # fra recomputed, deu new
    assert healed["shard_sha256"] == reference["shard_sha256"]
    assert healed["totals"] == reference["totals"]
    assert tokens.read_bytes() == before  # the cache healed itself
    assert cache_rows(out, "partitions_corrupt")[-1] == (0, 1)


def test_truncated_deleted_and_unreadable_cache_files_heal(tmp_path, shared_data, corpus, reference, caplog):
    out = tmp_path / "out"
    build(listed_config(corpus, out, ("deu", "eng", "fra", "spa"), shared_data))
    eng, fra, deu = (partition_of(out, lang) for lang in ("eng", "fra", "deu"))
    data = (eng / "tokens.parquet").read_bytes()
    (eng / "tokens.parquet").write_bytes(data[: len(data) // 2])  # truncated: "magic bytes not found"
    (fra / "tokens.parquet").unlink()  # deleted
    (deu / "meta.json").write_text("{not json")  # unreadable meta
    with caplog.at_level("WARNING", logger="tokenmill.build"):
        healed = build(listed_config(corpus, out, ("deu", "eng", "fra"), shared_data))  # spa left the corpus
    assert healed["cache"]["corrupt"] == 3 and healed["cache"]["misses"] == 3
    assert healed["shard_sha256"] == reference["shard_sha256"] and healed["totals"] == reference["totals"]
    warned = "\n".join(r.getMessage() for r in caplog.records)
    for key, file in ((eng.name, "tokens.parquet"), (fra.name, "tokens.parquet"), (deu.name, "meta.json")):
        assert f"{key} " in warned and f": {file}: " in warned
    assert cache_rows(out, "partitions_corrupt")[-1] == (0, 3)
    # healed for good: the next rebuild reuses every partition
    again = build(listed_config(corpus, out, ("deu", "eng", "fra", "spa"), shared_data))
    assert again["cache"]["corrupt"] == 0 and again["cache"]["misses"] == 0


def test_stale_cache_tmp_dirs_are_removed(tmp_path, shared_data, ray_local):
    out = tmp_path / "out"
    cache = out / "cache/partitions"
    stale = cache / (".tmp-" + "0123456789abcdef" * 2 + "-deadbeef")
    (stale / "quarantine").mkdir(parents=True)
    (stale / "tokens.parquet").write_bytes(b"half written")
    (cache / "notes.txt").write_text("a user's file")
    (cache / ".tmp-mine").mkdir()
    (cache / ".tmp-mine/keep.txt").write_text("a user's folder")
    build(small_config(tmp_path, shared_data, out, langs=("eng",)))
    assert not stale.exists()
    assert (cache / "notes.txt").read_text() == "a user's file" and (cache / ".tmp-mine/keep.txt").is_file()
    assert not [p for p in cache.iterdir() if p.name.startswith(".tmp-") and p.name != ".tmp-mine"]


# ---- 4. no silent drops: sampled_out and upsampled copies --------------------------------------------------------


def test_weights_are_counted_and_quarantined(tmp_path, shared_data, ray_local):
    out = tmp_path / "out"
    (tmp_path / "half").mkdir()
    (tmp_path / "double").mkdir()
    shutil.copyfile(shared_data / "text/udhr/eng.txt", tmp_path / "half/eng.txt")
    shutil.copyfile(shared_data / "text/udhr/fra.txt", tmp_path / "double/fra.txt")
    cfg = {
        "output": str(out),
        "shards": {"pack": {"context_length": 256}},
        "sources": [
            {"name": "half", "input": [str(tmp_path / "half/*.txt")], "ingest": {"format": "text"}, "weight": 0.5},
            {"name": "double", "input": [str(tmp_path / "double/*.txt")], "ingest": {"format": "text"}, "weight": 2.0},
        ],
        "tokenizer": {"path": str(shared_data / "tokenizers/bert-base-uncased/tokenizer.json")},
    }
    (tmp_path / "corpus.yaml").write_text(yaml.safe_dump(cfg))
    result = build(tmp_path / "corpus.yaml")
    t, half, double = result["totals"], result["per_source"]["half"], result["per_source"]["double"]
    assert half["sampled_out"] > 0 and half["sampled_out"] == half["unique_documents"] - half["documents"]
    assert half["upsampled_copies"] == 0 and double["sampled_out"] == 0
    assert double["upsampled_copies"] == double["unique_documents"] and double["documents"] == 2 * double["unique_documents"]
    assert t["sampled_out"] == half["sampled_out"] and t["upsampled_copies"] == double["upsampled_copies"]
    assert t["documents"] == t["unique_documents"] - t["sampled_out"] + t["upsampled_copies"]
    assert t["records_seen"] == t["records_in"] == t["quarantined_read"] + t["duplicates"] + t["unique_documents"]
    build_dir = out / "builds" / result["build_id"]
    q = pq.read_table(build_dir / "quarantine.parquet")
    mix = q.filter(pc.equal(q["stage"], "mix"))
    assert mix.num_rows == t["sampled_out"] == result["quarantine"]["mix/sampled_out"]
    assert set(mix["reason"].to_pylist()) == {"sampled_out"}
    assert all(d.startswith("weight 0.5 kept") for d in mix["detail"].to_pylist())
    assert set(mix["source"].to_pylist()) == {str(tmp_path / "half/eng.txt")}
    assert "sampled out" in (build_dir / "report.html").read_text()
    # the ledger's stages chain: partitions -> dedup -> mix -> pack_shards
    con = duckdb.connect(str(out / "ledger.duckdb"), read_only=True)
    stages = {s: (i, o, q) for s, i, o, q in con.execute("SELECT stage, rows_in, rows_out, rows_quarantined FROM stages").fetchall()}
    con.close()
    assert stages["mix"] == (t["unique_documents"], t["documents"], t["sampled_out"])
    assert stages["dedup"][1] == stages["mix"][0] and stages["partitions"][1] == stages["dedup"][0]
    assert stages["pack_shards"][0] == stages["mix"][1]


# ---- 5. counts that can fail -------------------------------------------------------------------------------------


def test_records_lost_after_reading_fail_the_build(tmp_path, shared_data, ray_local):
    out = tmp_path / "out"
    config = small_config(tmp_path, shared_data, out, langs=("eng",))
    first = build(config)
    assert first["totals"]["records_seen"] == first["totals"]["records_in"] > 0
    # the partition lost 3 records after the reader saw them (meta.json carries no checksum of itself)
    part = partition_of(out, "eng")
    meta = json.loads((part / "meta.json").read_text())
    meta["seen"] += 3
    (part / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(RuntimeError, match=r"source udhr: .*eng\.txt .*3 records lost"):
        build_corpus.main(["--config", str(config), "--quiet", "--set", "shards.pack.context_length=512"])
    assert os.readlink(out / "builds/CURRENT") == first["build_id"]  # nothing published
    assert BuildStore(out).builds() == [first["build_id"]]
    con = duckdb.connect(str(out / "ledger.duckdb"), read_only=True)
    status, error = con.execute("SELECT status, error FROM runs ORDER BY started DESC LIMIT 1").fetchone()
    con.close()
    assert status == "failed" and "3 records lost" in error
