"""Parity-aware BPE: merges serve the worst-compressed language, dev token counts are tracked exactly, and the
max premium on the parallel text drops compared with plain BPE of the same size."""

from __future__ import annotations

from collections import Counter

import pytest
from tokenizers import Tokenizer

from tokenmill.operators.bpe import BpeTrainerConfig, train_bpe, train_reference
from tokenmill.operators.bpe.reference import apply_merges
from tokenmill.operators.report.fairness import load_parallel
from tokenmill.operators.tokenize_text import (
    END_OF_TEXT,
    ByteLevelConfig,
    ByteLevelPreTokenizer,
    byte_alphabet,
    save_byte_level_tokenizer,
    train_parity_bpe,
)
from tokenmill.operators.tokenize_text.parity_bpe import is_global_step


def test_single_language_equals_plain_bpe():
    """With one language, 'the worst language's top pair' is the top pair: the reference trainer's merges."""
    words = {"hug": 10, "pug": 5, "pun": 12, "bun": 4, "hugs": 5}
    vocab, merges, _ = train_parity_bpe({"x": words}, vocab_size=20, special_tokens=("[UNK]",))
    ref_merges, ref_vocab = train_reference(words, vocab_size=20, special_tokens=("[UNK]",))
    assert merges == ref_merges and vocab == ref_vocab


def test_all_global_equals_plain_bpe():
    """global_merges=1: every merge is the top pair of the summed languages, i.e. plain BPE on the union."""
    train = {"x": {"hug": 10, "pug": 5, "pun": 12}, "y": {"bun": 4, "hugs": 5, "pun": 3, "gun": 7}}
    vocab, merges, stats = train_parity_bpe(train, vocab_size=22, special_tokens=("[UNK]",), global_merges=1.0)
    ref_merges, ref_vocab = train_reference(sum((Counter(t) for t in train.values()), Counter()), vocab_size=22, special_tokens=("[UNK]",))
    assert merges == ref_merges and vocab == ref_vocab
    assert stats["global"] == len(merges) and sum(stats["chosen"].values()) == 0


def test_global_schedules():
    """first: the first round(f * planned) merges; interleave: evenly spread, the same number overall."""
    assert [is_global_step(k, 0.3, "first", 10) for k in range(10)] == [True] * 3 + [False] * 7
    assert [is_global_step(k, 0.3, "last", 10) for k in range(10)] == [False] * 7 + [True] * 3
    assert [is_global_step(k, 0.5, "interleave", 6) for k in range(6)] == [False, True] * 3
    assert sum(is_global_step(k, 0.25, "interleave", 100) for k in range(100)) == 25
    assert not any(is_global_step(k, 0.0, "first", 10) for k in range(10))
    with pytest.raises(ValueError, match="global_merges"):
        train_parity_bpe({"x": {"ab": 2}}, vocab_size=5, special_tokens=(), global_merges=1.5)
    with pytest.raises(ValueError, match="global_schedule"):
        train_parity_bpe({"x": {"ab": 2}}, vocab_size=5, special_tokens=(), global_merges=0.5, global_schedule="middle")  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def udhr(shared_data):
    par = load_parallel([str(shared_data / "text/udhr" / f) for f in ("eng.txt", "rus.txt", "hin.txt", "amh.txt")])
    pre = ByteLevelPreTokenizer(ByteLevelConfig(marks=True))  # GPT-2's cut at vowel signs would starve Hindi
    return par, {lg: pre.count(lines) for lg, lines in par.items()}


def test_dev_tokens_exact_and_balanced(udhr):
    _, train = udhr
    vocab, merges, stats = train_parity_bpe(train, vocab_size=700, special_tokens=(END_OF_TEXT,), initial_alphabet=byte_alphabet())
    assert len(vocab) == 700 and vocab[END_OF_TEXT] == 0
    for lg, words in train.items():
        assert stats["dev_tokens"][lg] == sum(len(apply_merges(w, merges)) * c for w, c in words.items())
    tokens = stats["dev_tokens"].values()
    assert max(tokens) / min(tokens) < 1.05  # every language ends up with about the same number of tokens
    assert all(n > 0 for n in stats["chosen"].values())


