"""WARC reader (.warc, .warc.gz, .warc.zst, and Common Crawl's WET files .warc.wet.gz): one document per web page.

- a ``response`` record with an HTML payload (``text/html``, ``application/xhtml+xml``) gives the main text of the
  page, extracted by resiliparse (``extract_plain_text(main_content=True)``: menus, sidebars, banners and footers
  left out; ``benchmarks/warc.py`` measures it against trafilatura, and fastwarc against warcio);
- a ``conversion`` record (WET) gives its text as it is.

Other records (warcinfo, request, metadata, revisit, resource) are not documents and are not counted, as a blank line
of a JSONL file is not. Every response and conversion record is counted (``seen``) and becomes a document or a
quarantined row: ``not_html`` (another content type), ``no_text`` (no main text), ``truncated_record`` (fewer bytes
than its Content-Length), ``digest_mismatch`` (its WARC-Block-Digest does not match: damaged bytes),
``unreadable_record`` (WARC or HTTP headers that cannot be read), ``too_large``, ``invalid_utf8`` (WET), and the
excerpt is the page's URL.

A compressed file is decoded member by member with the checks of :mod:`operators.io.streams`, as the line readers
decode theirs: a member that fails its checksum is one ``corrupt_input`` row and reading resumes at the next member;
a file cut short ends with one ``truncated_input`` row. Each verified member is parsed on its own, so with one member
per record (as crawlers write them) a broken record loses nothing but itself. An uncompressed ``.warc`` is one
stream: after a record whose headers cannot be read (one ``unreadable_record`` row), parsing resumes at the next
``WARC/1.`` line.

``meta`` holds ``url`` (WARC-Target-URI), ``date`` (WARC-Date), ``record_id`` (WARC-Record-ID) and, for pages, the
HTTP ``status``; ``location`` is ``byte=<offset of the record in the decoded stream>``.
"""

from __future__ import annotations

import io
from collections.abc import Generator, Iterator
from typing import IO

import fsspec
import pyarrow as pa
from fastwarc.warc import ArchiveIterator, WarcRecord, WarcRecordType
from resiliparse.extract.html2text import extract_plain_text
from resiliparse.parse.encoding import bytes_to_str, detect_encoding

from tokenmill.operators.core.ingest_config import IngestConfig
from tokenmill.operators.core.rows import RowBuffer, Seen
from tokenmill.operators.io.decode import decode_utf8, file_lang, meta_json
from tokenmill.operators.io.streams import InputFault, find_bytes, member_pieces, open_binary
from tokenmill.schemas import RAW_DOCUMENTS

STAGE = "read"
HTML_TYPES = ("text/html", "application/xhtml+xml")


def read_warc(task: dict, cfg: IngestConfig, seen: Seen | None = None) -> Iterator[pa.Table]:
    """Yield RAW_DOCUMENTS blocks for the pages of a WARC/WET file; ``seen`` counts its response and conversion
    records (and each fault of its compressed stream as one record)."""
    records = _Records(task, cfg, seen if seen is not None else Seen())
    if task["compression"] is None:
        with open_binary(task["uri"], None) as fh:
            yield from _uncompressed(records, fh)
    else:
        with fsspec.open(task["uri"], "rb") as fh:
            pieces = member_pieces(fh, task["compression"])
            base = 0
            for first in pieces:
                # fastwarc seeks in what it parses: a member's verified bytes (one record, as crawlers write them)
                # are held in memory, as streams.py holds a member until it verifies
                data, size, fault = _member(first, pieces)
                records.cut = fault
                if data:
                    yield from records.parse(io.BytesIO(data), base, len(data), f"the rest of this {task['compression']} member is not read")
                if fault is not None and not records.fault_taken:
                    records.fault(fault, base)
                base += size
    if len(records.buf):
        yield records.buf.take()


def _uncompressed(records: _Records, fh: IO[bytes]) -> Iterator[pa.Table]:
    """The rows of an uncompressed WARC file: after a record the parser cannot read, parsing starts again at the
    next ``WARC/1.`` line; a stretch of unreadable records between two readable ones is one row."""
    size = fh.seek(0, io.SEEK_END)
    start: int | None = 0
    failed = False
    while start is not None:
        fh.seek(start)
        resync = yield from records.parse(fh, 0, size, "reading resumes at the next WARC record", quiet=failed)
        if resync is None:
            return
        failed = True
        start = find_bytes(fh, b"\nWARC/1.", resync + 1)
        start = None if start is None else start + 1


def _member(first, rest: Iterator) -> tuple[bytes, int, InputFault | None]:
    """The member of a compressed file that starts with piece ``first`` (:func:`operators.io.streams.member_pieces`,
    the rest taken from ``rest``): its verified decoded bytes, its decoded size, and the fault that ends it, if any
    (its bytes from the fault on are left out: all of a member that failed its checksum, the held-back end of a cut
    one)."""
    data: list[bytes] = []
    size, fault, piece = 0, None, first
    while piece is not None:
        size += len(piece.data)
        if piece.truncated is not None:
            return b"".join(data), size, piece.truncated
        fault = fault or piece.fault
        if fault is None:
            data.append(piece.data)
        if piece.last:
            break
        piece = next(rest, None)
    return b"".join(data), size, fault


