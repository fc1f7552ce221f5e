"""Verify a packed shard set (a folder or s3://bucket/prefix): manifest, checksums, every shard, the totals.

    python pipelines/verify_shards.py --input DIR [--output OUT]     # or: verify_shards.py DIR

``--output OUT`` also writes the outcome as ``OUT/verify.json``.

Checks ``DIR/manifest.json`` first: valid JSON, every key of the right type, and every file it names a path
inside DIR (an absolute path, a ``..`` or a symbolic link that leads out is refused before anything is opened).
Then recomputes every checksum, re-reads every shard, checks .bin/.idx/plan consistency, position and boundary
invariants and the token totals. Exits 0 when the set is complete and sound, 1 with one ``FAIL DIR: problem``
line naming the first problem otherwise (a malformed manifest included: never a traceback).
"""

import json
import pathlib
import sys

from tokenmill.operators.core.atomic import write_text_atomic
from tokenmill.operators.core.cli import Parser, output_folder
from tokenmill.operators.shards.verify import verify_shard_set


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, verify, print the outcome; return the exit status."""
    parser = Parser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", nargs="?", default=None, help="the shard set directory (holding manifest.json), or an s3:// URI of one (same as --input)")
    parser.add_argument("--input", metavar="DIR", default=None, help="the shard set directory, or an s3:// URI of one")
    parser.add_argument("--output", metavar="DIR", default=None, type=output_folder, help="also write the outcome to DIR/verify.json (default: print only)")
    parser.add_argument("--no-checksums", action="store_true", help="skip recomputing sha256 (quick check)")
    args = parser.parse_args(argv)
    if (args.directory is None) == (args.input is None):
        parser.usage_error("give the shard set once: --input DIR (or DIR alone)")
    directory = args.input or args.directory
    report = verify_shard_set(directory, checksums=not args.no_checksums)
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    keys = ("shards", "rows", "documents", "tokens", "utilization")
    if args.output is not None:
        out = pathlib.Path(args.output)
        out.mkdir(parents=True, exist_ok=True)
        outcome = {
            "shards": directory,
            "ok": report.ok,
            "problem": report.problem,
            "warnings": list(report.warnings),
            "totals": {k: report.totals[k] for k in keys if k in report.totals} if report.ok else None,
        }
        write_text_atomic(out / "verify.json", json.dumps(outcome, indent=2, sort_keys=True) + "\n")
    if not report.ok:
        print(f"FAIL {directory}: {report.problem}", file=sys.stderr)
        return 1
    t = report.totals
    print(f"OK {directory}: " + json.dumps({k: t[k] for k in keys}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
