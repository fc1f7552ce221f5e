"""Encoding engines behind one interface: a list of texts in, one flat id buffer and its offsets out.

Three engines, each a thin wrapper over a real library:

- ``hf``: HF ``tokenizers`` — the reference for every ``tokenizer.json`` and GPT-2 folder;
- ``sentencepiece``: the reference for ``.model`` files;
- ``fastokens``: an exact re-implementation of ``tokenizer.json`` encoding in Rust (``fastokens.Tokenizer``,
  ``encode_batch_flat``: two byte buffers, no per-token Python objects), 10–20× faster than ``hf`` on byte-level
  BPE. It is a *candidate*: :mod:`operators.encode.parity` proves it against the reference (``hf``, or
  ``sentencepiece`` for a tokenizer.json derived from a ``.model`` by :mod:`operators.encode.spm_convert`) before a
  job uses it, and workers keep checking (see :class:`operators.encode.encoder.Encoder`).

``encode_flat(texts) -> (ids uint32[n_tokens], offsets int64[len(texts) + 1])``: text ``i``'s ids are
``ids[offsets[i]:offsets[i + 1]]``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Literal

import numpy as np

EngineName = Literal["auto", "hf", "fastokens", "sentencepiece"]
ENGINES: tuple[str, ...] = ("auto", "hf", "fastokens", "sentencepiece")


@dataclass(frozen=True, kw_only=True, slots=True)
class EncodeConfig:
    """How documents are encoded (``encode.*`` in every job that encodes)."""

    engine: EngineName = "auto"
    """auto: the fastest engine that loads the tokenizer and reproduces the reference engine's ids on the parity
    sample (fastokens for tokenizer.json / GPT-2 BPE, and for sentencepiece BPE models through a tokenizer.json
    derived from the .model; else the reference); hf: HF tokenizers; sentencepiece: the sentencepiece library (.model
    files); fastokens: fastokens, an error when it fails the parity sample. The output bytes never depend on the
    engine: auto writes the same shards as hf (tokenizer.json) or sentencepiece (.model)."""
    check_docs: int = 2
    """Documents of every encoded batch that workers encode again with the reference engine and compare (0: only the
    start-of-job parity sample). A mismatch re-encodes the whole partition with the reference engine, recorded."""
    first_check_docs: int = 64
    """Documents of the first batch of every partition checked the same way (a sample of the job's own input)."""
    batch_size: int = 1024
    """Documents per tokenizer call (DNA: segments)."""

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise ValueError(f"encode.engine: {self.engine!r} is not one of {', '.join(ENGINES)}")
        if self.check_docs < 0 or self.first_check_docs < 0:
            raise ValueError("encode.check_docs and encode.first_check_docs must be >= 0")
        if self.batch_size < 1:
            raise ValueError("encode.batch_size must be >= 1")


def flat_from_lists(ids: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Flat ``(ids uint32, offsets int64)`` from per-text id lists (the reference engines' output)."""
    lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
    offsets = np.zeros(len(ids) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    flat = np.fromiter(itertools.chain.from_iterable(ids), dtype=np.uint32, count=int(offsets[-1]))
    return flat, offsets


def lists_from_flat(flat: np.ndarray, offsets: np.ndarray) -> list[list[int]]:
    """Per-text id lists from a flat buffer (for callers that want Python lists: reports, tests)."""
    values = flat.tolist()
    bounds = offsets.tolist()
    return [values[bounds[i] : bounds[i + 1]] for i in range(len(bounds) - 1)]


def package_version(name: str) -> str:
    """Installed version of a distribution, or ``"?"``."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "?"


class HFEngine:
    """HF ``tokenizers`` (the reference for tokenizer.json and GPT-2 files)."""

    name = "hf"

    def __init__(self, tok: Any) -> None:
        self.tok = tok
        self.version = package_version("tokenizers")
        # encode_batch_fast skips character offsets (tokenizers >= 0.20): same ids, ~1.4x faster.
        self._encode = getattr(tok, "encode_batch_fast", tok.encode_batch)

    def encode_lists(self, texts: list[str], add_special_tokens: bool = False) -> list[list[int]]:
        return [e.ids for e in self._encode(texts, add_special_tokens=add_special_tokens)]

    def encode_flat(self, texts: list[str], add_special_tokens: bool = False) -> tuple[np.ndarray, np.ndarray]:
        return flat_from_lists(self.encode_lists(texts, add_special_tokens))


class SentencePieceEngine:
    """The sentencepiece library (the reference for ``.model`` files); BOS first when special tokens are asked for."""

    name = "sentencepiece"

    def __init__(self, sp: Any) -> None:
        self.sp = sp
        self.version = package_version("sentencepiece")

    def encode_lists(self, texts: list[str], add_special_tokens: bool = False) -> list[list[int]]:
        ids = self.sp.encode(texts)
        if add_special_tokens and self.sp.bos_id() >= 0:
            ids = [[self.sp.bos_id(), *x] for x in ids]
        return ids

    def encode_flat(self, texts: list[str], add_special_tokens: bool = False) -> tuple[np.ndarray, np.ndarray]:
        return flat_from_lists(self.encode_lists(texts, add_special_tokens))


class FastokensEngine:
    """fastokens' ``encode_batch_flat``: ids as one uint32 buffer, offsets as uint64, no per-token Python objects."""

    name = "fastokens"

    def __init__(self, tokenizer_json: str) -> None:
        """Load from a tokenizer.json string.

        Raises:
            ValueError: fastokens is not installed or cannot load this tokenizer (e.g. BERT's ``BertNormalizer``).
        """
        try:
            import fastokens
        except ImportError as exc:
            raise ValueError(f"fastokens is not installed ({exc})") from None
        try:
            self.tok = fastokens.Tokenizer.from_json_str(tokenizer_json)
        except Exception as exc:  # fastokens raises ValueError naming the unsupported component
            raise ValueError(f"fastokens cannot load this tokenizer: {exc}") from None
        self.tok.no_padding()
        self.tok.no_truncation()
        self.version = package_version("fastokens")

    def encode_flat(self, texts: list[str], add_special_tokens: bool = False) -> tuple[np.ndarray, np.ndarray]:
        ids, offsets = self.tok.encode_batch_flat(texts, add_special_tokens=add_special_tokens)
        return np.frombuffer(ids, dtype="<u4"), np.frombuffer(offsets, dtype="<u8").astype(np.int64)


__all__ = [
    "ENGINES",
    "EncodeConfig",
    "EngineName",
    "FastokensEngine",
    "HFEngine",
    "SentencePieceEngine",
    "flat_from_lists",
    "lists_from_flat",
    "package_version",
]
