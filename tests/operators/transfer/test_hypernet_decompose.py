"""Surfaces, decomposition into BERT WordPiece ids, span alignment and tokenizer sampling (no model needed)."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tokenmill.operators.transfer.align import segment_ids, segment_ids_reference
from tokenmill.operators.transfer.decompose import SurfaceDecomposer, mark_word_starts, surface_of_piece, tokenizer_surfaces, word_start_shares
from tokenmill.operators.transfer.tokenizer_sampler import TokenizerSampler, substring_counts


@pytest.fixture(scope="module")
def bert_json(shared_data):
    return shared_data / "tokenizers" / "bert-base-uncased" / "tokenizer.json"


@pytest.fixture(scope="module")
def decomposer(bert_json):
    return SurfaceDecomposer(bert_json)


@pytest.fixture(scope="module")
def udhr_lines(shared_data):
    out = []
    for lang in ("eng", "fra", "deu", "rus", "ell_monotonic", "cmn_hans"):
        lines = (shared_data / "text" / "udhr" / f"{lang}.txt").read_text(encoding="utf-8").splitlines()
        out += [ln.strip() for ln in lines[1:40] if ln.strip()]
    return out


def test_word_start_surface_matches_bert_exactly(decomposer, bert_json, udhr_lines):
    """A whole sentence as a word-start surface decomposes exactly as BERT tokenizes it (the reference)."""
    from tokenizers import Tokenizer

    bert = Tokenizer.from_file(str(bert_json))
    bert.no_padding()
    bert.no_truncation()
    for line in udhr_lines:
        assert list(decomposer(" " + line)) == bert.encode(line, add_special_tokens=False).ids, line


def test_continuations_take_wordpiece_prefix(decomposer):
    names = {v: k for k, v in decomposer.vocab.items()}

    def toks(s):
        return [names[i] for i in decomposer(s)]

    assert toks(" the") == ["the"]
    assert toks("ing") == ["##ing"]
    assert toks("able") == ["##able"]
    assert toks("x") == ["##x"]
    # Punctuation and CJK always start a new word in BERT, so they never take ##.
    assert toks("(x") == ["(", "x"]
    assert toks("):") == [")", ":"]
    assert toks("世") == ["世"]
    # Case and accents are normalized like the original.
    assert toks(" Hello") == toks(" hello") and toks("ção") == ["##cao"]
    # Whitespace-only surfaces get the [PAD] marker, never an empty decomposition.
    assert decomposer("\n    ") == (decomposer.pad_id,)
    assert decomposer.reference("   ") == []


def test_word_start_shares_count_what_precedes_each_occurrence(toy_bpe):
    """``self`` begins a word after ``(`` and at the start of a text, and continues one in ``myself``; surfaces that
    start with a space or with punctuation are not counted; a token absent from the text has no share."""
    tok, _, vocab = toy_bpe
    surfaces = [None] * len(vocab)
    for t, i in vocab.items():
        surfaces[i] = t
    assert [vocab[t] for t in ("(", "self", ")", " ", "my", "self")] == tok.encode("(self) myself").ids
    shares = word_start_shares(tok, surfaces, ["(self) myself", "self.self", "myself"])
    # self: "(self" start, "myself" continuation, "self" (text start) start, ".self" start, "myself" continuation
    assert shares == {vocab["self"]: 3 / 5, vocab["my"]: 1.0}
    assert word_start_shares(tok, surfaces, ["self"], max_texts=0) == {}


def test_mark_word_starts_reads_each_occurrence_in_place(toy_bpe):
    tok, _, _ = toy_bpe
    texts = ["(self) myself", "self.my"]
    encs = tok.encode_batch(texts, add_special_tokens=False)
    got = mark_word_starts([e.tokens for e in encs], [e.offsets for e in encs], texts)
    assert got == [["(", " self", ")", " ", " my", "self"], [" self", ".", " my"]]


def test_surface_conventions():
    assert surface_of_piece("▁the", convention="metaspace") == " the"
    assert surface_of_piece("##ing", convention="wordpiece") == "ing"
    assert surface_of_piece("the", convention="wordpiece") == " the"
    assert surface_of_piece("Ġthe", convention="plain") == "Ġthe"


def _train(model, pre, dec, texts, **kw):
    from tokenizers import Tokenizer, trainers

    tok = Tokenizer(model)
    tok.pre_tokenizer, tok.decoder = pre, dec
    tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=300, special_tokens=["[UNK]"], **kw))
    return tok


@pytest.mark.parametrize("kind", ["metaspace", "bytelevel", "wordpiece_prefix"])
def test_tokenizer_surfaces_reconstruct_text(tmp_path, kind, udhr_lines):
    """Concatenating the surfaces of a text's tokens gives back the text (modulo leading space)."""
    from tokenizers import decoders, models, pre_tokenizers

    texts = udhr_lines[:30]
    if kind == "metaspace":
        tok = _train(models.BPE(unk_token="[UNK]"), pre_tokenizers.Metaspace(), decoders.Metaspace(), texts)
    elif kind == "bytelevel":
        tok = _train(
            models.BPE(), pre_tokenizers.ByteLevel(add_prefix_space=True), decoders.ByteLevel(), texts, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
        )
    else:
        tok = _train(
            models.BPE(unk_token="[UNK]", continuing_subword_prefix="##"),
            pre_tokenizers.Whitespace(),
            decoders.WordPiece(),
            texts,
            continuing_subword_prefix="##",
        )
    path = tmp_path / "tokenizer.json"
    tok.save(str(path))
    surfaces, special = tokenizer_surfaces(path)
    assert special[tok.token_to_id("[UNK]")] and surfaces[tok.token_to_id("[UNK]")] is None
    line = "all human beings are born free and equal"
    joined = "".join(surfaces[i] for i in tok.encode(line).ids)
    if kind == "wordpiece_prefix":
        assert joined.split() == line.split()
    else:
        assert joined.strip() == line


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, 6), min_size=1, max_size=20), st.lists(st.integers(1, 6), min_size=1, max_size=20))
def test_segment_ids_match_reference(lens_a, lens_b):
    import numpy as np

    ends_a = np.cumsum(lens_a)
    ends_b = np.cumsum(lens_b)
    fast = segment_ids(ends_a, ends_b)
    ref = segment_ids_reference(ends_a.tolist(), ends_b.tolist())
    assert fast[0].tolist() == ref[0] and fast[1].tolist() == ref[1] and fast[2] == ref[2]


