"""Base tokenizers behind one interface: HF ``tokenizer.json``, GPT-2 vocabulary + merges, sentencepiece.

Dynamic merging needs more than ids from the base tokenizer: per-token character offsets (to find word
boundaries), the base pre-token of each token, which ids are special, and the *surface* of every id: the
bytes that id contributes to the text in the tokenizer's own convention (``Ġthe`` -> b" the", ``▁the`` ->
b" the", ``<0xE1>`` -> b"\\xe1", WordPiece ``##able`` -> b"able"). :func:`load_base_tokenizer` picks the backend
from the path by the one rule of :mod:`operators.encode.locate`; both backends return the same flat
:class:`EncodedBatch`.
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tokenmill.operators.encode.locate import TokenizerFiles, locate_tokenizer, open_hf_tokenizer, open_sentencepiece

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class EncodedBatch:
    """A tokenized batch, flattened: row ``r`` owns tokens ``row_splits[r]:row_splits[r + 1]``."""

    ids: np.ndarray
    """int32 [N] token ids of all rows, concatenated."""
    row_splits: np.ndarray
    """int64 [rows + 1] start of each row in ``ids`` (last entry = N)."""
    offsets: np.ndarray | None
    """int64 [N, 2] character offsets (start, end) into the row's text; a token holding part of a multi-byte
    character gets that character's span, so neighbours inside one character overlap. None when not asked for."""
    pretoken_ids: np.ndarray | None
    """int32 [N] index of the base pre-token inside its row (-1 for special tokens); None when the tokenizer has
    no pre-tokenizer of its own (sentencepiece) or when not asked for."""
    special: np.ndarray
    """bool [N] special / control / unknown tokens (never merged)."""

    @property
    def num_rows(self) -> int:
        return len(self.row_splits) - 1

    def row(self, r: int) -> np.ndarray:
        """The ids of row ``r``."""
        return self.ids[self.row_splits[r] : self.row_splits[r + 1]]


@functools.lru_cache(maxsize=1)
def _byte_decoder() -> dict[str, int]:
    """GPT-2's printable-character -> byte table (the inverse of its ``bytes_to_unicode``)."""
    # Imported here: the tokenize_text package pulls in the BPE engine, which only byte-level tokenizers need.
    from tokenmill.operators.tokenize_text.byte_level import bytes_to_unicode

    return {c: b for b, c in bytes_to_unicode().items()}


def _byte_fallback(piece: str) -> bytes | None:
    """``<0xE1>`` -> b"\\xe1"; None for any other piece."""
    if len(piece) == 6 and piece.startswith("<0x") and piece.endswith(">"):
        try:
            return bytes([int(piece[3:5], 16)])
        except ValueError:
            return None
    return None


