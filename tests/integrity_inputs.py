"""Broken and awkward inputs for the integrity suite, each with the exact counts it must give.

Expected counts are made here, independently of tokenmill's readers: complete lines are counted in what the
standard library / ``zstandard`` decode from the same bytes (``gzip -dc | wc -l`` logic), Parquet rows are
counted from the tables written.
"""

from __future__ import annotations

import gzip
import json
import zlib
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import zstandard


def _jsonl(records: list[dict]) -> bytes:
    return b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in records)


def complete_lines_zstd(data: bytes) -> int:
    """Complete lines in whatever ``zstandard`` decodes of ``data`` before its first fault (frame by frame)."""
    out, rest = bytearray(), data
    while rest:
        dobj = zstandard.ZstdDecompressor().decompressobj()
        try:
            out += dobj.decompress(rest)
        except zstandard.ZstdError:
            break
        if not dobj.eof:
            break
        rest = dobj.unused_data
    return bytes(out).count(b"\n")


def complete_lines_gzip(data: bytes) -> int:
    """Complete lines in whatever ``zlib`` decodes of the gzip members in ``data`` before the first fault."""
    out, rest = bytearray(), data
    while rest.startswith(b"\x1f\x8b"):
        dobj = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            out += dobj.decompress(rest)
            if not dobj.eof:
                out += dobj.flush()
                break
        except zlib.error:
            break
        rest = dobj.unused_data
    return bytes(out).count(b"\n")


class DropOne:
    """A broken operator for the tests: silently drops the first row of every batch (counts must catch it)."""

    STAGE = "drop_one"

    def __call__(self, batch: pa.Table) -> pa.Table:
        return batch.slice(1)


def write_integrity_corpus(root: Path, lines: list[str]) -> dict[str, dict]:
    """Write the cases; return ``{file name: {"out": documents, "quarantined": {reason: rows}}}`` (exact)."""
    root.mkdir(parents=True, exist_ok=True)
    expect: dict[str, dict] = {}
    n = 20_000
    records = [{"text": f"{lines[i % len(lines)]} #{i}", "id": i} for i in range(n)]
    body = _jsonl(records)

    # 1. zstd: good records, then one garbage frame / a second frame / a cut at 90 %
    zst = zstandard.ZstdCompressor().compress(body)
    (root / "garbage_frame.jsonl.zst").write_bytes(zst + b"\x28\xb5\x2f\xfd" + bytes(range(256)) * 4)
    expect["garbage_frame.jsonl.zst"] = {"out": n, "quarantined": {"corrupt_input": 1}}
    half = len(body) // 2
    cut = body.rfind(b"\n", 0, half) + 1
    two = zstandard.ZstdCompressor().compress(body[:cut]) + zstandard.ZstdCompressor().compress(body[cut:])
    (root / "two_frames.jsonl.zst").write_bytes(two)
    expect["two_frames.jsonl.zst"] = {"out": n, "quarantined": {}}
    cut_zst = zst[: int(len(zst) * 0.9)]
    (root / "cut90.jsonl.zst").write_bytes(cut_zst)
    # the lines decoded from the last 64 compressed bytes before a cut are held back (quarantined one by one)
    held = complete_lines_zstd(cut_zst) - complete_lines_zstd(cut_zst[:-64])
    expect["cut90.jsonl.zst"] = {"out": complete_lines_zstd(cut_zst[:-64]), "quarantined": {"truncated_input": 1 + held}}

    # 2. gzip: trailing garbage / two members / NUL padding / a cut at 90 %
    gz = gzip.compress(body)
    (root / "trailing_garbage.jsonl.gz").write_bytes(gz + b"this is not gzip data\n" * 10)
    expect["trailing_garbage.jsonl.gz"] = {"out": complete_lines_gzip(gz), "quarantined": {"corrupt_input": 1}}
    (root / "two_members.jsonl.gz").write_bytes(gzip.compress(body[:cut]) + gzip.compress(body[cut:]))
    expect["two_members.jsonl.gz"] = {"out": n, "quarantined": {}}
    (root / "nul_padded.jsonl.gz").write_bytes(gz + b"\0" * 512)
    expect["nul_padded.jsonl.gz"] = {"out": n, "quarantined": {}}
    cut_gz = gz[: int(len(gz) * 0.9)]
    (root / "cut90.jsonl.gz").write_bytes(cut_gz)
    held = complete_lines_gzip(cut_gz) - complete_lines_gzip(cut_gz[:-64])
    expect["cut90.jsonl.gz"] = {"out": complete_lines_gzip(cut_gz[:-64]), "quarantined": {"truncated_input": 1 + held}}

    # 5. one bad record never aborts a run: lone surrogates (text, another field), 10,000-deep nesting
    good_lines = _jsonl([{"text": t} for t in lines[:10]]).splitlines(keepends=True)
    odd = (
        b'{"text": "lone \\ud800 surrogate"}\n'
        b'{"text": "fine", "title": "\\udfff"}\n' + b'{"text": "deep", "x": ' + b"[" * 10_000 + b"]" * 10_000 + b"}\n" + b"[" * 10_000 + b"\n"
    )
    (root / "bad_records.jsonl").write_bytes(b"".join(good_lines[:5]) + odd + b"".join(good_lines[5:]))
    expect["bad_records.jsonl"] = {"out": 10, "quarantined": {"invalid_unicode": 2, "malformed_json": 2}}

    # 6. valid inputs that were rejected or mangled
    texts = lines[:12]
    pq.write_table(pa.table({"text": pa.array(texts).dictionary_encode(), "k": list(range(12))}), root / "dict.parquet")
    expect["dict.parquet"] = {"out": 12, "quarantined": {}}
    pq.write_table(pa.table({"text": pa.array(texts, pa.string_view())}), root / "view.parquet")
    expect["view.parquet"] = {"out": 12, "quarantined": {}}
    pq.write_table(pa.table({"text": pa.array(texts, pa.large_string())}), root / "large.parquet", row_group_size=5)
    expect["large.parquet"] = {"out": 12, "quarantined": {}}
    pq.ParquetWriter(root / "no_row_groups.parquet", pa.schema([("text", pa.string())])).close()
    expect["no_row_groups.parquet"] = {"out": 0, "quarantined": {}}
    utf16 = "\n".join(texts) + "\n"
    (root / "utf16_bom.txt").write_bytes(utf16.encode("utf-16"))
    expect["utf16_bom.txt"] = {"out": 0, "quarantined": {"unsupported_encoding": 1}}
    (root / "utf16le.txt").write_bytes(utf16.encode("utf-16-le"))
    expect["utf16le.txt"] = {"out": 0, "quarantined": {"unsupported_encoding": 1}}
    (root / "utf32.jsonl").write_bytes(_jsonl([{"text": t} for t in texts]).decode().encode("utf-32"))
    expect["utf32.jsonl"] = {"out": 0, "quarantined": {"unsupported_encoding": 1}}
    (root / "bom.jsonl").write_bytes(b"\xef\xbb\xbf" + _jsonl([{"text": t} for t in texts]))
    expect["bom.jsonl"] = {"out": 12, "quarantined": {}}
    (root / "bom.txt").write_bytes(b"\xef\xbb\xbf" + utf16.encode())
    expect["bom.txt"] = {"out": 12, "quarantined": {}}
    return expect
