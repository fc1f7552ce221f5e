"""Dynamic batch-level BPE merging on top of any base tokenizer (Feher, Vulić, Minixhofer 2024).

Per batch: tokenize with the base tokenizer; count adjacent token pairs across the whole batch, only inside one
merge unit (see :mod:`operators.dynamic.boundaries`) and only where the whitespace rule allows; merge the most
frequent pair everywhere; repeat until ``max_merges`` or no valid pair is left. New tokens get ids
``base_vocab_size + merge_rank``; base ids keep theirs.

* Whitespace rule (as the paper's code): a new token's surface is either all whitespace, or has whitespace at most
  as its first character (the tokenizers' own ``Ġthe``/``▁the`` convention). So a word may absorb its single
  leading space, runs of whitespace may merge with each other, and whitespace never joins the inside or the end
  of a token. Surfaces are judged per base token: a partial UTF-8 byte counts as non-whitespace.
* Tie-break: the highest count wins; among equal counts the smallest left id, then the smallest right id.

``__call__`` returns the input columns plus ``schemas.dynamic.DYNAMIC_ROWS`` and ``batch_vocab`` (the batch's new
tokens, on its first row only). :func:`rows_table` and :func:`vocab_table` split that into the two Parquet
tables; :func:`expand_ids` turns dynamic ids back into base ids.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tokenmill.operators.dynamic.base_tokenizer import BaseTokenizer, EncodedBatch, load_base_tokenizer
from tokenmill.operators.dynamic.boundaries import BOUNDARIES, Boundary, char_classes, surface_unit_starts, unit_starts
from tokenmill.operators.dynamic.merge_kernel import merge_batch
from tokenmill.operators.dynamic.vocab_strings import PieceTable, string_array, vocab_buffers
from tokenmill.schemas.core import SCHEMA_KEY
from tokenmill.schemas.dynamic import BATCH_VOCAB_FIELD, DYNAMIC_ROWS, DYNAMIC_VOCAB, DYNAMIC_VOCAB_ENTRY

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True, slots=True)
class DynamicBPEConfig:
    """Settings of :class:`DynamicBPE` (the pipeline's ``--set`` keys)."""

    max_merges: int | None = 1000
    """Merges per batch; none/null merges until no valid pair is left."""
    boundary: Boundary = "word"
    """Where merged tokens may not cross: pretokens, word, word_hyphen or sentence."""
    text_column: str = "text"
    """Input column holding the text."""
    min_count: int = 1
    """Stop merging when the most frequent pair occurs fewer times in the batch (1 = the paper)."""

    def __post_init__(self) -> None:
        if self.max_merges is not None and self.max_merges < 0:
            raise ValueError(f"max_merges: must be >= 0 or none (unlimited), got {self.max_merges}")
        if self.boundary not in BOUNDARIES:
            raise ValueError(f"boundary: {self.boundary!r} is not one of {', '.join(BOUNDARIES)}")
        if not self.text_column:
            raise ValueError("text_column: must name the input column holding the text")
        if self.min_count < 1:
            raise ValueError(f"min_count: must be >= 1, got {self.min_count}")


@dataclass(frozen=True, slots=True)
class MergeResult:
    """The merges of one batch and its dynamic tokenization (flat, like :class:`EncodedBatch`)."""

    dynamic_ids: np.ndarray
    """int32 [M] dynamic ids of all rows, concatenated."""
    row_splits: np.ndarray
    """int64 [rows + 1]."""
    left: np.ndarray
    """int32 [merges] left id of each merged pair, in merge order (merge k creates id base + k)."""
    right: np.ndarray
    """int32 [merges]."""
    merge_count: np.ndarray
    """int64 [merges] frequency of the pair when it was merged."""
    removed: np.ndarray
    """int64 [merges] how many tokens each merge removed from the batch (the merges -> length curve)."""


class DynamicBPE:
    """Callable on a pyarrow Table batch: dynamic BPE merging of its ``text_column``.

    Args:
        base_tokenizer: a :class:`BaseTokenizer` or a path for :func:`load_base_tokenizer`.
        max_merges, boundary, text_column, min_count: see :class:`DynamicBPEConfig`.

    Output columns: the input's, then ``batch_id``, ``base_ids``, ``dynamic_ids``, ``base_length``,
    ``dynamic_length`` (``dynamic_rows/v1``) and ``batch_vocab`` (list of ``DYNAMIC_VOCAB_ENTRY`` on the first
    row, null on the others). ``counters`` accumulates rows, tokens, merges and seconds for the ledger.
    """

    def __init__(
        self,
        base_tokenizer: BaseTokenizer | str | Path,
        *,
        max_merges: int | None = 1000,
        boundary: Boundary = "word",
        text_column: str = "text",
        min_count: int = 1,
    ) -> None:
        self.config = DynamicBPEConfig(max_merges=max_merges, boundary=boundary, text_column=text_column, min_count=min_count)
        tok = base_tokenizer if isinstance(base_tokenizer, BaseTokenizer) else load_base_tokenizer(base_tokenizer)
        self.tokenizer = tok
        self.base_vocab_size = tok.vocab_size
        self._ws_flags = tok.whitespace_flags()  # per base id, then room for the new ids (see merge)
        self._strings = PieceTable.of([tok.id_to_token(i).encode() for i in range(tok.vocab_size)])
        self._surfaces = PieceTable.of(tok.token_bytes)
        # Word boundaries straight from the surfaces when they spell the text (no offsets needed).
        self._word_mode = boundary in ("word", "word_hyphen") or (boundary == "pretokens" and not tok.has_pretokenizer)
        self._layout = tok.surface_layout() if self._word_mode else None
        self._classes = char_classes(boundary == "word_hyphen")  # built once here, not on the first batch
        self._id_prefix = f"{tok.kind}\x00{Path(tok.path).name}\x00{tok.vocab_size}\x00{self.config}".encode()
        self._schemas: dict[pa.Schema, pa.Schema] = {}
        self._checked = False
        self.counters = {"batches": 0, "rows": 0, "null_texts": 0, "base_tokens": 0, "dynamic_tokens": 0, "merges": 0, "tokenize_s": 0.0, "merge_s": 0.0}
        log.info("DynamicBPE on %r: %s", tok, self.config)

    @classmethod
    def from_config(cls, base_tokenizer: BaseTokenizer | str | Path, config: DynamicBPEConfig) -> DynamicBPE:
        return cls(base_tokenizer, max_merges=config.max_merges, boundary=config.boundary, text_column=config.text_column, min_count=config.min_count)

    @property
    def boundary(self) -> str:
        return self.config.boundary

    @property
    def needs_offsets(self) -> bool:
        """Whether :meth:`merge` wants character offsets: the word modes (and pretokens without a pre-tokenizer)
        do, unless the tokenizer's surfaces spell the text (then boundaries come from them)."""
        return self._word_mode and self._layout is None

    def __call__(self, batch: pa.Table) -> pa.Table:
        col = self.config.text_column
        if not self._checked:
            if col not in batch.column_names:
                raise ValueError(f"DynamicBPE: missing input column(s) [{col!r}]; has {batch.column_names}")
            self._checked = True
        raw = batch.column(col).to_pylist()
        texts = ["" if t is None else t for t in raw]
        t0 = time.perf_counter()
        enc = self.tokenizer.encode_batch(texts, offsets=self.needs_offsets, pretokens=self.boundary == "pretokens")
        t1 = time.perf_counter()
        result = self.merge(enc, texts)
        out = self._table(batch, texts, enc, result)
        c = self.counters
        c["tokenize_s"] += t1 - t0
        c["merge_s"] += time.perf_counter() - t1
        c["batches"] += 1
        c["rows"] += len(texts)
        c["null_texts"] += len(texts) - sum(t is not None for t in raw)
        c["base_tokens"] += len(enc.ids)
        c["dynamic_tokens"] += len(result.dynamic_ids)
        c["merges"] += len(result.left)
        return out

    def merge(self, enc: EncodedBatch, texts: Sequence[str]) -> MergeResult:
        """Run the merges on an encoded batch (fast path: one numba call over the distinct units)."""
        n = len(enc.ids)
        starts = self.unit_starts(enc, texts)
        cap = n - int(np.count_nonzero(starts))  # every merge takes one token off some unit
        budget = cap if self.config.max_merges is None else min(self.config.max_merges, cap)
        # The kernel packs (count, left id, right id) into one int64 heap key: a count (<= n) must fit beside
        # two ids.
        id_bits = int(self.base_vocab_size + budget).bit_length()
        if n >= 2 ** (63 - 2 * id_bits):
            raise ValueError(
                f"DynamicBPE: a batch of {n} tokens is too large for the merge kernel's counters "
                f"(with {self.base_vocab_size + budget} ids); use smaller batches"
            )
        if len(self._ws_flags[0]) < self.base_vocab_size + budget:  # reused from batch to batch
            pad = np.zeros(max(budget, 1024), bool)
            ws_all, ws_lead, ws_none = (np.concatenate([f[: self.base_vocab_size], pad]) for f in self._ws_flags)
            self._ws_flags = (ws_all, ws_lead, ws_none)
        dynamic_ids, splits, left, right, mcount, removed = merge_batch(
            enc.ids.astype(np.int32, copy=False),
            enc.row_splits,
            starts,
            *self._ws_flags,
            self.base_vocab_size,
            budget,
            self.config.min_count,
        )
        return MergeResult(dynamic_ids, splits, left, right, mcount, removed)

    def unit_starts(self, enc: EncodedBatch, texts: Sequence[str]) -> np.ndarray:
        """bool [N]: where merge units start (see :mod:`operators.dynamic.boundaries`)."""
        if enc.offsets is None and self._layout is not None:
            nbytes, shift, verify = self._layout
            text = np.frombuffer("".join(texts).encode(), np.uint8)
            row_chars = np.fromiter(map(len, texts), np.int64, len(texts))
            starts, ok = surface_unit_starts(
                enc.ids, enc.row_splits, enc.special, nbytes, text, row_chars, shift, verify, self._classes, self.boundary == "word_hyphen"
            )
            if ok:
                return starts
            # e.g. a special token's text in the input: ask the library for offsets
            enc = self.tokenizer.encode_batch(texts, offsets=True, pretokens=False)
        return unit_starts(enc, texts, self.boundary)

    # ---- output -------------------------------------------------------------------------------------------

    def batch_id(self, texts: Sequence[str]) -> str:
        """16 hex digits from the texts and the settings (identical batches share an id and a vocabulary)."""
        h = hashlib.blake2b(digest_size=8)
        h.update(self._id_prefix)
        if texts:  # the same bytes as b"\x00" + text for every text, in one update
            h.update(("\x00" + "\x00".join(texts)).encode("utf-8", "surrogatepass"))
        return h.hexdigest()

    def vocab_entries(self, result: MergeResult) -> pa.StructArray:
        """The batch's new tokens as ``DYNAMIC_VOCAB_ENTRY`` structs, in id order."""
        base, m = self.base_vocab_size, len(result.left)
        # A new token's vocabulary string and surface are those of its whole base decomposition, joined; a
        # partial UTF-8 sequence in a surface reads as U+FFFD.
        flat, offsets, tok_data, tok_offsets, surf_data, surf_offsets, count = vocab_buffers(
            result.left,
            result.right,
            base,
            result.dynamic_ids,
            self._strings.data,
            self._strings.offsets,
            self._surfaces.data,
            self._surfaces.offsets,
        )
        arrays = [
            pa.array(np.arange(base, base + m, dtype=np.int32)),
            pa.array(result.left.astype(np.int32, copy=False)),
            pa.array(result.right.astype(np.int32, copy=False)),
            string_array(tok_data, tok_offsets),
            string_array(surf_data, surf_offsets),
            pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat)),
            pa.array(result.merge_count.astype(np.int64, copy=False)),
            pa.array(count),
        ]
        return pa.StructArray.from_arrays(arrays, fields=list(DYNAMIC_VOCAB_ENTRY))

    def _table(self, batch: pa.Table, texts: Sequence[str], enc: EncodedBatch, result: MergeResult) -> pa.Table:
        rows = len(texts)
        names = batch.column_names
        keep = batch.drop_columns([c for c in _ADDED if c in names]) if not _ADDED.isdisjoint(names) else batch
        schema = self._schemas.get(keep.schema)
        if schema is None:
            fields = list(keep.schema) + list(DYNAMIC_ROWS) + [BATCH_VOCAB_FIELD]
            metadata = {**(keep.schema.metadata or {}), SCHEMA_KEY: DYNAMIC_ROWS.metadata[SCHEMA_KEY]}
            schema = self._schemas[keep.schema] = pa.schema(fields, metadata=metadata)
        if rows:
            vocab = self.vocab_entries(result)
            offsets = np.full(rows + 1, len(vocab), np.int32)
            offsets[0] = 0
            mask = np.ones(rows, bool)
            mask[0] = False
            batch_vocab = pa.ListArray.from_arrays(pa.array(offsets), vocab, mask=pa.array(mask))
        else:
            batch_vocab = pa.array([], BATCH_VOCAB_FIELD.type)
        columns = [
            pa.array([self.batch_id(texts)] * rows, pa.string()),
            _lists(enc.ids, enc.row_splits),
            _lists(result.dynamic_ids, result.row_splits),
            pa.array(np.diff(enc.row_splits).astype(np.int32)),
            pa.array(np.diff(result.row_splits).astype(np.int32)),
            batch_vocab,
        ]
        return pa.Table.from_arrays([*keep.columns, *columns], schema=schema)

    def decode(self, dynamic_ids: Sequence[int], vocab: Mapping[int, Sequence[int]] | pa.Table) -> str:
        """Decode dynamic ids of a batch with that batch's vocabulary (== decoding its base ids)."""
        return self.tokenizer.decode(expand_ids(dynamic_ids, vocab, self.base_vocab_size))


