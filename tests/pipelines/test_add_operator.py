"""Adding an operator touches three files and reaches every job: ingest, pack_shards and build_corpus.

The test copies the project, adds a toy filter the way a maintainer would (its file, its export, one entry in
``operators/io/chain.py``), checks that exactly those three files differ from the original, then runs the three
jobs of the copy as a user does and finds the operator's ledger stage and quarantine rows in each; ingest runs it
in its Ray workers, not in the driver.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]

TOY = '''"""A toy filter: documents that contain the word XYZZY are quarantined (reason ``toy_flag``)."""

import pyarrow as pa
import pyarrow.compute as pc
import ray

from tokenmill.schemas import REJECT_COLUMNS


class ToyFlag:
    STAGE = "toy_flag"
    NEEDS = ("text", *REJECT_COLUMNS)
    ADDS = ()

    def __init__(self, cfg) -> None:
        self.cfg = cfg

    def __call__(self, batch: pa.Table) -> pa.Table:
        where = "worker" if ray.is_initialized() and ray.get_runtime_context().worker.mode == ray.WORKER_MODE else "driver"
        hit = pc.and_(pc.is_null(batch["_reject_reason"]), pc.fill_null(pc.match_substring(batch["text"], "XYZZY"), False))
        for column, value in (("_reject_stage", "toy_flag"), ("_reject_reason", "toy_flag"),
                              ("_reject_detail", f"contains XYZZY, found in a Ray {where}"), ("_reject_excerpt", "XYZZY")):
            i = batch.schema.get_field_index(column)
            batch = batch.set_column(i, column, pc.if_else(hit, pa.scalar(value), batch[column]))
        return batch
'''


def _tree_digest(root: Path) -> dict[str, str]:
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=root, capture_output=True, text=True, check=True).stdout.split()
    # tokenmill/operators etc. are links to the top-level folders: a link is its target's name, copied as a link
    return {
        f: hashlib.sha256(os.readlink(root / f).encode() if (root / f).is_symlink() else (root / f).read_bytes()).hexdigest()
        for f in files
        if (root / f).is_symlink() or (root / f).is_file()
    }


def _copy_project(dest: Path) -> dict[str, str]:
    original = _tree_digest(ROOT)
    for rel in original:
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        if (ROOT / rel).is_symlink():
            os.symlink(os.readlink(ROOT / rel), dest / rel)
        else:
            shutil.copy2(ROOT / rel, dest / rel)
    return original


def _add_toy_operator(repo: Path) -> None:
    (repo / "operators/clean/toy_flag.py").write_text(TOY)
    init = repo / "operators/clean/__init__.py"
    init.write_text(init.read_text() + "from tokenmill.operators.clean.toy_flag import ToyFlag  # noqa: E402,F401\n")
    chain = repo / "operators/io/chain.py"
    text = chain.read_text()
    end = '\n)\n"""Per-batch operators on documents'  # the end of TEXT_OPERATORS: the toy goes last
    assert end in text
    chain.write_text(
        text.replace(end, "\n    ToyFlag," + end).replace(
            "from tokenmill.operators.clean.text_normalize import TextNormalizer",
            "from tokenmill.operators.clean import ToyFlag\nfrom tokenmill.operators.clean.text_normalize import TextNormalizer",
        )
    )


def _walk(root: Path) -> list[Path]:
    """Files and links under ``root``, links not followed (the copy's tokenmill/operators is a link, not a folder)."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        base = Path(dirpath)
        out += [base / n for n in filenames] + [base / d for d in dirnames if (base / d).is_symlink()]
    return out


def _run(repo: Path, *args: str) -> None:
    # the copy is the project that runs (as if it were the checkout installed in editable mode), not this one
    env = {**{k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}, "PYTHONPATH": str(repo)}
    proc = subprocess.run([sys.executable, *args, "--quiet", "--num-cpus", "2"], cwd=repo, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]


def _stages(ledger: Path) -> dict[str, tuple[int, int, int]]:
    con = duckdb.connect(str(ledger), read_only=True)
    try:
        return {s: (i, o, q) for s, i, o, q in con.execute("SELECT stage, rows_in, rows_out, rows_quarantined FROM stages").fetchall()}
    finally:
        con.close()


@pytest.mark.slow
def test_a_new_operator_is_three_files_and_runs_in_every_job(tmp_path, shared_data):
    repo = tmp_path / "repo"
    original = _copy_project(repo)
    _add_toy_operator(repo)
    now = (
        _tree_digest(repo)
        if (repo / ".git").exists()
        else {
            p.relative_to(repo).as_posix(): hashlib.sha256(os.readlink(p).encode() if p.is_symlink() else p.read_bytes()).hexdigest()
            for p in _walk(repo)
            if "__pycache__" not in p.parts
        }
    )
    changed = {f for f, h in now.items() if original.get(f) != h}
    assert changed == {"operators/clean/toy_flag.py", "operators/clean/__init__.py", "operators/io/chain.py"}

    data = tmp_path / "data"
    data.mkdir()
    lines = (shared_data / "text/udhr/eng.txt").read_text().splitlines()[:40]
    (data / "eng.txt").write_text("\n".join([*lines, "a line with XYZZY in it", *lines[:5]]) + "\n")
    tokenizer = str(shared_data / "tokenizers/gpt2")

    _run(repo, "pipelines/ingest.py", "--input", str(data / "*.txt"), "--output", str(tmp_path / "ing"))
    _run(
        repo,
        "pipelines/pack_shards.py",
        "--tokenizer",
        tokenizer,
        "--input",
        str(data / "*.txt"),
        "--output",
        str(tmp_path / "pack"),
        "--set",
        "shards.pack.context_length=128",
    )
    corpus = tmp_path / "corpus.yaml"
    corpus.write_text(
        yaml.safe_dump(
            {
                "output": str(tmp_path / "build"),
                "tokenizer": {"path": tokenizer},
                "sources": [{"name": "eng", "input": [str(data / "*.txt")], "ingest": {"format": "text"}}],
                "shards": {"pack": {"context_length": 128}},
            }
        )
    )
    _run(repo, "pipelines/build_corpus.py", "--config", str(corpus))

    # ingest ran the op in its Ray workers (as pack_shards and build_corpus do)
    con = duckdb.connect()
    details = con.execute(f"SELECT DISTINCT detail FROM read_parquet('{tmp_path}/ing/quarantine/*.parquet')").fetchall()
    con.close()
    assert details == [("contains XYZZY, found in a Ray worker",)]
    for ledger in (tmp_path / "ing/ledger.duckdb", tmp_path / "pack/ledger.duckdb", tmp_path / "build/ledger.duckdb"):
        stages = _stages(ledger)
        toy = [v for s, v in stages.items() if s.endswith("toy_flag")]
        assert toy and toy[0][2] == 1, (ledger, stages)  # the stage is in the ledger and quarantined its one row
    current = os.readlink(tmp_path / "build/builds/CURRENT")
    summary = json.loads((tmp_path / "build/builds" / current / "build.json").read_text())
    assert summary["quarantine"].get("toy_flag/toy_flag") == 1, summary["quarantine"]
