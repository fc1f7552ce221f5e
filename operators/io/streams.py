"""Streaming byte access to inputs: decompression that keeps every byte before a fault, and line iteration.

Library stream readers either stop silently at a truncated frame (``zstandard``) or raise and discard what they
had already decoded (``gzip``: a file cut at 90 % lost its last complete lines; trailing garbage lost a whole
member). We drive the decompressors ourselves, chunk by chunk, and stop at a fault *after* handing out all the
output decoded before it. :func:`iter_lines` then yields every complete line and raises :class:`InputFault` for
the incomplete tail, so the reader quarantines exactly one row (the tail) with its byte offset.

Both codecs accept concatenated members/frames (``cat a.gz b.gz``); trailing NUL padding after the last gzip
member is ignored as ``gzip -d`` does.
"""

from __future__ import annotations

import io
import zlib
from typing import IO, Iterator

import fsspec
import zstandard

_CHUNK = 256 << 10  # compressed bytes per decompressor call: a fault loses at most this much decoded output


class InputFault(Exception):
    """The input ended inside a compressed frame (``truncated_input``) or holds corrupt data (``corrupt_input``)."""

    def __init__(self, reason: str, detail: str, offset: int | None = None) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.offset = offset  # decompressed byte offset of the first byte not handed out as a complete line



class _Decompressed(io.RawIOBase):
    """A raw reader over a gzip or zstd stream that ends (instead of raising) at a fault and remembers it."""

    def __init__(self, fh: IO[bytes], codec: str) -> None:
        self._fh = fh
        self._codec = codec
        self._dec = self._new()
        self._pending = bytearray()
        self._done = False
        self._in_member = False
        self._compressed_pos = 0
        self.fault: tuple[str, str] | None = None

    def _new(self):
        return zlib.decompressobj(16 + zlib.MAX_WBITS) if self._codec == "gzip" else \
            zstandard.ZstdDecompressor().decompressobj()

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:  # type: ignore[override]
        while not self._pending and not self._done:
            chunk = self._fh.read(_CHUNK)
            if not chunk:
                self._done = True
                if self._in_member:
                    self._flush_truncated()
                break
            self._feed(chunk)
        n = min(len(buf), len(self._pending))
        buf[:n] = self._pending[:n]
        del self._pending[:n]
        return n

    def _feed(self, chunk: bytes) -> None:
        while chunk and not self._done:
            start = self._compressed_pos
            try:
                self._pending += self._dec.decompress(chunk)
            except (zlib.error, zstandard.ZstdError) as exc:
                self._stop("corrupt_input", f"corrupt {self._codec} data near compressed byte {start}: {exc}")
                return
            if self._dec.eof:
                rest = self._dec.unused_data
                self._compressed_pos += len(chunk) - len(rest)
                self._in_member = False
                if self._codec == "gzip" and rest and not rest.startswith(b"\x1f\x8b"):
                    if rest.strip(b"\0") or self._fh.read(_CHUNK).strip(b"\0"):
                        self._stop("corrupt_input", f"{len(rest)}+ bytes of trailing garbage after the last gzip "
                                                    f"member at compressed byte {self._compressed_pos}")
                    else:
                        self._done = True  # NUL padding after the last member, as gzip -d accepts
                    return
                self._dec = self._new()
                chunk = rest
            else:
                self._compressed_pos += len(chunk)
                self._in_member = True
                chunk = b""

    def _flush_truncated(self) -> None:
        if self._codec == "gzip":
            try:
                self._pending += self._dec.flush()
            except zlib.error:
                pass
        self._stop("truncated_input", f"the {self._codec} stream ended inside a frame at compressed byte "
                                      f"{self._compressed_pos} (file truncated?)")

    def _stop(self, reason: str, detail: str) -> None:
        self.fault = (reason, detail)
        self._done = True


class _Stream(io.BufferedReader):
    """A buffered decompressed stream that exposes the fault of its raw reader (None when it ended cleanly)."""

    @property
    def fault(self) -> tuple[str, str] | None:
        return getattr(self.raw, "fault", None)


