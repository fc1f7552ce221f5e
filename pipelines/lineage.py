"""Trace a packed training row back to its sources: every document in it with source file, record location and id.

python pipelines/lineage.py --input OUT/builds/<build_id> --shard 0 --row 17
python pipelines/lineage.py OUT/builds/CURRENT --shard 0 --row 17 --json
python pipelines/lineage.py --input OUT/builds/CURRENT --shard 0 --row 17 --output TRACE   # TRACE/lineage.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import duckdb

from tokenmill.operators.core.atomic import write_text_atomic
from tokenmill.operators.core.cli import Parser, output_folder
from tokenmill.operators.shards import load_manifest


def lineage(build_dir: Path, shard: int, row: int) -> list[dict]:
    """The documents of packed row ``row`` of shard ``shard`` (index in the manifest), in row order."""
    if build_dir.name == "CURRENT" and build_dir.is_file():  # a build published before CURRENT was a link
        build_dir = build_dir.parent / build_dir.read_text().strip()
    if not (build_dir / "build.json").is_file() or not (build_dir / "documents.parquet").is_file():
        raise ValueError(
            f"{build_dir} is not a published build (no build.json + documents.parquet); pass OUT/builds/<id> or OUT/builds/CURRENT of a build_corpus.py output"
        )
    manifest = load_manifest(build_dir / "shards")
    shards = manifest["shards"]
    if not 0 <= shard < len(shards):
        raise ValueError(f"--shard {shard}: this build has shards 0..{len(shards) - 1}")
    rows_file = shards[shard]["files"].get("rows")
    if rows_file is None:
        raise ValueError("this shard set has no Parquet rows (formats without 'parquet'); lineage reads them")
    n_rows = shards[shard]["rows"]
    if not 0 <= row < n_rows:
        raise ValueError(f"--row {row}: shard {shard} has rows 0..{n_rows - 1}")
    shards_dir = (build_dir / "shards").resolve()
    rows_path = (shards_dir / str(rows_file["path"])).resolve()
    if not rows_path.is_relative_to(shards_dir) or not rows_path.is_file():
        raise ValueError(
            f"shard {shard}: the manifest names rows file {rows_file['path']!r}, which is not a file inside "
            f"{shards_dir}; the manifest was edited or the build is damaged: run verify_shards.py on it"
        )
    con = duckdb.connect()
    # Paths and numbers reach DuckDB as parameters, never as SQL text (a crafted manifest must not run SQL).
    result = con.execute(
        """
        WITH packed AS (SELECT doc_ids FROM read_parquet($rows) LIMIT 1 OFFSET $row),
             r AS (SELECT unnest(doc_ids) AS doc_key, generate_subscripts(doc_ids, 1) AS pos FROM packed)
        SELECT r.pos, r.doc_key, d.id, d.source_name, d.source, d.location, d.lang, d.n_tokens
        FROM r LEFT JOIN read_parquet($documents) d USING (doc_key) ORDER BY r.pos""",
        {"rows": [str(rows_path)], "row": int(row), "documents": [str(build_dir / "documents.parquet")]},
    ).fetchall()
    con.close()
    cols = ("position", "doc_key", "id", "source_name", "source", "location", "lang", "n_tokens")
    return [dict(zip(cols, r)) for r in result]


def main(argv: list[str] | None = None) -> int:
    parser = Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("build", nargs="?", default=None, help="a published build folder, OUT/builds/<id> (or OUT/builds/CURRENT); same as --input")
    parser.add_argument("--input", metavar="BUILD", default=None, help="a published build folder (OUT/builds/<id> or CURRENT)")
    parser.add_argument(
        "--output", metavar="DIR", default=None, type=output_folder, help="also write the documents as JSON lines to DIR/lineage.jsonl (default: print only)"
    )
    parser.add_argument("--shard", type=int, required=True, help="shard index in the manifest (0-based)")
    parser.add_argument("--row", type=int, required=True, help="packed row in that shard (0-based)")
    parser.add_argument("--json", action="store_true", help="print JSON lines instead of a table (default: off)")
    args = parser.parse_args(argv)
    if (args.build is None) == (args.input is None):
        parser.usage_error("give the build once: --input OUT/builds/<id> (or the folder alone)")
    try:
        docs = lineage(Path(args.input or args.build), args.shard, args.row)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.output is not None:
        Path(args.output).mkdir(parents=True, exist_ok=True)
        write_text_atomic(Path(args.output) / "lineage.jsonl", "".join(json.dumps(d, default=str) + "\n" for d in docs))
    for d in docs:
        if args.json:
            print(json.dumps(d))
        else:
            print(f"{d['position']:>3}  {d['id']}  {d['source_name']}  {d['source']}  {d['location']}  lang={d['lang']}  tokens={d['n_tokens']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
