"""HF export: the folder loads in tokenizers and transformers (offline), encodes ACGT... to [CLS] ... [SEP],
reproduces training-time segmentation and round-trips; the tokenmill version is checked on load."""

from __future__ import annotations

import json
import os

import pytest

from tokenmill.operators.bpe import BpeTrainerConfig, load_hf_tokenizer, save_hf_tokenizer, train_bpe


@pytest.fixture(scope="module")
def trained(small_genomes):
    segments = small_genomes["lambda"]
    return segments, train_bpe(segments, BpeTrainerConfig(vocab_size=400))


@pytest.fixture(scope="module")
def folder(trained, tmp_path_factory):
    return save_hf_tokenizer(trained[1], tmp_path_factory.mktemp("tok") / "tokenizer")


def test_folder_layout_and_dnabert2_ids(folder, trained):
    assert {p.name for p in folder.iterdir()} == {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "tokenmill.json"}
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


def test_soft_masked_input_gives_the_upper_case_ids(folder, trained, shared_data):
    """UCSC soft-masking (lower case) is not a different sequence: tokenizer.json upper-cases before BPE."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    assert tok.encode("acgtacgt").ids == tok.encode("ACGTACGT").ids
    assert 0 not in tok.encode("acgtacgt", add_special_tokens=False).ids  # no [UNK]
    # Real yeast sequence, soft-masked the way RepeatMasker output is (the shared sacCer3 file is all upper case):
    # stretches of lower case inside upper case.
    lines = (shared_data / "dna/scerevisiae_sacCer3_chrI-III_V_VI_IX_M.fa").read_text().splitlines()[1:400]
    raw = "".join(lines)
    masked = "".join(raw[i : i + 137].lower() if (i // 137) % 2 else raw[i : i + 137] for i in range(0, len(raw), 137))
    assert masked != raw and masked.upper() == raw
    for i in range(0, len(raw) - 1000, 2000):
        assert tok.encode(masked[i : i + 1000]).ids == tok.encode(raw[i : i + 1000]).ids
    assert tok.encode("[CLS]acgt").tokens[:2] == ["[CLS]", "[CLS]"]  # special tokens are matched as typed, not normalized


def test_tokenmill_encoder_agrees_with_tokenizer_json_on_lower_case(folder, shared_data):
    """operators/encode (what dna_bpe and pack_shards encode with) gives the saved tokenizer.json's ids, lower case too."""
    import pyarrow as pa
    from tokenizers import Tokenizer

    from tokenmill.operators.encode import Encoder, EncoderConfig

    raw = "".join((shared_data / "dna/scerevisiae_sacCer3_chrI-III_V_VI_IX_M.fa").read_text().splitlines()[1:200])
    texts = [raw[i : i + 1000] for i in range(0, len(raw) - 1000, 1000)]
    texts += [t.lower() for t in texts[:3]] + [t[:500] + t[500:].lower() for t in texts[3:6]]
    enc = Encoder(EncoderConfig(tokenizer=str(folder), text_column="seq"))
    out = enc(pa.table({"id": [str(i) for i in range(len(texts))], "seq": texts}))
    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    got = out["input_ids"].to_pylist()
    assert got == [tok.encode(t, add_special_tokens=False).ids for t in texts]
    assert got == [tok.encode(t.upper(), add_special_tokens=False).ids for t in texts]


def test_a_text_model_keeps_its_case(shared_data):
    """Upper-casing is for upper-case alphabets (DNA): a BPE trained on text with both cases encodes as written."""
    from tokenmill.operators.bpe import to_hf_tokenizer

    words = [w for line in (shared_data / "text/udhr/eng.txt").read_text().splitlines() for w in line.split()]
    tok = to_hf_tokenizer(train_bpe(words, BpeTrainerConfig(vocab_size=400, min_frequency=2)))
    assert tok.normalizer is None
    assert tok.encode("Article").tokens != tok.encode("ARTICLE").tokens
    assert "".join(tok.encode("freedom", add_special_tokens=False).tokens) == "freedom"
