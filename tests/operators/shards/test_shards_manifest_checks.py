"""A manifest is trusted only within its folder and its structure: paths that escape the shard folder and malformed
manifests are a FAIL of verify (and of pipelines/verify_shards.py, without a traceback) and refused by the reader."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.operators.shards.shard_helpers import write_set
from tokenmill.operators.shards import ShardSet, load_manifest, verify_shard_set
from tokenmill.operators.shards.manifest import shard_file

ROOT = Path(__file__).resolve().parents[3]
_spec = importlib.util.spec_from_file_location("verify_shards_cli", ROOT / "pipelines" / "verify_shards.py")
verify_shards = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(verify_shards)


@pytest.fixture(scope="module")
def pristine_set(tmp_path_factory, udhr_docs):
    """One small committed set, written once for the module."""
    out = tmp_path_factory.mktemp("pristine") / "shards"
    write_set(out, udhr_docs[:120], pack={"context_length": 256, "buffer_docs": 64}, shard_tokens=3000)
    return out


@pytest.fixture()
def small_set(tmp_path, pristine_set):
    """A fresh copy of the pristine set for each test to damage (shadows conftest's, which writes one each time)."""
    out = tmp_path / "shards"
    shutil.copytree(pristine_set, out)
    return out, json.loads((out / "manifest.json").read_text())


def rewrite(out: Path, manifest: dict) -> None:
    (out / "manifest.json").write_text(json.dumps(manifest))


def escape_to_copy(small_set, how: str) -> str:
    """Point the first shard's bin entry at an identical copy of it outside the set (size and sha256 agree, so
    only the path check can catch it); return the path written into the manifest."""
    out, manifest = small_set
    entry = manifest["shards"][0]["files"]["bin"]
    outside = out.parent / "outside"
    outside.mkdir()
    copy = outside / entry["path"]
    shutil.copyfile(out / entry["path"], copy)
    if how == "dotdot":
        name = f"../outside/{entry['path']}"
    elif how == "absolute":
        name = str(copy)
    elif how == "symlink":  # a name inside the folder whose target is outside
        name = "link.bin"
        os.symlink(copy, out / name)
    else:
        name = f"sub/../../outside/{entry['path']}"
    entry["path"] = name
    rewrite(out, manifest)
    return name


@pytest.mark.parametrize("how", ["dotdot", "absolute", "symlink", "nested_dotdot"])
def test_paths_outside_the_folder_fail(small_set, how):
    out, _ = small_set
    name = escape_to_copy(small_set, how)
    report = verify_shard_set(out)
    assert not report.ok and name in report.problem and "shards[0].files.bin" in report.problem
    assert ("absolute" if how == "absolute" else "outside the shard folder") in report.problem
    with pytest.raises(ValueError, match="outside the shard folder|absolute"):
        ShardSet(out)
    with pytest.raises(ValueError, match="outside the shard folder|absolute"):
        load_manifest(out)


def test_shard_file_accepts_only_names_inside(tmp_path):
    (tmp_path / "sub").mkdir()
    assert shard_file(tmp_path, "a.bin") == tmp_path / "a.bin"
    assert shard_file(tmp_path, "sub/a.bin") == tmp_path / "sub" / "a.bin"
    assert shard_file(tmp_path, "sub/../a.bin") == tmp_path / "sub/../a.bin"  # stays inside: allowed
    for bad in ("", ".", "sub/..", "../a.bin", "/etc/passwd", "C:\\x.bin", "a\x00.bin"):
        with pytest.raises(ValueError, match="file path"):
            shard_file(tmp_path, bad)


def _del(d: dict, *keys: str) -> None:
    for k in keys[:-1]:
        d = d[k]
    del d[keys[-1]]


def _set(d: dict, value, *keys) -> None:
    for k in keys[:-1]:
        d = d[k]
    d[keys[-1]] = value


MALFORMED = [
    (lambda m: _del(m, "shards"), "missing key 'shards'"),
    (lambda m: _del(m, "config"), "missing key 'config'"),
    (lambda m: _set(m, "many", "shards"), "shards must be a list"),
    (lambda m: _set(m, "256", "context_length"), "context_length must be an integer >= 1, got '256'"),
    (lambda m: _set(m, "float64", "token_dtype"), "token_dtype must be 'uint16' or 'int32'"),
    (lambda m: _set(m, ["orc"], "formats"), "formats must be a non-empty list"),
    (lambda m: _del(m, "tokenizer", "vocab_size"), "tokenizer.vocab_size must be an integer"),
    (lambda m: _del(m, "config", "pack"), "config.pack.pad_id must be an integer"),
    (lambda m: _set(m, "lots", "totals", "tokens"), "totals.tokens must be a number"),
    (lambda m: _set(m, "x", "shards", 1), "shards[1] must be an object"),
    (lambda m: _del(m, "shards", 0, "name"), "shards[0].name must be a string"),
    (lambda m: _set(m, "12", "shards", 0, "rows"), "shards[0].rows must be an integer >= 0, got '12'"),
    (lambda m: _set(m, True, "shards", 0, "tokens"), "shards[0].tokens must be an integer >= 0, got True"),
    (lambda m: _del(m, "shards", 0, "files"), "shards[0].files must be an object"),
    (lambda m: _del(m, "shards", 0, "files", "idx"), "shards[0].files: no 'idx' file"),
    (lambda m: _set(m, "big", "shards", 0, "files", "bin", "bytes"), "shards[0].files.bin.bytes must be an integer"),
    (lambda m: _del(m, "shards", 0, "files", "rows", "sha256"), "shards[0].files.rows.sha256 must be a string"),
    (lambda m: _set(m, 7, "shards", 0, "files", "plan", "path"), "shards[0].files.plan.path must be a string"),
    (lambda m: _set(m, m["shards"][0]["files"]["bin"], "shards", 1, "files", "bin"), "is listed twice"),
]


@pytest.mark.parametrize("change,problem", MALFORMED, ids=[p for _, p in MALFORMED])
def test_malformed_manifest_is_a_problem_not_a_crash(small_set, change, problem):
    out, manifest = small_set
    change(manifest)
    rewrite(out, manifest)
    report = verify_shard_set(out)
    assert not report.ok and problem in report.problem
    with pytest.raises(ValueError, match="manifest.json: "):
        ShardSet(out)


@pytest.mark.parametrize(
    "text,problem", [("{not json", "not valid JSON"), ("[1, 2]", "format is 'list'"), ('"tokenmill shards v1"', "format is 'str'"), ("", "not valid JSON")]
)
def test_not_a_manifest_at_all(small_set, text, problem):
    out, _ = small_set
    (out / "manifest.json").write_text(text)
    report = verify_shard_set(out)
    assert not report.ok and problem in report.problem


def test_cli_fail_lines(small_set, capsys):
    out, _manifest = small_set
    assert verify_shards.main([str(out)]) == 0
    assert capsys.readouterr().out.startswith(f"OK {out}")
    good = json.loads((out / "manifest.json").read_text())
    name = escape_to_copy(small_set, "dotdot")
    assert verify_shards.main([str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"FAIL {out}: ") and name in err and "outside the shard folder" in err
    del good["shards"][0]["files"]["bin"]["bytes"]
    rewrite(out, good)
    assert verify_shards.main([str(out), "--no-checksums"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("FAIL ") and "shards[0].files.bin.bytes must be an integer >= 0, got None" in err


@pytest.mark.parametrize("how", ["absolute", "malformed"])
def test_cli_exits_nonzero_without_a_traceback(small_set, how):
    out, manifest = small_set
    if how == "absolute":
        expect = escape_to_copy(small_set, "absolute")
    else:
        manifest["shards"][0]["rows"] = "many"
        rewrite(out, manifest)
        expect = "shards[0].rows must be an integer >= 0, got 'many'"
    done = subprocess.run([sys.executable, str(ROOT / "pipelines" / "verify_shards.py"), str(out)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith(f"FAIL {out}: ") and expect in done.stderr
