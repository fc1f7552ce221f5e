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
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from operators.dynamic.base_tokenizer import BaseTokenizer, EncodedBatch, load_base_tokenizer
from operators.dynamic.boundaries import BOUNDARIES, whitespace_table, unit_starts
from operators.dynamic.merge_kernel import expand_merges, merge_units, unique_units
from schemas.core import SCHEMA_KEY
from schemas.dynamic import BATCH_VOCAB_FIELD, DYNAMIC_ROWS, DYNAMIC_VOCAB, DYNAMIC_VOCAB_ENTRY

log = logging.getLogger(__name__)

Boundary = Literal["pretokens", "word", "word_hyphen", "sentence"]


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
        self.config = DynamicBPEConfig(
            max_merges=max_merges, boundary=boundary, text_column=text_column, min_count=min_count
        )
        tok = base_tokenizer if isinstance(base_tokenizer, BaseTokenizer) else load_base_tokenizer(base_tokenizer)
        self.tokenizer = tok
        self.base_vocab_size = tok.vocab_size
        self._all_ws, self._clean, self._no_ws = tok.whitespace_flags()
        self._vocab_strings = [tok.id_to_token(i) for i in range(tok.vocab_size)]
        self._vocab_bytes = list(tok.token_bytes)
        whitespace_table()  # built once here, not on the first batch
        self._checked = False
        self.counters = {"batches": 0, "rows": 0, "null_texts": 0, "base_tokens": 0, "dynamic_tokens": 0,
                         "merges": 0, "tokenize_s": 0.0, "merge_s": 0.0}
        log.info("DynamicBPE on %r: %s", tok, self.config)

    @classmethod
    def from_config(cls, base_tokenizer: BaseTokenizer | str | Path, config: DynamicBPEConfig) -> DynamicBPE:
        return cls(base_tokenizer, max_merges=config.max_merges, boundary=config.boundary,
                   text_column=config.text_column, min_count=config.min_count)

    @property
    def boundary(self) -> str:
        return self.config.boundary

    @property
    def needs_offsets(self) -> bool:
        """Whether the boundary mode reads character offsets (word modes, and pretokens without a pre-tokenizer)."""
        b = self.config.boundary
        return b in ("word", "word_hyphen") or (b == "pretokens" and not self.tokenizer.has_pretokenizer)

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
        """Run the merges on an encoded batch (fast path: distinct units + the numba kernel)."""
        n, rows = len(enc.ids), enc.num_rows
        starts = np.flatnonzero(unit_starts(enc, texts, self.boundary))
        ends = np.append(starts[1:], n)
        ids = enc.ids.astype(np.int32, copy=False)
        uid, first = unique_units(ids, starts, ends)
        ulen = ends[first] - starts[first]
        ustart = np.cumsum(ulen) - ulen
        # the distinct units' tokens, one after the other, in order of first occurrence
        toks = ids[np.repeat(starts[first] - ustart, ulen) + np.arange(int(ulen.sum()))]
        weight = np.bincount(uid, minlength=len(first)).astype(np.int64)
        cap = len(toks) - len(first)
        budget = cap if self.config.max_merges is None else min(self.config.max_merges, cap)
        # The kernel packs (count, left id, right id) into one int64 heap key: a count (<= n) must fit beside
        # two ids.
        id_bits = int(self.base_vocab_size + budget).bit_length()
        if n >= 2 ** (63 - 2 * id_bits):
            raise ValueError(f"DynamicBPE: a batch of {n} tokens is too large for the merge kernel's counters "
                             f"(with {self.base_vocab_size + budget} ids); use smaller batches")
        pad = np.zeros(budget, bool)
        left, right, mcount, removed = merge_units(
            toks, ustart, ulen, weight,
            np.concatenate([self._all_ws, pad]), np.concatenate([self._clean, pad]),
            np.concatenate([self._no_ws, pad]),
            self.base_vocab_size, budget, self.config.min_count,
        )
        flen, fstart = ulen[uid], ustart[uid]
        total = int(flen.sum())
        idx = np.repeat(fstart - (np.cumsum(flen) - flen), flen) + np.arange(total)
        unit_row = np.searchsorted(enc.row_splits, starts, side="right") - 1
        row_len = np.bincount(unit_row, weights=flen, minlength=rows).astype(np.int64)
        splits = np.zeros(rows + 1, np.int64)
        np.cumsum(row_len, out=splits[1:])
        return MergeResult(toks[idx], splits, left, right, mcount, removed)

    # ---- output -------------------------------------------------------------------------------------------

    def batch_id(self, texts: Sequence[str]) -> str:
        """16 hex digits from the texts and the settings (identical batches share an id and a vocabulary)."""
        h = hashlib.blake2b(digest_size=8)
        tok = self.tokenizer
        h.update(f"{tok.kind}\x00{Path(tok.path).name}\x00{tok.vocab_size}\x00{self.config}".encode())
        for t in texts:
            h.update(b"\x00" + t.encode("utf-8", "surrogatepass"))
        return h.hexdigest()

    def vocab_entries(self, result: MergeResult) -> pa.StructArray:
        """The batch's new tokens as ``DYNAMIC_VOCAB_ENTRY`` structs, in id order."""
        base = self.base_vocab_size
        flat, offsets = expand_merges(result.left, result.right, base)
        flat_arr, offsets_arr = pa.array(flat), pa.array(offsets)
        # A new token's vocabulary string and surface are those of its two parts, joined (so, of its whole base
        # decomposition); one concatenation per merge.
        strings, surfaces = self._vocab_strings, self._vocab_bytes
        new_str: list[str] = []
        new_bytes: list[bytes] = []
        for a, b in zip(result.left.tolist(), result.right.tolist()):
            new_str.append((strings[a] if a < base else new_str[a - base])
                           + (strings[b] if b < base else new_str[b - base]))
            new_bytes.append((surfaces[a] if a < base else new_bytes[a - base])
                             + (surfaces[b] if b < base else new_bytes[b - base]))
        token_str = pa.array(new_str, pa.string())
        # a partial UTF-8 sequence (byte-level pieces) reads as U+FFFD
        surface = pa.array([b.decode("utf-8", "replace") for b in new_bytes], pa.string())
        new = result.dynamic_ids[result.dynamic_ids >= base] - base
        count = np.bincount(new, minlength=len(result.left)).astype(np.int64)
        arrays = [
            pa.array(np.arange(base, base + len(result.left), dtype=np.int32)),
            pa.array(result.left.astype(np.int32)),
            pa.array(result.right.astype(np.int32)),
            token_str,
            surface,
            pa.ListArray.from_arrays(offsets_arr, flat_arr),
            pa.array(result.merge_count.astype(np.int64)),
            pa.array(count),
        ]
        return pa.StructArray.from_arrays(arrays, fields=list(DYNAMIC_VOCAB_ENTRY))

    def _table(self, batch: pa.Table, texts: Sequence[str], enc: EncodedBatch, result: MergeResult) -> pa.Table:
        rows = len(texts)
        added = [f.name for f in DYNAMIC_ROWS] + [BATCH_VOCAB_FIELD.name]
        keep = batch.drop_columns([c for c in added if c in batch.column_names])
        vocab = self.vocab_entries(result)
        offsets = pa.array([0] + [len(vocab)] * rows, pa.int32()) if rows else pa.array([0], pa.int32())
        mask = pa.array([False] + [True] * (rows - 1)) if rows else None
        columns = {
            "batch_id": pa.array([self.batch_id(texts)] * rows, pa.string()),
            "base_ids": _lists(enc.ids, enc.row_splits),
            "dynamic_ids": _lists(result.dynamic_ids, result.row_splits),
            "base_length": pa.array(np.diff(enc.row_splits).astype(np.int32)),
            "dynamic_length": pa.array(np.diff(result.row_splits).astype(np.int32)),
            "batch_vocab": (
                pa.ListArray.from_arrays(offsets, vocab, mask=mask) if rows else pa.array([], BATCH_VOCAB_FIELD.type)
            ),
        }
        fields = list(keep.schema) + list(DYNAMIC_ROWS) + [BATCH_VOCAB_FIELD]
        metadata = {**(keep.schema.metadata or {}), SCHEMA_KEY: DYNAMIC_ROWS.metadata[SCHEMA_KEY]}
        schema = pa.schema(fields, metadata=metadata)
        return pa.Table.from_arrays([*keep.columns, *columns.values()], schema=schema)

    def decode(self, dynamic_ids: Sequence[int], vocab: Mapping[int, Sequence[int]] | pa.Table) -> str:
        """Decode dynamic ids of a batch with that batch's vocabulary (== decoding its base ids)."""
        return self.tokenizer.decode(expand_ids(dynamic_ids, vocab, self.base_vocab_size))


def _lists(flat: np.ndarray, splits: np.ndarray) -> pa.ListArray:
    return pa.ListArray.from_arrays(pa.array(splits.astype(np.int32)), pa.array(flat.astype(np.int32)))


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


def expand_ids(
    dynamic_ids: Sequence[int], vocab: Mapping[int, Sequence[int]] | pa.Table, base_vocab_size: int
) -> list[int]:
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
