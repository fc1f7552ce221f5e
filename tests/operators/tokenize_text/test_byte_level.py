"""Byte-level pre-tokenization, HF export (loads, round-trips, same pieces as training) and language sampling."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer, pre_tokenizers

from tokenmill.operators.bpe import BpeTrainerConfig, train_bpe
from tokenmill.operators.report.fairness import load_parallel
from tokenmill.operators.tokenize_text import (
    END_OF_TEXT,
    ByteLevelConfig,
    ByteLevelPreTokenizer,
    LanguageSamplingConfig,
    byte_alphabet,
    bytes_to_unicode,
    document_repeats,
    language_probabilities,
    load_byte_level_tokenizer,
    reference_words,
    save_byte_level_tokenizer,
    to_byte_level_tokenizer,
)

TEXT = st.lists(st.sampled_from([*list("ab 12 3\n\tÉé人'sx.,-\xa0कािं́ཁྱབ་༌།"), "ll", "'ll"]), max_size=30).map("".join)


def test_bytes_to_unicode_is_gpt2s():
    table = bytes_to_unicode()
    assert len(set(table.values())) == 256
    assert table[ord("A")] == "A" and table[ord(" ")] == "Ġ" and table[ord("\n")] == "Ċ"
    assert len(byte_alphabet()) == 256


@settings(max_examples=200, deadline=None)
@given(TEXT, st.booleans(), st.booleans())
def test_words_equal_reference(text, r2l, marks):
    pre = ByteLevelPreTokenizer(ByteLevelConfig(digits_r2l=r2l, marks=marks))
    assert pre.words(text) == reference_words(text, r2l, marks)


@settings(max_examples=200, deadline=None)
@given(TEXT, st.booleans(), st.booleans())
def test_exported_pre_tokenizer_cuts_like_training(text, r2l, marks):
    """HF's Split (Oniguruma) with our pattern gives the same words as the `regex` package used in training."""
    tok = to_byte_level_tokenizer({}, [], (), digits_r2l=r2l, marks=marks)
    pieces = [p for p, _ in tok.pre_tokenizer.pre_tokenize_str(text)]
    assert pieces == ByteLevelPreTokenizer(ByteLevelConfig(digits_r2l=r2l, marks=marks)).words(text)


def test_marks_keep_indic_words_whole():
    assert ByteLevelPreTokenizer().pieces(" किताब") == [" क", "ि", "त", "ा", "ब"]  # GPT-2 cuts at vowel signs
    assert ByteLevelPreTokenizer(ByteLevelConfig(marks=True)).pieces(" किताब") == [" किताब"]


def test_marks_keep_the_tibetan_tsheg_with_its_syllable():
    text = " ཡོངས་ཁྱབ་ཐང༌།"
    assert ByteLevelPreTokenizer(ByteLevelConfig(marks=True)).pieces(text) == [" ཡོངས་", "ཁྱབ་", "ཐང༌", "།"]
    assert ByteLevelPreTokenizer().pieces(text)[:4] == [" ཡ", "ོ", "ངས", "་"]  # GPT-2's: the tsheg is a piece


@settings(max_examples=200, deadline=None)
@given(TEXT)
def test_gpt2_words_equal_hf_bytelevel(text):
    hf = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    assert ByteLevelPreTokenizer().words(text) == [p for p, _ in hf.pre_tokenize_str(text)]


def test_digits_right_to_left():
    pre = ByteLevelPreTokenizer(ByteLevelConfig(digits_r2l=True))
    assert pre.pieces("1234567 x 12") == ["1", "234", "567", " x", " 12"]
    assert ByteLevelPreTokenizer().pieces("1234567") == ["1234567"]


def test_count_with_weights():
    pre = ByteLevelPreTokenizer()
    c = pre.count(["a b", "a"], [2, 3])
    assert c == {"a": 5, "Ġb": 2}


@pytest.fixture(scope="module")
def tiny_model(shared_data):
    par = load_parallel([str(shared_data / "text/udhr" / f) for f in ("eng.txt", "rus.txt", "cmn_hans.txt")])
    lines = [ln for ls in par.values() for ln in ls] + ["In 1948, 1234567 people; 42 × 7."]
    pre = ByteLevelPreTokenizer(ByteLevelConfig(digits_r2l=True))
    model = train_bpe(pre.count(lines), BpeTrainerConfig(vocab_size=600, special_tokens=(END_OF_TEXT,), initial_alphabet=byte_alphabet()))
    return model, lines, pre


