"""The multilingual job's trainers: byte-level BPE (plain and parity-aware) and sentencepiece on tiny UDHR text."""

from __future__ import annotations

import json

import pytest
from tokenizers import Tokenizer

from tokenmill.operators.core.config import ConfigError
from tokenmill.operators.report.fairness import load_parallel
from tokenmill.operators.tokenize_text import check_round_trip, train_byte_level_bpe, train_sentencepiece, train_tokenizer
from tokenmill.operators.tokenize_text.multilingual_config import MultilingualConfig
from tokenmill.operators.tokenize_text.train import lines_by_language, looks_parallel, resolve_dev


@pytest.fixture(scope="module")
def udhr(shared_data) -> dict[str, list[str]]:
    return load_parallel([str(shared_data / "text/udhr" / f"{lg}.txt") for lg in ("eng", "rus", "hin")])


def _docs(udhr):
    langs = [lg for lg, lines in udhr.items() for _ in lines]
    texts = [ln for lines in udhr.values() for ln in lines]
    return langs, texts, [1] * len(texts)


def test_byte_level_bpe_writes_a_round_tripping_tokenizer(tmp_path, udhr):
    _langs, texts, repeats = _docs(udhr)
    stats = train_byte_level_bpe(texts, repeats, tmp_path, vocab_size=600, digits_r2l=True, meta={"romanized": False})
    tok = Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    assert tok.get_vocab_size() == 600 and stats["vocab_size"] == 600 and stats["distinct_words"] > 100
    meta = json.loads((tmp_path / "tokenmill.json").read_text())
    assert meta["engine"] == "tokenmill" and meta["parity_aware"] is False and meta["romanized"] is False
    check_round_trip(tmp_path / "tokenizer.json", texts[:50])


def test_parity_aware_needs_languages(tmp_path, udhr):
    langs, texts, repeats = _docs(udhr)
    with pytest.raises(ValueError, match="langs"):
        train_byte_level_bpe(texts, repeats, tmp_path, vocab_size=400, parity_aware=True)
    stats = train_byte_level_bpe(texts, repeats, tmp_path, vocab_size=400, parity_aware=True, langs=langs, parallel=udhr)
    assert stats["distinct_words"] > 100
    assert json.loads((tmp_path / "tokenmill.json").read_text())["parity_aware"] is True


def test_train_tokenizer_follows_the_engine(tmp_path, udhr):
    langs, texts, repeats = _docs(udhr)
    stats, path = train_tokenizer(MultilingualConfig(vocab_size=400), langs, texts, repeats, tmp_path / "bpe")
    assert path == tmp_path / "bpe" / "tokenizer.json" and path.is_file()
    cfg = MultilingualConfig(engine="sentencepiece", sp_model_type="bpe", vocab_size=500)
    stats, path = train_tokenizer(cfg, langs, texts, repeats, tmp_path / "spm")
    assert path == tmp_path / "spm" / "spm.model" and path.is_file() and stats["engine"] == "sentencepiece bpe"
    assert not (tmp_path / "spm" / ".train.txt").exists()


def test_sentencepiece_too_small_names_the_fix(tmp_path, udhr):
    _, texts, repeats = _docs(udhr)
    with pytest.raises(ConfigError, match="raise vocab_size"):
        train_sentencepiece(texts, repeats, tmp_path, vocab_size=80, character_coverage=1.0)


def test_parity_dev_comes_from_parallel_input(udhr):
    """UDHR as input is parallel (about as many lines per language): its own lines are the dev text; a corpus
    whose languages have very different sizes is not, and falls back to the parallel corpus, then to train."""
    langs, texts, _ = _docs(udhr)
    dev, source = resolve_dev("auto", langs, texts, None)
    assert source == "input" and dev == udhr
    skewed_langs = [lg for lg in langs if lg != "rus"] + ["rus"]
    skewed = [t for lg, t in zip(langs, texts) if lg != "rus"] + [udhr["rus"][0]]
    assert not looks_parallel(lines_by_language(skewed_langs, skewed))
    assert resolve_dev("auto", skewed_langs, skewed, udhr) == ({lg: udhr[lg] for lg in udhr}, "parallel")
    assert resolve_dev("auto", skewed_langs, skewed, {"deu": ["x"]}) == (None, "train")
    with pytest.raises(ValueError, match="parity_dev=parallel"):
        resolve_dev("parallel", langs, texts, {"deu": ["x"]})


def test_default_config_is_the_fair_one(tmp_path, udhr):
    cfg = MultilingualConfig(vocab_size=400)
    assert cfg.parity_aware and cfg.marks and cfg.parity_dev == "auto"
    # the premium cap, English's words out of the global merges (README: fairness frontier)
    assert cfg.global_merges == 0.0 and cfg.premium_cap == 1.9 and cfg.parity_reference == "eng" and not cfg.reference_in_global
    assert cfg.global_floor == 0.9
    langs, texts, repeats = _docs(udhr)
    stats, _path = train_tokenizer(cfg, langs, texts, repeats, tmp_path / "bpe")
    assert stats["dev"] == "input" and stats["engine"].startswith("tokenmill parity-aware")
    assert 0 < stats["global"] < stats["merges"] and stats["global"] + sum(stats["chosen"].values()) == stats["merges"]
    assert stats["chosen"]["eng"] == 0 and max(stats["dev_tokens"].values()) <= 1.9 * stats["dev_tokens"]["eng"] * 1.05
    meta = json.loads((tmp_path / "bpe" / "tokenmill.json").read_text())
    assert meta["parity_aware"] is True and meta["marks"] is True and meta["stats"]["global"] == stats["global"]


def test_global_merges_validated():
    with pytest.raises(ValueError, match="global_merges"):
        MultilingualConfig(global_merges=1.5, premium_cap=0.0)
    with pytest.raises(ValueError, match="premium_cap=0"):
        MultilingualConfig(global_merges=0.5)  # a fixed share replaces the cap, it does not add to it
    assert MultilingualConfig(global_merges=0.5, premium_cap=0.0).global_merges == 0.5
