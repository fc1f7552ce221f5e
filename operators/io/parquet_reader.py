"""Parquet reader: one row group per task; a file without a text column of strings is quarantined whole.

The text column may be ``string``, ``large_string``, ``string_view`` or dictionary-encoded strings (as Spark and
pandas write categoricals); it is read as plain strings. A file with zero row groups holds zero records.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

from tokenmill.operators.core.ingest_config import IngestConfig
from tokenmill.operators.core.rows import RowBuffer, Seen
from tokenmill.operators.io.decode import file_lang as lang_of_file
from tokenmill.operators.io.decode import meta_json
from tokenmill.schemas import RAW_DOCUMENTS

STAGE = "read"
log = logging.getLogger(__name__)


def is_text_type(t: pa.DataType) -> bool:
    """Whether a column of type ``t`` holds strings (plain, large, view, or dictionary-encoded)."""
    if pa.types.is_dictionary(t):
        t = t.value_type
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)


def read_parquet(task: dict, cfg: IngestConfig, seen: Seen | None = None) -> Iterator[pa.Table]:
    """Yield RAW_DOCUMENTS blocks for one row group of a Parquet file.

    ``seen`` counts the row group's rows from the file's metadata (a file or row group rejected whole: one).
    """
    seen = seen if seen is not None else Seen()
    src, rg = task["uri"], task.get("row_group", 0)
    buf = RowBuffer(RAW_DOCUMENTS, cfg.batch_rows)
    try:
        with fsspec.open(src, "rb") as fh:
            pf = pq.ParquetFile(fh, page_checksum_verification=True)  # pages written with a CRC are checked
            if pf.metadata.num_row_groups == 0:
                return  # a valid file with no rows
            field = pf.schema_arrow.field(cfg.text_field) if cfg.text_field in pf.schema_arrow.names else None
            if field is None or not is_text_type(field.type):
                what = "has no column" if field is None else f"has column {cfg.text_field!r} of type {field.type}, not a"
                seen.n += 1
                buf.reject(
                    stage=STAGE,
                    reason="parquet_schema",
                    raw=None,
                    source=src,
                    location="file",
                    detail=f"Parquet file {what} string column {cfg.text_field!r} (columns: {pf.schema_arrow.names}); set text_field to its text column",
                )
                yield buf.take()
                return
            n_rows = pf.metadata.row_group(rg).num_rows
            table = pf.read_row_group(rg)
    except (pa.ArrowException, OSError) as exc:
        seen.n += 1
        buf.reject(stage=STAGE, reason="unreadable_parquet", detail=str(exc)[:300], raw=None, source=src, location=f"row_group={rg}")
        yield buf.take()
        return
    seen.n += n_rows
    table = table.set_column(table.schema.get_field_index(cfg.text_field), cfg.text_field, table[cfg.text_field].cast(pa.string()))
    file_lang = lang_of_file(task, cfg.lang_from)
    other = [c for c in table.column_names if c != cfg.text_field]
    for start in range(0, table.num_rows, cfg.batch_rows):
        chunk = table.slice(start, cfg.batch_rows).to_pylist()
        for i, row in enumerate(chunk, start):
            loc = f"row_group={rg},row={i}"
            try:
                _add_row(buf, row, src, loc, file_lang, other, cfg)
            except Exception as exc:  # one record never aborts the run: whatever it raised, it is quarantined
                log.warning("%s %s: record error %s: %s", src, loc, type(exc).__name__, exc)
                buf.reject(stage=STAGE, reason="record_error", detail=f"{type(exc).__name__}: {exc}"[:300], raw=None, source=src, location=loc)
        yield from buf.rest()


def _add_row(buf: RowBuffer, row: dict, src: str, loc: str, file_lang: str | None, other: list[str], cfg: IngestConfig) -> None:
    text = row.pop(cfg.text_field)
    if text is None:
        buf.reject(
            stage=STAGE, reason="missing_text_field", detail=f"{cfg.text_field!r} is null", raw=json.dumps(row, default=str)[:400], source=src, location=loc
        )
        return
    lang = row.get(cfg.lang_field) if cfg.lang_from == "field" else file_lang
    meta = {k: row[k] for k in other if row.get(k) is not None}
    buf.add(source=src, location=loc, text=text, lang=lang if isinstance(lang, str) else None, meta=meta_json(meta) if meta else None)
