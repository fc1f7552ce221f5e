"""Streaming JSONL reader (.jsonl, .jsonl.gz, .jsonl.zst), one byte range per task."""

from __future__ import annotations

import json
from typing import Iterator

import pyarrow as pa

from operators.io.decode import decode_utf8, lang_from_filename
from operators.core.ingest_config import IngestConfig
from operators.core.rows import RowBuffer
from operators.io.streams import TruncatedInput, iter_lines
from schemas import RAW_DOCUMENTS

STAGE = "read"


def read_jsonl(task: dict, cfg: IngestConfig) -> Iterator[pa.Table]:
    """Yield RAW_DOCUMENTS blocks for the lines of ``task``; bad lines become rejected rows with a reason."""
    src = task["uri"]
    file_lang = lang_from_filename(src) if cfg.lang_from == "filename" else None
    buf = RowBuffer(RAW_DOCUMENTS, cfg.batch_rows)
    last = task["start"]
    try:
        for offset, raw in iter_lines(src, task["compression"], task["start"], task["end"]):
            last = offset + len(raw) + 1
            loc = f"byte={offset}"
            if not raw.strip():
                continue  # a blank line separates records; it is not one
            if len(raw) > cfg.max_document_bytes:
                buf.reject(stage=STAGE, reason="too_large", raw=raw, source=src, location=loc,
                           detail=f"{len(raw)} bytes > max_document_bytes={cfg.max_document_bytes}")
            else:
                _parse_line(buf, raw, src, loc, file_lang, cfg)
            if buf.full:
                yield buf.take()
    except TruncatedInput as exc:
        buf.reject(stage=STAGE, reason="truncated_input", detail=f"{exc}; records before this point were kept",
                   raw=None, source=src, location=f"byte={last}")
    if len(buf):
        yield buf.take()


def _parse_line(buf: RowBuffer, raw: bytes, src: str, loc: str, file_lang: str | None, cfg: IngestConfig) -> None:
    line, err = decode_utf8(raw, cfg.on_invalid_utf8)
    if err:
        buf.reject(stage=STAGE, reason="invalid_utf8", detail=err, raw=raw, source=src, location=loc)
        return
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        buf.reject(stage=STAGE, reason="malformed_json", detail=f"{exc.msg} at column {exc.colno}", raw=raw,
                   source=src, location=loc)
        return
    if not isinstance(record, dict):
        buf.reject(stage=STAGE, reason="not_an_object", detail=f"JSON line is a {type(record).__name__}, expected an object",
                   raw=raw, source=src, location=loc)
        return
    text = record.pop(cfg.text_field, None)
    if text is None:
        buf.reject(stage=STAGE, reason="missing_text_field", raw=raw, source=src, location=loc,
                   detail=f"no field {cfg.text_field!r} (fields: {sorted(record)[:10]}); set text_field=...")
        return
    if not isinstance(text, str):
        buf.reject(stage=STAGE, reason="text_not_string", raw=raw, source=src, location=loc,
                   detail=f"field {cfg.text_field!r} is a {type(text).__name__}, expected a string")
        return
    lang = file_lang
    if cfg.lang_from == "field":
        value = record.get(cfg.lang_field)
        lang = value if isinstance(value, str) and value else None
    buf.add(source=src, location=loc, text=text, lang=lang,
            meta=json.dumps(record, ensure_ascii=False, sort_keys=True) if record else None)
