"""Streaming JSONL reader (.jsonl, .jsonl.gz, .jsonl.zst), one byte range per task."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pyarrow as pa

from tokenmill.operators.core.ingest_config import IngestConfig
from tokenmill.operators.core.rows import RowBuffer, Seen
from tokenmill.operators.io.decode import decode_utf8, meta_json, unicode_problem
from tokenmill.operators.io.decode import file_lang as lang_of_file
from tokenmill.operators.io.streams import InputFault, iter_lines
from tokenmill.schemas import RAW_DOCUMENTS

STAGE = "read"
log = logging.getLogger(__name__)


def read_jsonl(task: dict, cfg: IngestConfig, seen: Seen | None = None) -> Iterator[pa.Table]:
    """Yield RAW_DOCUMENTS blocks for the lines of ``task``; bad lines become rejected rows with a reason.

    ``seen`` counts every non-blank line read (and a faulty tail as one record), apart from what is emitted.
    """
    seen = seen if seen is not None else Seen()
    src = task["uri"]
    file_lang = lang_of_file(task, cfg.lang_from)
    buf = RowBuffer(RAW_DOCUMENTS, cfg.batch_rows)
    try:
        for offset, raw, fault in iter_lines(src, task["compression"], task["start"], task["end"]):
            if fault is None and not raw.strip():
                continue  # a blank line separates records; it is not one
            seen.n += 1
            loc = f"byte={offset}"
            if fault is not None:  # decoded from a compressed member that failed verification, or a cut tail
                buf.reject(stage=STAGE, reason=fault.reason, detail=fault.detail, raw=raw or None, source=src, location=loc)
            elif len(raw) > cfg.max_document_bytes:
                buf.reject(
                    stage=STAGE, reason="too_large", raw=raw, source=src, location=loc, detail=f"{len(raw)} bytes > max_document_bytes={cfg.max_document_bytes}"
                )
            else:
                try:
                    _parse_line(buf, raw, src, loc, file_lang, cfg)
                except Exception as exc:  # one record never aborts the run: whatever it raised, it is quarantined
                    log.warning("%s %s: record error %s: %s", src, loc, type(exc).__name__, exc)
                    buf.reject(stage=STAGE, reason="record_error", detail=f"{type(exc).__name__}: {exc}"[:300], raw=raw, source=src, location=loc)
            if buf.full:
                yield buf.take()
    except InputFault as exc:
        exc.quarantine(buf, seen, STAGE, src)
    yield from buf.rest()


def _parse_line(buf: RowBuffer, raw: bytes, src: str, loc: str, file_lang: str | None, cfg: IngestConfig) -> None:
    def reject(reason: str, detail: str) -> None:  # this line, to quarantine
        buf.reject(stage=STAGE, reason=reason, detail=detail, raw=raw, source=src, location=loc)

    line, err = decode_utf8(raw, cfg.on_invalid_utf8)
    if err or line is None:
        reject("invalid_utf8", err or "invalid UTF-8")
        return
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        reject("malformed_json", f"{exc.msg} at column {exc.colno}")
        return
    except ValueError as exc:  # valid JSON Python will not read, e.g. an integer of more than 4,300 digits
        reject("malformed_json", f"cannot be read: {exc}"[:300])
        return
    except RecursionError:
        reject("malformed_json", "JSON nested too deeply to parse")
        return
    if not isinstance(record, dict):
        reject("not_an_object", f"JSON line is a {type(record).__name__}, expected an object")
        return
    text = record.pop(cfg.text_field, None)
    if text is None:
        reject("missing_text_field", f"no field {cfg.text_field!r} (fields: {sorted(record)[:10]}); set text_field=...")
        return
    if not isinstance(text, str):
        reject("text_not_string", f"field {cfg.text_field!r} is a {type(text).__name__}, expected a string")
        return
    lang = file_lang
    if cfg.lang_from == "field":
        value = record.get(cfg.lang_field)
        lang = value if isinstance(value, str) and value else None
    try:
        meta = meta_json(record) if record else None
    except (RecursionError, ValueError) as exc:
        reject("malformed_json", f"fields cannot be kept as JSON: {exc}"[:300])
        return
    values = {"text": text, "lang": lang, "meta": meta}
    # A lone surrogate can only come from a JSON \u escape: valid UTF-8 never decodes to one.
    if b"\\u" in raw:
        values, err = unicode_problem(values, cfg.on_invalid_utf8)
        if err:
            reject("invalid_unicode", err)
            return
    buf.add(source=src, location=loc, **values)