def test_segment_ids_known_answer():
    # "unbelievable" as un|believ|able (ends 2, 8, 12) vs unbeliev|able (ends 8, 12): cuts at 8 and 12.
    seg_a, seg_b, n = segment_ids([2, 8, 12], [8, 12])
    assert n == 2 and seg_a.tolist() == [0, 0, 1] and seg_b.tolist() == [0, 1]
    seg_a, seg_b, n = segment_ids([3, 5], [3, 4])
    assert seg_a.tolist() == [0, -1] and seg_b.tolist() == [0, -1]


def test_substring_counts_known_answer():
    got = substring_counts(Counter({"ab": 2, "b": 1}), max_chars=2)
    assert got == Counter({"a": 2, "b": 3, "ab": 2})


def test_sampler_tokenizers_cover_the_text(udhr_lines):
    sampler = TokenizerSampler(min_vocab=100, max_vocab=400, seed=3)
    sampler.fit(udhr_lines)
    norm = sampler._norm
    for style in ("metaspace", "bytelevel"):
        tok = sampler.sample(style)
        assert tok.vocab_size > 100
        surfaces, offsets = tok.encode(udhr_lines[:8])
        for line, surf, offs in zip(udhr_lines[:8], surfaces, offsets):
            assert "<unk>" not in surf
            # The surfaces spell the normalized text (whitespace aside) and the offsets cover it in order.
            assert "".join("".join(surf).split()) == "".join(norm.normalize_str(line).split())
            ends = [e for _, e in offs]
            assert ends == sorted(ends) and ends[-1] == len(line)


def test_sampler_is_seeded(udhr_lines):
    vocabs = []
    for _ in range(2):
        sampler = TokenizerSampler(min_vocab=100, max_vocab=400, seed=7)
        sampler.fit(udhr_lines)
        vocabs.append(json.loads(sampler.sample("metaspace").tokenizer.to_str())["model"]["vocab"])
    assert vocabs[0] == vocabs[1] and len(vocabs[0]) > 100


def test_sampler_reports_when_fitted(udhr_lines):
    sampler = TokenizerSampler(min_vocab=100, max_vocab=400, seed=3)
    assert not sampler.fitted
    with pytest.raises(ValueError, match="fit"):
        sampler.sample()
    sampler.fit(udhr_lines[:20])
    assert sampler.fitted
