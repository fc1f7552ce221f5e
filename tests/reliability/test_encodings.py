"""UTF-16 without a byte-order mark whose bytes are all in the ASCII range (CJK text: U+4E2D is "-N" in UTF-16-LE)
is refused as unsupported_encoding instead of being read as ASCII garbage; UTF-8 with a stray NUL is still read."""

from __future__ import annotations

import pyarrow as pa
import pytest

from tokenmill.operators.io import IngestConfig, plan_read_tasks, resolve_inputs
from tokenmill.operators.io.read_task import ReadTask

CJK = "".join(chr(0x4E00 + i) for i in range(0x20, 0x7F))  # every UTF-16 byte of these is printable ASCII


def _read(path) -> list[dict]:
    reader = ReadTask(IngestConfig())
    rows = pa.concat_tables(list(reader(pa.Table.from_pylist(plan_read_tasks(resolve_inputs([str(path)])))))).to_pylist()
    assert sum(r["seen"] for r in reader.receipts) == len(rows)
    return rows


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf16_without_bom_in_the_ascii_byte_range_is_refused(tmp_path, encoding):
    data = "".join(f"{CJK[i:]}{CJK[:i]}\n" for i in range(20)).encode(encoding)
    assert data.decode("ascii", "strict")  # all bytes are ASCII: before, each line was kept as garbage text
    path = tmp_path / "cjk.txt"
    path.write_bytes(data)
    rows = _read(path)
    assert [r["_reject_reason"] for r in rows] == ["unsupported_encoding"]
    assert "UTF-16" in rows[0]["_reject_detail"]


def test_utf8_with_a_stray_nul_is_still_read(tmp_path):
    path = tmp_path / "nul.txt"
    path.write_bytes(b"first line\n\x00second line\nthird line\n")
    rows = _read(path)
    assert [r["_reject_reason"] for r in rows] == [None, None, None]
