"""Surfaces of new tokens and their decomposition into the original (WordPiece) tokenizer's ids.

A new token is described by its *surface*: the text it stands for, with a single leading space when it starts a
word (GPT-2's ``Ġthe`` and sentencepiece's ``▁the`` -> ``" the"``; a WordPiece-style new vocabulary's ``the`` ->
``" the"`` and ``##ing`` -> ``"ing"``). A surface without the leading space continues the previous token.

The hypernetwork and FVT need each surface as original ids. A BERT-style original (lower-casing normalizer,
``BertPreTokenizer``, WordPiece with ``##``) is decomposed exactly as BERT would tokenize the text, except that a
continuation surface starting with a letter or digit gets WordPiece's continuation pieces (``ing`` -> ``##ing``),
because inside a word that is what the original model saw. Punctuation and CJK characters always start a new word
in BERT, so they never take ``##``. Any other original tokenizer falls back to its plain encoding of the text.
"""

from __future__ import annotations

import json
import logging
import unicodedata
from functools import lru_cache
from pathlib import Path

from tokenmill.operators.encode.locate import open_tokenizer

log = logging.getLogger(__name__)


def _is_cjk(ch: str) -> bool:
    cp = ord(ch)
    return (
        0x4E00 <= cp <= 0x9FFF
        or 0x3400 <= cp <= 0x4DBF
        or 0x20000 <= cp <= 0x2A6DF
        or 0x2A700 <= cp <= 0x2CEAF
        or 0xF900 <= cp <= 0xFAFF
        or 0x2F800 <= cp <= 0x2FA1F
    )


def _joins_word(ch: str) -> bool:
    """Whether BERT would keep ``ch`` inside the current word (so a continuation may take ``##``)."""
    return not (_is_cjk(ch) or ch.isspace() or unicodedata.category(ch).startswith(("P", "S", "C")))


def wordpiece(word: str, vocab: dict[str, int], *, continuation: bool, unk_id: int, prefix: str = "##", max_chars: int = 100) -> list[int]:
    """Greedy longest-match-first WordPiece of one pre-tokenized word (BERT's algorithm).

    Args:
        word: a normalized, pre-tokenized word.
        vocab: the WordPiece vocabulary.
        continuation: the word continues a previous piece, so even its first piece carries ``prefix``.
        unk_id: id returned (alone) when the word cannot be segmented or is longer than ``max_chars``.
    """
    if len(word) > max_chars:
        return [unk_id]
    ids: list[int] = []
    start = 0
    while start < len(word):
        end = len(word)
        found = None
        while end > start:
            piece = word[start:end]
            if start > 0 or continuation:
                piece = prefix + piece
            found = vocab.get(piece)
            if found is not None:
                break
            end -= 1
        if found is None:
            return [unk_id]
        ids.append(found)
        start = end
    return ids


class SurfaceDecomposer:
    """Surface -> original token ids, cached (surfaces repeat across batches and tokenizers).

    Args:
        tokenizer_json: the original model's ``tokenizer.json``.
        empty: what a surface with no original tokens (whitespace, control characters) decomposes to:
            ``"pad"`` (the original [PAD] id; a marker the hypernetwork learns to read) or ``"unk"``.
        cache_size: surfaces remembered.
    """

    def __init__(self, tokenizer_json: str | Path, *, empty: str = "pad", cache_size: int = 1 << 18) -> None:

        if empty not in ("pad", "unk"):
            raise ValueError(f"empty: expected 'pad' or 'unk', got {empty!r}")
        self.path = str(tokenizer_json)
        self._tok = open_tokenizer(self.path)
        self._tok.no_padding()
        self._tok.no_truncation()
        spec = json.loads(Path(tokenizer_json).read_text(encoding="utf-8"))
        model = spec.get("model") or {}
        self.is_wordpiece = model.get("type") == "WordPiece"
        self.vocab: dict[str, int] = self._tok.get_vocab(with_added_tokens=True)
        self.vocab_size = max(self.vocab.values()) + 1
        self.prefix = model.get("continuing_subword_prefix", "##")
        self.unk_id = self.vocab.get(model.get("unk_token") or "[UNK]", 0)
        pad = (spec.get("padding") or {}).get("pad_id")
        self.pad_id = pad if pad is not None else self.vocab.get("[PAD]", self.unk_id)
        self.empty_id = self.pad_id if empty == "pad" else self.unk_id
        self._cached = lru_cache(maxsize=cache_size)(self._decompose)

    def __call__(self, surface: str) -> tuple[int, ...]:
        """Original ids of one surface (never empty; see ``empty``)."""
        return self._cached(surface)

    def many(self, surfaces: list[str]) -> list[tuple[int, ...]]:
        """Original ids of every surface."""
        return [self._cached(s) for s in surfaces]

    def _decompose(self, surface: str) -> tuple[int, ...]:
        ids = self.reference(surface)
        return tuple(ids) if ids else (self.empty_id,)

    def reference(self, surface: str) -> list[int]:
        """The plain decomposition (no cache, may be empty)."""
        word_start = surface[:1].isspace()
        text = surface.lstrip()
        if not text:
            return []
        if not self.is_wordpiece:
            # Not BERT-like: the original's own encoding of the text (its pre-tokenizer sees the leading space).
            return self._tok.encode((" " if word_start else "") + text, add_special_tokens=False).ids
        norm = self._tok.normalizer.normalize_str(text) if self._tok.normalizer is not None else text
        pre = self._tok.pre_tokenizer
        pieces = pre.pre_tokenize_str(norm) if pre is not None else [(norm, (0, len(norm)))]
        out: list[int] = []
        for i, (word, (start, _)) in enumerate(pieces):
            cont = i == 0 and not word_start and start == 0 and _joins_word(word[0])
            out.extend(wordpiece(word, self.vocab, continuation=cont, unk_id=self.unk_id, prefix=self.prefix))
        return out


