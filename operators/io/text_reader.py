"""Plain text reader: one document per line (byte ranges) or one per file."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa

from tokenmill.operators.core.ingest_config import IngestConfig
from tokenmill.operators.core.rows import RowBuffer, Seen
from tokenmill.operators.io.decode import decode_utf8, file_lang
from tokenmill.operators.io.streams import InputFault, iter_lines, read_verified, sniff_encoding
from tokenmill.schemas import RAW_DOCUMENTS

STAGE = "read"


def read_text(task: dict, cfg: IngestConfig, seen: Seen | None = None) -> Iterator[pa.Table]:
    """Yield RAW_DOCUMENTS blocks for a text file (or byte range of one); ``seen`` counts non-blank lines read."""
    seen = seen if seen is not None else Seen()
    src = task["uri"]
    lang = file_lang(task, cfg.lang_from)
    buf = RowBuffer(RAW_DOCUMENTS, cfg.batch_rows)
    if cfg.doc_per == "file":
        seen.n += 1
        _read_whole(buf, task, cfg, lang)
        yield buf.take()
        return
    try:
        for offset, raw, fault in iter_lines(src, task["compression"], task["start"], task["end"]):
            if fault is None and not raw.strip():
                continue  # in one-document-per-line files a blank line is a separator, not a record
            seen.n += 1
            if fault is not None:  # decoded from a compressed member that failed verification, or a cut tail
                buf.reject(stage=STAGE, reason=fault.reason, detail=fault.detail, raw=raw or None, source=src, location=f"byte={offset}")
            else:
                _add(buf, raw, src, f"byte={offset}", lang, cfg)
            if buf.full:
                yield buf.take()
    except InputFault as exc:
        exc.quarantine(buf, seen, STAGE, src)
    yield from buf.rest()


def _read_whole(buf: RowBuffer, task: dict, cfg: IngestConfig, lang: str | None) -> None:
    src = task["uri"]
    raw, fault = read_verified(src, task["compression"], cfg.max_document_bytes + 1)
    encoding = sniff_encoding(raw[:4096])
    if fault or encoding:
        reason, detail = (
            (fault.reason, fault.detail)
            if fault
            else ("unsupported_encoding", f"the file is {encoding}, not UTF-8; convert it first, e.g. iconv -f UTF-16 -t UTF-8")
        )
        buf.reject(stage=STAGE, reason=reason, detail=detail, raw=None, source=src, location="file")
        return
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    _add(buf, raw, src, "file", lang, cfg)


def _add(buf: RowBuffer, raw: bytes, src: str, loc: str, lang: str | None, cfg: IngestConfig) -> None:
    if len(raw) > cfg.max_document_bytes:
        buf.reject(stage=STAGE, reason="too_large", raw=raw, source=src, location=loc, detail=f"more than max_document_bytes={cfg.max_document_bytes} bytes")
        return
    text, err = decode_utf8(raw, cfg.on_invalid_utf8)
    if err:
        buf.reject(stage=STAGE, reason="invalid_utf8", detail=err, raw=raw, source=src, location=loc)
        return
    buf.add(source=src, location=loc, text=text, lang=lang)
