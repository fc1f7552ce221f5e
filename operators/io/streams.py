"""Streaming byte access to inputs: compressed members and frames published only once verified, and line iteration.

Library stream readers either stop silently at a truncated frame (``zstandard``), raise and discard what they had
already decoded (``gzip``), or hand out the decoded bytes of a gzip member before its CRC is checked (a few flipped
bytes then publish garbage records). We drive the decompressors ourselves, member by member (gzip) and frame by
frame (zstd):

- a member's decoded bytes are published only after its checksum verified (gzip CRC-32 and length; zstd content
  checksum and size when the frame carries them). A member of up to :data:`MEMBER_BUFFER` decoded bytes is held in
  memory until then; a larger one is verified first and then decoded again, streaming (the file is read twice);
- a member that fails verification has its decoded lines handed out marked with a fault (the readers quarantine
  them, one row each), and reading resynchronises on the next member/frame magic after it that verifies, so the
  intact members after a corrupt one are kept;
- a stream that ends inside its final member (a truncated file) keeps the complete lines decoded up to the cut and
  hands out the incomplete tail as one fault.

Both codecs accept concatenated members/frames (``cat a.gz b.gz``); trailing NUL padding after the last gzip
member is ignored as ``gzip -d`` does.
"""

from __future__ import annotations

import zlib
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, NamedTuple

import fsspec
import zstandard

if TYPE_CHECKING:
    from tokenmill.operators.core.rows import RowBuffer, Seen

_CHUNK = 64 << 10  # compressed bytes per decompressor call
_MAX_OUT = 4 << 20  # decoded bytes per zlib call (bounds the output of one highly compressed chunk)
_HOLD_BACK = 64  # compressed bytes before the cut of a truncated member whose decoded lines are held back
_FINE_STEP = 256  # bytes per decompressor call when decoding a failed member again up to its fault
MEMBER_BUFFER = 64 << 20
"""Decoded bytes of one member/frame held in memory until its checksum verifies; a larger one is decoded twice."""
_MAGIC = {"gzip": b"\x1f\x8b\x08", "zstd": b"\x28\xb5\x2f\xfd"}
_UNIT = {"gzip": "member", "zstd": "frame"}
_BOM = b"\xef\xbb\xbf"


class InputFault(Exception):
    """A fault in an input: ``truncated_input``, ``corrupt_input`` or ``unsupported_encoding``."""

    def __init__(self, reason: str, detail: str, offset: int | None = None) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.offset = offset  # decompressed byte offset of the first byte it concerns

    def quarantine(self, buf: RowBuffer, seen: Seen, stage: str, source: str) -> None:
        """Count this fault, which ended a file's stream, as one record seen and one row of ``buf`` to quarantine."""
        seen.n += 1
        buf.reject(stage=stage, reason=self.reason, detail=self.detail, raw=None, source=source, location=f"byte={self.offset}")


class Line(NamedTuple):
    """One line of an input: ``fault`` is None for a line to publish, else why it must be quarantined (``raw``
    then holds what was decoded, possibly nothing)."""

    offset: int
    raw: bytes
    fault: InputFault | None


@dataclass(frozen=True, slots=True)
class _End:
    status: str  # ok | truncated | corrupt
    end: int  # compressed offset after the member (ok), of the end of the file (truncated), of the fault (corrupt)
    cause: str = ""
    decoded: int = 0


@dataclass(frozen=True, slots=True)
class _Piece:
    data: bytes
    fault: InputFault | None = None  # the member failed verification: these bytes are unverified
    last: bool = False  # the last piece of its member
    truncated: InputFault | None = None  # set on the empty piece that ends a truncated stream


def _decompressor(codec: str):
    return zlib.decompressobj(16 + zlib.MAX_WBITS) if codec == "gzip" else zstandard.ZstdDecompressor().decompressobj()


