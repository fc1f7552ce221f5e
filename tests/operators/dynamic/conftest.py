"""Fixtures of the dynamic-merging tests: the three real base tokenizers and UDHR lines."""

from __future__ import annotations

import pytest

from tokenmill.operators.dynamic import load_base_tokenizer

# Scripts: Latin, Cyrillic, Arabic, Devanagari, Han, Hangul, Ethiopic, Greek, Hebrew, Thai.
LANGS = ("eng", "deu", "rus", "arb", "hin", "cmn_hans", "kor", "amh", "ell_monotonic", "heb", "tha")


@pytest.fixture(scope="session")
def tokenizers(shared_data):
    """name -> BaseTokenizer for the three formats."""
    root = shared_data / "tokenizers"
    return {
        "gpt2": load_base_tokenizer(root / "gpt2"),
        "mistral": load_base_tokenizer(root / "mistral" / "tokenizer.model.v1"),
        "bert": load_base_tokenizer(root / "bert-base-uncased" / "tokenizer.json"),
    }


@pytest.fixture(scope="session")
def udhr(shared_data):
    """lang -> non-blank, stripped lines of that UDHR file (the title line included)."""
    cache: dict[str, list[str]] = {}

    def lines(lang: str) -> list[str]:
        if lang not in cache:
            text = (shared_data / "text" / "udhr" / f"{lang}.txt").read_text(encoding="utf-8")
            cache[lang] = [line.strip() for line in text.splitlines() if line.strip()]
        return cache[lang]

    return lines
