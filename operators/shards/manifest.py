"""The shard-set manifest and the atomic commit protocol.

Protocol (a crash at any point leaves the previous complete set, or no manifest at all):

1. Every shard file is written under a hidden temporary name (``.NAME.tmp``) in the output directory, fsynced and
   renamed to its final name, which carries a token unique to the writing run (``shard-<token>-00000.bin``), so a
   new set never overwrites a file of the set the current manifest describes.
2. ``manifest.json`` is written last: to ``.manifest.json.tmp``, fsynced, renamed over the old one, and the
   directory is fsynced. Until that rename the old manifest (or none) is what readers see.
3. Only then are files that the new manifest does not reference (the previous set, leftovers of crashed runs)
   removed. Only names this module creates are ever removed.

Readers and ``verify`` trust nothing but the manifest; files it does not list are not part of the set.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import os
import re
from dataclasses import asdict
from pathlib import Path
from typing import Any

from operators.shards.config import MANIFEST_FORMAT, MANIFEST_NAME, SUFFIXES, ShardWriterConfig

log = logging.getLogger(__name__)

SHARD_NAME = re.compile(r"^shard-[0-9a-f]{8,}-\d{5,}$")
_OURS = re.compile(r"^(shard-[0-9a-f]{8,}-\d{5,}(\.bin|\.idx|\.plan\.parquet|\.rows\.parquet)|\..+\.tmp)$")


def fsync_dir(path: str | Path) -> None:
    """fsync a directory so that renames inside it are durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: str | Path) -> None:
    """fsync a closed file by path."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def tmp_name(final: str | Path) -> Path:
    """The hidden temporary name a file is written under before it is renamed to ``final``."""
    final = Path(final)
    return final.with_name(f".{final.name}.tmp")


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: temporary name in the same directory, fsync, rename, fsync dir."""
    path = Path(path)
    tmp = tmp_name(path)
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def sha256_file(path: str | Path, chunk: int = 1 << 22) -> str:
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def file_entry(path: Path) -> dict[str, Any]:
    """The manifest entry of one committed file: name relative to the set, bytes, sha256."""
    return {"path": path.name, "bytes": path.stat().st_size, "sha256": sha256_file(path)}


def build_manifest(
    *,
    shards: list[dict[str, Any]],
    config: ShardWriterConfig,
    vocab_size: int,
    tokenizer_hash: str,
    run_id: str,
    token_dtype: str,
    pack_stats: dict[str, int],
    source: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Assemble the manifest of a shard set from its shard entries (totals and utilization computed here)."""
    C = config.pack.context_length
    totals = {k: sum(int(s[k]) for s in shards) for k in ("rows", "documents", "segments", "tokens", "pad_tokens")}
    totals["shards"] = len(shards)
    totals["slots"] = totals["rows"] * C
    totals["utilization"] = totals["tokens"] / totals["slots"] if totals["slots"] else 1.0
    # Every row's positions restart per document and cu_seqlens separate documents: by construction no token
    # attends across a document boundary; verify re-checks the invariants that guarantee it.
    totals["cross_document_attention"] = 0
    return {
        "format": MANIFEST_FORMAT,
        "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "run_id": run_id,
        "source": source or {},
        "tokenizer": {"hash": tokenizer_hash, "vocab_size": vocab_size},
        "token_dtype": token_dtype,
        "context_length": C,
        "formats": list(config.formats),
        "config": _jsonable(asdict(config)),
        "shards": shards,
        "totals": totals,
        "pack_stats": pack_stats,
    }


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    return obj


def write_manifest(out_dir: str | Path, manifest: dict[str, Any]) -> None:
    """Commit ``manifest`` as ``out_dir/manifest.json`` atomically (step 2 of the protocol)."""
    atomic_write_bytes(Path(out_dir) / MANIFEST_NAME, (json.dumps(manifest, indent=1) + "\n").encode())


def load_manifest(out_dir: str | Path) -> dict[str, Any]:
    """Read and check ``out_dir/manifest.json``.

    Raises:
        ValueError: when it is missing, not JSON, or not a ``tokenmill shards v1`` manifest.
    """
    path = Path(out_dir) / MANIFEST_NAME
    if not path.is_file():
        raise ValueError(f"{path}: no manifest, so {out_dir} holds no complete shard set")
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        got = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise ValueError(f"{path}: format is {got!r}, expected {MANIFEST_FORMAT!r}")
    for key in ("shards", "totals", "context_length", "token_dtype", "tokenizer", "formats"):
        if key not in manifest:
            raise ValueError(f"{path}: missing key {key!r}")
    return manifest


def referenced_files(manifest: dict[str, Any]) -> set[str]:
    """Names of every file the manifest lists."""
    return {f["path"] for s in manifest["shards"] for f in s["files"].values()}


def unreferenced_files(out_dir: str | Path, manifest: dict[str, Any] | None) -> list[str]:
    """Files in ``out_dir`` that look like ours (shards, temporaries) but the manifest does not list."""
    keep = referenced_files(manifest) if manifest else set()
    return sorted(p.name for p in Path(out_dir).iterdir() if _OURS.match(p.name) and p.name not in keep and p.name != MANIFEST_NAME)


def collect_garbage(out_dir: str | Path, manifest: dict[str, Any]) -> list[str]:
    """Remove our files that the committed manifest does not reference (step 3 of the protocol)."""
    removed = unreferenced_files(out_dir, manifest)
    for name in removed:
        try:
            os.remove(Path(out_dir) / name)
        except FileNotFoundError:
            pass
    if removed:
        fsync_dir(out_dir)
        log.info("removed %d files no manifest references from %s", len(removed), out_dir)
    return removed


def shard_file_names(name: str, kinds: tuple[str, ...]) -> dict[str, str]:
    """Final file names of shard ``name`` for the given file kinds."""
    return {k: name + SUFFIXES[k] for k in kinds}