def _member(fh: IO[bytes], codec: str, pos: int, fine: _End | None = None, stop_at: int | None = None) -> Generator[bytes, None, _End]:
    """Decode the member/frame that starts at compressed offset ``pos``; yield its output; return how it ended.

    A decompressor that raises discards what it decoded in that call, so after a first pass ended in a fault,
    ``fine`` (that pass's end) makes a second pass go in small steps from the call that failed: it loses at most
    :data:`_FINE_STEP` decoded bytes before the fault. ``stop_at`` ends the input there (as if the file ended).
    """
    fh.seek(pos)
    dec = _decompressor(codec)
    at, decoded = pos, 0
    while True:
        chunk = fh.read(_CHUNK if stop_at is None else max(0, min(_CHUNK, stop_at - at)))
        if not chunk:
            if codec == "gzip":
                try:
                    tail = dec.flush()
                except zlib.error:
                    tail = b""
                if tail:
                    decoded += len(tail)
                    yield tail
            return _End("truncated", at, decoded=decoded)
        step = _FINE_STEP if fine is not None and codec == "zstd" and at + len(chunk) > fine.end else len(chunk)
        for i in range(0, len(chunk), step):
            part = chunk[i : i + step]
            try:
                if codec == "gzip":
                    while True:
                        limit = _MAX_OUT if fine is None else fine.decoded - decoded if decoded < fine.decoded else _FINE_STEP
                        data = dec.decompress(part, limit)
                        if data:
                            decoded += len(data)
                            yield data
                        if dec.eof or not dec.unconsumed_tail:
                            break
                        part = dec.unconsumed_tail
                else:
                    data = dec.decompress(part)
                    if data:
                        decoded += len(data)
                        yield data
            except (zlib.error, zstandard.ZstdError) as exc:
                return _End("corrupt", at, f"{exc} near compressed byte {at + i}", decoded)
            if dec.eof:
                return _End("ok", at + i + len(part) - len(dec.unused_data), decoded=decoded)
        at += len(chunk)


def _verify(fh: IO[bytes], codec: str, pos: int, fine: _End | None = None, stop_at: int | None = None) -> tuple[_End, list[bytes] | None]:
    """Decode the member at ``pos`` to its end; return how it ended and its output (None when too big to hold)."""
    gen = _member(fh, codec, pos, fine, stop_at)
    kept: list[bytes] | None = []
    size = 0
    while True:
        try:
            data = next(gen)
        except StopIteration as stop:
            return stop.value, kept
        size += len(data)
        if kept is not None and size > MEMBER_BUFFER:
            kept = None
        elif kept is not None:
            kept.append(data)


def _emit(
    fh: IO[bytes],
    codec: str,
    pos: int,
    end: _End,
    kept: list[bytes] | None,
    fault: InputFault | None,
    fine: _End | None = None,
    trust: int | None = None,
    held: InputFault | None = None,
) -> Iterator[_Piece]:
    """The pieces of a verified (or, with ``fault``, failed) member: from memory, or decoded again.

    With ``trust`` (a cut member), the decoded bytes after the first ``trust`` are marked with ``held`` instead."""

    def data() -> Iterator[bytes]:
        if kept is not None:
            yield from kept
            return
        gen = _member(fh, codec, pos, fine)
        while True:
            try:
                yield next(gen)
            except StopIteration as stop:
                again: _End = stop.value
                break
        if again.status != end.status and fault is None:
            raise InputFault(
                "corrupt_input",
                f"the {codec} {_UNIT[codec]} at compressed byte {pos} verified on the "
                f"first read but not on the second ({again.cause or again.status}): "
                f"the file changed while it was read; rerun once it is stable",
            )

    done = 0
    for chunk in data():
        if trust is not None and done + len(chunk) > trust:
            cut = max(trust - done, 0)
            if cut:
                yield _Piece(chunk[:cut], fault)
            yield _Piece(chunk[cut:], held)
        else:
            yield _Piece(chunk, fault)
        done += len(chunk)
    yield _Piece(b"", fault, last=trust is None)


def _find(fh: IO[bytes], magic: bytes, start: int) -> tuple[int | None, int]:
    """(first offset >= ``start`` where ``magic`` begins or None, the offset where the search stopped)."""
    fh.seek(start)
    at, carry = start, b""
    while True:
        chunk = fh.read(_CHUNK)
        if not chunk:
            return None, at + len(carry)
        window = carry + chunk
        i = window.find(magic)
        if i >= 0:
            return at + i, at + i
        keep = len(magic) - 1
        at += len(window) - keep
        carry = window[-keep:]


def find_bytes(fh: IO[bytes], needle: bytes, start: int) -> int | None:
    """The first offset >= ``start`` of ``fh`` where ``needle`` begins, or None (read in chunks, not whole)."""
    return _find(fh, needle, start)[0]


def _only_nul_from(fh: IO[bytes], pos: int) -> bool:
    fh.seek(pos)
    while chunk := fh.read(_CHUNK):
        if chunk.strip(b"\0"):
            return False
    return True


