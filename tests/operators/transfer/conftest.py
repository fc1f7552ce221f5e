"""Fixtures shared by the transfer tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def toy_bpe(tmp_path_factory):
    """A hand-written BPE whose pre-tokenizer splits at punctuation: ``(self) myself`` -> ``( self ) ␣ my self``.

    Returns (the ``tokenizers.Tokenizer``, the path of its tokenizer.json, {token: id}).
    """
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers

    alphabet = ["(", ")", " ", "m", "y", "s", "e", "l", "f", "."]
    merged = ["se", "lf", "self", "my"]
    vocab = {t: i for i, t in enumerate(alphabet + merged)}
    merges = [("s", "e"), ("l", "f"), ("se", "lf"), ("m", "y")]
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"\w+|[^\w\s]+|\s+"), behavior="isolated")
    path = tmp_path_factory.mktemp("toy_bpe") / "tokenizer.json"
    tok.save(str(path))
    return tok, path, vocab
