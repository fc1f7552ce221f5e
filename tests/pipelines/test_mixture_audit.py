"""pipelines/mixture_audit.py: a tokenizer trained on a known two-language mixture is audited from the CLI; the
verdict, intervals and ranges land in mixture.json; one-file UDHR samples (~12-23 KB) are refused by default."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from tokenmill.operators.bpe import BpeTrainerConfig, train_bpe
from tokenmill.operators.report.mixture import read_category
from tokenmill.operators.tokenize_text import END_OF_TEXT, ByteLevelPreTokenizer, byte_alphabet, save_byte_level_tokenizer
from tokenmill.pipelines import mixture_audit


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory, shared_data):
    udhr = shared_data / "text/udhr"
    pre = ByteLevelPreTokenizer()
    mix: Counter = Counter()
    for lang, a in {"eng": 0.7, "rus": 0.3}.items():
        words = pre.count(read_category(str(udhr / f"{lang}.txt"), 1 << 20))
        size = sum(len(w) * c for w, c in words.items())
        for w, c in words.items():
            mix[w] += round(1e7 * a * c / size)
    model = train_bpe(+mix, BpeTrainerConfig(vocab_size=500, special_tokens=(END_OF_TEXT,), initial_alphabet=byte_alphabet()))
    out = tmp_path_factory.mktemp("tok")
    save_byte_level_tokenizer(model.vocab, model.merges, model.special_tokens, out)
    return out / "tokenizer.json"


def _run(tokenizer, shared_data, out, *sets: str) -> dict:
    udhr = shared_data / "text/udhr"
    argv = ["--tokenizer", str(tokenizer), "--category", f"eng={udhr / 'eng.txt'}", "--category", f"rus={udhr / 'rus.txt'}", "--output", str(out), "--quiet"]
    for s in sets:
        argv += ["--set", s]
    assert mixture_audit.main(argv) == 0
    report = json.loads((out / "mixture.json").read_text())
    assert report["format"] == "tokenmill mixture audit v2"
    return report


def test_small_samples_refused(tokenizer, shared_data, tmp_path, capsys):
    report = _run(tokenizer, shared_data, tmp_path / "audit")
    assert report["verdict"] == "not enough data" and report["proportions"] is None
    assert report["sample"]["eng"]["bytes"] < 32768
    assert "not enough data" in capsys.readouterr().out


def test_estimate_with_interval(tokenizer, shared_data, tmp_path, capsys):
    """Samples = the training text, size floor lowered: the estimate, its interval and its range hold 0.7."""
    report = _run(tokenizer, shared_data, tmp_path / "audit", "audit.min_bytes=8000", "audit.bootstrap=4", "audit.block_bytes=1024")
    assert report["verdict"] == "estimated"
    assert abs(report["proportions"]["eng"] - 0.7) < 0.01
    lo, hi = report["intervals"]["eng"]
    assert lo <= 0.7 <= hi and hi - lo < 0.2
    assert report["ranges"]["eng"][0] <= report["proportions"]["eng"] + 1e-6
    out = capsys.readouterr().out
    assert "verdict: estimated" in out and "interval" in out
