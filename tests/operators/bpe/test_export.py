"""HF export: the folder loads in tokenizers and transformers (offline), encodes ACGT... to [CLS] ... [SEP],
reproduces training-time segmentation and round-trips; the tokenmill version is checked on load."""

from __future__ import annotations

import json
import os

import pytest

from operators.bpe import BpeTrainerConfig, load_hf_tokenizer, save_hf_tokenizer, train_bpe


@pytest.fixture(scope="module")
def trained(small_genomes):
    segments = small_genomes["lambda"]
    return segments, train_bpe(segments, BpeTrainerConfig(vocab_size=400))


@pytest.fixture(scope="module")
def folder(trained, tmp_path_factory):
    return save_hf_tokenizer(trained[1], tmp_path_factory.mktemp("tok") / "tokenizer")


def test_folder_layout_and_dnabert2_ids(folder, trained):
    assert {p.name for p in folder.iterdir()} == {"tokenizer.json", "tokenizer_config.json",
                                                  "special_tokens_map.json", "tokenmill.json"}
    model = trained[1]
    assert [model.vocab[t] for t in ("[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]", "A", "C", "G", "T")] == list(range(9))
    meta = json.loads((folder / "tokenmill.json").read_text())
    assert meta["format"] == "tokenmill tokenizer v1" and meta["vocab_size"] == 400
    assert meta["config"]["vocab_size"] == 400 and meta["stats"]["stop_reason"] == "vocab_size"


def test_tokenizers_loads_and_matches_training_segmentation(folder, trained):
    segments, model = trained
    tok = load_hf_tokenizer(folder)
    assert tok.get_vocab_size() == 400
    enc = tok.encode("ACGTACGTAGGCTT")
    assert enc.tokens[0] == "[CLS]" and enc.tokens[-1] == "[SEP]"
    assert enc.ids[0] == 1 and enc.ids[-1] == 2
    assert "".join(enc.tokens[1:-1]) == "ACGTACGTAGGCTT"
    pair = tok.encode("ACGT", "GGCC")
    assert pair.tokens[0] == "[CLS]" and pair.tokens.count("[SEP]") == 2 and pair.type_ids[-1] == 1
    for seg in segments[:20]:  # HF applies merges by rank: the same pieces as training produced
        ids = tok.encode(seg, add_special_tokens=False)
        assert ids.tokens == model.segment(seg)
        assert tok.decode(ids.ids) == seg
    assert tok.encode("NNACGT", add_special_tokens=False).tokens[:2] == ["[UNK]", "[UNK]"]  # N is not in the vocab


def test_transformers_autotokenizer_loads_offline(folder, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(folder))
    ids = tok("ACGTACGTAGGCTT")["input_ids"]
    assert ids[0] == tok.cls_token_id == 1 and ids[-1] == tok.sep_token_id == 2
    assert (tok.unk_token_id, tok.pad_token_id, tok.mask_token_id) == (0, 3, 4)
    assert tok.decode(ids, skip_special_tokens=True) == "ACGTACGTAGGCTT"
    batch = tok(["ACGT", "ACGTACGTACGTTTGA"], padding=True)
    assert len(set(map(len, batch["input_ids"]))) == 1 and 3 in batch["input_ids"][0]


def test_load_checks_the_version(folder, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        (bad / name).write_bytes((folder / name).read_bytes())
    with pytest.raises(ValueError, match="no tokenmill.json"):
        load_hf_tokenizer(bad)
    meta = json.loads((folder / "tokenmill.json").read_text())
    (bad / "tokenmill.json").write_text(json.dumps({**meta, "format": "tokenmill tokenizer v0"}))
    with pytest.raises(ValueError, match="v0"):
        load_hf_tokenizer(bad)


def test_save_is_atomic_and_replaces(folder, trained):
    save_hf_tokenizer(trained[1], folder)  # again, into the same folder
    assert not [p for p in os.listdir(folder) if ".tmp" in p]  # no temporaries left behind
    assert load_hf_tokenizer(folder).get_vocab_size() == 400
