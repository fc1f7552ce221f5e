"""Object-storage outputs (``--output s3://bucket/out``): built in a local staging folder, uploaded in commit order.

An object store (S3 and compatibles through fsspec/s3fs, configured by the standard ``AWS_*`` environment:
``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION``, ``AWS_PROFILE``...)
has no rename and no directories: one object appears whole when its upload completes, and nothing else is atomic.
So tokenmill never writes a remote output in place. A pipeline writes it exactly as a local one, into a local
staging folder (counts reconcile, checksums are computed, shards verify there), and only a run that succeeded is
uploaded, in commit order (:func:`commit_order`):

1. every data file first; a folder's ``.tokenmill`` marker after its files; a shard set's ``manifest.json`` after
   all of its parts; a build's ``build.json`` after everything in it; ``builds/CURRENT.id`` after the build;
2. then the files of the previous output that the new one replaces are deleted, and only names tokenmill writes
   (:func:`stale_remote_files`): Parquet parts in a folder marked ``.tokenmill``, shard files the new manifest does
   not list, builds beyond ``keep_builds``;
3. ``ledger.duckdb`` last. It is downloaded at the start so the run history continues, and uploaded after a failed
   run too (the failure is recorded; no data is).

A reader of a shard set trusts only its manifest: a prefix holding parts but no ``manifest.json`` (an upload that
died) is no shard set, and the next commit's garbage collection removes the parts.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fsspec

from tokenmill.operators.core.config import ConfigError
from tokenmill.operators.core.outputs import BUILD_FORMAT, MARKER, BuildLock, is_build_id
from tokenmill.operators.core.uri import cache_root, is_remote, join, remote_fs  # also imported from here
from tokenmill.operators.io.redact import redact, refuse_credentials

log = logging.getLogger(__name__)

LEDGER = "ledger.duckdb"
_LOCAL_ONLY = re.compile(r"(^|/)(\.build\.lock|cache/.*|\.staging-[^/]*/.*|\.tmp-[^/]*/.*|[^/]*\.tmp|ledger\.duckdb\.wal)$")
MARKED = ("documents", "dna_segments", "quarantine", "tokens", "eval/tokens")  # the folders pipelines mark as theirs
_BUILD_ID = re.compile(r"^builds/(\d{8}T\d{6}-[0-9a-f]{8})/")


class OutputError(ConfigError):
    """A job's ``--output`` cannot be used, found before the run starts: credentials in the URI, a folder tokenmill
    did not write in the way, or a store out of reach. The message names the fix; the command line turns it into one
    line and exit status 2 (:func:`operators.core.cli.fail_before_start`)."""


@contextlib.contextmanager
def stage_output(output: str, *, persistent: bool = False, keep_builds: int = 1) -> Iterator[Path]:
    """The local folder a pipeline writes ``output`` into; a remote output is uploaded when the block succeeds.

    A local ``output`` is itself (resolved), and nothing else happens. A remote one is staged in a local folder:
    a fresh one under the temp dir (``TMPDIR``) with the remote ledger downloaded into it, removed at the end; or,
    with ``persistent``, a folder of its own under :func:`cache_root` that keeps the local state of the output
    between runs (build_corpus: partition cache, lock, ledger, the builds kept). When the block ends without an
    exception the staging folder is uploaded with :func:`upload_output`; when it raises (``SystemExit`` from a
    user error included), only the ledger is, so the remote data is unchanged.

    Raises:
        OutputError: before the block runs, when the output cannot be used (nothing is staged then).
    """
    if not is_remote(output):
        yield Path(output).resolve()
        return
    try:
        refuse_credentials(output, "--output")
    except ConfigError as exc:
        raise OutputError(str(exc)) from None

    staging = _staging(output, persistent)
    try:  # a foreign folder in the way or an unreachable store fails before the run, with one line
        fs, root = remote_fs(output)
        _refuse_foreign(fs, root, None, [f"{name}/{MARKER}" for name in MARKED])
        with _unless_busy(staging, persistent) as free:
            if free and not (staging / LEDGER).is_file() and fs.isfile(join(root, LEDGER)):
                fs.get_file(join(root, LEDGER), str(staging / LEDGER))  # the run history continues
    except Exception as exc:  # botocore's errors share no base class with OSError
        if not persistent:
            shutil.rmtree(staging, ignore_errors=True)
        raise OutputError(
            redact(str(exc))
            if isinstance(exc, ConfigError)
            else f"--output {output}: cannot reach it ({type(exc).__name__}: {redact(str(exc))}); check AWS_ENDPOINT_URL and the "
            f"credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or AWS_PROFILE), and that the bucket exists"
        ) from None
    log.info("remote output %s is staged in %s", output, staging)
    try:
        yield staging
    except BaseException:
        with _unless_busy(staging, persistent) as free:
            if free and (staging / LEDGER).is_file():
                fs.put_file(str(staging / LEDGER), join(root, LEDGER))
        raise
    else:
        with _unless_busy(staging, persistent) as free:
            if free:
                if (staging / LEDGER).is_file():
                    name_artifacts_remote(staging / LEDGER, staging, output)
                upload_output(staging, output, keep_builds=keep_builds)
    finally:
        if not persistent:
            shutil.rmtree(staging, ignore_errors=True)


def name_artifacts_remote(ledger: Path, staging: Path, output: str) -> None:
    """Rename the ledger's artifacts from where they were written (the staging folder) to where they are read."""
    import duckdb

    prefix = f"{staging}/"
    con = duckdb.connect(str(ledger))
    try:
        con.execute("UPDATE artifacts SET path = ? || substr(path, ?) WHERE starts_with(path, ?)", [f"{output.rstrip('/')}/", len(prefix) + 1, prefix])
    finally:
        con.close()


