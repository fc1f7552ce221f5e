"""The one atomic-write helper: old file or complete new one, never a torn one; temporaries never left behind."""

from __future__ import annotations

import os

import pytest

from tokenmill.operators.core.atomic import atomic_path, rename_dir_atomic, replace_atomic, write_bytes_atomic, write_text_atomic


def test_write_replaces_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "a.json"
    write_text_atomic(path, "old")
    write_bytes_atomic(path, b"new")
    assert path.read_bytes() == b"new" and os.listdir(tmp_path) == ["a.json"]


def test_a_failing_writer_keeps_the_old_file(tmp_path):
    path = tmp_path / "a.parquet"
    path.write_text("old")
    with pytest.raises(RuntimeError, match="boom"), atomic_path(path) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".a.parquet.tmp-")
        tmp.write_text("half")
        raise RuntimeError("boom")
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["a.parquet"]


def test_fixed_temporary_name_when_a_protocol_needs_one(tmp_path, monkeypatch):
    seen = []
    real = os.replace
    monkeypatch.setattr(os, "replace", lambda src, dst: (seen.append(os.path.basename(src)), real(src, dst)))
    write_text_atomic(tmp_path / "manifest.json", "{}", tmp=tmp_path / ".manifest.json.tmp")
    assert seen == [".manifest.json.tmp"] and (tmp_path / "manifest.json").read_text() == "{}"


def test_replace_and_rename_dir(tmp_path):
    part = tmp_path / ".x.bin.tmp"
    part.write_bytes(b"\x00" * 10)
    replace_atomic(part, tmp_path / "x.bin")
    assert (tmp_path / "x.bin").stat().st_size == 10 and not part.exists()
    staged = tmp_path / ".tmp-build"
    (staged / "sub").mkdir(parents=True)
    (staged / "sub" / "f.txt").write_text("f")
    rename_dir_atomic(staged, tmp_path / "build")
    assert (tmp_path / "build" / "sub" / "f.txt").read_text() == "f" and not staged.exists()
    (tmp_path / "again" / "keep").mkdir(parents=True)
    (tmp_path / ".tmp-again").mkdir()
    (tmp_path / ".tmp-again" / "x").write_text("x")
    with pytest.raises(OSError):  # a non-empty target is never replaced: the caller decides
        rename_dir_atomic(tmp_path / ".tmp-again", tmp_path / "again")