class BaseTokenizer:
    """One base tokenizer, any format. Build it with :func:`load_base_tokenizer`.

    Attributes:
        kind: ``"hf"`` (tokenizer.json), ``"gpt2"`` (encoder.json + vocab.bpe, or vocab.json + merges.txt) or
            ``"sentencepiece"``.
        path: where it was loaded from.
        vocab_size: number of base ids; new dynamic ids start here.
        token_bytes: surface bytes of every id (b"" for special tokens).
        special_ids: bool [vocab_size], True for special / control / unknown ids.
        has_pretokenizer: whether ``encode_batch`` reports base pre-tokens.
    """

    kind: str
    path: str
    vocab_size: int
    token_bytes: list[bytes]
    special_ids: np.ndarray
    has_pretokenizer: bool

    def encode_batch(self, texts: Sequence[str], *, offsets: bool = True, pretokens: bool = True) -> EncodedBatch:  # pragma: no cover - abstract
        """Tokenize ``texts`` (no truncation, no padding); ``offsets=False`` / ``pretokens=False`` skip computing
        the character offsets / the pre-token ids (they are then None)."""
        raise NotImplementedError

    def encode(self, text: str) -> list[int]:
        """Token ids of one text, exactly as :meth:`encode_batch` gives them."""
        return self.encode_batch([text]).ids.tolist()

    def encode_fragment(self, text: str) -> list[int]:  # pragma: no cover - abstract
        """Ids of ``text`` as a piece of a longer text: no special tokens and no sentencepiece dummy prefix."""
        raise NotImplementedError

    def decode(self, ids: Sequence[int]) -> str:  # pragma: no cover - abstract
        """The tokenizer's own decoding of base ids."""
        raise NotImplementedError

    def id_to_token(self, token_id: int) -> str:  # pragma: no cover - abstract
        """The vocabulary string of a base id (``Ġthe``, ``▁the``, ``##able``, ``<0xE1>``)."""
        raise NotImplementedError

    def token_strings(self, ids: Sequence[int]) -> list[str]:
        """Vocabulary strings of ``ids``."""
        return [self.id_to_token(int(i)) for i in ids]

    def token_text(self, token_id: int) -> str:
        """Surface of an id as text; a partial UTF-8 sequence reads as U+FFFD."""
        return self.token_bytes[token_id].decode("utf-8", errors="replace")

    def surface_layout(self) -> tuple[np.ndarray, int, bool] | None:
        """How surfaces spell the text, for computing word boundaries without offsets: (int64 surface bytes per
        id, dummy-prefix bytes before each row, whether a batch must be checked first: no special token, and each
        row's surfaces add up to its bytes), or None when they do not (then offsets come from the library)."""
        return None

    def whitespace_flags(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per id (bool arrays, computed once): surface is all whitespace / has whitespace at most as its first
        character / has no whitespace. Partial UTF-8 bytes read as U+FFFD, i.e. not whitespace."""
        if self._ws_flags is None:
            texts = [self.token_text(i) for i in range(self.vocab_size)]
            self._ws_flags = (
                np.array([t.isspace() for t in texts], bool),
                np.array([not any(c.isspace() for c in t[1:]) for t in texts], bool),
                np.array([not any(c.isspace() for c in t) for t in texts], bool),
            )
        return self._ws_flags

    def __repr__(self) -> str:
        return f"{type(self).__name__}(kind={self.kind!r}, path={self.path!r}, vocab_size={self.vocab_size})"

    # Pickling reloads from the files, so a tokenizer travels to Ray workers as a path, not as 50k strings.
    def __reduce__(self):
        return (functools.partial(load_base_tokenizer, add_special_tokens=self._add_special), (self._source,))

    _add_special: bool = False
    _source: str = ""
    _ws_flags: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None


def _flatten(rows: list[list], dtype) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.fromiter((len(r) for r in rows), np.int64, len(rows))
    splits = np.zeros(len(rows) + 1, np.int64)
    np.cumsum(lengths, out=splits[1:])
    flat = np.fromiter(itertools.chain.from_iterable(rows), dtype, int(splits[-1]))
    return flat, splits


class HFBaseTokenizer(BaseTokenizer):
    """A ``tokenizers.Tokenizer`` (from a tokenizer.json, or a GPT-2 vocab/merges pair)."""

    def __init__(self, tokenizer, *, kind: str, path: str, source: str, add_special_tokens: bool) -> None:
        from tokenizers import Tokenizer

        self.kind, self.path, self._add_special = kind, path, add_special_tokens
        self._source = source
        tokenizer.no_padding()
        tokenizer.no_truncation()
        self._tok = tokenizer
        self.has_pretokenizer = tokenizer.pre_tokenizer is not None
        vocab = tokenizer.get_vocab(with_added_tokens=True)
        self.vocab_size = max(vocab.values()) + 1
        self._id_to_token = [""] * self.vocab_size
        for token, i in vocab.items():
            self._id_to_token[i] = token
        self.special_ids = np.zeros(self.vocab_size, bool)
        for i, added in tokenizer.get_added_tokens_decoder().items():
            self.special_ids[i] = added.special
        spec = json.loads(tokenizer.to_str())
        kinds = _decoder_kinds(spec.get("decoder"))
        self.token_bytes = [b"" if s else self._surface(t, kinds) for t, s in zip(self._id_to_token, self.special_ids)]
        self.special_ids |= np.array([len(b) == 0 for b in self.token_bytes])
        self._nbytes = np.array([len(b) for b in self.token_bytes], np.int64)
        # Byte-level BPE without a normalizer or post-processor (GPT-2): the surfaces of a row's tokens are its
        # UTF-8 bytes in order, so offsets follow from surface lengths (checked per batch in encode_batch).
        pre = spec.get("pre_tokenizer") or {}
        self._lossless = (
            "ByteLevel" in kinds
            and pre.get("type") == "ByteLevel"
            and not pre.get("add_prefix_space")
            and spec.get("normalizer") is None
            and spec.get("post_processor") is None
        )
        # A fragment must not get a sentencepiece-style "▁" prepended: rebuild with prepend_scheme "never".
        if _drop_prefix(spec):
            self._frag = Tokenizer.from_str(json.dumps(spec))
            self._frag.no_padding()
            self._frag.no_truncation()
        else:
            self._frag = tokenizer

    @staticmethod
    def _surface(token: str, kinds: dict[str, dict]) -> bytes:
        if "ByteLevel" in kinds:
            table = _byte_decoder()
            if all(c in table for c in token):
                return bytes(table[c] for c in token)
        if "ByteFallback" in kinds and (b := _byte_fallback(token)) is not None:
            return b
        if "Metaspace" in kinds:
            return token.replace("▁", " ").encode()
        if "WordPiece" in kinds:
            prefix = kinds["WordPiece"].get("prefix", "##")
            return (token[len(prefix) :] if token.startswith(prefix) else token).encode()
        return token.encode()

    def encode_batch(self, texts: Sequence[str], *, offsets: bool = True, pretokens: bool = True) -> EncodedBatch:
        encs = self._tok.encode_batch(list(texts), add_special_tokens=self._add_special)
        ids, splits = _flatten([e.ids for e in encs], np.int32)
        spans = None
        if offsets and self._lossless:
            spans = _surface_offsets(texts, ids, splits, self._nbytes, shift=0, special=self.special_ids)
        if offsets and spans is None:
            flat = itertools.chain.from_iterable(itertools.chain.from_iterable(e.offsets for e in encs))
            spans = np.fromiter(flat, np.int64, 2 * len(ids)).reshape(-1, 2)
        pretoken_ids = None
        if pretokens and self.has_pretokenizer:
            words = itertools.chain.from_iterable(e.word_ids for e in encs)
            pretoken_ids = np.fromiter((-1 if w is None else w for w in words), np.int32, len(ids))
        return EncodedBatch(ids, splits, spans, pretoken_ids, self.special_ids[ids])

    def encode_fragment(self, text: str) -> list[int]:
        return self._frag.encode(text, add_special_tokens=False).ids

    def surface_layout(self) -> tuple[np.ndarray, int, bool] | None:
        return (self._nbytes, 0, True) if self._lossless else None

    def decode(self, ids: Sequence[int]) -> str:
        return self._tok.decode([int(i) for i in ids], skip_special_tokens=False)

    def id_to_token(self, token_id: int) -> str:
        return self._id_to_token[token_id]


def _decoder_kinds(decoder: dict | None) -> dict[str, dict]:
    """Decoder types (flattening ``Sequence`` and ``Replace("▁", " ")`` into ``Metaspace``) -> their settings."""
    kinds: dict[str, dict] = {}
    stack = [decoder] if decoder else []
    while stack:
        d = stack.pop()
        if d.get("type") == "Sequence":
            stack.extend(d.get("decoders", []))
        elif d.get("type") == "Replace" and (d.get("pattern") or {}).get("String") == "▁":
            kinds["Metaspace"] = d
        elif d.get("type"):
            kinds[d["type"]] = d
    return kinds


def _is_dummy_prefix(node) -> bool:
    """A normalizer that adds sentencepiece's dummy prefix: ``Prepend("▁")``, or transformers' converter's
    ``Replace(/\\A▁/, "▁▁")`` (which compensates for Metaspace skipping the prefix before a leading space)."""
    if not isinstance(node, dict):
        return False
    return node.get("type") == "Prepend" or (node.get("type") == "Replace" and (node.get("pattern") or {}).get("Regex") == "\\A▁")


def _drop_prefix(spec: dict) -> bool:
    """Turn off "▁"-prepending in a tokenizer.json spec (in place); True when something changed."""
    changed = False
    for part in ("pre_tokenizer", "normalizer"):
        stack = [spec.get(part)]
        while stack:
            node = stack.pop()
            if not isinstance(node, dict):
                continue
            if node.get("type") == "Metaspace" and node.get("prepend_scheme", "always") != "never":
                node["prepend_scheme"], changed = "never", True
            if node.get("type") == "Metaspace" and node.get("add_prefix_space"):
                node["add_prefix_space"], changed = False, True
            for key in ("pretokenizers", "normalizers"):
                items = node.get(key) or []
                kept = [n for n in items if not _is_dummy_prefix(n)]
                if len(kept) != len(items):
                    node[key], changed = kept, True
                stack.extend(kept)
    return changed


class SentencePieceBaseTokenizer(BaseTokenizer):
    """A sentencepiece ``.model`` (e.g. Mistral's ``tokenizer.model.v1``)."""

    def __init__(self, model: str | Path | TokenizerFiles, *, add_special_tokens: bool) -> None:
        import sentencepiece as spm
        from sentencepiece import sentencepiece_model_pb2 as model_pb2

        located = model if isinstance(model, TokenizerFiles) else locate_tokenizer(model)
        self._sp, blob = open_sentencepiece(located)
        self.kind, self.path, self._add_special = "sentencepiece", str(located.files[0]), add_special_tokens
        self._source = str(located.files[0].resolve())
        self.has_pretokenizer = False
        proto = model_pb2.ModelProto()  # type: ignore[attr-defined]  # protobuf-generated module, no stubs for its classes
        proto.ParseFromString(blob)
        norm = proto.normalizer_spec
        self._dummy_prefix = norm.add_dummy_prefix
        # With an identity normalizer and byte fallback, the surfaces concatenate to " " + text exactly, so
        # offsets follow from surface lengths; otherwise ask sentencepiece for them (about 2x slower).
        self._lossless = norm.name == "identity" and not norm.precompiled_charsmap and not norm.remove_extra_whitespaces and proto.trainer_spec.byte_fallback
        norm.add_dummy_prefix = False
        self._frag = spm.SentencePieceProcessor(model_proto=proto.SerializeToString())
        sp = self._sp
        self.vocab_size = sp.get_piece_size()
        self._pieces = [sp.id_to_piece(i) for i in range(self.vocab_size)]
        self.special_ids = np.array([sp.is_control(i) or sp.is_unknown(i) for i in range(self.vocab_size)], bool)
        self.token_bytes = [
            b"" if s else (_byte_fallback(p) if sp.is_byte(i) else None) or p.replace("▁", " ").encode()
            for i, (p, s) in enumerate(zip(self._pieces, self.special_ids))
        ]
        self._nbytes = np.array([len(b) for b in self.token_bytes], np.int64)
        self._is_byte = np.array([sp.is_byte(i) for i in range(self.vocab_size)], bool)

    def encode_batch(self, texts: Sequence[str], *, offsets: bool = True, pretokens: bool = True) -> EncodedBatch:
        texts = list(texts)
        if offsets and not self._lossless:
            return self._encode_proto(texts)
        ids, splits = _flatten(self._sp.encode(texts, add_bos=self._add_special), np.int32)
        if not offsets:
            return EncodedBatch(ids, splits, None, None, self.special_ids[ids])
        spans = _surface_offsets(texts, ids, splits, self._nbytes, shift=int(self._dummy_prefix))
        return EncodedBatch(ids, splits, spans, None, self.special_ids[ids])

    def _encode_proto(self, texts: list[str]) -> EncodedBatch:
        protos = self._sp.encode(texts, add_bos=self._add_special, return_type="proto")
        ids, splits = _flatten([[p.id for p in t.pieces] for t in protos], np.int32)
        spans = [(p.begin, p.end) for t in protos for p in t.pieces]
        se = np.array(spans, np.int64).reshape(-1, 2)
        # Partial-character pieces come with begin == end; give them the span of the piece that completes the char.
        for k in range(len(se) - 2, -1, -1):
            if se[k, 0] == se[k, 1] and se[k + 1, 0] == se[k, 0] and self._is_byte[ids[k]]:
                se[k, 1] = se[k + 1, 1]
        encoded = [t.encode() for t in texts]
        text_byte0 = np.zeros(len(texts) + 1, np.int64)
        np.cumsum([len(b) for b in encoded], out=text_byte0[1:])
        row_of = np.repeat(np.arange(len(texts)), np.diff(splits))
        offsets = _bytes_to_chars(b"".join(encoded), text_byte0, row_of, se[:, 0], se[:, 1])
        return EncodedBatch(ids, splits, offsets, None, self.special_ids[ids])

    def encode_fragment(self, text: str) -> list[int]:
        return self._frag.encode(text)

    def surface_layout(self) -> tuple[np.ndarray, int, bool] | None:
        return (self._nbytes, int(self._dummy_prefix), False) if self._lossless else None

    def decode(self, ids: Sequence[int]) -> str:
        return self._sp.decode([int(i) for i in ids])

    def id_to_token(self, token_id: int) -> str:
        return self._pieces[token_id]


def _surface_offsets(
    texts: Sequence[str],
    ids: np.ndarray,
    splits: np.ndarray,
    nbytes_of: np.ndarray,
    *,
    shift: int,
    special: np.ndarray | None = None,
) -> np.ndarray | None:
    """Character offsets from surface lengths, for tokenizers whose surfaces spell each row's UTF-8 bytes in
    order (after a ``shift``-byte dummy prefix). With ``special`` given, verify that first: None when a special
    token occurs or a row's surfaces do not add up to its length (then ask the tokenizer)."""
    nbytes = nbytes_of[ids]
    ends = np.cumsum(nbytes)
    encoded = [t.encode() for t in texts]
    text_byte0 = np.zeros(len(texts) + 1, np.int64)
    np.cumsum([len(b) for b in encoded], out=text_byte0[1:])
    if special is not None:
        row_bytes = np.diff(np.concatenate([[0], ends])[splits])
        if special[ids].any() or not np.array_equal(row_bytes, np.diff(text_byte0)):
            return None
    # Byte offsets from surface lengths, shifted left by the dummy-prefix space; then bytes -> characters.
    row_of = np.repeat(np.arange(len(texts)), np.diff(splits))
    row_byte0 = np.concatenate([[0], ends])[splits[:-1]]
    local_end = np.maximum(ends - row_byte0[row_of] - shift, 0)
    local_start = np.maximum(local_end - nbytes, 0)
    return _bytes_to_chars(b"".join(encoded), text_byte0, row_of, local_start, local_end)


def _bytes_to_chars(joined: bytes, text_byte0: np.ndarray, row_of: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Row-local byte spans -> row-local character spans; a span inside one character widens to that character."""
    raw = np.frombuffer(joined, np.uint8)
    is_lead = (raw & 0xC0) != 0x80
    char_of = np.cumsum(is_lead) - 1  # char index (global) of every byte
    char_of = np.concatenate([char_of, [char_of[-1] + 1 if len(char_of) else 0]])
    row_char0 = char_of[text_byte0[:-1]] if len(raw) else np.zeros(len(text_byte0) - 1, np.int64)
    g_start = text_byte0[row_of] + start
    g_end = text_byte0[row_of] + end
    c_start = char_of[g_start]
    c_end = np.where(end > start, char_of[np.maximum(g_end - 1, 0)] + 1, c_start)
    base = row_char0[row_of] if len(row_of) else np.zeros(0, np.int64)
    return np.stack([c_start - base, c_end - base], axis=1).astype(np.int64)


def load_base_tokenizer(path: str | Path, *, add_special_tokens: bool = False) -> BaseTokenizer:
    """Load a base tokenizer, picking the format from ``path``.

    Args:
        path: anything :func:`operators.encode.locate.locate_tokenizer` accepts (the rule every pipeline uses): a
            ``tokenizer.json`` file or a folder holding one; a GPT-2 folder (``encoder.json`` + ``vocab.bpe`` or
            ``vocab.json`` + ``merges.txt``), read as byte-level BPE; or a sentencepiece model file (``*.model``,
            ``tokenizer.model.v1``, ...) or a folder holding exactly one.
        add_special_tokens: add the tokenizer's own specials (BOS, [CLS]/[SEP]) when encoding.

    Raises:
        ValueError: when nothing loadable is at ``path``, or a file there cannot be parsed (the message names it).
    """
    located = locate_tokenizer(path)
    if located.kind == "sentencepiece":
        return SentencePieceBaseTokenizer(located, add_special_tokens=add_special_tokens)
    # Pickling reloads from ``source``: the tokenizer.json itself, or the GPT-2 folder.
    source = located.files[0] if located.kind == "hf" else located.files[0].parent
    return HFBaseTokenizer(open_hf_tokenizer(located), kind=located.kind, path=str(path), source=str(source.resolve()), add_special_tokens=add_special_tokens)