def open_binary(uri: str, compression: str | None) -> IO[bytes]:
    """Open ``uri`` for streaming binary reading, decompressing gzip/zstd on the fly.

    A compressed stream ends at its first fault; ``stream.fault`` is then ``(reason, detail)``.
    """
    fh = fsspec.open(uri, "rb").open()
    if compression in ("gzip", "zstd"):
        return _Stream(_Decompressed(fh, compression), buffer_size=1 << 20)
    return fh


def sniff_encoding(head: bytes) -> str | None:
    """The name of a UTF-16/UTF-32 encoding that ``head`` (a file's first bytes) is in, by BOM or NUL pattern.

    UTF-8 files (with or without a BOM) and files with a stray NUL give None: only a clear pattern counts
    (ASCII-range text in UTF-16 has a NUL in every other byte).
    """
    for bom, name in ((b"\xff\xfe\x00\x00", "UTF-32-LE"), (b"\x00\x00\xfe\xff", "UTF-32-BE"),
                      (b"\xff\xfe", "UTF-16-LE"), (b"\xfe\xff", "UTF-16-BE")):
        if head.startswith(bom):
            return f"{name} (byte-order mark)"
    sample = head[:1024]
    if len(sample) < 8 or sample.count(0) < len(sample) // 4:
        return None
    share = [sample[i::4].count(0) / len(sample[i::4]) for i in range(4)]
    if min(share[1:]) > 0.9 and share[0] < 0.5:
        return "UTF-32-LE (no byte-order mark)"
    if min(share[:3]) > 0.9 and share[3] < 0.5:
        return "UTF-32-BE (no byte-order mark)"
    odd, even = (share[1] + share[3]) / 2, (share[0] + share[2]) / 2
    if odd > 0.7 and even < 0.3:
        return "UTF-16-LE (no byte-order mark)"
    if even > 0.7 and odd < 0.3:
        return "UTF-16-BE (no byte-order mark)"
    return None


def _head(uri: str, compression: str | None, n: int = 4096) -> bytes:
    with open_binary(uri, compression) as fh:
        return fh.read(n)


def iter_lines(uri: str, compression: str | None, start: int = 0, end: int = -1) -> Iterator[tuple[int, bytes]]:
    """Yield ``(byte_offset, line_without_newline)`` for every line that *begins* in ``[start, end)``.

    Offsets are positions in the (decompressed) stream, so they do not depend on how the file was split. A UTF-8
    byte-order mark at the start of the file is dropped. Raises :class:`InputFault`:

    - ``unsupported_encoding`` before any line when the file is UTF-16/UTF-32 (by BOM or NUL pattern);
    - ``truncated_input`` / ``corrupt_input`` when a compressed stream ends at a fault, after every complete line
      before it was yielded, with the offset of the incomplete tail.
    """
    head = _head(uri, compression)
    encoding = sniff_encoding(head)
    if encoding:
        raise InputFault("unsupported_encoding", f"the file is {encoding}, not UTF-8; convert it first, e.g. "
                                                 f"iconv -f UTF-16 -t UTF-8", offset=0)
    with open_binary(uri, compression) as fh:
        pos = 0
        if start > 0:
            fh.seek(start - 1)
            pos = start - 1 + len(fh.readline())  # the line straddling `start` belongs to the previous task
        elif head.startswith(b"\xef\xbb\xbf"):
            pos = len(fh.read(3))  # the UTF-8 BOM is not part of the first record
        while end < 0 or pos < end:
            line = fh.readline()
            fault = getattr(fh, "fault", None)
            if fault and not line.endswith(b"\n"):  # the fault cut this line (or came right after a newline)
                reason, detail = fault
                raise InputFault(reason, f"{detail}; the {len(line)} bytes after the last complete line are lost",
                                 offset=pos)
            if not line:
                return
            offset, pos = pos, pos + len(line)
            yield offset, line.rstrip(b"\r\n") if line.endswith(b"\n") else line
