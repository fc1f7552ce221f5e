"""pipelines/dna_bpe.py end to end on real genomes, on the session's local Ray (and as a Ray job: slow)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from pipelines import dna_bpe
from tests.conftest import submit_ray_job

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def small_run(tmp_path_factory, shared_data, ray_local):
    out = tmp_path_factory.mktemp("dna") / "out"
    rc = dna_bpe.main(["--input", str(shared_data / "dna/lambda_phage.fa"), "--eval",
                       str(shared_data / "dna/sarscov2_NC_045512.2.fasta"), "--output", str(out), "--quiet",
                       "--set", "vocab_size=512", "--set", "workers=2", "--set", "shards.pack.context_length=1024"])
    assert rc == 0
    return out


def test_tokenizer_loads_in_tokenizers_and_transformers(small_run):
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer

    tok = Tokenizer.from_file(str(small_run / "tokenizer/tokenizer.json"))
    assert tok.get_vocab_size() == 512
    enc = tok.encode("ACGTACGTTTGACCA")
    assert enc.tokens[0] == "[CLS]" and enc.tokens[-1] == "[SEP]"
    assert "".join(enc.tokens[1:-1]) == "ACGTACGTTTGACCA"
    hf = AutoTokenizer.from_pretrained(str(small_run / "tokenizer"))
    ids = hf("ACGTACGTTTGACCA")["input_ids"]
    assert ids == enc.ids and ids[0] == hf.cls_token_id and ids[-1] == hf.sep_token_id


def test_report_and_ledger(small_run):
    report = json.loads((small_run / "report.json").read_text())
    assert report["vocab_size"] == 512
    assert 2.0 < report["bp_per_token"] < 10.0 and 2.0 < report["eval_bp_per_token"] < 10.0
    (train_file,) = report["per_file"]
    assert train_file.endswith("lambda_phage.fa") and report["per_file"][train_file]["bp"] == 48502
    assert list(report["per_eval_file"])[0].endswith("sarscov2_NC_045512.2.fasta")
    assert set(report["seconds"]) == {"ingest", "train", "encode", "pack"}
    assert sum(report["token_length_histogram"].values()) == 512 - 5
    assert (small_run / "report.md").read_text().startswith("# DNA BPE tokenizer report")
    led = duckdb.connect(str(small_run / "ledger.duckdb"), read_only=True)
    stages = {r[0] for r in led.execute("SELECT stage FROM stages").fetchall()}
    assert {"ingest", "eval_ingest", "train_bpe", "encode_train", "encode_eval", "pack_shards"} <= stages
    assert led.execute("SELECT status FROM runs").fetchone()[0] == "succeeded"
    assert led.execute("SELECT count(*) FROM artifacts WHERE kind = 'tokenizer'").fetchone()[0] >= 3


def test_shards_verify(small_run):
    proc = subprocess.run([sys.executable, str(ROOT / "pipelines/verify_shards.py"), str(small_run / "shards")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    manifest = json.loads((small_run / "shards/manifest.json").read_text())
    assert manifest["totals"]["documents"] == 49 and manifest["token_dtype"] == "uint16"


def test_small_corpus_warns_and_bad_config_fails(tmp_path, shared_data, ray_local, capsys):
    out = tmp_path / "o"
    assert dna_bpe.main(["--input", str(shared_data / "dna/sarscov2_NC_045512.2.fasta"), "--output", str(out),
                         "--quiet", "--set", "vocab_size=60000", "--set", "workers=1"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["vocab_size"] < 60000 and report["warnings"]
    with pytest.raises(SystemExit):
        dna_bpe.main(["--input", str(shared_data / "dna/lambda_phage.fa"), "--output", str(out), "--set", "vocab_size=6"])
    assert "vocab_size" in capsys.readouterr().err
    (tmp_path / "junk.fa").write_bytes(b">x\n" + b"ACGT" * 5 + b"\n")  # every segment shorter than min_length
    with pytest.raises(SystemExit):
        dna_bpe.main(["--input", str(tmp_path / "junk.fa"), "--output", str(tmp_path / "o2"), "--quiet"])
    assert "empty after cleaning" in capsys.readouterr().err


@pytest.mark.slow
def test_dna_bpe_as_ray_job(ray_head, shared_data, tmp_path):
    address, env = ray_head
    out = tmp_path / "job"
    proc = submit_ray_job(address, env, ["python", "pipelines/dna_bpe.py", "--input", str(shared_data / "dna/lambda_phage.fa"),
                                         "--output", str(out), "--quiet", "--set", "vocab_size=300",
                                         "--set", "shards.pack.context_length=1024"], ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert json.loads((out / "report.json").read_text())["vocab_size"] == 300
