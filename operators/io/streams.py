"""Streaming byte access to inputs: decompression that notices truncation, and byte-range line iteration.

``zstandard``'s stream reader stops silently at a truncated frame; we decompress frame by frame and raise
:class:`TruncatedInput` when the input ends inside a frame, so a cut-off file is quarantined, not half-read
without a trace. gzip already raises ``EOFError``, which we translate the same way.
"""

from __future__ import annotations

import gzip
import io
import zlib
from typing import IO, Iterator

import fsspec
import zstandard


class TruncatedInput(Exception):
    """The compressed input ended before its end-of-stream marker (or is corrupt)."""


class _ZstdRaw(io.RawIOBase):
    """A raw reader over a (possibly multi-frame) zstd stream that raises on truncation."""

    def __init__(self, fh: IO[bytes]) -> None:
        self._fh = fh
        self._dctx = zstandard.ZstdDecompressor()
        self._dobj = self._dctx.decompressobj()
        self._pending = b""
        self._done = False
        self._in_frame = False

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:  # type: ignore[override]
        while not self._pending and not self._done:
            chunk = self._fh.read(1 << 20)
            if not chunk:
                self._done = True
                if self._in_frame:
                    raise TruncatedInput("zstd stream ended inside a frame (file truncated?)")
                break
            self._feed(chunk)
        n = min(len(buf), len(self._pending))
        buf[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def _feed(self, chunk: bytes) -> None:
        out = []
        while chunk:
            try:
                out.append(self._dobj.decompress(chunk))
            except zstandard.ZstdError as exc:
                raise TruncatedInput(f"corrupt zstd data: {exc}") from exc
            self._in_frame = not self._dobj.eof
            if self._dobj.eof:
                chunk = self._dobj.unused_data
                self._dobj = self._dctx.decompressobj()
                self._in_frame = bool(chunk)
            else:
                chunk = b""
        self._pending += b"".join(out)


class _TranslatingReader(io.RawIOBase):
    """Wrap a decompressing file object so that its truncation errors become :class:`TruncatedInput`."""

    def __init__(self, inner: IO[bytes]) -> None:
        self._inner = inner

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:  # type: ignore[override]
        try:
            data = self._inner.read(len(buf))
        except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as exc:
            raise TruncatedInput(f"gzip stream is truncated or corrupt: {exc}") from exc
        buf[: len(data)] = data
        return len(data)


def open_binary(uri: str, compression: str | None) -> IO[bytes]:
    """Open ``uri`` for streaming binary reading, decompressing gzip/zstd on the fly."""
    fh = fsspec.open(uri, "rb").open()
    if compression == "zstd":
        return io.BufferedReader(_ZstdRaw(fh), buffer_size=1 << 20)
    if compression == "gzip":
        return io.BufferedReader(_TranslatingReader(gzip.GzipFile(fileobj=fh)), buffer_size=1 << 20)
    return fh


def iter_lines(uri: str, compression: str | None, start: int = 0, end: int = -1) -> Iterator[tuple[int, bytes]]:
    """Yield ``(byte_offset, line_without_newline)`` for every line that *begins* in ``[start, end)``.

    Offsets are positions in the (decompressed) stream, so they do not depend on how the file was split.
    Raises :class:`TruncatedInput` after the last complete line of a truncated compressed stream.
    """
    with open_binary(uri, compression) as fh:
        pos = 0
        if start > 0:
            fh.seek(start - 1)
            pos = start - 1 + len(fh.readline())  # the line straddling `start` belongs to the previous task
        while end < 0 or pos < end:
            line = fh.readline()
            if not line:
                return
            offset, pos = pos, pos + len(line)
            yield offset, line.rstrip(b"\r\n") if line.endswith(b"\n") else line