def reads_both_ways(surface: str | None) -> bool:
    """Whether a surface may be a continuation or a word start: no leading space, first character joins a word.

    A surface without a leading space is read as a continuation (``self`` -> ``##self``), but in a tokenizer whose
    pre-tokenizer splits at punctuation (GPT-2's, or sentencepiece's after ``(``) it often begins what BERT calls a
    word: ``(self`` is ``(`` + ``self`` to BERT.
    """
    return surface is not None and surface != "" and not surface[0].isspace() and _joins_word(surface[0])


def begins_word(text: str, start: int) -> bool:
    """Whether a token at character ``start`` of ``text`` begins a BERT word: it is first, or what precedes it does
    not join a word (see :func:`_joins_word`)."""
    return start == 0 or not _joins_word(text[start - 1])


def mark_word_starts(rows: list[list[str]], offsets: list[list[tuple[int, int]]], texts: list[str]) -> list[list[str]]:
    """Each occurrence's own reading: a surface that :func:`reads_both_ways` and :func:`begins_word` where it stands
    (``self`` in ``(self``) gets a leading space; ``rows``/``offsets`` are the surfaces and character offsets of
    each text's tokens."""
    return [[" " + s if reads_both_ways(s) and begins_word(text, a) else s for s, (a, _) in zip(row, offs)] for row, offs, text in zip(rows, offsets, texts)]


def word_start_shares(tokenizer, surfaces: list[str | None], texts: list[str], *, max_texts: int = 20_000) -> dict[int, float]:
    """How often each surface that :func:`reads_both_ways` begins a word in ``texts``: {id: share of its
    occurrences} (:func:`begins_word`); ids never seen in ``texts`` are absent.

    Args:
        tokenizer: the new ``tokenizers.Tokenizer`` (its offsets locate each token in the text).
        surfaces: the surface of every id (:func:`tokenizer_surfaces`).
        texts: target text; the first ``max_texts`` lines are read.
    """
    cand = [reads_both_ways(s) for s in surfaces]
    starts: dict[int, int] = {}
    total: dict[int, int] = {}
    sample = texts[:max_texts]
    for text, enc in zip(sample, tokenizer.encode_batch(sample, add_special_tokens=False)):
        for i, (a, _) in zip(enc.ids, enc.offsets):
            if i < len(cand) and cand[i]:
                total[i] = total.get(i, 0) + 1
                starts[i] = starts.get(i, 0) + begins_word(text, a)
    return {i: starts.get(i, 0) / n for i, n in total.items()}


def surface_of_piece(piece: str, *, convention: str, prefix: str = "##") -> str:
    """The surface of one vocabulary string of a new tokenizer.

    Args:
        piece: the vocabulary string (``Ġthe``, ``▁the``, ``##ing``, ``the``).
        convention: ``"bytelevel"`` (GPT-2 bytes; the caller decodes them first), ``"metaspace"`` (``▁`` marks a
            word start), ``"wordpiece"`` (``prefix`` marks a continuation; everything else starts a word) or
            ``"plain"`` (the string is the surface).
    """
    if convention == "metaspace":
        return piece.replace("▁", " ")
    if convention == "wordpiece":
        return piece[len(prefix) :] if piece.startswith(prefix) else " " + piece
    return piece


def tokenizer_surfaces(tokenizer_json: str | Path) -> tuple[list[str | None], list[bool]]:
    """Surface of every id of a ``tokenizer.json`` (None for special tokens) and which ids are special.

    The convention comes from the tokenizer's decoder / model: ByteLevel (bytes decoded; a partial UTF-8
    sequence reads as U+FFFD), Metaspace (``▁``), WordPiece or BPE with a ``continuing_subword_prefix``.
    """

    from tokenmill.operators.dynamic.base_tokenizer import load_base_tokenizer

    spec = json.loads(Path(tokenizer_json).read_text(encoding="utf-8"))
    base = load_base_tokenizer(tokenizer_json)
    model = spec.get("model") or {}
    prefix = model.get("continuing_subword_prefix") or None
    decoder_types = _types(spec.get("decoder"))
    tok = open_tokenizer(str(tokenizer_json))
    special = [bool(base.special_ids[i]) for i in range(base.vocab_size)]
    for i, added in tok.get_added_tokens_decoder().items():
        special[i] = special[i] or added.special
    surfaces: list[str | None] = []
    for i in range(base.vocab_size):
        if special[i]:
            surfaces.append(None)
        elif prefix and "ByteLevel" not in decoder_types and "Metaspace" not in decoder_types:
            surfaces.append(surface_of_piece(base.id_to_token(i), convention="wordpiece", prefix=prefix))
        else:
            # load_base_tokenizer already maps Ġ / ▁ / <0x..> to the bytes the token stands for.
            surfaces.append(base.token_text(i))
    return surfaces, special


def _types(node: dict | None) -> set[str]:
    out: set[str] = set()
    stack = [node] if node else []
    while stack:
        n = stack.pop()
        if isinstance(n, dict):
            out.add(n.get("type", ""))
            if n.get("type") == "Replace" and (n.get("pattern") or {}).get("String") == "▁":
                out.add("Metaspace")
            stack.extend(n.get("decoders") or [])
    return out
