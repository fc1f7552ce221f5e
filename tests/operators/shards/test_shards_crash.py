"""Crash safety: a writer subprocess killed by a signal at any stage leaves the previous complete set (or no
manifest), and verify never reports an incomplete set as complete."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from tests.operators.shards.shard_helpers import write_set
from tokenmill.operators.shards import load_manifest, verify_shard_set

pytestmark = pytest.mark.slow  # subprocesses that import torch: ~3 s each

CHILD = textwrap.dedent(
    """
    import os, sys, time
    import numpy as np
    from tokenmill.operators.pack import PackerConfig
    from tokenmill.operators.shards import ShardWriter, ShardWriterConfig

    out, stage = sys.argv[1], sys.argv[2]
    real_replace, real_remove = os.replace, os.remove

    def replace(src, dst):  # pause just before the manifest rename: new shards final, manifest not yet
        if stage == "manifest-rename" and str(dst).endswith("manifest.json"):
            print("AT", stage, flush=True)
            time.sleep(120)
        real_replace(src, dst)

    def remove(path):  # pause in garbage collection: new manifest committed, old files not yet removed
        if stage == "garbage-collection":
            print("AT", stage, flush=True)
            time.sleep(120)
        real_remove(path)

    os.replace, os.remove = replace, remove
    rng = np.random.default_rng(0)
    cfg = ShardWriterConfig(pack=PackerConfig(context_length=128, buffer_docs=16), shard_tokens=2000, row_group_rows=4)
    with ShardWriter(out, cfg, vocab_size=50257, tokenizer_hash="h", run_id="killed") as writer:
        for i in range(400):
            writer.add(f"d{i}", rng.integers(0, 50257, int(rng.integers(1, 300))))
            if i == 150 and stage == "mid-write":
                print("AT", stage, flush=True)
            if i > 150 and stage == "mid-write":
                time.sleep(0.02)  # slow down so that the signal lands while shards are being written
    print("DONE", flush=True)
    """
)


def run_and_kill(tmp_path, out, stage: str, sig: int) -> None:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    child = subprocess.Popen([sys.executable, str(script), str(out), stage], stdout=subprocess.PIPE, text=True)
    try:
        line = child.stdout.readline()
        assert line.strip() == f"AT {stage}", line
        if stage == "mid-write":
            assert any(p.name.endswith(".tmp") for p in out.rglob("*"))  # really mid-write: temporaries exist
        os.kill(child.pid, sig)
        assert child.wait(timeout=30) == -sig
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_killed_mid_write_keeps_the_previous_set(tmp_path, udhr_docs, sig):
    out = tmp_path / "shards"
    old = write_set(out, udhr_docs[:100], pack={"context_length": 128})
    before = (out / "manifest.json").read_bytes()
    run_and_kill(tmp_path, out, "mid-write", sig)
    assert (out / "manifest.json").read_bytes() == before
    report = verify_shard_set(out)
    assert report.ok and report.totals == old["totals"]
    assert report.warnings  # the dead writer's files are there, and reported as not part of the set


def test_killed_mid_write_without_previous_set_leaves_no_manifest(tmp_path):
    out = tmp_path / "shards"
    out.mkdir()
    run_and_kill(tmp_path, out, "mid-write", signal.SIGKILL)
    assert not (out / "manifest.json").exists()
    report = verify_shard_set(out)
    assert not report.ok and "no manifest" in report.problem


def test_killed_before_manifest_rename_keeps_the_previous_set(tmp_path, udhr_docs):
    out = tmp_path / "shards"
    write_set(out, udhr_docs[:100], pack={"context_length": 128})
    before = (out / "manifest.json").read_bytes()
    run_and_kill(tmp_path, out, "manifest-rename", signal.SIGKILL)
    assert (out / "manifest.json").read_bytes() == before
    assert (out / ".manifest.json.tmp").exists()  # the new manifest was complete but never published
    assert verify_shard_set(out).ok


def test_killed_during_cleanup_has_the_new_set(tmp_path, udhr_docs):
    out = tmp_path / "shards"
    write_set(out, udhr_docs[:100], pack={"context_length": 128})
    run_and_kill(tmp_path, out, "garbage-collection", signal.SIGKILL)
    assert load_manifest(out)["run_id"] == "killed"
    report = verify_shard_set(out)
    assert report.ok and report.totals["documents"] == 400 and report.warnings  # the old set's files linger
    # The next successful commit removes every leftover.
    manifest = write_set(out, udhr_docs[:30], pack={"context_length": 128})
    listed = {f["path"] for s in manifest["shards"] for f in s["files"].values()}
    assert {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()} == listed | {"manifest.json"}
