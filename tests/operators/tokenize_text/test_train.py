"""The multilingual job's trainers: byte-level BPE (plain and parity-aware) and sentencepiece on tiny UDHR text."""

from __future__ import annotations

import json

import pytest
from tokenizers import Tokenizer

from operators.core.config import ConfigError
from operators.report.fairness import load_parallel
from operators.tokenize_text import check_round_trip, train_byte_level_bpe, train_sentencepiece, train_tokenizer
from operators.tokenize_text.multilingual_config import MultilingualConfig


@pytest.fixture(scope="module")
def udhr(shared_data) -> dict[str, list[str]]:
    return load_parallel([str(shared_data / "text/udhr" / f"{lg}.txt") for lg in ("eng", "rus", "hin")])


def _docs(udhr):
    langs = [lg for lg, lines in udhr.items() for _ in lines]
    texts = [ln for lines in udhr.values() for ln in lines]
    return langs, texts, [1] * len(texts)


def test_byte_level_bpe_writes_a_round_tripping_tokenizer(tmp_path, udhr):
    langs, texts, repeats = _docs(udhr)
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
    stats = train_byte_level_bpe(texts, repeats, tmp_path, vocab_size=400, parity_aware=True, langs=langs,
                                 parallel=udhr)
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