def _staging(output: str, persistent: bool) -> Path:
    """A fresh staging folder under the temp dir, or the persistent one of ``output`` under :func:`cache_root`."""
    if not persistent:
        return Path(tempfile.mkdtemp(prefix="tokenmill-output-"))
    staging = cache_root() / "outputs" / hashlib.blake2b(output.rstrip("/").encode(), digest_size=8).hexdigest()
    staging.mkdir(parents=True, exist_ok=True)
    (staging / "REMOTE").write_text(output + "\n")  # which remote output this folder stages (for people)
    return staging


@contextlib.contextmanager
def _unless_busy(staging: Path, persistent: bool) -> Iterator[bool]:
    """Hold the build lock of a persistent staging folder, if no other build holds it (yields whether it is free).

    That build's state is not this run's to download into or upload (a run that found the lock taken ends here).
    """
    if not persistent:
        yield True
        return
    try:
        lock = BuildLock(staging).acquire()
    except RuntimeError:
        log.warning("%s is in use by another build; not syncing it with the remote output", staging)
        yield False
        return
    with lock:
        yield True


def commit_order(names: list[str]) -> list[str]:
    """Relative file names in the order they are uploaded: data, markers, manifests, build.json, CURRENT.id, ledger."""

    def rank(name: str) -> tuple[int, str]:
        base = name.rsplit("/", 1)[-1]
        order = {MARKER: 1, "manifest.json": 2, "build.json": 3}.get(base, 0)
        if name == "builds/CURRENT.id":
            order = 4
        elif name == LEDGER:
            order = 5
        return order, name

    return sorted(names, key=rank)


def local_files(staging: Path) -> list[str]:
    """The files of a staging folder that make up the output (relative POSIX names), local-only state left out.

    Left out: symbolic links (``builds/CURRENT``: an object store has none, ``CURRENT.id`` names the build), the
    build lock, the partition cache, staging folders and temporary files of unfinished writes.
    """
    names = []
    for folder, _, files in os.walk(staging):  # does not follow links to folders
        for file in files:
            path = Path(folder) / file
            rel = path.relative_to(staging).as_posix()
            if not path.is_symlink() and not _LOCAL_ONLY.search(rel) and rel != "REMOTE":
                names.append(rel)
    return sorted(names)


def upload_output(staging: Path, output: str, *, keep_builds: int = 1) -> list[str]:
    """Upload the staging folder of a finished run to ``output`` in commit order; return the names, in that order.

    A published build whose ``build.json`` is already remote is not uploaded again (builds are immutable); of the
    remote builds, the newest ``keep_builds`` are kept.
    """
    fs, root = remote_fs(output)
    known: dict[str, bool] = {}
    names = [n for n in local_files(staging) if not _already_published(fs, root, n, known)]
    _refuse_foreign(fs, root, staging, names)
    names = commit_order(names)
    for name in names:
        log.debug("upload %s", name)
        fs.put_file(str(staging / name), join(root, name))
    stale = stale_remote_files(fs, root, staging, names, keep_builds)
    if stale:
        fs.rm([join(root, n) for n in stale])
        log.info("removed %d files of the previous output from %s", len(stale), output)
    log.info("uploaded %d files to %s", len(names), output)
    return names


