"""Encode a text column into token ids with a real tokenizer engine, one Arrow batch at a time.

Engines: an HF ``tokenizer.json`` (or a folder holding one), a GPT-2 style folder (``encoder.json`` +
``vocab.bpe``), or a sentencepiece ``.model``. The engine loads once per worker (``__init__``); batches are
encoded with the engine's batch call (HF tokenizers encodes a batch in parallel Rust threads).
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa


@dataclass(frozen=True, kw_only=True, slots=True)
class EncoderConfig:
    """Which tokenizer and column to encode."""

    tokenizer: str
    """Path of a tokenizer.json, a folder with tokenizer.json or encoder.json + vocab.bpe, or a sentencepiece .model."""
    text_column: str = "text"
    """Column holding the text to encode."""
    add_special_tokens: bool = False
    """Add the tokenizer's post-processor tokens (e.g. [CLS] … [SEP]); shards add BOS/EOS themselves."""

    def __post_init__(self) -> None:
        if not Path(self.tokenizer).exists():
            raise ValueError(f"tokenizer: {self.tokenizer} does not exist; pass a tokenizer.json, a folder or a .model")


class _Engine:
    """A loaded tokenizer: ``encode_batch(texts) -> list[list[int]]``, ``vocab_size`` and a content hash."""

    def __init__(self, path: str) -> None:
        p = Path(path)
        self.kind, files = _locate(p)
        digest = hashlib.sha256()
        for f in files:
            digest.update(f.read_bytes())
        self.sha256 = digest.hexdigest()
        if self.kind == "sentencepiece":
            import sentencepiece as spm

            self._sp = spm.SentencePieceProcessor(model_file=str(files[0]))
            self.vocab_size = self._sp.get_piece_size()
        else:
            from tokenizers import Tokenizer, decoders, models, pre_tokenizers

            if self.kind == "gpt2":
                tok = Tokenizer(models.BPE.from_file(str(files[0]), str(files[1])))
                tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
                tok.decoder = decoders.ByteLevel()
            else:
                tok = Tokenizer.from_file(str(files[0]))
            # Shipped tokenizer.json files may carry padding/truncation (BERT's pads to 128): documents are
            # encoded whole and unpadded; packing decides lengths.
            tok.no_padding()
            tok.no_truncation()
            self._tok = tok
            self.vocab_size = tok.get_vocab_size(with_added_tokens=True)

    @property
    def unk_id(self) -> int | None:
        """The unknown-token id, or None when the tokenizer has none (byte-level BPE never needs one)."""
        if self.kind == "sentencepiece":
            unk = self._sp.unk_id()
            return unk if unk >= 0 else None
        unk_token = getattr(self._tok.model, "unk_token", None)
        return self._tok.token_to_id(unk_token) if unk_token else None

    def encode_batch(self, texts: list[str], add_special_tokens: bool = False) -> list[list[int]]:
        if self.kind == "sentencepiece":
            ids = self._sp.encode(texts)
            if add_special_tokens and self._sp.bos_id() >= 0:
                ids = [[self._sp.bos_id(), *x] for x in ids]
            return ids
        # encode_batch_fast skips character offsets we never use (tokenizers >= 0.20): same ids, ~1.4x faster.
        encode = getattr(self._tok, "encode_batch_fast", self._tok.encode_batch)
        return [e.ids for e in encode(texts, add_special_tokens=add_special_tokens)]


def _locate(p: Path) -> tuple[str, list[Path]]:
    if p.is_file():
        return ("sentencepiece", [p]) if p.suffix == ".model" or p.name.endswith(".model.v1") else ("hf", [p])
    if (p / "tokenizer.json").is_file():
        return "hf", [p / "tokenizer.json"]
    if (p / "encoder.json").is_file() and (p / "vocab.bpe").is_file():
        return "gpt2", [p / "encoder.json", p / "vocab.bpe"]
    models_ = sorted(p.glob("*.model"))
    if models_:
        return "sentencepiece", models_[:1]
    raise ValueError(f"tokenizer: {p} holds no tokenizer.json, encoder.json + vocab.bpe, or .model file")


def load_engine(path: str) -> _Engine:
    """Load a tokenizer engine from ``path`` (see module docstring)."""
    return _Engine(path)


class Encoder:
    """Callable on a batch: adds ``input_ids`` (list<int32>) and ``n_tokens`` (int32) from ``text_column``."""

    def __init__(self, cfg: EncoderConfig) -> None:
        self.cfg = cfg
        self.engine = load_engine(cfg.tokenizer)

    def __call__(self, batch: pa.Table) -> pa.Table:
        if self.cfg.text_column not in batch.column_names:
            raise ValueError(f"Encoder: input lacks column {self.cfg.text_column!r} (has {batch.column_names})")
        ids = self.engine.encode_batch(batch[self.cfg.text_column].to_pylist(), self.cfg.add_special_tokens)
        lengths = np.fromiter((len(x) for x in ids), dtype=np.int32, count=len(ids))
        offsets = np.zeros(len(ids) + 1, dtype=np.int32)
        np.cumsum(lengths, out=offsets[1:])
        flat = np.fromiter(itertools.chain.from_iterable(ids), dtype=np.int32, count=int(offsets[-1]))
        col = pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat))
        return batch.append_column("input_ids", col).append_column("n_tokens", pa.array(lengths))