def _pieces(fh: IO[bytes], codec: str) -> Iterator[_Piece]:
    """Decoded pieces of a gzip/zstd file, member by member, each marked with the fault of its member (if any)."""
    unit = _UNIT[codec]
    pos = 0
    ahead: tuple[_End, list[bytes] | None] | None = None  # a member already verified while resynchronising
    while True:
        fh.seek(pos)
        head = fh.read(len(_MAGIC[codec]))
        if not head:
            return
        if codec == "gzip" and pos > 0 and not head.strip(b"\0") and _only_nul_from(fh, pos):
            return  # NUL padding after the last member, as gzip -d accepts
        end, kept = ahead or _verify(fh, codec, pos)
        ahead = None
        if end.status == "ok":
            yield from _emit(fh, codec, pos, end, kept, None)
            pos = end.end
            continue
        nxt, stop, ahead = _resync(fh, codec, pos + 1)
        if end.status == "truncated" and nxt is None and codec == "gzip" and _has_trailer(fh, pos, end):
            end = _End(
                "corrupt",
                end.end,
                "it runs to the end of the file without ending, yet the file's last 4 "
                "bytes give the size it decoded to: the file is whole but damaged, not cut",
                end.decoded,
            )
        if end.status == "truncated" and nxt is None:  # the file was cut inside its final member
            # What the last bytes before the cut decoded to is held back: a cut cannot be verified, and a few
            # damaged or foreign bytes there can complete a line with garbage.
            trust = _verify(fh, codec, pos, stop_at=max(pos, end.end - _HOLD_BACK))[0].decoded
            held = InputFault(
                "truncated_input",
                f"decoded from the last {_HOLD_BACK} compressed bytes before the cut "
                f"at compressed byte {end.end}, which cannot be verified (file "
                f"truncated?): held back",
            )
            yield from _emit(fh, codec, pos, end, kept, None, trust=trust, held=held)
            yield _Piece(
                b"",
                truncated=InputFault(
                    "truncated_input",
                    f"the {codec} stream ends inside the {unit} that starts at compressed byte {pos}, "
                    f"at byte {end.end} (file truncated?): the complete lines decoded up to the cut "
                    f"were kept, and whatever followed the cut is lost",
                ),
            )
            return
        first = end
        if end.status == "corrupt" and not end.cause.startswith("it runs to the end"):
            end, kept = _verify(fh, codec, pos, fine=first)  # again, in small steps: keep what came before the fault
            cause = end.cause
        elif end.status == "corrupt":
            cause = end.cause
        else:  # it ran into the next member without ending: it was cut short in the middle of the file
            cause = f"it was cut short: the next valid {unit} starts at compressed byte {nxt}, before it ended"
        lost = f"compressed bytes [{pos}, {nxt if nxt is not None else stop})"
        after = f"reading resumed at the next valid {unit}, at compressed byte {nxt}" if nxt is not None else f"no valid {unit} follows it"
        fault = InputFault(
            "corrupt_input",
            f"corrupt {codec} data: the {unit} at {lost} failed verification ({cause}), so its {end.decoded} decoded bytes are not published; {after}",
        )
        yield from _emit(fh, codec, pos, end, kept, fault, fine=first if first is not end else None)
        if nxt is None:
            return
        pos = nxt


def member_pieces(fh: IO[bytes], codec: str) -> Iterator[_Piece]:
    """The decoded pieces of a gzip/zstd file, member by member, as the line readers get them, for a reader that
    parses each member on its own (the WARC reader: crawlers write one gzip member per record). A piece has
    ``data``; ``fault``: its member failed verification (never publish its bytes); ``last``: its member ends here;
    ``truncated``: the (empty) piece that ends a stream cut inside its final member."""
    return _pieces(fh, codec)


_TRAILER_SLACK = 1 << 20


def _has_trailer(fh: IO[bytes], pos: int, end: _End) -> bool:
    """Whether a gzip member that ran to the end of the file without ending still ends in its own trailer.

    A cut file ends in arbitrary compressed bytes; a whole file whose member was damaged near its end (the decoder
    lost step and wanted more input) still ends in the 8-byte trailer, whose ISIZE (the decoded size mod 2**32) is
    close to what was decoded. Telling them apart matters: a cut member keeps its complete lines, a damaged one
    would publish the garbage decoded after the damage. A cut file passes for whole only when its last 4 bytes
    happen to fall within ``_TRAILER_SLACK`` of the decoded size (about 1 in 2,000), and is then quarantined.
    """
    if end.end - pos < 18:  # a 10-byte header and an 8-byte trailer at least
        return False
    fh.seek(end.end - 4)
    isize = int.from_bytes(fh.read(4), "little")
    gap = (isize - end.decoded) % (1 << 32)
    return min(gap, (1 << 32) - gap) <= _TRAILER_SLACK


