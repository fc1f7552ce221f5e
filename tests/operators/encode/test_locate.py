"""One rule for finding a tokenizer: every accepted layout on the real GPT-2, Mistral and BERT files, and the
errors for broken ones (generated in tmp_path), the same through the encoder and the dynamic base tokenizer."""

from __future__ import annotations

import shutil

import pytest

from tokenmill.operators.dynamic import load_base_tokenizer
from tokenmill.operators.encode import load_engine, locate_tokenizer


@pytest.fixture(scope="module")
def toks(shared_data):
    return shared_data / "tokenizers"


def test_every_accepted_layout(toks, tmp_path):
    gpt2 = locate_tokenizer(toks / "gpt2")
    assert gpt2.kind == "gpt2" and [f.name for f in gpt2.files] == ["encoder.json", "vocab.bpe"]
    bert = locate_tokenizer(toks / "bert-base-uncased")  # tokenizer.json wins over vocab.txt and the configs
    assert bert.kind == "hf" and bert.files == (toks / "bert-base-uncased" / "tokenizer.json",)
    assert locate_tokenizer(toks / "bert-base-uncased" / "tokenizer.json").files == bert.files
    for path in (toks / "mistral", toks / "mistral" / "tokenizer.model.v1"):  # versioned name, file or folder
        located = locate_tokenizer(path)
        assert located.kind == "sentencepiece" and located.files == (toks / "mistral" / "tokenizer.model.v1",)
    hf_names = tmp_path / "hf_gpt2"  # HF's spelling of the GPT-2 files (vocab.json + merges.txt)
    hf_names.mkdir()
    shutil.copy(toks / "gpt2" / "encoder.json", hf_names / "vocab.json")
    shutil.copy(toks / "gpt2" / "vocab.bpe", hf_names / "merges.txt")
    assert locate_tokenizer(hf_names).kind == "gpt2"
    plain = tmp_path / "sp"
    plain.mkdir()
    shutil.copy(toks / "mistral" / "tokenizer.model.v1", plain / "spm.model")
    assert locate_tokenizer(plain).files == (plain / "spm.model",)


@pytest.mark.parametrize(
    "rel,ids", [("gpt2", [15496, 995]), ("mistral", [22557, 1526]), ("mistral/tokenizer.model.v1", [22557, 1526]), ("bert-base-uncased", [7592, 2088])]
)
def test_encoder_and_base_tokenizer_accept_the_same_paths(toks, rel, ids):
    assert load_engine(toks / rel).encode_batch(["Hello world"]) == [ids]
    assert load_base_tokenizer(toks / rel).encode("Hello world") == ids


def test_hf_spelling_of_gpt2_loads_the_same_tokenizer(toks, tmp_path):
    shutil.copy(toks / "gpt2" / "encoder.json", tmp_path / "vocab.json")
    shutil.copy(toks / "gpt2" / "vocab.bpe", tmp_path / "merges.txt")
    assert load_engine(tmp_path).encode_batch(["Hello world"]) == [[15496, 995]]
    assert load_engine(tmp_path).sha256 == load_engine(toks / "gpt2").sha256  # same bytes, same content hash
    assert load_base_tokenizer(tmp_path).kind == "gpt2"


def _errors(path) -> list[str]:
    """The messages of the encoder's and the base tokenizer's loaders (they must fail alike)."""
    out = []
    for load in (load_engine, load_base_tokenizer):
        with pytest.raises(ValueError) as exc:
            load(path)
        out.append(str(exc.value))
    return out


def test_missing_path_says_it_does_not_exist(tmp_path):
    for msg in _errors(tmp_path / "nope.json") + _errors(tmp_path / "no_folder"):
        assert "does not exist" in msg and "holds no tokenizer" not in msg


def test_corrupt_tokenizer_json_names_the_file(tmp_path):
    (tmp_path / "tokenizer.json").write_text('{"version": "1.0", "model": ')
    for path in (tmp_path, tmp_path / "tokenizer.json"):
        for msg in _errors(path):
            assert msg.startswith(f"cannot parse tokenizer.json at {tmp_path / 'tokenizer.json'}: ")


def test_corrupt_sentencepiece_and_gpt2_files_name_the_file(tmp_path, toks):
    (tmp_path / "junk.model").write_bytes(b"not a model")
    for msg in _errors(tmp_path / "junk.model") + _errors(tmp_path):
        assert f"cannot parse sentencepiece model at {tmp_path / 'junk.model'}" in msg
    gpt2 = tmp_path / "gpt2"
    gpt2.mkdir()
    (gpt2 / "encoder.json").write_text("{not json")
    shutil.copy(toks / "gpt2" / "vocab.bpe", gpt2 / "vocab.bpe")
    for msg in _errors(gpt2):
        assert f"cannot parse GPT-2 tokenizer files {gpt2 / 'encoder.json'} + vocab.bpe" in msg


def test_two_sentencepiece_models_is_an_error_naming_both(tmp_path, toks):
    for name in ("tokenizer.model", "tokenizer.model.v3"):
        shutil.copy(toks / "mistral" / "tokenizer.model.v1", tmp_path / name)
    for msg in _errors(tmp_path):
        assert "holds 2 sentencepiece models (tokenizer.model, tokenizer.model.v3)" in msg


def test_folders_and_files_of_no_tokenizer(tmp_path, toks):
    (tmp_path / "notes.txt").write_text("hi")
    (tmp_path / "encoder.json").write_text("{}")  # half a GPT-2 tokenizer
    for msg in _errors(tmp_path):
        assert "holds no tokenizer" in msg and "['encoder.json', 'notes.txt']" in msg
    for msg in _errors(tmp_path / "notes.txt"):
        assert "is not a tokenizer file" in msg
    for msg in _errors(toks / "gpt2" / "vocab.bpe"):
        assert f"one file of a GPT-2 tokenizer; pass its folder {toks / 'gpt2'}" in msg
