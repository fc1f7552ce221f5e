"""Romanizer: add ``text_roman`` (uroman, exact and fast) to a documents table, keeping ``text``.

Columns needed: ``text`` (string) and ``lang`` (ISO 639-3 code or null). Column added: ``text_roman``.
The result equals ``uroman.Uroman().romanize_string(line, lcode=lang)`` applied to every line (split on '\\n',
joined with '\\n') byte for byte; :mod:`operators.romanize.engine` explains how it gets there faster.

Setup (uroman's tables take seconds to load) happens once in ``__init__``, so in a pipeline this is a callable
class for an actor pool: ``ds.map_batches(Romanizer, fn_constructor_kwargs={"config": cfg},
batch_format="pyarrow", concurrency=N)``; each actor then keeps its own piece cache warm across batches.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import pyarrow as pa

from tokenmill.operators.romanize.engine import UromanEngine

logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True, slots=True)
class RomanizerConfig:
    """Settings of :class:`Romanizer`."""

    text_column: str = "text"
    """Column holding the document text (null rows stay null in the output)."""
    lang_column: str | None = "lang"
    """Column holding the ISO 639-3 language code passed to uroman (null = unknown); None: no such column."""
    output_column: str = "text_roman"
    """Column to add with the romanized text (replaced if the table already has it)."""
    cache_size: int = 200_000
    """Most (language, line piece) results each actor keeps; the cache is emptied when full; 0 turns it off."""
    split_segments: bool = True
    """Cache pieces of lines cut after spaces and separators (context-free for uroman 1.3.1.1), not whole lines."""
    use_uroman_fast: bool = True
    """Use uroman-fast (uroman-rs) for text made only of characters it was checked identical on."""

    def __post_init__(self) -> None:
        for name in ("text_column", "output_column"):
            if not getattr(self, name):
                raise ValueError(f"{name}: must be a non-empty column name")
        if self.lang_column is not None and not self.lang_column:
            raise ValueError("lang_column: must be a column name or None (no language codes)")
        if self.output_column in (self.text_column, self.lang_column):
            raise ValueError(f"output_column: {self.output_column!r} would overwrite an input column; pick another")
        if self.cache_size < 0:
            raise ValueError(f"cache_size: must be >= 0 (0 disables the cache), got {self.cache_size}")


class Romanizer:
    """Callable operator: ``pa.Table`` with text (and lang) in, the same table plus ``text_roman`` out.

    Args:
        config: settings; defaults to :class:`RomanizerConfig`.
    """

    def __init__(self, config: RomanizerConfig | None = None) -> None:
        self.config = config or RomanizerConfig()
        started = time.perf_counter()
        self.engine = UromanEngine(cache_size=self.config.cache_size, split=self.config.split_segments, use_uroman_fast=self.config.use_uroman_fast)
        self.setup_seconds = time.perf_counter() - started
        self.counts = {"batches": 0, "documents": 0, "null_documents": 0, "chars": 0, "seconds": 0.0}
        self._checked = False
        logger.info(
            "Romanizer ready in %.1fs (uroman-fast: %s, pieces: %s, ascii identity: %s)",
            self.setup_seconds,
            self.engine.uses_uroman_fast,
            self.engine.split,
            self.engine.ascii_identity,
        )

    def __call__(self, batch: pa.Table) -> pa.Table:
        cfg = self.config
        if not self._checked:
            needed = [cfg.text_column] + ([cfg.lang_column] if cfg.lang_column else [])
            missing = [c for c in needed if c not in batch.column_names]
            if missing:
                raise ValueError(f"Romanizer: missing column(s) {', '.join(missing)}; the batch has {', '.join(batch.column_names) or 'no columns'}")
            self._checked = True
        started = time.perf_counter()
        text_col = batch.column(cfg.text_column)
        texts = text_col.to_pylist()
        langs = batch.column(cfg.lang_column).to_pylist() if cfg.lang_column else [None] * len(texts)
        romanize = self.engine.romanize_text
        out = [None if t is None else romanize(t, lang) for t, lang in zip(texts, langs)]
        out_type = text_col.type if pa.types.is_large_string(text_col.type) else pa.string()
        column = pa.array(out, type=out_type)
        if cfg.output_column in batch.column_names:
            batch = batch.set_column(batch.column_names.index(cfg.output_column), cfg.output_column, column)
        else:
            batch = batch.append_column(pa.field(cfg.output_column, out_type), column)
        counts = self.counts
        counts["batches"] += 1
        counts["documents"] += len(texts)
        counts["null_documents"] += sum(t is None for t in texts)
        counts["chars"] += sum(len(t) for t in texts if t is not None)
        counts["seconds"] += time.perf_counter() - started
        return batch

    def stats(self) -> dict[str, float]:
        """Counts so far: batches, documents, chars, seconds, and the engine's per-path line counts."""
        return {**self.counts, **self.engine.stats}
