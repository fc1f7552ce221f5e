"""Encode a text column into token ids with the fastest exact engine, one Arrow batch at a time.

A tokenizer is whatever :func:`operators.encode.locate.locate_tokenizer` finds (an HF ``tokenizer.json`` or a folder
holding one, a GPT-2 folder, a sentencepiece ``.model``), by the same rules as every other pipeline. It loads once
per worker (``__init__``) with its *reference* engine (HF tokenizers, or sentencepiece for ``.model`` files) and,
with ``encode.engine=auto``, a *fast* engine (fastokens) that is used only after it reproduced the reference on the
adversarial parity set (:mod:`operators.encode.parity`). fastokens reads tokenizer.json; for a sentencepiece BPE
model it reads one derived from the model (:mod:`operators.encode.spm_convert`) and must reproduce sentencepiece.
:class:`Encoder` keeps checking: the first batch of every partition and a few documents of every later batch are
encoded again with the reference, and a mismatch raises :class:`EngineMismatch` so the caller re-encodes with the
reference. Output bytes never depend on the engine.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tokenmill.operators.encode.engines import EncodeConfig, FastokensEngine, HFEngine, SentencePieceEngine, lists_from_flat
from tokenmill.operators.encode.locate import locate_tokenizer, open_hf_tokenizer, open_sentencepiece
from tokenmill.operators.encode.parity import ParityResult, adversarial_texts, compare
from tokenmill.operators.encode.spm_convert import derive_tokenizer_json

log = logging.getLogger(__name__)


_EOS_NAMES = ("<|endoftext|>", "</s>", "<|end_of_text|>", "<eos>", "<|eot_id|>", "[SEP]", "<sep>")


class EngineMismatch(RuntimeError):
    """The fast engine gave other ids than the reference on a checked batch (the caller re-encodes with the reference)."""

    def __init__(self, result: ParityResult) -> None:
        super().__init__(f"fast engine differs from the reference on {result.mismatches} of {result.docs} checked documents; first: {result.first_mismatch}")
        self.result = result


@dataclass(frozen=True, kw_only=True, slots=True)
class EncoderConfig:
    """Which tokenizer and column to encode."""

    tokenizer: str
    """Path of a tokenizer.json, a folder with tokenizer.json, a GPT-2 folder (encoder.json + vocab.bpe or vocab.json +
    merges.txt), or a sentencepiece .model (or a folder holding exactly one); see :mod:`operators.encode.locate`."""
    text_column: str = "text"
    """Column holding the text to encode."""
    add_special_tokens: bool = False
    """Add the tokenizer's post-processor tokens (e.g. [CLS] … [SEP]); shards add BOS/EOS themselves."""
    encode: EncodeConfig = field(default_factory=EncodeConfig)
    """Engine choice and the workers' parity checks."""

    def __post_init__(self) -> None:
        locate_tokenizer(self.tokenizer)  # fail at config time, naming the field (a ValueError "tokenizer: ...")


