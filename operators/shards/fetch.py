"""Local copies of the files of a remote shard set (``s3://...``), for the reader and for ``verify``.

The reader memory-maps ``.bin`` files and reads Parquet plans, which needs local files: :func:`cached_file` keeps
one copy of each file in a content-addressed cache (``<cache>/shards/<sha256>``, see
:func:`operators.core.uri.cache_root`), checked against the manifest's sha256 before it is used, so DataLoader
workers and later runs share it and a corrupt or stale download is never read. ``verify`` must judge the bytes in
the store, not a cache: :func:`download_set` copies a set into a fresh folder without checking anything (verify
then does, and reports what is wrong as it does locally).
"""

from __future__ import annotations

import logging
import os
import uuid
from pathlib import Path
from typing import Any

from tokenmill.operators.core.uri import cache_root, join, remote_fs
from tokenmill.operators.shards.config import MANIFEST_NAME
from tokenmill.operators.shards.manifest import sha256_file, shard_file

log = logging.getLogger(__name__)


def cached_file(directory: str, entry: dict[str, Any]) -> Path:
    """A verified local copy of the file ``entry`` (a manifest file entry) of the remote set at ``directory``.

    Raises:
        ValueError: the remote file's size or sha256 is not what the manifest says (the set is damaged).
    """
    shard_file(directory, entry["path"])  # the name is a file inside the set
    cache = cache_root() / "shards"
    path = cache / entry["sha256"]
    if path.is_file() and path.stat().st_size == entry["bytes"]:
        return path
    cache.mkdir(parents=True, exist_ok=True)
    tmp = cache / f".{entry['sha256']}.{uuid.uuid4().hex[:8]}.tmp"
    fs, key = remote_fs(join(directory, entry["path"]))
    try:
        fs.get_file(key, str(tmp))
        if tmp.stat().st_size != entry["bytes"] or sha256_file(tmp) != entry["sha256"]:
            raise ValueError(f"{join(directory, entry['path'])}: size or sha256 does not match the manifest; run pipelines/verify_shards.py {directory}")
        os.replace(tmp, path)  # workers fetching the same file race harmlessly: both copies are the same bytes
    finally:
        tmp.unlink(missing_ok=True)
    return path


def download_set(directory: str, dest: Path, manifest: dict[str, Any]) -> None:
    """Copy the manifest and every file it lists that exists from the remote set ``directory`` into ``dest``."""
    fs, root = remote_fs(directory)
    fs.get_file(join(root, MANIFEST_NAME), str(dest / MANIFEST_NAME))
    for shard in manifest["shards"]:
        for entry in shard["files"].values():
            shard_file(directory, entry["path"])
            target = dest / entry["path"]
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                fs.get_file(join(root, entry["path"]), str(target))
            except FileNotFoundError:  # verify reports it as missing
                log.debug("%s: not in the store", entry["path"])
