"""Verify a packed shard set: ``python pipelines/verify_shards.py DIR`` (a folder, or ``s3://bucket/prefix``).

Checks ``DIR/manifest.json`` first: valid JSON, every key of the right type, and every file it names a path
inside DIR (an absolute path, a ``..`` or a symbolic link that leads out is refused before anything is opened).
Then recomputes every checksum, re-reads every shard, checks .bin/.idx/plan consistency, position and boundary
invariants and the token totals. Exits 0 when the set is complete and sound, 1 with one ``FAIL DIR: problem``
line naming the first problem otherwise (a malformed manifest included: never a traceback).
"""

import sys, pathlib; sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # noqa: E401,E702 - run without install

import argparse  # noqa: E402
import json  # noqa: E402

from tokenmill.operators.shards.verify import verify_shard_set  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, verify, print the outcome; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", help="the shard set directory (holding manifest.json), or an s3:// URI of one")
    parser.add_argument("--no-checksums", action="store_true", help="skip recomputing sha256 (quick check)")
    args = parser.parse_args(argv)
    report = verify_shard_set(args.directory, checksums=not args.no_checksums)
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if not report.ok:
        print(f"FAIL {args.directory}: {report.problem}", file=sys.stderr)
        return 1
    t = report.totals
    print(f"OK {args.directory}: " + json.dumps({k: t[k] for k in ("shards", "rows", "documents", "tokens", "utilization")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
