"""Base tokenizers in three formats behind one interface: known answers, offsets, surfaces, round trips."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from tests.operators.dynamic.conftest import LANGS
from tokenmill.operators.dynamic import load_base_tokenizer


def test_known_answers_in_every_format(tokenizers, shared_data):
    assert tokenizers["gpt2"].encode("Hello world") == [15496, 995]
    assert tokenizers["mistral"].encode("Hello world") == [22557, 1526]
    assert tokenizers["bert"].encode("Hello world") == [7592, 2088]
    assert [t.kind for t in tokenizers.values()] == ["gpt2", "sentencepiece", "hf"]
    assert [t.vocab_size for t in tokenizers.values()] == [50257, 32000, 30522]
    # A folder works as well as the file inside it.
    assert load_base_tokenizer(shared_data / "tokenizers" / "mistral").encode("Hello world") == [22557, 1526]
    assert load_base_tokenizer(shared_data / "tokenizers" / "bert-base-uncased").vocab_size == 30522


def test_bad_paths_raise_value_error(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load_base_tokenizer(tmp_path / "missing.json")
    with pytest.raises(ValueError, match="expected tokenizer.json"):
        load_base_tokenizer(tmp_path)
    junk = tmp_path / "junk.model"
    junk.write_bytes(b"not a model")
    with pytest.raises(ValueError, match="cannot parse sentencepiece model at .*junk.model"):
        load_base_tokenizer(junk)


@pytest.mark.parametrize("name", ["gpt2", "mistral"])
def test_lossless_tokenizers_round_trip_and_surfaces_spell_the_text(tokenizers, udhr, name):
    tok = tokenizers[name]
    texts = [line for lang in LANGS for line in udhr(lang)[:6]] + ["  two  spaces\tand\ttabs\n\nnewlines ", ""]
    enc = tok.encode_batch(texts)
    for r, text in enumerate(texts):
        ids = enc.row(r)
        assert tok.decode(ids) == text
        surface = b"".join(tok.token_bytes[i] for i in ids)
        # sentencepiece writes its dummy-prefix space in front of the text.
        assert surface == ((b" " if name == "mistral" and text else b"") + text.encode())


@pytest.mark.parametrize("name", ["gpt2", "mistral", "bert"])
def test_offsets_cover_each_token_and_overlap_only_inside_a_character(tokenizers, udhr, name):
    tok = tokenizers[name]
    texts = [line for lang in LANGS for line in udhr(lang)[1:4]]
    enc = tok.encode_batch(texts)
    assert enc.offsets.shape == (len(enc.ids), 2) and enc.num_rows == len(texts)
    for r, text in enumerate(texts):
        lo, hi = enc.row_splits[r], enc.row_splits[r + 1]
        spans = enc.offsets[lo:hi]
        assert (spans[:, 0] <= spans[:, 1]).all() and (spans[:, 1] <= len(text)).all()
        assert (np.diff(spans[:, 0]) >= 0).all()
        if name != "bert":  # lossless: the token's own bytes are inside the characters it claims
            for i, (s, e) in zip(enc.row(r), spans):
                if tok.token_text(i).strip() and "\ufffd" not in tok.token_text(i):
                    assert tok.token_text(i).strip() in text[s:e]


def test_sentencepiece_fast_offsets_equal_sentencepiece_own(tokenizers, udhr):
    tok = tokenizers["mistral"]
    texts = [line for lang in LANGS for line in udhr(lang)[:8]] + [" lead", "a\n\nb  c\td", "x  "]
    fast = tok.encode_batch(texts)
    slow = tok._encode_proto(texts)
    assert np.array_equal(fast.ids, slow.ids)
    # The dummy-prefix piece has an empty span in both; every other span must agree exactly.
    assert np.array_equal(fast.offsets, slow.offsets)


def test_byte_level_offsets_from_surfaces_equal_the_libraries_own(tokenizers, udhr):
    """GPT-2 offsets come from surface lengths (checked per batch); they must equal tokenizers' own offsets."""
    tok = tokenizers["gpt2"]
    assert tok._lossless and not tokenizers["bert"]._lossless
    texts = [line for lang in LANGS for line in udhr(lang)[:8]]
    texts += [" lead", "a\n\nb  c\td", "x  ", "", "\u3000x\u3000 é\u0301 \u200b", "😀 ok 😀😀", "<|endoftext|>"]
    fast = tok.encode_batch(texts)
    encs = tok._tok.encode_batch(texts, add_special_tokens=False)
    own = np.array([span for e in encs for span in e.offsets], np.int64).reshape(-1, 2)
    assert np.array_equal(fast.offsets, own)