class _Records:
    """Turns the records of a stream into rows of one buffer, counting each one seen."""

    def __init__(self, task: dict, cfg: IngestConfig, seen: Seen) -> None:
        self.src = task["uri"]
        self.cfg = cfg
        self.seen = seen
        self.lang = file_lang(task, cfg.lang_from)
        self.buf = RowBuffer(RAW_DOCUMENTS, cfg.batch_rows)
        self.fault_taken = False  # the member's fault is already in the row of the record it cut
        self.cut: InputFault | None = None  # the fault that ends the compressed member being parsed
        self.size = 0  # bytes of the stream being parsed

    def fault(self, fault: InputFault, at: int) -> None:
        """One row for a fault of the compressed stream (a failed member, or the cut end of the file)."""
        self.seen.n += 1
        self.buf.reject(stage=STAGE, reason=fault.reason, detail=fault.detail, raw=None, source=self.src, location=f"byte={at}")

    def parse(self, stream: IO[bytes], base: int, size: int, then: str, quiet: bool = False) -> Generator[pa.Table, None, int | None]:
        """The rows of the records in ``stream`` (``size`` bytes, read from where it stands), whose byte 0 is at
        decoded offset ``base`` (fastwarc's record positions count from the stream's byte 0, not from where it starts).

        Returns None when the stream was read to its end, else the offset of the last record parsed (or ``base``)
        when the parser could not read on; ``then`` says what happens next, in the row that reports it (no row
        when ``quiet`` and no record was parsed: the same unreadable stretch as the last row).
        """
        self.fault_taken, self.size = False, size
        at, parsed = base + stream.tell(), False
        try:
            for record in ArchiveIterator(stream, parse_http=False, stream_detect=False):
                at, parsed = base + record.stream_pos, True
                if record.record_type not in (WarcRecordType.response, WarcRecordType.conversion):
                    continue  # not a document (warcinfo, request, metadata, ...): not counted
                self.seen.n += 1
                try:
                    readable = self._record(record, at - base, f"byte={at}")
                except Exception as exc:  # one record never aborts the run: whatever it raised, it is quarantined
                    self._reject("record_error", f"{type(exc).__name__}: {exc}"[:300], record, at)
                    readable = True
                if self.buf.full:
                    yield self.buf.take()
                if not readable:
                    return at  # the parser lost the record's end: what follows cannot be trusted
        except OSError as exc:  # the parser cannot read on (a damaged record header)
            if parsed or not quiet:
                self.seen.n += 1
                self.buf.reject(
                    stage=STAGE,
                    reason="unreadable_record",
                    detail=f"the WARC parser cannot read on after byte {at}: {exc}; {then}",
                    raw=None,
                    source=self.src,
                    location=f"byte={at}",
                )
            return at
        return None

    def _reject(self, reason: str, detail: str, record: WarcRecord, at: int) -> None:
        self.buf.reject(stage=STAGE, reason=reason, detail=detail, raw=record.headers.get("WARC-Target-URI"), source=self.src, location=f"byte={at}")

    def _cut(self) -> InputFault | None:
        """The fault that ended the stream under the current record, if it did (then the record's row reports it)."""
        if self.cut is not None:
            self.fault_taken = True
        return self.cut

    def _record(self, record: WarcRecord, pos: int, loc: str) -> bool:
        """Add the document of ``record`` or quarantine it; False when the record's end is lost."""
        at = int(loc.split("=", 1)[1])
        headers = record.headers
        declared = headers.get("Content-Length") or ""
        if not declared.isdigit():
            self._reject("unreadable_record", f"no valid Content-Length in its WARC headers ({declared!r}): where it ends is unknown", record, at)
            return False
        if record.content_length < int(declared) or pos + int(declared) > self.size:  # its block runs past the end
            cut = self._cut()
            reason, detail = (cut.reason, cut.detail) if cut else ("truncated_record", "")
            self._reject(reason, f"its {declared} bytes run past the end of the data (cut short){'; ' + detail if detail else ''}", record, at)
            return False
        if int(declared) > self.cfg.max_document_bytes:
            self._reject("too_large", f"{declared} bytes > max_document_bytes={self.cfg.max_document_bytes}", record, at)
            return True
        if headers.get("WARC-Block-Digest") and not record.verify_block_digest(consume=False):
            self._reject("digest_mismatch", f"its bytes do not match its WARC-Block-Digest {headers.get('WARC-Block-Digest')} (damaged)", record, at)
            return True
        meta: dict[str, object] = {"url": headers.get("WARC-Target-URI"), "date": headers.get("WARC-Date"), "record_id": headers.get("WARC-Record-ID")}
        if record.record_type == WarcRecordType.conversion:
            text, err = decode_utf8(record.reader.read(), self.cfg.on_invalid_utf8)
            if err or text is None:
                self._reject("invalid_utf8", err or "invalid UTF-8", record, at)
                return True
        else:
            record.parse_http()
            status = record.http_headers.status_code if record.http_headers is not None else None
            if status is None:
                self._reject("unreadable_record", "its HTTP status line and headers cannot be read", record, at)
                return True
            ctype = (record.http_content_type or "").lower()
            if ctype not in HTML_TYPES:
                self._reject("not_html", f"HTTP Content-Type {ctype or '(none)'}: only HTML pages are read", record, at)
                return True
            body = record.reader.read()
            page = bytes_to_str(body, record.http_charset or detect_encoding(body) or "utf-8")
            text = extract_plain_text(page, main_content=True)
            meta["status"] = status
        if not text.strip():
            self._reject("no_text", "no main text in the record", record, at)
            return True
        self.buf.add(source=self.src, location=loc, text=text, lang=self.lang, meta=meta_json(meta))
        return True
