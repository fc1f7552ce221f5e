"""The encoder stage on the real GPT-2, Mistral and BERT tokenizers (known answers from the data README)."""

from __future__ import annotations

import pyarrow as pa
import pytest

from tokenmill.operators.encode import Encoder, EncoderConfig, load_engine


@pytest.mark.parametrize("rel,expected", [("tokenizers/gpt2", [15496, 995]), ("tokenizers/mistral/tokenizer.model.v1", [22557, 1526])])
def test_known_answers(shared_data, rel, expected):
    enc = Encoder(EncoderConfig(tokenizer=str(shared_data / rel)))
    out = enc(pa.table({"text": ["Hello world", ""]}))
    assert out["input_ids"].to_pylist() == [expected, []]
    assert out["n_tokens"].to_pylist() == [2, 0]


def test_bert_special_tokens_and_hash(shared_data):
    path = str(shared_data / "tokenizers/bert-base-uncased/tokenizer.json")
    enc = Encoder(EncoderConfig(tokenizer=path, add_special_tokens=True))
    ids = enc(pa.table({"text": ["Hello world"]}))["input_ids"].to_pylist()[0]
    assert ids[0] == 101 and ids[-1] == 102
    assert enc.engine.vocab_size == 30522
    assert load_engine(path).sha256 == enc.engine.sha256


def test_errors(tmp_path, shared_data):
    with pytest.raises(ValueError, match="does not exist"):
        EncoderConfig(tokenizer=str(tmp_path / "nope.json"))
    with pytest.raises(ValueError, match="holds no tokenizer"):
        load_engine(str(tmp_path))
    enc = Encoder(EncoderConfig(tokenizer=str(shared_data / "tokenizers/gpt2")))
    with pytest.raises(ValueError, match="lacks column 'text'"):
        enc(pa.table({"body": ["x"]}))
