"""Exact dedup by content hash, out of core with DuckDB over the written Parquet.

Of each group of identical texts (or DNA segments) the row with the smallest id is kept; the others are
quarantined with reason ``duplicate`` and the id they duplicate, so nothing disappears without a trace and the
choice does not depend on task order.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from schemas import QUARANTINE


def exact_dedup(in_dir: str | Path, out_dir: str | Path, quarantine_dir: str | Path, content_column: str,
                schema_name: str, stage: str = "dedup") -> dict[str, int]:
    """Copy ``in_dir``'s Parquet rows to ``out_dir`` without exact duplicates of ``content_column``.

    Returns:
        ``{"rows_in": ..., "rows_out": ..., "duplicates": ...}``.
    """
    out_dir, quarantine_dir = Path(out_dir), Path(quarantine_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    quarantine_dir.mkdir(parents=True, exist_ok=True)
    src = str(Path(in_dir) / "*.parquet")
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = false")
    con.execute(f"""CREATE TEMP VIEW ranked AS SELECT *, md5({content_column}) AS _h,
        row_number() OVER (PARTITION BY md5({content_column}) ORDER BY id) AS _rank,
        first(id) OVER (PARTITION BY md5({content_column}) ORDER BY id) AS _first
        FROM read_parquet('{src}')""")
    rows_in = con.execute(f"SELECT count(*) FROM read_parquet('{src}')").fetchone()[0]
    cols = ", ".join(f'"{c}"' for c in pq.read_schema(next(Path(in_dir).glob("*.parquet"))).names)
    tmp = out_dir / "part-0.parquet.tmp"
    con.execute(f"""COPY (SELECT {cols} FROM ranked WHERE _rank = 1 ORDER BY id) TO '{tmp}'
        (FORMAT parquet, COMPRESSION zstd, KV_METADATA {{'tokenmill.schema': '{schema_name}'}})""")
    os.replace(tmp, out_dir / "part-0.parquet")
    qtmp = quarantine_dir / f"q-{stage}.parquet.tmp"
    con.execute(f"""COPY (SELECT source, location, '{stage}' AS stage, 'duplicate' AS reason,
        'same content as ' || _first AS detail, left({content_column}, 50) AS excerpt
        FROM ranked WHERE _rank > 1 ORDER BY id) TO '{qtmp}' (FORMAT parquet, COMPRESSION zstd,
        KV_METADATA {{'tokenmill.schema': '{QUARANTINE.metadata[b"tokenmill.schema"].decode()}'}})""")
    os.replace(qtmp, quarantine_dir / f"q-{stage}.parquet")
    rows_out = con.execute(f"SELECT count(*) FROM read_parquet('{out_dir / 'part-0.parquet'}')").fetchone()[0]
    con.close()
    return {"rows_in": rows_in, "rows_out": rows_out, "duplicates": rows_in - rows_out}
