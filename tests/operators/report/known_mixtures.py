"""Tokenizers trained on *known* mixtures, for checking the mixture audit against the truth: the mixture tests and
benchmarks/mixture_audit.py both build their categories and train their tokenizers here."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from tokenmill.operators.bpe import BpeTrainerConfig, train_bpe
from tokenmill.operators.report.fairness import load_parallel
from tokenmill.operators.tokenize_text import END_OF_TEXT, byte_alphabet


def category_halves(data: Path, groups: dict[str, str]) -> dict[str, tuple[list[str], list[str]]]:
    """category → (training lines, audit lines), disjoint: each group of UDHR languages (``groups``: name →
    space-separated files of data/text/udhr) by even/odd line, then ``code`` (data/code) by even/odd file."""
    out = {}
    for name, langs in groups.items():
        par = load_parallel([str(data / "text/udhr" / f"{lg}.txt") for lg in langs.split()])
        out[name] = ([ln for v in par.values() for ln in v[::2]], [ln for v in par.values() for ln in v[1::2]])
    files = [f.read_text(encoding="utf-8").splitlines(keepends=True) for f in sorted((data / "code").rglob("*.py"))]
    out["code"] = ([ln for f in files[::2] for ln in f], [ln for f in files[1::2] for ln in f])
    return out


def train_mixture(train: dict[str, Counter], alpha: dict[str, float], vocab_size: int) -> list[tuple[str, str]]:
    """Byte-level BPE on the mixture: each category's words weighted to its byte share ``alpha`` (its counts scaled
    by alpha / the category's bytes)."""
    mix: Counter = Counter()
    for cat, a in alpha.items():
        size = sum(len(w) * c for w, c in train[cat].items())
        for w, c in train[cat].items():
            mix[w] += round(1e7 * a * c / size)
    model = train_bpe(+mix, BpeTrainerConfig(vocab_size=vocab_size, special_tokens=(END_OF_TEXT,), initial_alphabet=byte_alphabet()))
    return model.merges