def _resync(fh: IO[bytes], codec: str, start: int) -> tuple[int | None, int, tuple[_End, list[bytes] | None] | None]:
    """The next member/frame at or after ``start`` that verifies: ``(its offset, where the search stopped, its
    verification)``, or ``(None, end of the file, None)``.

    Every offset after ``start`` where the magic occurs is tried in order, so a false match inside corrupt data
    never hides a real member after it. A candidate that runs to the end of the file without verifying is not
    taken: a false match near the end would otherwise publish garbage as the complete lines of a cut member."""
    at = start
    while True:
        cand, stop = _find(fh, _MAGIC[codec], at)
        if cand is None:
            return None, stop, None
        verified = _verify(fh, codec, cand)
        end = verified[0]
        if end.status == "ok":
            return cand, stop, verified
        at = cand + 1


def open_binary(uri: str, compression: str | None) -> IO[bytes]:
    """Open an uncompressed ``uri`` (local path or any fsspec URI) for streaming binary reading."""
    if compression is not None:
        raise ValueError(f"open_binary({uri!r}): compressed input; use read_verified() or iter_lines()")
    return fsspec.open(uri, "rb").open()


def read_verified(uri: str, compression: str | None, limit: int) -> tuple[bytes, InputFault | None]:
    """At most ``limit`` decoded bytes of ``uri`` from its start, stopping at the first member that failed or was
    cut (then the fault is returned with what came before it)."""
    if compression is None:
        with open_binary(uri, None) as fh:
            return fh.read(limit), None
    out = bytearray()
    with fsspec.open(uri, "rb") as fh:
        for piece in _pieces(fh, compression):
            if piece.fault or piece.truncated:
                return bytes(out[:limit]), piece.fault or piece.truncated
            out += piece.data
            if len(out) >= limit:
                break
    return bytes(out[:limit]), None


def sniff_encoding(head: bytes) -> str | None:
    """The name of a UTF-16/UTF-32 encoding that ``head`` (a file's first bytes) is in, by BOM or NUL pattern.

    UTF-8 files (with or without a BOM) and files with a stray NUL give None: only a clear pattern counts
    (ASCII-range text in UTF-16 has a NUL in every other byte).
    """
    for bom, name in ((b"\xff\xfe\x00\x00", "UTF-32-LE"), (b"\x00\x00\xfe\xff", "UTF-32-BE"), (b"\xff\xfe", "UTF-16-LE"), (b"\xfe\xff", "UTF-16-BE")):
        if head.startswith(bom):
            return f"{name} (byte-order mark)"
    sample = head[:1024]
    if sample.count(b"\n") >= 2 and 0 < sample.count(0) < len(sample) // 4:
        # UTF-16 text whose characters have no NUL byte (CJK in the ASCII byte range, e.g. U+4E2D is "-N" in
        # UTF-16-LE) still has its line breaks as "\n\0" / "\0\n": every one of them, at the same parity.
        cut = sample[: len(sample) - len(sample) % 2]
        units = [cut[i : i + 2] for i in range(0, len(cut), 2)]
        if units.count(b"\n\x00") == sample.count(b"\n") and b"\x00\x00" not in cut:
            return "UTF-16-LE (no byte-order mark)"
        if units.count(b"\x00\n") == sample.count(b"\n") and b"\x00\x00" not in cut:
            return "UTF-16-BE (no byte-order mark)"
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
    """The first ``n`` decoded bytes, unverified (only to recognise the text encoding)."""
    with fsspec.open(uri, "rb") as fh:
        if compression is None:
            return fh.read(n)
        try:
            dec = _decompressor(compression)
            data = fh.read(16 << 10)
            return dec.decompress(data, n) if compression == "gzip" else dec.decompress(data)[:n]
        except (zlib.error, zstandard.ZstdError):
            return b""


def _strip(line: bytes) -> bytes:
    return line.rstrip(b"\r\n") if line.endswith(b"\n") else line