def test_lower_max_premium_than_plain_bpe(tmp_path, udhr):
    par, train = udhr
    size = 700
    pv, pm, _ = train_parity_bpe(train, vocab_size=size, special_tokens=(END_OF_TEXT,), initial_alphabet=byte_alphabet())
    plain = train_bpe(sum(train.values(), Counter()), BpeTrainerConfig(vocab_size=size, special_tokens=(END_OF_TEXT,), initial_alphabet=byte_alphabet()))

    def max_premium(vocab, merges, name):
        tok = Tokenizer.from_file(str(save_byte_level_tokenizer(vocab, merges, (END_OF_TEXT,), tmp_path / name, marks=True)))
        n = {lg: sum(len(e.ids) for e in tok.encode_batch(lines)) for lg, lines in par.items()}
        return max(v / n["eng"] for v in n.values())

    assert max_premium(pv, pm, "parity") < max_premium(plain.vocab, plain.merges, "plain") - 0.2


def test_all_global_without_reference_equals_plain_bpe_of_the_others():
    """reference_in_global=False: the top pair overall leaves the reference language's words out."""
    train = {"eng": {"hug": 10, "pug": 5, "pun": 12}, "y": {"bun": 4, "hugs": 5, "pun": 3, "gun": 7}, "z": {"gnu": 6, "sun": 2}}
    kw = dict(vocab_size=20, special_tokens=("[UNK]",), global_merges=1.0, reference_in_global=False)
    _, merges, stats = train_parity_bpe(train, **kw)  # type: ignore[arg-type]
    ref_merges, _ = train_reference(Counter(train["y"]) + Counter(train["z"]), vocab_size=20, special_tokens=("[UNK]",), initial_alphabet="hgpsbnu")
    # when the others have no pair left of min_frequency, the remaining merges are parity-aware (English's)
    assert merges[: stats["global"]] == ref_merges and stats["global"] < len(merges) == stats["global"] + stats["chosen"]["eng"]


def test_premium_cap(udhr):
    """Parity-aware steps only while the worst language is over the cap, relative to English's dev tokens: the
    languages end at most about the cap (or exhausted), English is never chosen, the rest are global merges."""
    _, train = udhr
    kw = dict(vocab_size=700, special_tokens=(END_OF_TEXT,), initial_alphabet=byte_alphabet(), min_frequency=1)
    _, merges, stats = train_parity_bpe(train, premium_cap=1.1, reference_in_global=False, **kw)  # type: ignore[arg-type]
    dev = stats["dev_tokens"]
    assert stats["chosen"]["eng"] == 0 and 0 < stats["global"] < len(merges) == 700 - 257
    assert max(dev.values()) <= 1.1 * dev["eng"] * 1.02
    _, _, plain = train_parity_bpe(train, global_merges=1.0, **kw)  # type: ignore[arg-type]
    assert max(plain["dev_tokens"].values()) > 1.1 * plain["dev_tokens"]["eng"]  # the cap had work to do
    for bad in (dict(premium_cap=0.5), dict(premium_cap=1.5, global_merges=0.5)):
        with pytest.raises(ValueError, match="premium_cap"):
            train_parity_bpe(train, **kw, **bad)  # type: ignore[arg-type]


def test_global_floor_leaves_well_compressed_languages_out():
    """global_floor=1: a language taking fewer dev tokens than English does not count in the top pair overall
    (y's "unun" never outweighs z's pairs); z, far above, does: the merges are plain BPE on z's words."""
    train = {"eng": {"ab": 3}, "y": {"unun": 9}, "z": {"hughug": 5, "pugpug": 4, "un": 1}}
    kw = dict(vocab_size=14, special_tokens=(), global_merges=1.0, reference_in_global=False)
    dev = {"eng": {"abab": 2}, "y": {"un": 1}, "z": train["z"]}  # z keeps >= 10 tokens > 8
    _, merges, stats = train_parity_bpe(train, dev, global_floor=1.0, **kw)  # type: ignore[arg-type]
    ref_merges, _ = train_reference(train["z"], vocab_size=14, special_tokens=(), initial_alphabet="abhgpuny")
    assert merges[: stats["global"]] == ref_merges  # then z has no pair of min_frequency left: parity-aware steps
    _, merges_all, _ = train_parity_bpe(train, dev, **kw)  # type: ignore[arg-type]
    assert merges_all[0] == ("u", "n")  # without the floor y's 18 "un"s come first
    with pytest.raises(ValueError, match="global_floor"):
        train_parity_bpe(train, global_floor=2.5, premium_cap=1.8, vocab_size=14, special_tokens=())