def test_export_loads_round_trips_and_matches_training(tmp_path, tiny_model):
    model, lines, pre = tiny_model
    assert model.vocab_size == 600 and model.vocab[END_OF_TEXT] == 0
    path = save_byte_level_tokenizer(model.vocab, model.merges, model.special_tokens, tmp_path, digits_r2l=True)
    tok = Tokenizer.from_file(str(path))
    assert load_byte_level_tokenizer(tmp_path).get_vocab_size() == 600
    for line in lines:
        enc = tok.encode(line)
        assert tok.decode(enc.ids) == line
    for line in lines[::7]:  # HF applies the merges exactly as training segmented the words
        assert tok.encode(line).tokens == [t for w in pre.words(line) for t in model.segment(w)]
    assert tok.encode("1234567").tokens[0] == "1"  # right-to-left digit groups survive the export
    assert tok.encode(f"a{END_OF_TEXT}b").ids[1] == 0
    assert tok.decode(tok.encode("unseen ✓ text \x00").ids) == "unseen ✓ text \x00"  # every byte has an id
    (tmp_path / "tokenmill.json").write_text('{"format": "other"}')
    with pytest.raises(ValueError, match="format"):
        load_byte_level_tokenizer(tmp_path)


def test_gpt2_layout_matches_real_gpt2(shared_data):
    """Our exporter, given GPT-2's own vocab and merges, tokenizes like the real GPT-2."""
    import json

    folder = shared_data / "tokenizers/gpt2"
    vocab = json.loads((folder / "encoder.json").read_text())
    merges = [tuple(ln.split()) for ln in (folder / "vocab.bpe").read_text().splitlines()[1:] if ln.strip()]
    ours = to_byte_level_tokenizer(vocab, merges, ())
    assert ours.encode("Hello world").ids == [15496, 995]
    from tokenmill.operators.encode import load_engine

    ref = load_engine(str(folder))
    lines = load_parallel(str(shared_data / "text/udhr/deu*.txt"))["deu"][:20]
    assert [e.ids for e in ours.encode_batch(lines)] == ref.encode_batch(lines)


def test_language_sampling():
    assert language_probabilities({"a": 100, "b": 1}, 0.0) == {"a": 0.5, "b": 0.5}
    p = language_probabilities({"a": 100, "b": 1}, 0.3)
    assert p["a"] / p["b"] == pytest.approx(100**0.3)
    langs = ["a"] * 100 + ["b"] * 10
    sizes = [10] * 110
    cfg = LanguageSamplingConfig(alpha=0.0, seed=1)
    rep = document_repeats(langs, sizes, cfg)
    assert np.array_equal(rep, document_repeats(langs, sizes, cfg))  # deterministic
    # alpha=0: both languages get half of the 1100 bytes (up to the random rounding of fractional repeats)
    assert abs(rep[:100].sum() * 10 - 550) <= 100 and rep[100:].sum() * 10 == pytest.approx(550, abs=10)
    assert np.all(document_repeats(langs, sizes, LanguageSamplingConfig(alpha=1.0)) == 1)
    with pytest.raises(ValueError, match="alpha"):
        LanguageSamplingConfig(alpha=1.5)


def test_language_sampling_never_draws_a_language_out():
    """One big document per language, factors under 1 for the big ones: the draw thins, it never removes a language."""
    langs = [f"l{i}" for i in range(40)]
    sizes = [1000 * (i + 1) for i in range(40)]
    lost = 0
    for seed in range(20):
        rep = document_repeats(langs, sizes, LanguageSamplingConfig(alpha=0.0, seed=seed))
        assert (rep >= 1).all()  # every language keeps its (only) document
        factors = np.array(sizes).sum() / 40 / np.array(sizes)
        lost += int(((np.random.default_rng(seed).random(40) < factors - np.floor(factors)) + np.floor(factors) == 0).sum())
    assert lost > 0  # without the guard the draw would have dropped languages here
