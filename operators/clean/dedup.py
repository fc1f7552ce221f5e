"""Exact dedup by content hash, out of core with DuckDB over the written Parquet.

The rule (the same in ingest and in corpus builds, :mod:`operators.corpus_build.assemble`): of each group of identical
texts (or DNA segments) the **first in canonical input order** is kept, and the others are quarantined with reason
``duplicate`` and the id of the one they duplicate, so nothing disappears without a trace. Canonical input order
is the order of the inputs (ingest sorts its input URIs, so: ``source``), then the record's position inside its
input: the byte offset (``location`` ``byte=N``), row group then row (``row_group=R,row=I``), or for DNA segments
the record then the offset in it. The choice never depends on task order or on ids, and data appended later in
that order never displaces a document kept earlier, which is what incremental builds need.

DNA segments carry no byte position (only the record's name and the offset in it), so inside one FASTA file they
are ordered by record name, then offset: file order when one record holds the duplicates or the records' names sort
in file order.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from tokenmill.operators.core.atomic import atomic_path
from tokenmill.schemas import QUARANTINE

# A record's position inside its source, as sort keys: "byte=N" -> N; "row_group=R,row=I" -> R, I; anything else
# (a whole-file record) sorts first, then by the location string itself and the id, so the order is total.
_DOCUMENT_ORDER = (
    "source, TRY_CAST(regexp_extract(location, '^(?:byte|row_group)=([0-9]+)', 1) AS BIGINT) NULLS FIRST, "
    "TRY_CAST(regexp_extract(location, ',row=([0-9]+)$', 1) AS BIGINT) NULLS FIRST, location, id"
)
_SEGMENT_ORDER = 'source, record, "offset", id'
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def exact_dedup(
    in_dir: str | Path, out_dir: str | Path, quarantine_dir: str | Path, content_column: str, schema_name: str, stage: str = "dedup"
) -> dict[str, int]:
    """Copy ``in_dir``'s Parquet rows to ``out_dir`` without exact duplicates of ``content_column``.

    Of each group of equal contents the first in canonical input order is kept (see the module docstring); the
    rest go to ``quarantine_dir/q-<stage>.parquet`` (reason ``duplicate``, detail ``same content as <kept id>``).
    Both files hold their rows ordered by id and are written atomically.

    Returns:
        ``{"rows_in": ..., "rows_out": ..., "duplicates": ...}``.
    """
    out_dir, quarantine_dir = Path(out_dir), Path(quarantine_dir)
    if not _NAME.match(stage):  # it names the quarantine file too
        raise ValueError(f"exact_dedup: stage={stage!r} is not a plain name (letters, digits, _ . -)")
    out_dir.mkdir(parents=True, exist_ok=True)
    quarantine_dir.mkdir(parents=True, exist_ok=True)
    # Paths and values reach DuckDB as parameters, never as SQL text: a folder named ``it's`` or ``g[1]`` is read
    # as it is (the files are listed here; DuckDB would take ``[1]`` in a pattern for a character class).
    files = sorted(str(f) for f in Path(in_dir).glob("*.parquet"))
    names = pq.read_schema(files[0]).names
    content = _ident(content_column)
    # Documents say where they are in ``location``; DNA segments in ``record`` + ``offset``.
    order, location = (_DOCUMENT_ORDER, "location") if "location" in names else (_SEGMENT_ORDER, "record || ':' || CAST(\"offset\" AS VARCHAR)")
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = false")
    ranked = f"""SELECT *, row_number() OVER (PARTITION BY md5({content}) ORDER BY {order}) AS _rank,
        first(id) OVER (PARTITION BY md5({content}) ORDER BY {order}) AS _first FROM read_parquet($files)"""
    rows_in = _count(con, "SELECT count(*) FROM read_parquet(?)", [files])
    cols = ", ".join(_ident(c) for c in names)
    with atomic_path(out_dir / "part-0.parquet") as tmp:
        con.execute(
            f"""COPY (SELECT {cols} FROM ({ranked}) WHERE _rank = 1 ORDER BY id) TO $out
            (FORMAT parquet, COMPRESSION zstd, KV_METADATA {{'tokenmill.schema': $schema}})""",
            {"files": files, "out": str(tmp), "schema": schema_name},
        )
    quarantine_schema = QUARANTINE.metadata[b"tokenmill.schema"].decode()
    with atomic_path(quarantine_dir / f"q-{stage}.parquet") as qtmp:
        con.execute(
            f"""COPY (SELECT source, {location} AS location, $stage AS stage, 'duplicate' AS reason,
            'same content as ' || _first AS detail, left({content}, 50) AS excerpt
            FROM ({ranked}) WHERE _rank > 1 ORDER BY id) TO $out (FORMAT parquet, COMPRESSION zstd,
            KV_METADATA {{'tokenmill.schema': $schema}})""",
            {"files": files, "out": str(qtmp), "stage": stage, "schema": quarantine_schema},
        )
    rows_out = _count(con, "SELECT count(*) FROM read_parquet(?)", [str(out_dir / "part-0.parquet")])
    con.close()
    return {"rows_in": rows_in, "rows_out": rows_out, "duplicates": rows_in - rows_out}


def _ident(name: str) -> str:
    """``name`` as a quoted SQL identifier (a column name from a file may hold any character)."""
    return '"' + name.replace('"', '""') + '"'


def _count(con: duckdb.DuckDBPyConnection, sql: str, params: list) -> int:
    row = con.execute(sql, params).fetchone()
    assert row is not None  # a COUNT(*) always returns one row
    return int(row[0])
