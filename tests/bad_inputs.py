"""Real broken files for the bad-input suite, written into a test's tmp_path (what each should produce)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import zstandard


def _jsonl(records: list[dict]) -> bytes:
    return b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in records)


def write_bad_corpus(root: Path, udhr_lines: list[str]) -> dict[str, dict]:
    """Write a corpus of broken and good files; return {file name: expected quarantine reasons → min count}."""
    root.mkdir(parents=True, exist_ok=True)
    good = [{"text": line, "id": i} for i, line in enumerate(udhr_lines)]
    expect: dict[str, dict] = {}

    (root / "good.jsonl").write_bytes(_jsonl(good))
    expect["good.jsonl"] = {}

    full = _jsonl(good * 20)
    zst, gz = zstandard.ZstdCompressor().compress(full), gzip.compress(full)
    (root / "truncated.jsonl.zst").write_bytes(zst[: len(zst) // 2])
    expect["truncated.jsonl.zst"] = {"truncated_input": 1}
    (root / "truncated.jsonl.gz").write_bytes(gz[: len(gz) // 2])
    expect["truncated.jsonl.gz"] = {"truncated_input": 1}

    lines = _jsonl(good).splitlines(keepends=True)
    mid = len(lines) // 2
    broken = [
        *lines[:mid],
        b'{"text": "unterminated\n',
        b"[1, 2, 3]\n",
        b'{"body": "no text field"}\n',
        b'{"text": 42}\n',
        b'{"text": "bad \xff\xfe bytes"}\n',
        b'{"text": "\\u0007\\u0001"}\n',
        *lines[mid:],
    ]
    (root / "broken.jsonl").write_bytes(b"".join(broken))
    expect["broken.jsonl"] = {"malformed_json": 1, "not_an_object": 1, "missing_text_field": 1, "text_not_string": 1, "invalid_utf8": 1, "empty": 1}

    (root / "empty.jsonl").write_bytes(b"")
    expect["empty.jsonl"] = {}

    (root / "huge_line.txt").write_bytes(b"A" * (50 << 20) + b"\n" + udhr_lines[0].encode() + b"\n")
    expect["huge_line.txt"] = {"too_large": 1}

    (root / "latin1.txt").write_bytes("Ünïcödé in Latin-1\n".encode("latin-1") + udhr_lines[1].encode() + b"\n")
    expect["latin1.txt"] = {"invalid_utf8": 1}

    (root / "bad.fa").write_bytes(
        b"ACGTACGT\n"  # sequence before any header
        b">chr1 soft-masked\n" + b"acgtACGTac" * 150 + b"\n"  # 1500 bp, mixed case
        b">chr2 digits\n" + b"ACGT" * 200 + b"12345" + b"ACGT" * 100 + b"\n"
        b">chr3 iupac\n" + b"ACGT" * 300 + b"RY" + b"ACGT" * 300 + b"\n"
        b">chr4 n-run\n" + b"ACGT" * 250 + b"N" * 100 + b"ACGT" * 5 + b"\n"
        b">chr5 empty\n"
    )
    expect["bad.fa"] = {"sequence_before_header": 1, "invalid_dna_char": 1, "short_segment": 1, "empty_record": 1}

    pq.write_table(pa.table({"body": ["x", "y"], "n": [1, 2]}), root / "wrong_schema.parquet")
    expect["wrong_schema.parquet"] = {"parquet_schema": 1}
    pq.write_table(pa.table({"text": udhr_lines[:5], "lang": ["eng"] * 5}), root / "good.parquet")
    expect["good.parquet"] = {}
    return expect
