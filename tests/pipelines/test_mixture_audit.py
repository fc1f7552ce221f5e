"""pipelines/mixture_audit.py: a tokenizer trained on a known two-language mixture is audited from the CLI."""

from __future__ import annotations

import json
from collections import Counter

from tokenmill.operators.bpe import BpeTrainerConfig, train_bpe
from tokenmill.operators.report.mixture import read_category
from tokenmill.operators.tokenize_text import END_OF_TEXT, ByteLevelPreTokenizer, byte_alphabet, save_byte_level_tokenizer
from tokenmill.pipelines import mixture_audit


def test_mixture_audit_cli(tmp_path, shared_data):
    udhr = shared_data / "text/udhr"
    pre = ByteLevelPreTokenizer()
    alpha = {"eng": 0.7, "rus": 0.3}
    mix: Counter = Counter()
    for lang, a in alpha.items():
        words = pre.count(read_category(str(udhr / f"{lang}.txt"), 1 << 20))
        size = sum(len(w) * c for w, c in words.items())
        for w, c in words.items():
            mix[w] += round(1e7 * a * c / size)
    model = train_bpe(+mix, BpeTrainerConfig(vocab_size=500, special_tokens=(END_OF_TEXT,), initial_alphabet=byte_alphabet()))
    save_byte_level_tokenizer(model.vocab, model.merges, model.special_tokens, tmp_path / "tok")
    out = tmp_path / "audit"
    assert (
        mixture_audit.main(
            [
                "--tokenizer",
                str(tmp_path / "tok/tokenizer.json"),
                "--category",
                f"eng={udhr / 'eng.txt'}",
                "--category",
                f"rus={udhr / 'rus.txt'}",
                "--output",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    report = json.loads((out / "mixture.json").read_text())
    assert report["format"] == "tokenmill mixture audit v1"
    assert abs(report["proportions"]["eng"] - 0.7) < 0.01