def test_pretokens_specials_and_no_offsets(tokenizers, shared_data):
    enc = tokenizers["gpt2"].encode_batch(["Hello world, don't"], offsets=False)
    assert enc.offsets is None
    assert enc.pretoken_ids.tolist() == [0, 1, 2, 3, 4]  # Hello | Ġworld | , | Ġdon | 't
    assert tokenizers["mistral"].encode_batch(["a b"]).pretoken_ids is None
    assert tokenizers["gpt2"].encode_batch(["a b"], pretokens=False).pretoken_ids is None
    bert = load_base_tokenizer(shared_data / "tokenizers" / "bert-base-uncased", add_special_tokens=True)
    enc = bert.encode_batch(["hello world"])
    assert bert.token_strings(enc.ids) == ["[CLS]", "hello", "world", "[SEP]"]
    assert enc.special.tolist() == [True, False, False, True]
    assert bert.token_bytes[enc.ids[0]] == b"" and bert.special_ids[enc.ids[0]]


def test_fragments_have_no_dummy_prefix(tokenizers):
    for name in ("gpt2", "mistral"):
        tok = tokenizers[name]
        for text in (" hello", "hello", " 世界"):
            ids = tok.encode_fragment(text)
            assert b"".join(tok.token_bytes[i] for i in ids) == text.encode()
    assert tokenizers["bert"].encode_fragment("hello") == [7592]


def test_tokenizers_pickle_by_path(tokenizers):
    for tok in tokenizers.values():
        back = pickle.loads(pickle.dumps(tok))
        assert len(pickle.dumps(tok)) < 2000
        assert back.encode("Universal Declaration") == tok.encode("Universal Declaration")
        assert back.kind == tok.kind


def test_hf_metaspace_tokenizer_json_behaves_like_its_sentencepiece_model(tokenizers, udhr, tmp_path):
    """A Llama-style tokenizer.json (Metaspace + ByteFallback), converted from Mistral's model by transformers."""
    import pyarrow as pa
    from sentencepiece import sentencepiece_model_pb2
    from transformers.convert_slow_tokenizer import SpmConverter

    from tokenmill.operators.dynamic import DynamicBPE

    spm = tokenizers["mistral"]
    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(Path(spm.path).read_bytes())
    vocab = {p.piece: i for i, p in enumerate(proto.pieces)}
    SpmConverter.build_tokenizer_from_spm_proto(proto, vocab).save(str(tmp_path / "tokenizer.json"))
    hf = load_base_tokenizer(tmp_path)
    texts = [line for lang in LANGS for line in udhr(lang)[1:5]]
    assert np.array_equal(hf.encode_batch(texts).ids, spm.encode_batch(texts).ids)
    assert hf.token_bytes[3:] == spm.token_bytes[3:]  # all but <unk> <s> </s>, which the converter leaves plain
    assert hf.encode_fragment(" hello") == spm.encode_fragment(" hello")
    assert hf.decode(spm.encode(texts[0])) == texts[0]
    batch = pa.table({"text": texts[:32]})
    ours = DynamicBPE(hf, max_merges=300, boundary="word")(batch).drop_columns(["batch_id"])
    theirs = DynamicBPE(spm, max_merges=300, boundary="word")(batch).drop_columns(["batch_id"])
    assert ours.equals(theirs)
