"""The fast paths of dynamic merging against the plain definitions: word boundaries read off the surfaces, and
the Arrow string buffers of the batch vocabulary."""

from __future__ import annotations

import itertools

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.operators.dynamic.conftest import LANGS
from tokenmill.operators.dynamic import DynamicBPE, ReferenceDynamicBPE, load_base_tokenizer, unit_starts
from tokenmill.operators.dynamic.boundaries import char_classes, surface_unit_starts
from tokenmill.operators.dynamic.vocab_strings import PieceTable, gather_pieces, string_array, utf8_replace

_EDGE = ["", " ", "  lead and trail  ", "well-known, (a)b", "a\u3000b\u00a0c\u2028d", "\t\n x \n", "é́ ́x", "👍🏽 ok"]


def _surface_starts(tok, enc, texts: list[str], hyphen: bool):
    nbytes, shift, verify = tok.surface_layout()
    text = np.frombuffer("".join(texts).encode(), np.uint8)
    row_chars = np.array([len(t) for t in texts], np.int64)
    return surface_unit_starts(enc.ids, enc.row_splits, enc.special, nbytes, text, row_chars, shift, verify, char_classes(hyphen), hyphen)


@pytest.mark.parametrize("name", ["gpt2", "mistral"])
def test_surface_unit_starts_equal_offset_unit_starts(tokenizers, udhr, name):
    tok = tokenizers[name]
    assert tokenizers["bert"].surface_layout() is None  # WordPiece drops spaces: offsets needed
    batches = [[udhr(lang)[i] for lang in LANGS for i in (0, 7, 12)], _EDGE, [udhr("tha")[3]] * 3]
    for texts in batches:
        enc = tok.encode_batch(texts)
        for boundary in ("word", "word_hyphen"):
            starts, ok = _surface_starts(tok, enc, texts, boundary == "word_hyphen")
            assert ok
            assert starts.tolist() == unit_starts(enc, texts, boundary).tolist(), (name, boundary)


def test_special_token_text_falls_back_to_library_offsets(tokenizers, tmp_path):
    from tokenizers import AddedToken, Tokenizer

    # GPT-2 with <|endoftext|> as a real special token (a tokenizer.json, as transformers saves it).
    hf = Tokenizer.from_str(tokenizers["gpt2"]._tok.to_str())
    hf.add_special_tokens([AddedToken("<|endoftext|>", special=True)])
    hf.save(str(tmp_path / "tokenizer.json"))
    tok = load_base_tokenizer(tmp_path / "tokenizer.json")
    assert tok.surface_layout() is not None
    texts = ["one <|endoftext|> two two", "two two"]
    enc = tok.encode_batch(texts)
    assert enc.special.any()
    assert not _surface_starts(tok, enc, texts, False)[1]  # surfaces no longer spell the text
    batch = pa.table({"text": texts})
    for boundary in ("word", "word_hyphen"):
        out = DynamicBPE(tok, max_merges=None, boundary=boundary)(batch)
        assert out.equals(ReferenceDynamicBPE(tok, max_merges=None, boundary=boundary)(batch))


def _replace_all(strings: list[bytes]) -> list[str]:
    table = PieceTable.of(strings)
    data, offsets = utf8_replace(table.data, table.offsets.astype(np.int32))
    return string_array(data, offsets).to_pylist()


def test_utf8_replace_equals_python_on_every_two_byte_string():
    pairs = [bytes(p) for p in itertools.product(range(256), repeat=2)]
    assert _replace_all(pairs) == [p.decode("utf-8", "replace") for p in pairs]


# Bytes around the UTF-8 boundaries (leads, continuations, overlongs, surrogates, > U+10FFFF) and ASCII.
_BYTE = st.sampled_from(
    [0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xE1, 0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xFF]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(_BYTE, max_size=9).map(bytes), min_size=1, max_size=8))
def test_utf8_replace_equals_python(strings):
    assert _replace_all(strings) == [s.decode("utf-8", "replace") for s in strings]


def test_gather_pieces_concatenates_in_order():
    table = PieceTable.of([b"a", b"", b"\xe4\xb8", b"\x96 x"])
    flat = np.array([0, 2, 3, 1, 3, 0, 0], np.int32)
    offsets = np.array([0, 3, 3, 7], np.int32)
    data, out_offsets = gather_pieces(flat, offsets, table.data, table.offsets)
    pieces = [bytes(data[out_offsets[k] : out_offsets[k + 1]]) for k in range(3)]
    assert pieces == [b"a\xe4\xb8\x96 x", b"", b"\x96 xaa"]