_ADDED = frozenset(f.name for f in DYNAMIC_ROWS) | {BATCH_VOCAB_FIELD.name}


def _lists(flat: np.ndarray, splits: np.ndarray) -> pa.ListArray:
    return pa.ListArray.from_arrays(pa.array(splits.astype(np.int32)), pa.array(flat.astype(np.int32, copy=False)))


def rows_table(table: pa.Table) -> pa.Table:
    """``DynamicBPE`` output without ``batch_vocab``: the rows to write (``dynamic_rows/v1``)."""
    return table.drop_columns([BATCH_VOCAB_FIELD.name]) if BATCH_VOCAB_FIELD.name in table.column_names else table


def vocab_table(table: pa.Table) -> pa.Table:
    """The ``dynamic_vocab/v1`` table of every batch in a ``DynamicBPE`` output (one row per new token)."""
    for name in ("batch_id", BATCH_VOCAB_FIELD.name):
        if name not in table.column_names:
            raise ValueError(f"vocab_table: missing input column(s) [{name!r}]; pass DynamicBPE's output")
    lists = table.column(BATCH_VOCAB_FIELD.name).combine_chunks()
    parents = pc.list_parent_indices(lists)
    entries = pc.list_flatten(lists)
    batch_ids = table.column("batch_id").combine_chunks().take(parents)
    columns = [batch_ids] + [entries.field(i) for i in range(entries.type.num_fields)]
    return pa.Table.from_arrays(columns, schema=DYNAMIC_VOCAB)


