"""The shard-set manifest and the atomic commit protocol.

Protocol (a crash at any point leaves the previous complete set, or no manifest at all):

1. Every shard file is written under a hidden temporary name (``.NAME.tmp``) next to its final path (``.bin``/
   ``.idx`` in the output directory, pack plans in ``plan/``, packed rows in ``rows/``), fsynced and renamed to
   it. Final names carry a token unique to the writing run (``shard-<token>-00000.bin``), so a new set never
   overwrites a file of the set the current manifest describes.
2. ``manifest.json`` is written last: to ``.manifest.json.tmp``, fsynced, renamed over the old one, and the
   directory is fsynced. Until that rename the old manifest (or none) is what readers see.
3. Only then are files that the new manifest does not reference (the previous set, leftovers of crashed runs)
   removed. Only names this module creates are ever removed.

Readers and ``verify`` trust nothing but the manifest; files it does not list are not part of the set.

On an object store (``s3://...``; see :mod:`operators.io.remote`) there is no rename: a set is built locally and
uploaded part by part, ``manifest.json`` last (one object, which appears whole), then the files the new manifest
does not list are removed. A prefix without a manifest holds no shard set (:func:`load_manifest` says so).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import logging
import os
import re
from dataclasses import asdict
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from tokenmill.operators.core.atomic import fsync_dir, write_bytes_atomic
from tokenmill.operators.core.uri import is_remote, join, remote_fs
from tokenmill.operators.shards.config import FILE_LAYOUT, FORMATS, KINDS_OF_FORMAT, MANIFEST_FORMAT, MANIFEST_NAME, SUBDIRS, ShardWriterConfig

log = logging.getLogger(__name__)

# Shard files of this layout (plan/NAME.plan, rows/train-NAME.parquet) and of the earlier one (plan/ and rows/
# NAME.parquet), so a new commit over an old set still removes the old set's files.
_OURS = re.compile(
    r"^(shard-[0-9a-f]{8,}-\d{5,}(\.bin|\.idx)|plan/shard-[0-9a-f]{8,}-\d{5,}\.(parquet|plan)"
    r"|rows/(train-)?shard-[0-9a-f]{8,}-\d{5,}\.parquet|((plan|rows)/)?\..+\.tmp)$"
)


def tmp_name(final: str | Path) -> Path:
    """The hidden temporary name a file is written under before it is renamed to ``final``."""
    final = Path(final)
    return final.with_name(f".{final.name}.tmp")


def sha256_file(path: str | Path, chunk: int = 1 << 22) -> str:
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def file_entry(path: Path, out_dir: Path) -> dict[str, Any]:
    """The manifest entry of one committed file: path relative to the set (POSIX), bytes, sha256."""
    return {"path": path.relative_to(out_dir).as_posix(), "bytes": path.stat().st_size, "sha256": sha256_file(path)}


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
    totals: dict[str, Any] = {k: sum(int(s[k]) for s in shards) for k in ("rows", "documents", "segments", "tokens", "pad_tokens")}
    totals["shards"] = len(shards)
    totals["slots"] = totals["rows"] * C
    totals["utilization"] = totals["tokens"] / totals["slots"] if totals["slots"] else 1.0
    # Every row's positions restart per document and cu_seqlens separate documents: by construction no token
    # attends across a document boundary; verify re-checks the invariants that guarantee it.
    totals["cross_document_attention"] = 0
    return {
        "format": MANIFEST_FORMAT,
        "created_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
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
    path = Path(out_dir) / MANIFEST_NAME
    write_bytes_atomic(path, (json.dumps(manifest, indent=1) + "\n").encode(), tmp=tmp_name(path))


def load_manifest(out_dir: str | Path) -> dict[str, Any]:
    """Read and check ``out_dir/manifest.json``: its format, its structure (every key readers and ``verify`` use,
    with its type) and that every file it names lies inside ``out_dir``.

    Raises:
        ValueError: when it is missing, not JSON, not a ``tokenmill shards v1`` manifest, malformed (the message
            names the key and what is wrong with it), or names a file outside ``out_dir``.
    """
    path: Path | str = join(str(out_dir), MANIFEST_NAME) if is_remote(str(out_dir)) else Path(out_dir) / MANIFEST_NAME
    if not _is_file(path):
        raise ValueError(f"{path}: no manifest, so {out_dir} holds no complete shard set")
    try:
        manifest = json.loads(_read_bytes(path))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None
    except OSError as exc:
        raise ValueError(f"{path}: cannot be read ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        got = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise ValueError(f"{path}: format is {got!r}, expected {MANIFEST_FORMAT!r}")
    problem = manifest_problem(manifest, out_dir)
    if problem:
        raise ValueError(f"{path}: {problem}")
    return manifest


def _is_file(path: Path | str) -> bool:
    """Whether ``path`` (a local path, or a remote URI as a str) is a file."""
    if isinstance(path, str):
        fs, key = remote_fs(path)
        return bool(fs.isfile(key))
    return path.is_file()


def _read_bytes(path: Path | str) -> bytes:
    if isinstance(path, str):
        fs, key = remote_fs(path)
        return bytes(fs.cat_file(key))
    return path.read_bytes()


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


_SHARD_COUNTS = ("rows", "documents", "segments", "tokens", "pad_tokens")


def manifest_problem(manifest: dict[str, Any], out_dir: str | Path) -> str | None:
    """What is structurally wrong with ``manifest`` (a key missing or of the wrong type, a file path that is not a
    name inside ``out_dir``), or None. Only the structure is checked here; ``verify`` checks the contents."""
    for key, kind, ok in (
        ("shards", "a list", lambda v: isinstance(v, list)),
        ("totals", "an object", lambda v: isinstance(v, dict)),
        ("context_length", "an integer >= 1", lambda v: _is_int(v) and v >= 1),
        ("token_dtype", "'uint16' or 'int32'", lambda v: v in ("uint16", "int32")),
        ("tokenizer", "an object", lambda v: isinstance(v, dict)),
        ("formats", f"a non-empty list of {FORMATS}", lambda v: isinstance(v, list) and v and all(f in FORMATS for f in v)),
        ("config", "an object", lambda v: isinstance(v, dict)),
    ):
        if key not in manifest:
            return f"missing key {key!r}"
        if not ok(manifest[key]):
            return f"{key} must be {kind}, got {manifest[key]!r:.80}"
    if not _is_int(manifest["tokenizer"].get("vocab_size")) or manifest["tokenizer"]["vocab_size"] < 1:
        return f"tokenizer.vocab_size must be an integer >= 1, got {manifest['tokenizer'].get('vocab_size')!r:.80}"
    pack = manifest["config"].get("pack")
    if not isinstance(pack, dict) or not _is_int(pack.get("pad_id")):
        got = pack.get("pad_id") if isinstance(pack, dict) else pack
        return f"config.pack.pad_id must be an integer, got {got!r:.80}"
    for key, value in manifest["totals"].items():
        if not _is_number(value):
            return f"totals.{key} must be a number, got {value!r:.80}"
    kinds = [k for f in manifest["formats"] for k in KINDS_OF_FORMAT[f]]
    seen: dict[str, str] = {}
    for i, shard in enumerate(manifest["shards"]):
        where = f"shards[{i}]"
        if not isinstance(shard, dict):
            return f"{where} must be an object, got {shard!r:.80}"
        if not isinstance(shard.get("name"), str):
            return f"{where}.name must be a string, got {shard.get('name')!r:.80}"
        for key in _SHARD_COUNTS:
            if not _is_int(shard.get(key)) or shard[key] < 0:
                return f"{where}.{key} must be an integer >= 0, got {shard.get(key)!r:.80}"
        files = shard.get("files")
        if not isinstance(files, dict):
            return f"{where}.files must be an object, got {files!r:.80}"
        for kind in kinds:
            if kind not in files:
                return f"{where}.files: no {kind!r} file (formats {manifest['formats']} need {kinds})"
        for kind, entry in files.items():
            at = f"{where}.files.{kind}"
            if not isinstance(entry, dict):
                return f"{at} must be an object, got {entry!r:.80}"
            if not isinstance(entry.get("path"), str):
                return f"{at}.path must be a string, got {entry.get('path')!r:.80}"
            if not _is_int(entry.get("bytes")) or entry["bytes"] < 0:
                return f"{at}.bytes must be an integer >= 0, got {entry.get('bytes')!r:.80}"
            if not isinstance(entry.get("sha256"), str):
                return f"{at}.sha256 must be a string, got {entry.get('sha256')!r:.80}"
            try:
                shard_file(out_dir, entry["path"])
            except ValueError as exc:
                return f"{at}: {exc}"
            if entry["path"] in seen:
                return f"{at}: file {entry['path']!r} is listed twice (also as {seen[entry['path']]})"
            seen[entry["path"]] = at
    return None


def shard_file(out_dir: str | Path, name: str) -> Path:
    """The path of the file a manifest names ``name``, refusing any that is not inside ``out_dir``.

    A manifest names its files relative to the set's directory. An absolute path, a ``..`` that climbs out, or a
    symbolic link that points outside would make a reader (or ``verify``) open a file that is not part of the
    set, so they are refused.

    Raises:
        ValueError: naming ``name`` and why it is refused.
    """
    if not name or "\x00" in name:
        raise ValueError(f"file path {name!r} is not a file name")
    if PurePosixPath(name).is_absolute() or PureWindowsPath(name).is_absolute() or PureWindowsPath(name).drive:
        raise ValueError(f"file path {name!r} is absolute; a manifest names files relative to the shard folder")
    if is_remote(str(out_dir)):  # no links on an object store: a relative name without '..' stays inside
        if ".." in PurePosixPath(name).parts or "\\" in name or name.endswith("/"):
            raise ValueError(f"file path {name!r} is not a file name inside the shard folder {out_dir}")
        return Path(name)
    root = Path(out_dir).resolve()
    path = Path(out_dir) / name
    resolved = path.resolve()
    if resolved == root:
        raise ValueError(f"file path {name!r} is the shard folder itself, not a file in it")
    if not resolved.is_relative_to(root):
        raise ValueError(f"file path {name!r} resolves to {resolved}, outside the shard folder {root}")
    return path


def set_bytes(manifest: dict[str, Any]) -> int:
    """Bytes of every file the manifest lists (the shard set's size on disk, manifest excluded)."""
    return sum(int(f["bytes"]) for s in manifest["shards"] for f in s["files"].values())


def referenced_files(manifest: dict[str, Any]) -> set[str]:
    """Names of every file the manifest lists."""
    return {f["path"] for s in manifest["shards"] for f in s["files"].values()}


def unreferenced_files(out_dir: str | Path, manifest: dict[str, Any] | None) -> list[str]:
    """Files in ``out_dir`` (local or remote) that look like ours (shards, temporaries) but the manifest does not list."""
    if is_remote(str(out_dir)):
        fs, root_key = remote_fs(str(out_dir))
        found = []
        for folder in (root_key, *(join(root_key, sub) for sub in SUBDIRS)):
            if fs.isdir(folder):
                found += [e["name"][len(root_key) + 1 :] for e in fs.ls(folder, detail=True) if e.get("type") == "file"]
        return unreferenced_names(found, manifest)
    root = Path(out_dir)
    found = [p.name for p in root.iterdir()]
    found += [f"{sub}/{p.name}" for sub in SUBDIRS if (root / sub).is_dir() for p in (root / sub).iterdir()]
    return unreferenced_names(found, manifest)


def unreferenced_names(names: list[str], manifest: dict[str, Any] | None) -> list[str]:
    """Of ``names`` (relative to a shard set's folder), those that look like ours but ``manifest`` does not list."""
    keep = referenced_files(manifest) if manifest else set()
    return sorted(name for name in names if _OURS.match(name) and name not in keep and name != MANIFEST_NAME)


def collect_garbage(out_dir: str | Path, manifest: dict[str, Any]) -> list[str]:
    """Remove our files that the committed manifest does not reference (step 3 of the protocol)."""
    removed = unreferenced_files(out_dir, manifest)
    for name in removed:
        with contextlib.suppress(FileNotFoundError):
            os.remove(Path(out_dir) / name)
    if removed:
        for sub in {Path(name).parent for name in removed}:
            fsync_dir(Path(out_dir) / sub)
        log.info("removed %d files no manifest references from %s", len(removed), out_dir)
    return removed


def shard_file_names(name: str, kinds: tuple[str, ...]) -> dict[str, str]:
    """Final paths (relative to the set's folder) of shard ``name``'s files of the given kinds."""
    return {k: FILE_LAYOUT[k].format(name=name) for k in kinds}