def iter_lines(uri: str, compression: str | None, start: int = 0, end: int = -1) -> Iterator[Line]:
    """Yield a :class:`Line` ``(byte_offset, line_without_newline, fault)`` for every line that *begins* in
    ``[start, end)``, and for every fault of a compressed input.

    Offsets are positions in the (decompressed) stream, so they do not depend on how the file was split. A UTF-8
    byte-order mark at the start of the file is dropped. Raises :class:`InputFault` ``unsupported_encoding``
    before any line when the file is UTF-16/UTF-32 (by BOM or NUL pattern). Lines with a fault are never to be
    published:

    - ``corrupt_input``: each non-blank line decoded from a member/frame that failed verification (or one line with
      no bytes when it decoded to nothing), with the compressed byte range lost and where reading resumed;
    - ``truncated_input``: one line for the end of a stream cut inside its final member, holding the incomplete
      tail (possibly empty), after every complete line before the cut.
    """
    head = _head(uri, compression)
    encoding = sniff_encoding(head)
    if encoding:
        raise InputFault("unsupported_encoding", f"the file is {encoding}, not UTF-8; convert it first, e.g. iconv -f UTF-16 -t UTF-8", offset=0)
    if compression is not None:
        if start > 0 or end >= 0:
            raise ValueError(f"iter_lines({uri!r}): a compressed input is read whole (start=0, end=-1)")
        yield from _compressed_lines(uri, compression)
        return
    with open_binary(uri, None) as fh:
        pos = 0
        if start > 0:
            fh.seek(start - 1)
            pos = start - 1 + len(fh.readline())  # the line straddling `start` belongs to the previous task
        elif head.startswith(_BOM):
            pos = len(fh.read(3))  # the UTF-8 BOM is not part of the first record
        while end < 0 or pos < end:
            line = fh.readline()
            if not line:
                return
            offset, pos = pos, pos + len(line)
            yield Line(offset, _strip(line), None)


def _compressed_lines(uri: str, codec: str) -> Iterator[Line]:
    with fsspec.open(uri, "rb") as fh:
        pos = 0  # decoded bytes so far (of every member handed out, verified or not)
        carry, carry_at, carry_fault = bytearray(), 0, None
        faulty_rows = 0  # lines handed out for the current failed member
        for piece in _pieces(fh, codec):
            data = piece.data
            i = 3 if pos == 0 and data.startswith(_BOM) else 0  # the UTF-8 BOM is not part of the first record
            if piece.fault is None and carry_fault is None:  # the common case, verified data: split at C speed
                parts = (data[i:] if i else data).split(b"\n")
                rest = parts.pop()
                at = pos + i
                for part in parts:
                    if carry:
                        yield Line(carry_at, (bytes(carry) + part).rstrip(b"\r"), None)
                        carry.clear()
                    else:
                        yield Line(at, part.rstrip(b"\r"), None)
                    at += len(part) + 1
                i = len(data) - len(rest)
            while (j := data.find(b"\n", i)) >= 0:
                fault = carry_fault or piece.fault
                if carry:
                    line, at = bytes(carry) + data[i : j + 1], carry_at
                    carry.clear()
                    carry_fault = None
                else:
                    line, at = data[i : j + 1], pos + i
                i = j + 1
                if fault is None:
                    yield Line(at, _strip(line), None)
                elif line.strip():
                    faulty_rows += 1
                    yield Line(at, _strip(line), InputFault(fault.reason, fault.detail, at))
            if i < len(data):
                if not carry:
                    carry_at = pos + i
                carry += data[i:]
                carry_fault = carry_fault or piece.fault
            pos += len(data)
            if piece.truncated is not None:
                t = piece.truncated
                yield Line(
                    carry_at if carry else pos,
                    bytes(carry),
                    InputFault(
                        t.reason,
                        f"{t.detail}; the {len(carry)} decoded bytes after the last complete line (this row) are incomplete",
                        carry_at if carry else pos,
                    ),
                )
                return
            if piece.last and piece.fault is not None:  # a failed member ends its last line: never join the next
                if carry.strip() or not faulty_rows:
                    at = carry_at if carry else pos
                    yield Line(at, bytes(carry), InputFault(piece.fault.reason, piece.fault.detail, at))
                carry.clear()
                carry_fault = None
                faulty_rows = 0
        if carry:
            if carry_fault is None:
                yield Line(carry_at, bytes(carry), None)
            elif carry.strip():
                yield Line(carry_at, bytes(carry), InputFault(carry_fault.reason, carry_fault.detail, carry_at))
