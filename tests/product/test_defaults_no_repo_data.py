"""Defaults never point into this repo's data: no job's config default names ../shared/data, and
multilingual_tokenizer on a user's own small text (two .txt files, nothing else given) trains and compares with
nothing (before: it loaded UDHR and the GPT-2/Mistral/BERT tokenizers from ../shared/data, ran 30 s and died with a
traceback elsewhere). A fairness report is written only on what the user gives (parallel, compare), checked before
Ray starts."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from tokenmill.operators.core.config import config_keys
from tokenmill.operators.tokenize_text.multilingual_config import MultilingualConfig
from tokenmill.pipelines import _config_docs, multilingual_tokenizer

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("job", sorted(_config_docs.job_configs()))
def test_no_default_names_the_repos_data(job):
    cls = _config_docs.job_configs()[job]
    for key, _type, default, _doc in config_keys(cls):
        assert "shared/data" not in str(default) and str(ROOT.parent / "shared") not in str(default), (job, key, default)


def test_multilingual_defaults_compare_nothing():
    cfg = MultilingualConfig()
    assert cfg.parallel == "" and cfg.compare == () and cfg.peers() == {}


@pytest.fixture
def own_text(tmp_path):
    """A user's folder of two plain .txt files (no language in their names, no parallel corpus, no tokenizers)."""
    folder = tmp_path / "mine"
    folder.mkdir()
    rng = random.Random(7)
    words = ["the", "data", "engineer", "packs", "shards", "of", "text", "into", "training", "sets", "for", "model", "teams", "every", "night"]
    for name in ("notes.txt", "report.txt"):
        (folder / name).write_text("\n".join(" ".join(rng.choice(words) for _ in range(12)) for _ in range(200)) + "\n")
    return folder


def test_multilingual_on_a_users_own_text(own_text, tmp_path, ray_local, capsys):
    out = tmp_path / "out"
    assert multilingual_tokenizer.main(["--input", str(own_text / "*.txt"), "--output", str(out), "--quiet", "--set", "vocab_size=400"]) == 0
    printed = capsys.readouterr().out
    assert (out / "tokenizer/tokenizer.json").is_file() and "fairness report" not in printed
    assert not (out / "fairness.json").exists() and not (out / "fairness.html").exists()
    with duckdb.connect(str(out / "ledger.duckdb"), read_only=True) as led:
        assert led.execute("SELECT status FROM runs").fetchall() == [("succeeded",)]
        assert led.execute("SELECT count(*) FROM artifacts WHERE kind = 'fairness_report'").fetchone() == (0,)
        config = json.loads(led.execute("SELECT config FROM runs").fetchone()[0])
    assert config["parallel"] == "" and config["compare"] == []


def test_a_report_only_on_what_the_user_gives(own_text, tmp_path, ray_local, shared_data):
    """parallel given, no compare: the report scores ours alone, on that corpus."""
    out = tmp_path / "out"
    udhr = shared_data / "text/udhr"
    assert (
        multilingual_tokenizer.main(
            [
                "--input",
                str(own_text / "*.txt"),
                "--output",
                str(out),
                "--quiet",
                "--set",
                "vocab_size=400",
                "--set",
                f"parallel={udhr}/[ef][nr][ga].txt",
                "--set",
                "fairness.charts=false",
            ]
        )
        == 0
    )
    report = json.loads((out / "fairness.json").read_text())
    assert list(report["tokenizers"]) == ["tokenmill"] and set(report["tokenizers"]["tokenmill"]["per_language"]) == {"eng", "fra"}


_RUNNER = """
import json, sys
import ray
from tokenmill.pipelines import multilingual_tokenizer
try:
    code = multilingual_tokenizer.main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "ray": ray.is_initialized()}))
"""


@pytest.mark.parametrize(
    "sets,message",
    [
        (["compare=[gpt2=/nowhere/gpt2]"], "compare: the tokenizers are scored on the parallel corpus; set parallel too"),
        (["parallel=/nowhere/*.txt"], "parallel: no file matches '/nowhere/*.txt'"),
        (["parallel=UDHR", "compare=[gpt2=/nowhere/gpt2]"], "compare: gpt2=/nowhere/gpt2 does not exist"),
    ],
)
def test_report_inputs_checked_before_ray(sets, message, own_text, tmp_path, shared_data):
    sets = [s.replace("UDHR", str(shared_data / "text/udhr/eng.txt")) for s in sets]
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"} | {"PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            _RUNNER,
            "--input",
            str(own_text / "*.txt"),
            "--output",
            str(tmp_path / "out"),
            "--quiet",
            *[x for s in sets for x in ("--set", s)],
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result == {"code": 2, "ray": False}, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr
