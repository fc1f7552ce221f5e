"""The multilingual (byte-level) tokenizer folder is one transformers accepts: special tokens as trained, padding
to tensors, the same ids as ``tokenizers`` gives."""

from __future__ import annotations

import json

import pytest
from tokenizers import Tokenizer

from tokenmill.operators.bpe import BpeTrainerConfig, train_bpe
from tokenmill.operators.report.fairness import load_parallel
from tokenmill.operators.tokenize_text import END_OF_TEXT, ByteLevelConfig, ByteLevelPreTokenizer, byte_alphabet
from tokenmill.operators.tokenize_text.hf_export import save_byte_level_tokenizer, special_token_roles


@pytest.fixture(scope="module")
def folder(shared_data, tmp_path_factory):
    par = load_parallel([str(shared_data / "text/udhr" / f) for f in ("eng.txt", "rus.txt", "hin.txt")])
    lines = [ln for ls in par.values() for ln in ls]
    pre = ByteLevelPreTokenizer(ByteLevelConfig())
    model = train_bpe(pre.count(lines), BpeTrainerConfig(vocab_size=700, special_tokens=(END_OF_TEXT,), initial_alphabet=byte_alphabet()))
    out = tmp_path_factory.mktemp("tok") / "tokenizer"
    save_byte_level_tokenizer(model.vocab, model.merges, model.special_tokens, out)
    return out, par


def test_folder_has_the_client_files(folder):
    out, _ = folder
    assert {p.name for p in out.iterdir()} == {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "tokenmill.json"}
    roles = json.loads((out / "special_tokens_map.json").read_text())
    assert roles == {"bos_token": END_OF_TEXT, "eos_token": END_OF_TEXT, "pad_token": END_OF_TEXT, "unk_token": END_OF_TEXT}
    config = json.loads((out / "tokenizer_config.json").read_text())
    assert config["tokenizer_class"] == "PreTrainedTokenizerFast" and config["pad_token"] == END_OF_TEXT
    assert config["added_tokens_decoder"]["0"]["content"] == END_OF_TEXT and config["added_tokens_decoder"]["0"]["special"]


def test_autotokenizer_pads_a_batch_to_tensors(folder, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    import torch
    from transformers import AutoTokenizer

    out, par = folder
    tok = AutoTokenizer.from_pretrained(str(out))
    assert tok.pad_token == tok.eos_token == tok.bos_token == tok.unk_token == END_OF_TEXT
    assert tok.pad_token_id == 0
    texts = [par["eng"][5], par["rus"][12], par["hin"][20][:40]]
    batch = tok(texts, padding=True, return_tensors="pt")
    ids, mask = batch["input_ids"], batch["attention_mask"]
    assert isinstance(ids, torch.Tensor) and ids.dtype == torch.long and ids.shape[0] == 3
    raw = Tokenizer.from_file(str(out / "tokenizer.json"))
    for row, m, text in zip(ids.tolist(), mask.tolist(), texts):
        expect = raw.encode(text).ids
        n = len(expect)
        assert row[:n] == expect and m[:n] == [1] * n  # right padding, the same ids as tokenizers
        assert row[n:] == [tok.pad_token_id] * (len(row) - n) and m[n:] == [0] * (len(row) - n)
        assert tok.decode(row[:n]) == text
    assert min(m.count(0) for m in mask.tolist()) == 0 < max(m.count(0) for m in mask.tolist())  # really padded


def test_roles_follow_the_trained_tokens():
    assert special_token_roles(("<unk>", "<s>", "</s>", "<pad>")) == {"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"}
    assert special_token_roles(("<|endoftext|>", "<pad>")) == {
        "bos_token": END_OF_TEXT,
        "eos_token": END_OF_TEXT,
        "pad_token": "<pad>",
        "unk_token": END_OF_TEXT,
    }
    assert special_token_roles(("[MASK]",)) == {}
