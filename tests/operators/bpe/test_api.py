"""train_bpe's contract: inputs it accepts, config errors naming the field, empty and too-small corpora."""

from __future__ import annotations

import pyarrow as pa
import pytest

from tokenmill.operators.bpe import BpeTrainerConfig, train_bpe, train_reference
from tokenmill.operators.core.config import ConfigError, build_config, load_overrides

SMALL = dict(vocab_size=30, min_frequency=1, special_tokens=("[UNK]",))


@pytest.mark.parametrize(
    "field, value, match",
    [
        ("vocab_size", 8, "vocab_size=8"),  # 5 specials + ACGT = 9
        ("min_frequency", -1, "min_frequency"),
        ("max_token_length", 0, "max_token_length"),
        ("workers", 0, "workers"),
        ("special_tokens", ("[UNK]", "[UNK]"), "special_tokens"),
    ],
)
def test_bad_config_names_the_field(field, value, match):
    with pytest.raises(ValueError, match=match):
        BpeTrainerConfig(**{field: value})


def test_config_from_command_line_overrides():
    cfg = build_config(BpeTrainerConfig, load_overrides(None, ["vocab_size=512", "max_token_length=8", "workers=2"]))
    assert (cfg.vocab_size, cfg.max_token_length, cfg.workers, cfg.min_frequency) == (512, 8, 2, 2)
    with pytest.raises(ConfigError, match="vocab_size"):
        build_config(BpeTrainerConfig, load_overrides(None, ["vocab_size=4"]))


def test_vocab_size_below_corpus_alphabet_is_an_error():
    # The config allows 9 (5 specials + ACGT) but the corpus also has N.
    with pytest.raises(ValueError, match="vocab_size=9"):
        train_bpe(["ACGTN"], BpeTrainerConfig(vocab_size=9))


@pytest.mark.parametrize("data", [[], ["", ""], [("ACGT", 0)], pa.table({"seq": pa.array([], pa.string())})])
def test_empty_corpus_is_a_clear_error(data):
    with pytest.raises(ValueError, match="empty after cleaning"):
        train_bpe(data)


def test_too_small_corpus_finishes_with_a_warning(caplog):
    model = train_bpe(["ACGTACGT", "TTGACCA"], BpeTrainerConfig())
    assert model.stats["stop_reason"] == "min_frequency"
    assert model.stats["vocab_size"] == model.vocab_size < 4096
    assert "corpus too small for vocab_size=4096" in model.stats["warnings"][0]
    assert "corpus too small" in caplog.text
    single = train_bpe(["ACGTACGT"] * 3, BpeTrainerConfig(min_frequency=1))
    assert single.stats["stop_reason"] == "no_pairs" and single.stats["tokens"] == 1


@pytest.mark.parametrize(
    "make",
    [
        lambda c: [s for s, n in c for _ in range(n)],  # strings, repeated
        lambda c: c,  # (string, count) pairs
        lambda c: dict(c),  # mapping
        lambda c: pa.table({"seq": [s for s, _ in c], "count": [n for _, n in c]}),
        lambda c: [pa.record_batch({"seq": [s], "count": pa.array([n], pa.int32())}) for s, n in c],
    ],
)
def test_every_input_form_gives_the_same_model(make):
    corpus = [("ACGTTGCA", 2), ("AAAACCCC", 1), ("GATTACA", 3)]
    model = train_bpe(make(corpus), BpeTrainerConfig(initial_alphabet="", **SMALL))
    assert (model.merges, model.vocab) == train_reference(corpus, **SMALL)
    assert model.stats["characters"] in (sum(len(s) for s, _ in corpus), sum(len(s) * n for s, n in corpus))


def test_arrow_input_needs_a_seq_column():
    with pytest.raises(ValueError, match="lacks column"):
        train_bpe(pa.table({"text": ["ACGT"]}))


def test_stats_describe_the_run():
    model = train_bpe(["ACGTACGTAC", "ACGTTT"], BpeTrainerConfig(**SMALL))
    s = model.stats
    assert s["engine"] == "tokenmill bpe v1" and s["requested_vocab_size"] == 30
    assert s["merges"] == len(model.merges) and s["sequences"] == 2 and s["characters"] == 16
    assert s["bp_per_token"] == 16 / s["tokens"]
    assert set(s["seconds"]) >= {"count", "merge", "total"}
