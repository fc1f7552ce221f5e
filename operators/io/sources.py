"""Input resolution and read planning: globs/paths/fsspec URIs → files → read tasks.

A read task is a plain dict (so it travels through ``ray.data.from_items``): ``source``, ``format``,
``compression``, ``start``/``end`` byte range (uncompressed line formats are split so one big file feeds several
workers) or ``row_group`` for Parquet. User mistakes (a path that matches nothing, a directory given as a file, an
unknown extension) raise :class:`operators.core.ConfigError` naming the path and the fix.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import fsspec

if TYPE_CHECKING:
    import pyarrow as pa

from tokenmill.operators.core.config import ConfigError
from tokenmill.operators.io.redact import refuse_credentials

T = TypeVar("T")
log = logging.getLogger(__name__)


_EXTENSIONS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".txt": "text",
    ".text": "text",
    ".py": "text",
    ".md": "text",
    ".fa": "fasta",
    ".fna": "fasta",
    ".fasta": "fasta",
    ".fas": "fasta",
    ".warc": "warc",
    ".wet": "warc",  # Common Crawl names its WET files .warc.wet.gz
}
_COMPRESSIONS = {".gz": "gzip", ".zst": "zstd", ".zstd": "zstd"}


@dataclass(frozen=True, kw_only=True, slots=True)
class InputFile:
    """One resolved input file."""

    uri: str
    """Full path or URI (with protocol for non-local filesystems)."""
    format: str
    """jsonl | parquet | text | fasta | warc (wet: warc)."""
    compression: str | None
    """gzip | zstd | None."""
    size: int
    """Size in bytes as stored (compressed size for compressed files)."""
    mtime: float
    """Modification time (seconds since the epoch; 0 when the filesystem has none)."""


def detect_format(path: str, override: str = "auto") -> tuple[str, str | None]:
    """Return (format, compression) from ``path``'s extensions, or ``override`` when it is not ``auto``."""
    name = path.rsplit("/", 1)[-1].lower()
    compression = None
    for ext, comp in _COMPRESSIONS.items():
        if name.endswith(ext):
            compression, name = comp, name[: -len(ext)]
            break
    if override != "auto":
        return override, compression
    for ext, fmt in _EXTENSIONS.items():
        if name.endswith(ext):
            return fmt, compression
    raise ConfigError(
        f"input {path}: cannot tell its format from the extension; use .jsonl/.parquet/.txt/.fa/.warc (optionally "
        ".gz/.zst) or set format=jsonl|parquet|text|fasta|warc"
    )


def resolve_inputs(patterns: list[str] | tuple[str, ...], format: str = "auto") -> list[InputFile]:
    """Expand globs, local paths and fsspec URIs into a sorted, de-duplicated list of input files.

    Raises:
        ConfigError: no inputs, a pattern that matches nothing, or a directory given as a file.
    """
    if not patterns:
        raise ConfigError("no --input given; pass one or more files, globs or URIs, e.g. --input 'data/*.jsonl.zst'")
    files: dict[str, InputFile] = {}
    for pattern in patterns:
        refuse_credentials(pattern, "--input")
        fs, path = fsspec.core.url_to_fs(pattern)
        protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
        if any(ch in path for ch in "*?["):
            matches = sorted(fs.glob(path))
            matches = [m for m in matches if not fs.isdir(m)]
            if not matches:
                raise ConfigError(f"--input {pattern}: the glob matched no files; check the path (quote globs in the shell)")
        elif not fs.exists(path):
            raise ConfigError(f"--input {pattern}: no such file or directory")
        elif fs.isdir(path):
            raise ConfigError(
                f"--input {pattern} is a directory; pass the files inside it, e.g. --input '{pattern.rstrip('/')}/*.jsonl' "
                f"or --input '{pattern.rstrip('/')}/**/*.txt'"
            )
        else:
            matches = [path]
        for m in matches:
            try:
                info = fs.info(m)
            except OSError as exc:  # a symlink loop, a dangling link, a file removed meanwhile, no permission
                raise ConfigError(
                    f"--input {pattern}: cannot read {m}: {exc.strerror or exc}; remove or fix that "
                    f"file (a symbolic link loop or a dangling link?) or narrow the glob"
                ) from None
            if protocol in ("file", "local"):
                _refuse_special(pattern, m)
            uri = os.path.normpath(m) if protocol in ("file", "local") else f"{protocol}://{m}"
            fmt, comp = detect_format(m, format)
            mtime = info.get("mtime") or info.get("LastModified") or info.get("created") or 0  # LastModified: s3
            files[uri] = InputFile(
                uri=uri, format=fmt, compression=comp, size=int(info.get("size") or 0), mtime=float(mtime.timestamp() if hasattr(mtime, "timestamp") else mtime)
            )
    return [files[k] for k in sorted(files)]


