"""pipelines/verify_shards.py: exit 0 on a sound set, non-zero naming the first problem otherwise."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from tokenmill.operators.pack import PackerConfig
from tokenmill.operators.shards import ShardWriter, ShardWriterConfig

SCRIPT = Path(__file__).resolve().parents[2] / "pipelines" / "verify_shards.py"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=120)


def test_cli(tmp_path, shared_data):
    lines = [ln for ln in (shared_data / "text" / "udhr" / "eng.txt").read_text().splitlines() if ln.strip()]
    cfg = ShardWriterConfig(pack=PackerConfig(context_length=64), shard_tokens=1500)
    with ShardWriter(tmp_path, cfg, vocab_size=256, tokenizer_hash="bytes", run_id="cli") as writer:
        for i, line in enumerate(lines):  # byte-level ids: a real text, no tokenizer needed
            writer.add(f"eng:{i}", np.frombuffer(line.encode(), np.uint8))
    ok = run(str(tmp_path))
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("OK ") and '"shards": ' in ok.stdout

    victim = tmp_path / writer.manifest["shards"][-1]["files"]["plan"]["path"]
    victim.write_bytes(victim.read_bytes()[:-5])
    bad = run(str(tmp_path))
    assert bad.returncode == 1
    assert "FAIL" in bad.stderr and victim.name in bad.stderr and "bytes" in bad.stderr

    empty = run(str(tmp_path / "nowhere"))
    assert empty.returncode == 1 and "no manifest" in empty.stderr