def _already_published(fs: Any, root: str, name: str, known: dict[str, bool]) -> bool:
    """Whether ``name`` lies in a build folder whose ``build.json`` is already remote (its build.json included)."""
    m = _BUILD_ID.match(name)
    if m is None:
        return False
    if m.group(1) not in known:
        known[m.group(1)] = fs.isfile(join(root, "builds", m.group(1), "build.json"))
    return known[m.group(1)]


def _remote_names(fs: Any, root: str, folder: str) -> list[str]:
    """Names (relative to ``root``) of the files directly in remote ``folder``."""
    base = join(root, folder) if folder else root
    try:
        entries = fs.ls(base, detail=True)
    except FileNotFoundError:
        return []
    return sorted(e["name"][len(root) + 1 :] for e in entries if e.get("type") == "file")


def _refuse_foreign(fs: Any, root: str, staging: Path | None, names: list[str]) -> None:
    """A marked local folder (``names`` holds its marker) replaces a remote one only when that one is marked too
    (or empty)."""
    for name in names:
        if name.rsplit("/", 1)[-1] != MARKER or "/" not in name:
            continue
        folder = name.rsplit("/", 1)[0]
        existing = _remote_names(fs, root, folder)
        if existing and f"{folder}/{MARKER}" not in existing:
            kept = f" (the new output stays in {staging})" if staging else ""
            raise ConfigError(
                f"{join(root, folder)} exists and was not written by tokenmill (no {MARKER} in it): it is "
                f"never replaced; choose another --output, or move that prefix away{kept}"
            )


def stale_remote_files(fs: Any, root: str, staging: Path, uploaded: list[str], keep_builds: int = 1) -> list[str]:
    """Remote files of the previous output that the uploaded one replaces; only names tokenmill writes."""
    from tokenmill.operators.shards.manifest import unreferenced_names

    keep = set(uploaded)
    stale: list[str] = []
    folders = sorted({n.rsplit("/", 1)[0] for n in uploaded if "/" in n})
    for folder in folders:
        base = folder.rsplit("/", 1)[-1]
        if f"{folder}/{MARKER}" in keep:  # our marked folder: its Parquet parts are replaced as a whole
            stale += [n for n in _remote_names(fs, root, folder) if n.endswith(".parquet") and n not in keep]
        if f"{folder}/manifest.json" in keep and base not in ("plan", "rows"):  # a shard set: the manifest decides
            manifest = json.loads((staging / folder / "manifest.json").read_text())
            listed = [n[len(folder) + 1 :] for sub in ("", "plan", "rows") for n in _remote_names(fs, root, f"{folder}/{sub}".rstrip("/"))]
            stale += [f"{folder}/{n}" for n in unreferenced_names(listed, manifest)]
    if "builds/CURRENT.id" in keep:
        stale += _stale_builds(fs, root, (staging / "builds" / "CURRENT.id").read_text().strip(), keep_builds)
    return sorted(set(stale))


def _stale_builds(fs: Any, root: str, current: str, keep: int) -> list[str]:
    """Files of remote builds beyond the newest ``keep`` (marked build folders only, never the current one)."""

    def marked(build_id: str) -> bool:  # the local rule (outputs.is_marked_build): our format and this build id
        try:
            summary = json.loads(fs.cat_file(join(root, "builds", build_id, "build.json")))
        except (OSError, ValueError):
            return False
        return isinstance(summary, dict) and summary.get("format") == BUILD_FORMAT and summary.get("build_id") == build_id

    try:
        entries = fs.ls(join(root, "builds"), detail=True)
    except FileNotFoundError:
        return []
    ids = sorted(name for e in entries if e.get("type") == "directory" and is_build_id(name := e["name"].rstrip("/").rsplit("/", 1)[-1]) and marked(name))
    stale: list[str] = []
    for build_id in ids[:-keep]:
        if build_id != current:
            log.info("retention (keep_builds=%d): removing remote build %s", keep, build_id)
            prefix = join(root, "builds", build_id)
            stale += [f"builds/{build_id}/{f[len(prefix) + 1 :]}" for f in fs.find(prefix)]
    return stale


def read_current(output: str) -> str | None:
    """The build id ``output/builds/CURRENT.id`` names (local or remote), or None."""
    with contextlib.suppress(FileNotFoundError), fsspec.open(join(output, "builds", "CURRENT.id"), "rt") as fh:
        return fh.read().strip() or None
    return None
