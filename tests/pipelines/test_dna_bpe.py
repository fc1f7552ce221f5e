"""pipelines/dna_bpe.py end to end on real genomes, on the session's local Ray (and as a Ray job: slow)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from tests.conftest import run_ray_job
from tokenmill.pipelines import dna_bpe

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def small_run(tmp_path_factory, shared_data, ray_local):
    out = tmp_path_factory.mktemp("dna") / "out"
    rc = dna_bpe.main(
        [
            "--input",
            str(shared_data / "dna/lambda_phage.fa"),
            "--eval",
            str(shared_data / "dna/sarscov2_NC_045512.2.fasta"),
            "--output",
            str(out),
            "--quiet",
            "--set",
            "vocab_size=512",
            "--set",
            "train_workers=2",
            "--set",
            "workers=2",
            "--set",
            "shards.pack.context_length=1024",
        ]
    )
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
    assert next(iter(report["per_eval_file"])).endswith("sarscov2_NC_045512.2.fasta")
    assert set(report["seconds"]) == {"ingest", "train", "encode_pack"}
    assert sum(report["token_length_histogram"].values()) == 512 - 5
    assert (small_run / "report.md").read_text().startswith("# DNA BPE tokenizer report")
    led = duckdb.connect(str(small_run / "ledger.duckdb"), read_only=True)
    stages = {r[0] for r in led.execute("SELECT stage FROM stages").fetchall()}
    assert {"ingest", "eval_ingest", "train_bpe", "encode_train", "encode_eval", "pack_shards"} <= stages
    assert led.execute("SELECT status FROM runs").fetchone()[0] == "succeeded"
    assert led.execute("SELECT count(*) FROM artifacts WHERE kind = 'tokenizer'").fetchone()[0] >= 3


def test_shards_verify(small_run):
    proc = subprocess.run([sys.executable, str(ROOT / "pipelines/verify_shards.py"), str(small_run / "shards")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    manifest = json.loads((small_run / "shards/manifest.json").read_text())
    assert manifest["totals"]["documents"] == 49 and manifest["token_dtype"] == "uint16"


def test_small_corpus_warns_and_bad_config_fails(tmp_path, shared_data, ray_local, capsys):
    out = tmp_path / "o"
    assert (
        dna_bpe.main(
            [
                "--input",
                str(shared_data / "dna/sarscov2_NC_045512.2.fasta"),
                "--output",
                str(out),
                "--quiet",
                "--set",
                "vocab_size=60000",
                "--set",
                "train_workers=1",
            ]
        )
        == 0
    )
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
    out = tmp_path / "job"
    fasta = str(shared_data / "dna/lambda_phage.fa")
    settings = ["--set", "vocab_size=300", "--set", "shards.pack.context_length=1024"]
    run_ray_job(ray_head, "pipelines/dna_bpe.py", "--input", fasta, "--output", str(out), "--quiet", *settings)
    assert json.loads((out / "report.json").read_text())["vocab_size"] == 300


# ---- the embedded Ray's temp dir never outlives a run ---------------------------------------------------------


def _ray_dirs_of(pid: int) -> list[Path]:
    import tempfile

    return sorted(Path(tempfile.gettempdir()).glob(f"tokenmill-ray-{pid}-*"))


def _script_env() -> dict:
    import os

    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}  # an embedded Ray of its own
    return {**env, "RAY_USAGE_STATS_ENABLED": "0"}


def test_failed_run_removes_its_ray_temp_dir(tmp_path):
    """A ConfigError raised after the embedded Ray started (every segment too short) exits 2 and leaves no
    tokenmill-ray-* dir behind."""
    (tmp_path / "junk.fa").write_bytes(b">x\n" + b"ACGT" * 5 + b"\n")
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "pipelines/dna_bpe.py"),
            "--input",
            str(tmp_path / "junk.fa"),
            "--output",
            str(tmp_path / "o"),
            "--quiet",
            "--num-cpus",
            "1",
        ],
        env=_script_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 2 and "empty after cleaning" in err, out[-2000:] + err[-2000:]
    assert not _ray_dirs_of(proc.pid)
    assert duckdb.connect(str(tmp_path / "o/ledger.duckdb"), read_only=True).execute("SELECT status FROM runs").fetchone()[0] == "failed"


@pytest.mark.slow
def test_terminated_and_killed_runs_leave_no_ray_temp_dir(tmp_path, shared_data):
    """SIGTERM mid-run: the run cleans up itself. SIGKILL: nothing can, so the next embedded start removes the dir
    (its owner is gone) after stopping any Ray process still naming it; a dir whose owner still runs is left alone."""
    import signal
    import time

    from tokenmill.operators.core.runtime import remove_stale_temp_dirs

    cmd = [
        sys.executable,
        str(ROOT / "pipelines/dna_bpe.py"),
        "--input",
        str(shared_data / "dna/ecoli_k12_mg1655_GCF_000005845.2.fna"),
        "--quiet",
        "--num-cpus",
        "1",
    ]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        proc = subprocess.Popen([*cmd, "--output", str(tmp_path / sig.name)], env=_script_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 180
        while not any(any(d.glob("*/session_latest")) for d in _ray_dirs_of(proc.pid)):  # Ray's dir is inside ours
            assert proc.poll() is None and time.monotonic() < deadline, "the embedded Ray never started"
            time.sleep(0.5)
        time.sleep(3)  # well inside the run: ingest on Ray workers
        assert remove_stale_temp_dirs() == [] and _ray_dirs_of(proc.pid)  # the owner runs: left alone
        proc.send_signal(sig)
        assert proc.wait(timeout=120) != 0
        if sig == signal.SIGTERM:
            assert not _ray_dirs_of(proc.pid)
        else:
            (left,) = _ray_dirs_of(proc.pid)
            deadline = time.monotonic() + 60  # Ray's daemons share the driver's fate within a few seconds
            while str(left) not in remove_stale_temp_dirs():
                assert time.monotonic() < deadline, f"{left} was not removed"
                time.sleep(1)
            assert not left.exists()


def test_stale_ray_temp_dirs_removed_only_when_the_owner_is_gone(tmp_path):
    import json
    import os
    import socket
    import time

    from tokenmill.operators.core.runtime import MARKER_FORMAT, TEMP_MARKER, _process_start, make_temp_dir, remove_stale_temp_dirs

    done = subprocess.Popen(["true"])
    done.wait()
    dead, me = done.pid, os.getpid()

    def marked(name: str, pid: int, started: float | None, host: str | None = None) -> Path:
        d = tmp_path / name
        d.mkdir()
        (d / "session_latest").mkdir()
        (d / TEMP_MARKER).write_text(json.dumps({"format": MARKER_FORMAT, "pid": pid, "started": started, "host": host or socket.gethostname()}))
        return d

    gone = marked(f"tokenmill-ray-{dead}-aaaa1111", dead, 1.0)
    reused = marked(f"tokenmill-ray-{me}-bbbb2222", me, 1.0)  # same pid, another process start time
    mine = Path(make_temp_dir(tmp_path))  # the running owner: kept
    other_host = marked(f"tokenmill-ray-{dead}-cccc3333", dead, 1.0, host="elsewhere")
    wrong_pid = marked(f"tokenmill-ray-{dead}-dddd4444", me, _process_start(me))  # name and marker disagree
    unmarked = tmp_path / f"tokenmill-ray-{dead}-eeee5555"
    unmarked.mkdir()
    legacy = tmp_path / "tokenmill-ray-abcd1234"  # old naming, no owner recorded: never guessed at
    legacy.mkdir()
    not_ours = marked(f"other-ray-{dead}-ffff6666", dead, 1.0)
    orphaned = marked(f"tokenmill-ray-{dead}-gggg7777", dead, 1.0)  # a Ray daemon outlived its SIGKILLed driver
    daemon = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", f"--session-dir={orphaned}/ray/session_x"])
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", f"--session-dir={mine}/ray/session_y"])  # owner runs
    time.sleep(0.5)  # both command lines are readable
    try:
        removed = remove_stale_temp_dirs(tmp_path)
        assert daemon.wait(timeout=15) is not None  # stopped: its driver is gone
        assert live.poll() is None  # the running owner's Ray is never touched
    finally:
        for p in (daemon, live):
            p.kill()
            p.wait()
    assert sorted(removed) == sorted([str(gone), str(reused), str(orphaned)])
    assert not gone.exists() and not reused.exists() and not orphaned.exists()
    assert all(p.exists() for p in (mine, other_host, wrong_pid, unmarked, legacy, not_ours))
    assert json.loads((mine / TEMP_MARKER).read_text())["pid"] == me and mine.name.startswith(f"tokenmill-ray-{me}-")


def test_a_tokens_folder_tokenmill_did_not_write_is_never_replaced(tmp_path, shared_data, ray_local, capsys):
    out = tmp_path / "out"
    notes = out / "tokens" / "notes.txt"
    notes.parent.mkdir(parents=True)
    notes.write_text("mine")
    with pytest.raises(SystemExit) as exc:
        dna_bpe.main(["--input", str(shared_data / "dna/lambda_phage.fa"), "--output", str(out), "--quiet"])
    assert exc.value.code == 2
    assert "tokens exists and was not written by tokenmill" in capsys.readouterr().err
    assert notes.read_text() == "mine"


def test_workers_and_train_workers_are_separate_keys():
    # workers: Ray workers at once (encoding), as in every pipeline; train_workers: BPE training actors.
    cfg = dna_bpe.DnaBpeConfig(workers=3, train_workers=2)
    assert (cfg.workers, cfg.train_workers, cfg.trainer().workers) == (3, 2, 1)
    assert (dna_bpe.DnaBpeConfig().workers, dna_bpe.DnaBpeConfig().train_workers) == (0, 0)
    with pytest.raises(ValueError, match="train_workers"):
        dna_bpe.DnaBpeConfig(train_workers=-1)
