"""Progress: a log line every 10% off a terminal, a tqdm bar on one, nothing under --quiet; BPE merges report it."""

from __future__ import annotations

import logging

from tokenmill.operators.bpe import BpeTrainerConfig, train_bpe
from tokenmill.operators.core.progress import Progress


def test_log_lines_every_ten_percent_off_a_terminal(caplog, monkeypatch):
    monkeypatch.delenv("TOKENMILL_QUIET", raising=False)
    with caplog.at_level(logging.INFO, logger="tokenmill.progress"), Progress(250, "work", unit="item", tty=False) as bar:
        for _ in range(250):
            bar.update()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 10 and lines[0].startswith("work: 25/250 items (10%") and "250/250 items (100%" in lines[-1]


def test_log_lines_follow_a_given_fraction(caplog, monkeypatch):
    """A loop that ends on a time budget long before its step count still logs every 10 % of the budget."""
    monkeypatch.delenv("TOKENMILL_QUIET", raising=False)
    with caplog.at_level(logging.INFO, logger="tokenmill.progress"), Progress(100000, "train", unit="step", tty=False) as bar:
        for i in range(1, 41):
            bar.update(fraction=i / 40)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 10 and lines[0].startswith("train: 4/100000 steps (10%") and "40/100000 steps (100%" in lines[-1]


def test_a_bar_on_a_terminal_and_nothing_when_quiet(caplog, capsys, monkeypatch):
    monkeypatch.delenv("TOKENMILL_QUIET", raising=False)
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    with Progress(5, "bar", unit="step", tty=True) as bar:
        bar.update(5, loss="0.1")
    assert "bar: 100%" in capsys.readouterr().err and not caplog.records
    monkeypatch.setenv("TOKENMILL_QUIET", "1")
    with caplog.at_level(logging.INFO, logger="tokenmill.progress"):
        with Progress(5, "quiet", tty=False) as bar:
            bar.update(5)
        with Progress(5, "quiet", tty=True) as bar:
            bar.update(5)
    assert not caplog.records and capsys.readouterr().err == ""


def test_bpe_merges_report_progress(caplog, monkeypatch):
    monkeypatch.delenv("TOKENMILL_QUIET", raising=False)
    import random

    rng = random.Random(0)
    seqs = ["".join(rng.choice("ACGT") for _ in range(400)) for _ in range(50)]
    with caplog.at_level(logging.INFO, logger="tokenmill.progress"):
        model = train_bpe(seqs, BpeTrainerConfig(vocab_size=60, min_frequency=1))
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("BPE merges: ")]
    assert model.vocab_size == 60 and len(lines) == 10 and "merges (100%" in lines[-1]