def _refuse_special(pattern: str, path: str) -> None:
    """Refuse a local input that is not a regular file (a FIFO would block the reader forever in ``open()``, a
    device would stream without end), checked with ``stat`` before anything opens it."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return  # reported by the caller's own checks
    if not stat.S_ISREG(mode):
        kind = (
            "a named pipe (FIFO)"
            if stat.S_ISFIFO(mode)
            else "a socket"
            if stat.S_ISSOCK(mode)
            else "a device"
            if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
            else "not a regular file"
        )
        raise ConfigError(
            f"--input {pattern}: {path} is {kind}, not a regular file; tokenmill reads only regular "
            f"files (write the stream to a file first, or narrow the glob)"
        )


def expand_parquet_folders(patterns: list[str] | tuple[str, ...]) -> list[str]:
    """A folder (local or remote) holding ``*.parquet`` files (OUT/documents of ingest.py) → ``folder/*.parquet``;
    every other pattern unchanged."""
    out = []
    for pattern in patterns:
        refuse_credentials(pattern, "--input")  # before anything reaches for it (and might log or echo it)
        fs, path = fsspec.core.url_to_fs(pattern)
        folder = not any(ch in path for ch in "*?[") and fs.isdir(path) and bool(fs.glob(path.rstrip("/") + "/*.parquet"))
        out.append(pattern.rstrip("/") + "/*.parquet" if folder else pattern)
    return out


def parquet_files(folder: str | os.PathLike) -> list[str]:
    """The ``*.parquet`` files directly inside the local ``folder``, sorted.

    Hand them to DuckDB as a parameter, ``read_parquet(?)`` with ``[files]``, never as a pattern in SQL text: a
    folder named ``it's`` would break the quoting, and DuckDB reads ``[1]`` in ``g[1]/*.parquet`` as a character
    class (no files found).
    """
    return sorted(str(p) for p in Path(folder).glob("*.parquet"))


def parquet_schema(uri: str) -> pa.Schema:
    """The Arrow schema of the Parquet file at ``uri`` (local or any fsspec URI), read through fsspec."""
    import pyarrow.parquet as pq

    with fsspec.open(uri, "rb") as fh:
        return pq.read_schema(fh)


def fingerprint(uri: str) -> str:
    """Content fingerprint of a file: blake2b-128 of its bytes (read in 8 MiB chunks)."""
    digest = hashlib.blake2b(digest_size=16)
    with fsspec.open(uri, "rb") as fh:
        while chunk := fh.read(8 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def plan_read_tasks(files: list[InputFile], split_bytes: int = 128 << 20) -> list[dict]:
    """Cut input files into read tasks.

    Uncompressed JSONL and per-line text files larger than ``split_bytes`` are split into byte ranges (each task
    starts at the first line beginning inside its range); Parquet is read one row group per task; compressed files
    and FASTA are read whole, streaming, by one task each.
    """
    tasks: list[dict] = []
    for f in files:
        base = dataclasses.asdict(f)
        if f.format == "parquet":
            tasks.extend(_parquet_tasks(base))
        elif f.format in ("jsonl", "text") and f.compression is None and f.size > split_bytes:
            for start in range(0, f.size, split_bytes):
                tasks.append({**base, "start": start, "end": min(start + split_bytes, f.size)})
        else:
            tasks.append({**base, "start": 0, "end": -1})
    log.info("planned %d read tasks over %d files", len(tasks), len(files))
    return tasks


def _parquet_tasks(base: dict) -> list[dict]:
    import pyarrow.parquet as pq

    try:
        with fsspec.open(base["uri"], "rb") as fh:
            n = pq.ParquetFile(fh).metadata.num_row_groups
    except Exception:  # not a readable Parquet file: one task that quarantines it with the reason
        n = 1
    # A file with zero row groups still gets one task: the reader records that it saw it (zero rows).
    return [{**base, "start": 0, "end": -1, "row_group": i, "row_groups": max(n, 1)} for i in range(max(n, 1))]


# Typical text compression of zstd/gzip/Parquet: a compressed input of N bytes holds about 4 N bytes of text.
COMPRESSION_RATIO = 4


def runs_of_at_least(items: Sequence[T], size: Callable[[T], int], at_least: int) -> list[list[T]]:
    """Cut ``items`` (in their order) into consecutive runs of total ``size`` at least ``at_least`` each (the last
    may hold less): the partitions of worker-side jobs whose input is already split into units (DNA records, cached
    build partitions), so they depend only on the units and the setting, never on the number of workers."""
    runs: list[list[T]] = []
    total = 0
    for item in items:
        if not runs or total >= at_least:
            runs.append([])
            total = 0
        runs[-1].append(item)
        total += size(item)
    return runs


def text_bytes(task: dict) -> int:
    """About how many bytes of text a read task holds: compressed and Parquet inputs are sized by the text they hold
    (:data:`COMPRESSION_RATIO` x their bytes on disk), not by their bytes on disk."""
    n = (task["end"] - task["start"]) if task["end"] >= 0 else task["size"]
    if task.get("row_group") is not None and task["end"] < 0:
        n = max(task["size"] // max(task.get("row_groups", 1), 1), 1)
    return n * COMPRESSION_RATIO if task.get("compression") or task["format"] == "parquet" else n


SMALL_PARTS = 16
"""Inputs under ``SMALL_PARTS`` partitions of the configured size are cut into about this many partitions instead, so
the cores of a small cluster all have work (see :func:`partition_size`)."""


def partition_size(total: int, most: int, least: int = 1 << 20) -> int:
    """The partition size for inputs of ``total`` (bytes, or bp): ``most`` (the configured size), but about
    ``total / SMALL_PARTS`` for inputs too small to give every core a partition, never under ``least``. From the
    inputs and the config alone, never the cluster: the same partitions, and bytes, with 1 or N workers."""
    return max(min(least, most), min(most, total // SMALL_PARTS + 1))


def plan_partitions(tasks: list[dict], partition_bytes: int) -> list[list[dict]]:
    """Group read tasks into partitions of about ``partition_bytes`` bytes of text, in canonical order.

    Tasks are ordered by (uri, start, row group) and cut into consecutive groups, so the partitions — and every
    output derived from them — depend only on the inputs and ``partition_bytes``, never on the number of workers.
    A task is never split; a big one is a partition of its own.
    """
    ordered = sorted(tasks, key=lambda t: (t["uri"], t["start"], t.get("row_group") or 0))
    groups: list[list[dict]] = []
    size = 0
    for task in ordered:
        n = text_bytes(task)
        if not groups or (size + n > partition_bytes and size > 0):
            groups.append([])
            size = 0
        groups[-1].append(task)
        size += n
    return groups