class _Engine:
    """A loaded tokenizer: its reference engine, the proven fast engine (or None), ``vocab_size`` and content hash.

    ``encode_flat`` encodes with the fast engine when there is one, else with the reference; ``choice`` says which
    engine encodes, its version, the parity sample it passed and, when the reference encodes under ``auto``, why.
    """

    def __init__(self, path: str, engine: str = "hf") -> None:
        located = locate_tokenizer(path)
        self.kind = located.kind
        digest = hashlib.sha256()
        for f in located.files:
            digest.update(f.read_bytes())
        self.sha256 = digest.hexdigest()
        self.reference: HFEngine | SentencePieceEngine
        self._tok: Any = None
        self._model = b""  # a sentencepiece model's bytes (the derived tokenizer.json is made from them)
        if self.kind == "sentencepiece":
            if engine == "hf":
                raise ValueError(f"encode.engine=hf: {located.files[0]} is a sentencepiece model; use encode.engine=auto, sentencepiece or fastokens")
            self._sp, self._model = open_sentencepiece(located)
            self.reference = SentencePieceEngine(self._sp)
            self.vocab_size = self._sp.get_piece_size()
        else:
            if engine == "sentencepiece":
                raise ValueError(
                    f"encode.engine=sentencepiece: {located.path} is a tokenizers (tokenizer.json / GPT-2) tokenizer; use encode.engine=auto, hf or fastokens"
                )
            tok = open_hf_tokenizer(located)
            # Shipped tokenizer.json files may carry padding/truncation (BERT's pads to 128): documents are
            # encoded whole and unpadded; packing decides lengths.
            tok.no_padding()
            tok.no_truncation()
            self._tok = tok
            self.reference = HFEngine(tok)
            self.vocab_size = tok.get_vocab_size(with_added_tokens=True)
        self.fast: FastokensEngine | None = None
        self.parity: ParityResult | None = None
        self.reason = "asked for" if engine != "auto" else ""
        if engine in ("auto", "fastokens"):
            self._try_fast(required=engine == "fastokens")

    def _try_fast(self, *, required: bool) -> None:
        """Load fastokens (on the tokenizer.json, or one derived from a sentencepiece model) and prove it on the
        adversarial set against the reference; keep it only when every id matches."""
        ref = self.reference.name
        derived = self._tok is None
        try:
            fast = FastokensEngine(derive_tokenizer_json(self._model) if derived else self._tok.to_str())
        except ValueError as exc:
            what = f"no fast engine for this sentencepiece model: {exc}" if derived else str(exc)
            if required:
                raise ValueError(f"encode.engine=fastokens: {what}; use encode.engine=auto or {ref}") from None
            self.reason = what
            return
        origin = "fastokens on a tokenizer.json derived from the sentencepiece model" if derived else "fastokens"
        texts = adversarial_texts(self.special_tokens())
        result = compare(texts, fast.encode_flat(texts), self.reference.encode_flat(texts))
        self.parity = result
        if not result.ok:
            if required:
                raise ValueError(
                    f"encode.engine=fastokens does not reproduce {ref} on this tokenizer: {result.first_mismatch}; use encode.engine=auto or {ref}"
                )
            self.reason = f"{origin} failed the parity set against {ref}: {result.first_mismatch}"
            log.warning("encode: %s; encoding with %s", self.reason, self.reference.name)
            return
        self.fast = fast
        self.reason = f"{origin} reproduced {ref} on the parity set"

    def special_tokens(self) -> list[str]:
        """The added/special token strings of an HF tokenizer, or the control and unknown pieces of a sentencepiece
        model (the parity set spells them inside text)."""
        if self._tok is None:
            sp = self._sp
            return sorted(sp.id_to_piece(i) for i in range(sp.get_piece_size()) if sp.is_control(i) or sp.is_unknown(i))
        return sorted(self._tok.get_added_tokens_decoder()[i].content for i in self._tok.get_added_tokens_decoder())

    def end_of_document_id(self) -> int | None:
        """The tokenizer's end-of-document token: its EOS (``<|endoftext|>``, ``</s>``, ``<|end_of_text|>``,
        ``<eos>``), else its separator (``[SEP]``); None when it has neither."""
        if self._tok is None:
            eos = self._sp.eos_id()
            return eos if eos >= 0 else None
        for name in _EOS_NAMES:
            tid = self._tok.token_to_id(name)
            if tid is not None:
                return int(tid)
        return None

    def use_reference(self, reason: str) -> None:
        """Drop the fast engine (after a mismatch): every later batch is encoded by the reference."""
        if self.fast is not None:
            log.warning("encode: %s; %s encodes from now on", reason, self.reference.name)
        self.fast = None
        self.reason = reason

    @property
    def engine(self) -> HFEngine | SentencePieceEngine | FastokensEngine:
        """The engine that encodes now."""
        return self.fast if self.fast is not None else self.reference

    @property
    def choice(self) -> dict[str, Any]:
        """What encodes, for the ledger and the manifest."""
        e = self.engine
        return {
            "engine": e.name,
            "version": e.version,
            "reference": f"{self.reference.name} {self.reference.version}",
            "parity_docs": self.parity.docs if self.parity else 0,
            "parity_tokens": self.parity.tokens if self.parity else 0,
            "reason": self.reason,
        }

    @property
    def unk_id(self) -> int | None:
        """The unknown-token id, or None when the tokenizer has none (byte-level BPE never needs one)."""
        if self.kind == "sentencepiece":
            unk = self._sp.unk_id()
            return unk if unk >= 0 else None
        unk_token = getattr(self._tok.model, "unk_token", None)
        return self._tok.token_to_id(unk_token) if unk_token else None

    def encode_flat(self, texts: list[str], add_special_tokens: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """``(ids uint32, offsets int64)`` of ``texts`` from the engine that encodes now."""
        return self.engine.encode_flat(texts, add_special_tokens)

    def encode_batch(self, texts: list[str], add_special_tokens: bool = False) -> list[list[int]]:
        """Per-text id lists (reports, small callers); the hot paths use :meth:`encode_flat`."""
        return lists_from_flat(*self.encode_flat(texts, add_special_tokens))


def resolve_eos_id(shards: Any, engine: _Engine) -> Any:
    """``shards`` (a ShardWriterConfig) with ``pack.eos_id='auto'`` replaced by ``engine``'s end-of-document id.

    Raises:
        ValueError: ``auto`` and the tokenizer has no EOS or SEP token (the message says what to set).
    """
    import dataclasses

    if shards.pack.eos_id != "auto":
        return shards
    eos = engine.end_of_document_id()
    if eos is None:
        raise ValueError(
            "shards.pack.eos_id=auto: this tokenizer has no EOS or SEP token; set shards.pack.eos_id=<id> "
            "or shards.pack.eos_id=null (documents then run into each other within a row)"
        )
    return dataclasses.replace(shards, pack=dataclasses.replace(shards.pack, eos_id=eos))


def limit_encode_threads(threads: int) -> None:
    """Let the engines use ``threads`` threads in this process: HF tokenizers' Rust pool reads ``RAYON_NUM_THREADS``
    and fastokens ``FASTOKENS_BPE_THREADS`` when they first encode (a value the user exported wins; fastokens does not
    read RAYON_NUM_THREADS). One encoder per CPU with one thread each spends less CPU per token than each encoder
    spreading over every core, where the threads of all encoders contend (fastokens with 1 thread runs each call on
    the calling thread, no helper threads spinning between calls: ~18 % less encoding CPU on 25k web documents,
    process_time)."""
    os.environ.setdefault("RAYON_NUM_THREADS", str(max(1, threads)))
    os.environ.setdefault("FASTOKENS_BPE_THREADS", str(max(1, threads)))


def tokenizer_arg(value: str) -> str:
    """argparse type of ``--tokenizer``: the tokenizer is opened now, so a missing path or a corrupt file is a
    one-line usage error (naming the path) before Ray starts, not a traceback inside a worker."""
    try:
        load_engine(value, "hf" if locate_tokenizer(value).kind != "sentencepiece" else "sentencepiece")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def load_engine(path: str | Path, engine: str = "auto") -> _Engine:
    """Load the tokenizer at ``path`` (see :func:`operators.encode.locate.locate_tokenizer`) with ``engine``
    (``auto``: the fast engine when it passes the parity set, else the reference; see :class:`EncodeConfig`).

    Raises:
        ValueError: nothing loadable at ``path``, a file that cannot be parsed (the message names it), or an engine
            that cannot encode this tokenizer.
    """
    return _Engine(str(path), engine)


class Encoder:
    """Callable on a batch: adds ``input_ids`` (list<int32>) and ``n_tokens`` (int32) from ``text_column``.

    With a fast engine, ``check`` documents of the batch (``encode.first_check_docs`` for the first batch of a
    partition, ``encode.check_docs`` otherwise) are encoded again by the reference and compared; a difference raises
    :class:`EngineMismatch` before anything of the batch is returned.
    """

    def __init__(self, cfg: EncoderConfig) -> None:
        self.cfg = cfg
        self.engine = load_engine(cfg.tokenizer, cfg.encode.engine)
        self.checked_docs = 0

    def __call__(self, batch: pa.Table, *, first: bool = False) -> pa.Table:
        if self.cfg.text_column not in batch.column_names:
            raise ValueError(f"Encoder: input lacks column {self.cfg.text_column!r} (has {batch.column_names})")
        column = batch[self.cfg.text_column]
        texts = column.to_pylist()
        flat, offsets = self.engine.encode_flat(texts, self.cfg.add_special_tokens)
        if self.engine.fast is not None:
            self._check(texts, column, flat, offsets, self.cfg.encode.first_check_docs if first else self.cfg.encode.check_docs)
        lengths = np.diff(offsets).astype(np.int32)
        col = pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), pa.array(flat.view(np.int32)))
        return batch.append_column("input_ids", col).append_column("n_tokens", pa.array(lengths))

    def _check(self, texts: list[str], column: Any, flat: np.ndarray, offsets: np.ndarray, n: int) -> None:
        """Encode ``n`` of ``texts`` again with the reference and compare: half the documents with the largest share
        of non-ASCII bytes (where engines would differ, if anywhere; a share, so long documents do not make the check
        cost more than the encoding), half spread evenly over the batch."""
        if n <= 0 or not texts:
            return
        if n >= len(texts):
            picks = np.arange(len(texts))
        else:
            chars = pc.utf8_length(column).to_numpy(zero_copy_only=False).astype(np.float64)
            extra = pc.binary_length(column).to_numpy(zero_copy_only=False) - chars  # UTF-8 bytes beyond one per char
            spread = np.linspace(0, len(texts) - 1, num=n - n // 2).astype(np.int64)
            picks = np.unique(np.concatenate([np.argsort(-extra / np.maximum(chars, 1.0), kind="stable")[: n // 2], spread]))
        sample = [texts[i] for i in picks]
        got_offsets = np.zeros(len(picks) + 1, dtype=np.int64)
        np.cumsum(offsets[picks + 1] - offsets[picks], out=got_offsets[1:])
        got = np.concatenate([flat[offsets[i] : offsets[i + 1]] for i in picks]) if len(picks) else flat[:0]
        result = compare(sample, (got, got_offsets), self.engine.reference.encode_flat(sample, self.cfg.add_special_tokens))
        self.checked_docs += result.docs
        if not result.ok:
            raise EngineMismatch(result)
