"""The ``tokenmill`` command: every job listed, ``tokenmill config JOB`` round-trips, did-you-mean, short errors."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tokenmill import cli
from tokenmill.operators.core.config import build_config, config_keys, default_instance

ROOT = Path(__file__).resolve().parents[2]
HINT = "--help lists every option"


def tokenmill(*args: str, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """``python -m tokenmill ARGS`` in a fresh interpreter (the same entry point as the console script)."""
    return subprocess.run([sys.executable, "-m", "tokenmill", *args], capture_output=True, text=True, timeout=timeout, cwd=cwd or ROOT)


def jobs_in_repo() -> set[str]:
    """Every pipelines/*.py with a main(): each must be a subcommand."""
    return {p.stem for p in (ROOT / "pipelines").glob("[!_]*.py") if re.search(r"^def main\(", p.read_text(), re.M)}


def test_help_lists_every_job_with_a_description():
    assert jobs_in_repo() == set(cli.JOBS)
    out = tokenmill("--help")
    assert out.returncode == 0, out.stderr
    listed = dict(re.findall(r"^  ([a-z-]+) +(\S.*)$", out.stdout, re.M))
    assert set(listed) == {j.replace("_", "-") for j in jobs_in_repo()}
    assert all(len(d) > 20 for d in listed.values()), listed


def test_console_script_is_installed():
    script = Path(sys.executable).parent / "tokenmill"
    assert script.is_file(), "pip install -e . installs the tokenmill console script ([project.scripts])"
    out = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "pack-shards" in out.stdout


def test_import_is_cheap():
    code = "import sys, tokenmill; tokenmill.pack_shards; print(sorted({m.split('.')[0] for m in sys.modules} & {'ray', 'torch', 'pyarrow', 'transformers'}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_job_help_runs_the_jobs_parser():
    out = tokenmill("pack-shards", "--help")
    assert out.returncode == 0
    assert out.stdout.startswith("usage: tokenmill pack-shards")
    assert "shards.pack.context_length" in out.stdout


def test_config_pack_shards_round_trips():
    from tokenmill.pipelines.pack_shards import PackShardsConfig

    out = tokenmill("config", "pack-shards")
    assert out.returncode == 0, out.stderr
    data = yaml.safe_load(out.stdout)
    assert build_config(PackShardsConfig, data) == PackShardsConfig()
    # every key is there, each under its docstring as a comment
    lines = out.stdout.splitlines()
    for key, _tname, _default, doc in config_keys(PackShardsConfig):
        name = key.rsplit(".", 1)[-1]
        at = next(i for i, line in enumerate(lines) if line.strip().startswith(f"{name}:"))
        assert lines[at - 1].lstrip().startswith("#"), key
        if doc:
            assert doc.split()[0] in " ".join(l.strip("# ") for l in lines[max(0, at - 8) : at]), key


@pytest.mark.parametrize("job", [j for j in cli.JOBS if cli.config_class(j) is not None])
def test_config_of_every_job_loads(job, capsys):
    cls = cli.config_class(job)
    assert cli.main(["config", job.replace("_", "-")]) == 0
    data = yaml.safe_load(capsys.readouterr().out)
    assert isinstance(data, dict) and set(data) == {k.split(".")[0].split("[")[0] for k, *_ in config_keys(cls)}
    if default_instance(cls) is not None:  # a config with required keys (build_corpus) leaves them empty
        assert build_config(cls, data) == default_instance(cls)


def test_config_of_a_flags_only_job_says_so():
    out = tokenmill("config", "verify-shards")
    assert out.returncode == 2 and "flags" in out.stderr


def test_unknown_job_suggests_the_closest():
    out = tokenmill("pack-shard", "--help")
    assert out.returncode == 2
    assert "did you mean pack-shards?" in out.stderr


def test_unknown_key_did_you_mean(tmp_path, shared_data):
    common = ["--tokenizer", str(shared_data / "tokenizers" / "gpt2"), "--input", str(tmp_path / "x.jsonl"), "--output", str(tmp_path / "out")]
    out = tokenmill("pack-shards", *common, "--set", "contxt_length=512")
    assert out.returncode == 2
    assert "unknown config key(s) contxt_length (did you mean shards.pack.context_length?)" in out.stderr
    assert HINT in out.stderr and "Traceback" not in out.stderr

    job = tmp_path / "job.yaml"
    job.write_text("workrs: 2\nshards:\n  pack:\n    eos: 50256\n")
    out = tokenmill("pack-shards", *common, "--config", str(job))
    assert out.returncode == 2
    assert "workrs (did you mean workers?)" in out.stderr
    assert not (tmp_path / "out").exists()  # refused before anything ran


def test_typo_top_level_key_is_reported_as_the_typo(tmp_path, shared_data):
    corpus = tmp_path / "corpus.yaml"
    corpus.write_text(
        f"output: {tmp_path / 'out'}\ntokeniser: {{path: {shared_data / 'tokenizers' / 'gpt2'}}}\n"
        f"sources:\n  - {{name: web, input: [{tmp_path / 'x.jsonl'}]}}\n"
    )
    out = tokenmill("build-corpus", "--config", str(corpus))
    assert out.returncode == 2
    assert "unknown config key(s) tokeniser (did you mean tokenizer?)" in out.stderr
    assert "is required" not in out.stderr


@pytest.mark.parametrize("job", ["dna-bpe", "build-corpus"])
def test_malformed_yaml_is_two_lines_at_most_exit_2(tmp_path, job):
    bad = tmp_path / "job.yaml"
    bad.write_text("# my job\nvocab_size: [4096\n")
    args = ["--config", str(bad)] + (["--input", str(tmp_path / "x.fa"), "--output", str(tmp_path / "out")] if job == "dna-bpe" else [])
    out = tokenmill(job, *args)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert 1 <= len(lines) <= 2, out.stderr
    assert str(bad) in out.stderr and "line 2" in out.stderr and "malformed YAML" in out.stderr
    assert "Traceback" not in out.stderr and HINT not in out.stderr


def test_help_hint_only_on_usage_errors(tmp_path, shared_data):
    usage = tokenmill("pack-shards", "--output", str(tmp_path / "out"))
    assert usage.returncode == 2 and HINT in usage.stderr
    # a well-formed command whose input does not exist: an error, not a usage error
    missing = tokenmill(
        "pack-shards", "--tokenizer", str(shared_data / "tokenizers" / "gpt2"), "--input", str(tmp_path / "none" / "*.jsonl"), "--output", str(tmp_path / "out")
    )
    assert missing.returncode == 2 and "matched no files" in missing.stderr
    assert HINT not in missing.stderr and "Traceback" not in missing.stderr


def test_verify_shards_and_lineage_take_input_and_output(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    flagged = tokenmill("verify-shards", "--input", str(empty), "--output", str(tmp_path / "report"))
    positional = tokenmill("verify-shards", str(empty))
    assert flagged.returncode == positional.returncode == 1
    assert "no manifest" in flagged.stderr and "no manifest" in positional.stderr
    report = yaml.safe_load((tmp_path / "report" / "verify.json").read_text())
    assert report["ok"] is False and "no manifest" in report["problem"]
    both = tokenmill("verify-shards", str(empty), "--input", str(empty))
    assert both.returncode == 2 and HINT in both.stderr

    lineage = tokenmill("lineage", "--input", str(empty), "--shard", "0", "--row", "0")
    assert lineage.returncode == 2 and "is not a published build" in lineage.stderr
