"""Preparing a new tokenizer for the base model and writing / checking a transferred-model folder."""

from __future__ import annotations

import json

import pytest
import torch

from tokenmill.operators.transfer.base_model import base_model_dir
from tokenmill.operators.transfer.embed_tokenizer import prepare_tokenizer, random_embeddings, vocab_table
from tokenmill.operators.transfer.model_export import check_transferred_model, export_transferred_model


@pytest.fixture(scope="module")
def bare_tokenizer(shared_data, tmp_path_factory):
    """A WordLevel tokenizer with no special tokens and no post-processor."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    words = sorted(set((shared_data / "text" / "udhr" / "eng.txt").read_text().split()))[:300]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token=words[0]))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    path = tmp_path_factory.mktemp("bare") / "tokenizer.json"
    tok.save(str(path))
    return path


def test_prepare_adds_missing_specials_and_template(bare_tokenizer):
    base_json = base_model_dir() / "tokenizer.json"
    tok, roles, special_map = prepare_tokenizer(bare_tokenizer, base_json)
    assert roles == {"cls_token": "[CLS]", "sep_token": "[SEP]", "pad_token": "[PAD]", "unk_token": "[UNK]", "mask_token": "[MASK]"}
    vocab = tok.get_vocab(with_added_tokens=True)
    assert sorted(special_map.values()) == [0, 100, 101, 102, 103]  # BERT's [PAD] [UNK] [CLS] [SEP] [MASK]
    assert special_map[vocab["[CLS]"]] == 101 and special_map[vocab["[SEP]"]] == 102
    enc = tok.encode("All human beings")
    assert enc.tokens[0] == "[CLS]" and enc.tokens[-1] == "[SEP]"


def test_vocab_table_marks_specials(bare_tokenizer, tmp_path):
    tok, _, special_map = prepare_tokenizer(bare_tokenizer, base_model_dir() / "tokenizer.json")
    path = tmp_path / "tokenizer.json"
    tok.save(str(path))
    table = vocab_table(path)
    surfaces = table.column("surface").to_pylist()
    assert table.num_rows == tok.get_vocab_size(with_added_tokens=True)
    assert all(surfaces[i] is None for i in special_map) and sum(s is None for s in surfaces) == len(special_map)


def test_random_embeddings_follow_the_base_statistics():
    base = torch.randn(2000, 8) * torch.arange(1, 9) + 3.0
    rnd = random_embeddings(base, 4000, seed=1)
    torch.testing.assert_close(rnd.mean(0), base.mean(0), atol=0.5, rtol=0.1)
    torch.testing.assert_close(rnd.std(0), base.std(0), atol=0.3, rtol=0.1)


def test_export_checks_shapes_and_format(bare_tokenizer, tmp_path):
    folder = base_model_dir()
    tok, roles, _ = prepare_tokenizer(bare_tokenizer, folder / "tokenizer.json")
    with pytest.raises(ValueError, match="do not fit"):
        export_transferred_model(folder, tok, torch.zeros(3, 384), tmp_path / "bad", roles=roles)
    n = tok.get_vocab_size(with_added_tokens=True)
    out = export_transferred_model(folder, tok, torch.zeros(n, 384), tmp_path / "ok", roles=roles, metadata={"method": "zeros"})
    doc = check_transferred_model(out)
    assert doc["method"] == "zeros" and doc["vocab_size"] == n
    config = json.loads((out / "config.json").read_text())
    assert config["vocab_size"] == n and config["pad_token_id"] == tok.token_to_id("[PAD]")
    (out / "tokenmill.json").write_text(json.dumps({**doc, "format": "other"}))
    with pytest.raises(ValueError, match="format"):
        check_transferred_model(out)
    with pytest.raises(ValueError, match="tokenmill.json"):
        check_transferred_model(tmp_path / "bad")


def test_resolve_checkpoint(tmp_path, monkeypatch):
    from tokenmill.operators.core.runtime import PROJECT_ROOT
    from tokenmill.operators.transfer.hypernet import resolve_checkpoint

    monkeypatch.chdir(tmp_path)
    assert resolve_checkpoint(tmp_path / "abs") == tmp_path / "abs"  # absolute: as given
    assert resolve_checkpoint("checkpoints/hypernet-minilm") == PROJECT_ROOT / "checkpoints/hypernet-minilm"
    (tmp_path / "here").mkdir()
    assert resolve_checkpoint("here") == type(tmp_path)("here")  # found from the working directory
