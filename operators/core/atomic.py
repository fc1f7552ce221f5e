"""The one way tokenmill writes a file: a temporary name in the same folder, fsync, rename, fsync the folder.

A reader (or a crash) therefore sees the old file or the complete new one, never a torn one. Every module that
publishes a file or a folder goes through these helpers:

- :func:`write_bytes_atomic` / :func:`write_text_atomic`: bytes or text we hold in memory;
- :func:`atomic_path`: a file some library writes itself (Parquet, DuckDB ``COPY``, safetensors, a PNG): write to
  the yielded temporary path, the rest happens on exit;
- :func:`replace_atomic`: a file already written under a temporary name (shard files written in pieces);
- :func:`rename_dir_atomic`: a folder assembled under a temporary name (cached partitions, published builds);
- :func:`symlink_atomic`: a relative symbolic link switched to a new target (``builds/CURRENT``).
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa


def fsync_path(path: str | Path) -> None:
    """fsync a closed file or a directory by path (a file: its data is on disk before it is renamed into place)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: str | Path) -> None:
    """fsync a directory, so that a rename inside it survives a crash."""
    fsync_path(path)


def fsync_tree(path: str | Path) -> None:
    """fsync every file and folder under ``path`` (and ``path`` itself), before the folder is renamed into place."""
    path = Path(path)
    for sub in sorted(path.rglob("*"), reverse=True):  # files before the folders that hold them
        if not sub.is_symlink() and (sub.is_file() or sub.is_dir()):
            fsync_path(sub)
    fsync_dir(path)


def tmp_path_for(path: str | Path) -> Path:
    """A fresh hidden temporary name beside ``path`` (unique, so concurrent writers of one name never collide)."""
    path = Path(path)
    return path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")


def replace_atomic(tmp: str | Path, path: str | Path) -> None:
    """Publish a file written (and closed) under ``tmp`` as ``path``: fsync it, rename over ``path``, fsync the folder."""
    fsync_path(tmp)
    os.replace(tmp, path)
    fsync_dir(Path(path).parent)


@contextmanager
def atomic_path(path: str | Path, *, tmp: str | Path | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` to write to; on a clean exit it is fsynced and renamed to ``path``
    (and the folder fsynced), on an exception it is removed and ``path`` is untouched.

    Args:
        path: the final name.
        tmp: the temporary name, when a protocol fixes it (the shard manifest's ``.manifest.json.tmp``); by default
            a unique hidden name in the same folder.
    """
    tmp = Path(tmp) if tmp is not None else tmp_path_for(path)
    try:
        yield tmp
        replace_atomic(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_bytes_atomic(path: str | Path, data: bytes, *, tmp: str | Path | None = None) -> None:
    """Write ``data`` to ``path`` atomically (temp name in the same folder, fsync, rename, fsync the folder)."""
    with atomic_path(path, tmp=tmp) as t, open(t, "wb") as fh:
        fh.write(data)


def write_text_atomic(path: str | Path, text: str, *, tmp: str | Path | None = None) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    write_bytes_atomic(path, text.encode("utf-8"), tmp=tmp)


def symlink_atomic(target: str, link: str | Path) -> None:
    """Point the symbolic link ``link`` at ``target`` (relative to the link's folder) atomically.

    The new link is made under a temporary name and renamed over ``link`` (a link or an old-style file), so a reader
    resolves the old target or the new one, never a missing link.
    """
    link = Path(link)
    tmp = link.with_name(f".{link.name}.{uuid.uuid4().hex[:8]}.tmp")
    os.symlink(target, tmp)
    try:
        os.replace(tmp, link)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(link.parent)


def rename_dir_atomic(tmp_dir: str | Path, path: str | Path) -> None:
    """Publish a folder assembled under ``tmp_dir`` as ``path``: fsync everything in it, rename, fsync the parent.

    Raises:
        OSError: from the rename, e.g. when ``path`` already exists and is not empty (the caller decides).
    """
    fsync_tree(tmp_dir)
    os.rename(tmp_dir, path)
    fsync_dir(Path(path).parent)


def write_named_parquet(folder: str, prefix: str, table: pa.Table) -> str:
    """Write ``table`` (with ``source`` and ``location`` columns) to ``folder/PREFIX-<key>.parquet`` atomically, the
    key a hash of its first and last rows' (source, location) and its row count: the name follows from the rows, so
    a retried task overwrites its own file. Returns the path."""
    key = hashlib.blake2b(digest_size=10)
    sources, locations = table["source"].to_pylist(), table["location"].to_pylist()
    for i in (0, table.num_rows - 1):
        key.update(f"{sources[i]}\x00{locations[i]}\x00".encode())
    key.update(str(table.num_rows).encode())
    path = os.path.join(folder, f"{prefix}-{key.hexdigest()}.parquet")
    import pyarrow.parquet as pq

    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    return path
