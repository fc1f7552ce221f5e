"""Paths that may be URIs: whether one names a remote filesystem, joining names onto one, the fsspec filesystem
of one, and where tokenmill keeps local state of remote data.

The lowest layer of remote I/O, importing no other tokenmill module: shard sets read remote manifests and files
through it (:mod:`operators.shards.manifest`, :mod:`operators.shards.fetch`), and the uploader of a job's output
(:mod:`operators.io.remote`) builds on it, so neither imports the other to reach a bucket.
"""

from __future__ import annotations

import os
from pathlib import Path

import fsspec
from fsspec.utils import get_protocol


def is_remote(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` names an fsspec filesystem other than the local one (``s3://``, ``gs://``, ``memory://``...)."""
    return isinstance(path, str) and "://" in path and get_protocol(path) not in ("file", "local")


def join(uri: str, *names: str) -> str:
    """``uri/name/...`` with exactly one slash between the parts."""
    return "/".join([uri.rstrip("/"), *(n.strip("/") for n in names)])


def remote_fs(uri: str) -> tuple[fsspec.AbstractFileSystem, str]:
    """The filesystem of ``uri`` and the path inside it (``bucket/prefix`` for s3), with fresh listings.

    fsspec caches a filesystem per process and s3fs caches directory listings; outputs change between calls, so
    the listing cache is dropped each time.
    """
    fs, path = fsspec.core.url_to_fs(uri)
    fs.invalidate_cache()
    return fs, path.rstrip("/")


def cache_root() -> Path:
    """Where tokenmill keeps local state of remote outputs and shard sets (``$XDG_CACHE_HOME/tokenmill``)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tokenmill"
