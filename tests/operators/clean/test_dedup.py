"""Exact dedup keeps the first of each group in canonical input order (source, then position), not the smallest id."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from tokenmill.operators.clean import exact_dedup
from tokenmill.schemas import DNA_SEGMENTS, DOCUMENTS


def _docs(rows: list[tuple[str, str, str, str]]) -> pa.Table:
    return pa.table(
        {
            "id": [r[0] for r in rows],
            "source": [r[1] for r in rows],
            "location": [r[2] for r in rows],
            "text": [r[3] for r in rows],
            "lang": [None] * len(rows),
            "script": [None] * len(rows),
            "n_bytes": [len(r[3]) for r in rows],
            "meta": [None] * len(rows),
        },
        schema=DOCUMENTS,
    )


def _run(tmp_path, tables: list[pa.Table], column: str, schema: str):
    (tmp_path / "in").mkdir()
    for i, t in enumerate(tables):  # split over files in an order that is not the canonical one
        pq.write_table(t, tmp_path / "in" / f"part-{i}.parquet")
    counts = exact_dedup(tmp_path / "in", tmp_path / "out", tmp_path / "q", column, schema)
    return counts, pq.read_table(tmp_path / "out"), pq.read_table(tmp_path / "q")


def test_first_in_input_order_is_kept_not_the_smallest_id(tmp_path):
    # "byte=9" comes before "byte=10" (numbers, not strings); a.txt before b.txt; row group 2 before row group 10.
    later = _docs(
        [
            ("0000", "b.txt", "byte=0", "same"),  # smallest id, but in the later source
            ("0001", "a.txt", "byte=10", "same"),
            ("0002", "c.parquet", "row_group=10,row=0", "other"),
            ("0003", "c.parquet", "row_group=2,row=5", "other"),
        ]
    )
    first = _docs([("ffff", "a.txt", "byte=9", "same"), ("fffe", "c.parquet", "row_group=2,row=40", "other"), ("fffd", "a.txt", "byte=20", "unique")])
    counts, out, q = _run(tmp_path, [later, first], "text", "documents/v1")
    assert counts == {"rows_in": 7, "rows_out": 3, "duplicates": 4}
    assert out["id"].to_pylist() == ["0003", "fffd", "ffff"]  # rows ordered by id
    assert pq.read_schema(tmp_path / "out" / "part-0.parquet").metadata[b"tokenmill.schema"] == b"documents/v1"
    got = sorted(zip(q["location"].to_pylist(), q["detail"].to_pylist(), q["reason"].to_pylist()))
    assert got == [
        ("byte=0", "same content as ffff", "duplicate"),
        ("byte=10", "same content as ffff", "duplicate"),
        ("row_group=10,row=0", "same content as 0003", "duplicate"),
        ("row_group=2,row=40", "same content as 0003", "duplicate"),
    ]
    assert not [p for p in (tmp_path / "out").iterdir() if p.name != "part-0.parquet"]  # no temporaries left


def test_dna_segments_keep_the_first_by_record_and_offset(tmp_path):
    seg = pa.table(
        {
            "id": ["a", "b", "c"],
            "source": ["g.fa"] * 3,
            "record": ["chr1", "chr1", "chr2"],
            "offset": [1000, 0, 0],
            "seq": ["ACGT"] * 3,
            "soft_masked_fraction": pa.array([0.0] * 3, pa.float32()),
        },
        schema=DNA_SEGMENTS,
    )
    counts, out, q = _run(tmp_path, [seg], "seq", "dna_segments/v1")
    assert counts["duplicates"] == 2 and out["id"].to_pylist() == ["b"]
    assert sorted(q["location"].to_pylist()) == ["chr1:1000", "chr2:0"]
    assert set(q["detail"].to_pylist()) == {"same content as b"}