def decompositions(vocab: pa.Table, batch_id: str | None = None) -> dict[int, list[int]]:
    """new id -> base ids, from a ``dynamic_vocab/v1`` table (restricted to one ``batch_id`` when given)."""
    if batch_id is not None:
        vocab = vocab.filter(pc.equal(vocab.column("batch_id"), batch_id))
    ids = vocab.column("id").to_pylist()
    return dict(zip(ids, vocab.column("base_ids").to_pylist()))


def expand_ids(dynamic_ids: Sequence[int], vocab: Mapping[int, Sequence[int]] | pa.Table, base_vocab_size: int) -> list[int]:
    """Replace every new id by its base decomposition; base ids pass through.

    Args:
        dynamic_ids: one row's ``dynamic_ids``.
        vocab: new id -> base ids, or the ``dynamic_vocab/v1`` table of that row's batch (one batch only).
        base_vocab_size: the base tokenizer's vocabulary size.
    """
    if isinstance(vocab, pa.Table):
        if len(pc.unique(vocab.column("batch_id"))) > 1:
            raise ValueError("expand_ids: the vocab table holds several batches; pass decompositions(vocab, batch_id)")
        vocab = decompositions(vocab)
    out: list[int] = []
    for i in dynamic_ids:
        i = int(i)
        if i < base_vocab_size:
            out.append(i)
        else:
            out.extend(vocab[i])
    return out
