"""Secrets are never written: credentials in URLs are refused and redacted in the ledger, and the embedded Ray
gets AWS credentials from the process environment, not its runtime env (which Ray logs in plaintext)."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest

from tokenmill.operators.core.config import ConfigError
from tokenmill.operators.io import resolve_inputs
from tokenmill.operators.io.redact import redact, refuse_credentials
from tokenmill.operators.ledger import Ledger
from tokenmill.pipelines import ingest as ingest_pipeline

ROOT = Path(__file__).resolve().parents[2]


def _canary() -> str:
    return "canary" + secrets.token_hex(8)


@pytest.mark.parametrize(
    "url,kept",
    [
        ("s3://AKIAEXAMPLE:{c}@bucket/data/x.jsonl", "s3://<redacted>@bucket/data/x.jsonl"),
        ("s3://AKIAEXAMPLE:wJal/{c}/Ex@bucket/x.jsonl", "s3://<redacted>@bucket/x.jsonl"),  # a secret with '/'
        ("https://user:{c}@example.com/x.jsonl", "https://<redacted>@example.com/x.jsonl"),
        (
            "https://h.example/x.jsonl?X-Amz-Credential=AK&X-Amz-Signature={c}&v=1",
            "https://h.example/x.jsonl?X-Amz-Credential=<redacted>&X-Amz-Signature=<redacted>&v=1",
        ),
    ],
)
def test_urls_with_credentials_are_redacted_and_refused(url, kept):
    c = _canary()
    assert redact(f"failed on {url.format(c=c)}: boom") == f"failed on {kept}: boom"
    with pytest.raises(ConfigError, match="credentials in a URL are refused") as err:
        resolve_inputs([url.format(c=c)])
    assert c not in str(err.value)


@pytest.mark.parametrize("path", ["/data/a:b@c/x.jsonl", "s3://bucket/key@with-at/x.jsonl", "memory://bucket/x.jsonl"])
def test_paths_without_credentials_are_not_refused(path):
    refuse_credentials(path, "--input")


def test_the_ledger_never_stores_credentials(tmp_path):
    c = _canary()
    url = f"s3://AKIAEXAMPLE:{c}@bucket/in/*.jsonl"
    ledger = Ledger(tmp_path / "ledger.duckdb")
    ledger.start_run("ingest", {"input": [url], "nested": {"output": url}})
    ledger.add_inputs([(url.replace("*", "x"), 1, 0.0, "fp")])
    ledger.finish_run("failed", f"OSError: cannot open {url}")
    ledger.close()
    con = duckdb.connect(str(tmp_path / "ledger.duckdb"), read_only=True)
    config, error = con.execute("SELECT config, error FROM runs").fetchone()
    assert json.loads(config)["input"] == ["s3://<redacted>@bucket/in/*.jsonl"]
    assert error == "OSError: cannot open s3://<redacted>@bucket/in/*.jsonl"
    assert con.execute("SELECT uri FROM inputs").fetchone()[0] == "s3://<redacted>@bucket/in/x.jsonl"
    con.close()
    assert not any(c.encode() in p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())


def test_ingest_refuses_an_input_url_with_credentials_and_records_none(tmp_path, capsys):
    c = _canary()
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_:
        ingest_pipeline.main(["--input", f"s3://AKIAEXAMPLE:{c}@bucket/x.jsonl", "--output", str(out), "--quiet"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "credentials in a URL are refused" in err and c not in err
    assert not any(c.encode() in p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())


_RAY_CHECK = textwrap.dedent("""
    import json, os
    from pathlib import Path
    import ray
    from tokenmill.operators.core.runtime import init_ray, shutdown_ray

    info = init_ray(num_cpus=1, quiet=True)

    @ray.remote
    def peek():
        return os.environ.get("AWS_SECRET_ACCESS_KEY")

    seen = ray.get(peek.remote())
    canary = os.environ["AWS_SECRET_ACCESS_KEY"].encode()
    temp = Path(info["temp_dir"])
    hits = [str(p) for p in temp.rglob("*") if p.is_file() and canary in p.read_bytes()]
    shutdown_ray(info)
    print(json.dumps({"worker": seen, "hits": hits, "left": temp.exists()}))
""")


def test_the_embedded_ray_writes_no_aws_secret_into_its_logs():
    """Before: runtime_env_agent.log held AWS_SECRET_ACCESS_KEY in plaintext; workers still get it (inherited)."""
    c = _canary()
    env = {**os.environ, "AWS_SECRET_ACCESS_KEY": c, "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE"}
    env.pop("RAY_ADDRESS", None)
    proc = subprocess.run([sys.executable, "-c", _RAY_CHECK], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["worker"] == c  # the worker has it ...
    assert result["hits"] == []  # ... and no file of Ray's session holds it
    assert not result["left"]  # and the session folder is gone after the run


def test_a_folder_input_with_credentials_is_refused_before_it_is_listed():
    from tokenmill.pipelines._inputs import check_inputs

    c = _canary()
    with pytest.raises(ConfigError, match="credentials in a URL are refused") as err:
        check_inputs([f"s3://AKIAEXAMPLE:{c}@bucket/documents"])
    assert c not in str(err.value)
