"""One cached partition of a corpus build: read → normalize → [quality filters] → quarantine → encode, keyed by content.

A partition is one read task (a file, or a byte range of a big one) of one source. Its key hashes the input's
content fingerprint, the source's ingest config, the tokenizer's hash and the code that shapes the output, so an
unchanged input is never recomputed and any change that could alter the output is. A partition is written to a
temporary folder and renamed into ``cache/<key>/`` when complete; a killed task leaves no half partition, and a
retried one rewrites the same bytes.

Its ``meta.json`` (format ``tokenmill partition v1``) records the sha256 of every file the partition holds and
what the reader saw (``seen``, counted by the reader apart from what it emitted). With the source's quality filters on
(``ingest.quality``), the documents they drop are in ``filtered/*.parquet`` (``filtered/v1``), counted in ``filtered``
and checksummed like the rest, so ``seen = documents + quarantined + filtered``. Builds verify the checksums
before using a cached partition (:func:`verify_partition`, :func:`load_partition`): a corrupt, truncated or
incomplete one is removed and recomputed, never used.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import json
import logging
import os
import re
import shutil
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tokenmill.operators.clean.minhash import MinHasher
from tokenmill.operators.core.atomic import rename_dir_atomic
from tokenmill.operators.core.ingest_config import IngestConfig
from tokenmill.operators.core.runtime import ray_workers, run_partitions
from tokenmill.operators.encode import Encoder, EncoderConfig, EngineMismatch
from tokenmill.operators.io.chain import ingest_stages, run_chain
from tokenmill.operators.io.read_task import ReadTask

log = logging.getLogger(__name__)

PARTITION_FORMAT = "tokenmill partition v1"
KEY = re.compile(r"^[0-9a-f]{32}$")
# Temporary folders of partitions being built: ``.tmp-<key>-<8 hex>`` (see PartitionBuilder.build).
TMP_NAME = re.compile(r"^\.tmp-[0-9a-f]{32}-[0-9a-f]{8}$")
_ROOT = Path(__file__).resolve().parents[2]
# Code whose changes can change a partition's bytes (readers, cleaning, encoding, this file).
_CODE = ["operators/io", "operators/clean", "operators/quality", "operators/encode", "operators/core", "schemas", "operators/corpus_build/partition.py"]
_SUMMARY = ("key", "documents", "quarantined", "tokens", "seen")
_SUMMARY_SCHEMA = pa.schema([("index", pa.int64()), ("part", pa.string())])
"""What :class:`PartitionBuilder` returns per partition: its index in the run and its summary (``_SUMMARY``) as JSON."""
TOKENS_COLUMNS = ["id", "source_name", "source", "location", "lang", "content_hash", "minhash", "n_words", "n_tokens", "input_ids"]


def _code_text(source: bytes) -> bytes:
    """What a module does, not how it is laid out: its syntax tree without docstrings (so `ruff format`, comments and
    docstring edits keep the cache; any change to code does not)."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body:
            first = body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree).encode()


def code_fingerprint(paths: tuple[str, ...] | list[str] = tuple(_CODE)) -> str:
    """Hash of the code that shapes partition outputs (not the whole repo: a README edit keeps the cache)."""
    digest = hashlib.sha256()
    for rel in paths:
        path = _ROOT / rel
        for f in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            digest.update(str(f.relative_to(_ROOT)).encode() + b"\0" + _code_text(f.read_bytes()) + b"\0")
    return digest.hexdigest()[:16]


def partition_key(task: dict, fingerprint: str, source_name: str, ingest: IngestConfig, tokenizer_hash: str, code: str) -> str:
    """The content address of a partition's output."""
    payload = {
        "fingerprint": fingerprint,
        "start": task["start"],
        "end": task["end"],
        "row_group": task.get("row_group"),
        "format": task["format"],
        "compression": task["compression"],
        "source": source_name,
        "uri": task["uri"],
        "ingest": dataclasses.asdict(ingest),
        "tokenizer": tokenizer_hash,
        "code": code,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]


class PartitionBuilder:
    """Callable on a batch of partition tasks (columns: key, source_name, task json, ingest json): builds missing ones.

    Returns one summary row per partition: key, documents, quarantined, tokens, seen.
    """

    def __init__(self, cache_dir: str, tokenizer: str) -> None:
        self.cache_dir = Path(cache_dir)
        self.encoder = Encoder(EncoderConfig(tokenizer=tokenizer, text_column="text"))
        self.minhasher = MinHasher()

    def __call__(self, batch: pa.Table) -> pa.Table:
        out = []
        for row in batch.to_pylist():
            meta = self.build(row["key"], row["source_name"], json.loads(row["task"]), IngestConfig(**json.loads(row["ingest"])))
            out.append({"index": row.get("index"), "part": json.dumps({"index": row.get("index"), **{k: meta.get(k) for k in _SUMMARY}})})
        return pa.Table.from_pylist(out, schema=_SUMMARY_SCHEMA)

    def build(self, key: str, source_name: str, task: dict, cfg: IngestConfig) -> dict:
        """Build partition ``key`` unless it is cached; return its summary."""
        final = self.cache_dir / key
        if (final / "meta.json").is_file():
            return json.loads((final / "meta.json").read_text())
        tmp = self.cache_dir / f".tmp-{key}-{uuid.uuid4().hex[:8]}"
        try:
            parts, receipts, stages, edits = self._read(key, source_name, task, cfg, tmp)
        except EngineMismatch as exc:  # the fast engine differed from the reference: the whole partition again
            self.encoder.engine.use_reference(f"partition {key}: {exc}")
            shutil.rmtree(tmp)
            parts, receipts, stages, edits = self._read(key, source_name, task, cfg, tmp)
        tokens = pa.concat_tables(parts) if parts else _empty_tokens()
        pq.write_table(tokens, tmp / "tokens.parquet", compression="zstd")
        q_files = sorted(f.relative_to(tmp).as_posix() for f in (tmp / "quarantine").glob("*.parquet"))
        f_files = sorted(f.relative_to(tmp).as_posix() for f in (tmp / "filtered").glob("*.parquet"))
        n_q = sum(pq.read_metadata(tmp / f).num_rows for f in q_files)
        meta = {
            "format": PARTITION_FORMAT,
            "key": key,
            "source_name": source_name,
            "uri": task["uri"],
            "input_format": task["format"],
            "start": task["start"],
            "end": task["end"],
            "row_group": task.get("row_group"),
            "documents": tokens.num_rows,
            "quarantined": n_q,
            "filtered": sum(pq.read_metadata(tmp / f).num_rows for f in f_files),
            "tokens": int(pc.sum(tokens["n_tokens"]).as_py() or 0),
            "seen": sum(int(r["seen"]) for r in receipts),
            "emitted": sum(int(r["emitted"]) for r in receipts),
            "stages": {s.stage: {"in": s.rows_in, "out": s.rows_out} for s in stages},
            "edits": edits,
            "files": {f: file_sha256(tmp / f) for f in ["tokens.parquet", *q_files, *f_files]},
        }
        (tmp / "meta.json").write_text(json.dumps(meta))
        try:
            rename_dir_atomic(tmp, final)
        except OSError:  # another attempt finished first: its bytes are the same
            shutil.rmtree(tmp, ignore_errors=True)
        return meta

    def _read(self, key: str, source_name: str, task: dict, cfg: IngestConfig, tmp: Path) -> tuple[list[pa.Table], list[dict], list, dict]:
        """Read, clean, filter, quarantine (into ``tmp``) and encode one partition: its encoded blocks, the reader's
        receipts, the stages (with their counts) and the edits stages made inside kept documents (``{stage: {kind:
        n}}``: PII replacements, lines C4 removed, as ingest's receipts count them)."""
        (tmp / "quarantine").mkdir(parents=True)
        is_dna = task["format"] == "fasta"
        # The same stage chain as ingest and pack_shards (operators/io/chain.py): quality filters (the source's
        # ingest.quality) write what they drop to filtered/, the quarantine sink ends it.
        stages = ingest_stages("dna" if is_dna else "text", cfg, str(tmp / "quarantine"), None, filtered_dir=str(tmp / "filtered"))
        parts: list[pa.Table] = []
        reader = ReadTask(cfg)
        edits: dict[str, dict[str, int]] = {}
        for kept in run_chain(stages, reader(pa.Table.from_pylist([task])), edits):
            if is_dna:  # DNA segments become documents whose text is the sequence
                kept = pa.table(
                    {
                        "id": kept["id"],
                        "source": kept["source"],
                        "location": pc.binary_join_element_wise(kept["record"], pc.cast(kept["offset"], pa.string()), ":"),
                        "text": kept["seq"],
                        "lang": pa.nulls(kept.num_rows, pa.string()),
                    }
                )
            if kept.num_rows:
                parts.append(self._encode(kept, source_name, first=not parts))
        # What the reader saw, counted apart from what it emitted: assembly checks it against the stored rows.
        return parts, reader.receipts, stages, edits

    def _encode(self, docs: pa.Table, source_name: str, *, first: bool) -> pa.Table:
        enc = self.encoder(docs.select(["id", "source", "location", "text", "lang"]), first=first)
        texts = enc["text"].to_pylist()
        hashes = [hashlib.blake2b(t.encode(), digest_size=8).hexdigest() for t in texts]
        enc = enc.append_column("n_words", pa.array([len(t.split()) for t in texts], pa.int32()))
        enc = enc.append_column("source_name", pa.array([source_name] * enc.num_rows, pa.string()))
        enc = enc.append_column("content_hash", pa.array(hashes, pa.string()))
        # Near-dup signatures are stored with the partition: later builds compare against them without recomputing.
        sigs = [self.minhasher.signature(t).tolist() for t in texts]
        enc = enc.append_column("minhash", pa.array(sigs, pa.list_(pa.uint32())))
        return enc.select(TOKENS_COLUMNS)


class CorruptPartition(Exception):
    """A cached partition whose files do not match the checksums in its meta.json (or that lacks one)."""

    def __init__(self, key: str, file: str, problem: str) -> None:
        super().__init__(f"cached partition {key}: {file}: {problem}")
        self.key, self.file, self.problem = key, file, problem


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def read_meta(part: Path, key: str) -> dict:
    """The ``meta.json`` of partition ``key`` in folder ``part``, checked for format, key and checksums list.

    Raises:
        CorruptPartition: when it is missing, unreadable or not a ``tokenmill partition v1`` meta of ``key``.
    """
    try:
        meta = json.loads((part / "meta.json").read_text())
    except FileNotFoundError:
        raise CorruptPartition(key, "meta.json", "missing") from None
    except (OSError, ValueError) as exc:
        raise CorruptPartition(key, "meta.json", f"unreadable ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != PARTITION_FORMAT or meta.get("key") != key:
        raise CorruptPartition(key, "meta.json", f"not a '{PARTITION_FORMAT}' meta of this key")
    files = meta.get("files")
    if not isinstance(files, dict) or "tokens.parquet" not in files or not isinstance(meta.get("seen"), int):
        raise CorruptPartition(key, "meta.json", "no checksums or reader counts")
    return meta


def partition_source_counts(cache_dir: Path, keys: list[str]) -> list[tuple[str, int, int, int]]:
    """Per input file of the build's partitions ``keys`` (cached in ``cache_dir``): (source, records seen, documents
    out, quarantined), the ledger's ``source_counts`` as ingest writes them (FASTA: segments the reader emitted).
    A partition missing from the cache (pruned since the build it is in) is left out."""
    counts: dict[str, list[int]] = {}
    for key in keys:
        try:
            meta = read_meta(cache_dir / key, key)
        except CorruptPartition:
            continue
        seen = meta["emitted"] if meta.get("input_format") == "fasta" else meta["seen"]
        row = counts.setdefault(meta["uri"], [0, 0, 0])
        row[0] += int(seen)
        row[1] += int(meta.get("documents", 0))
        row[2] += int(meta.get("quarantined", 0))
    return [(uri, *row) for uri, row in sorted(counts.items())]  # type: ignore[misc]


def verify_partition(part: Path, key: str) -> dict:
    """Check every file of cached partition ``key`` against the sha256 in its meta.json; return the meta.

    Raises:
        CorruptPartition: naming the first file that is missing, unreadable or has other bytes.
    """
    meta = read_meta(part, key)
    for rel, digest in meta["files"].items():
        try:
            actual = file_sha256(part / rel)  # streamed: a big partition is never held in memory to be checked
        except FileNotFoundError:
            raise CorruptPartition(key, rel, "missing") from None
        except OSError as exc:
            raise CorruptPartition(key, rel, f"unreadable ({exc})") from None
        if actual != digest:
            raise CorruptPartition(key, rel, f"sha256 {actual[:16]}… expected {digest[:16]}… (corrupt or truncated)")
    return meta


def load_partition(part: Path, key: str, columns: list[str] | None = None) -> tuple[dict, pa.Table, list[pa.Table], list[pa.Table]]:
    """Read cached partition ``key``: (meta, tokens, quarantine tables, filtered tables), each file verified as it is
    read.

    The bytes that are checked are the bytes that are parsed, so nothing unverified reaches a build. ``columns``:
    the token columns to decode (default: all).

    Raises:
        CorruptPartition: naming the first file that is missing, unreadable or has other bytes.
    """
    meta = read_meta(part, key)
    tables = {}
    for rel, digest in meta["files"].items():
        data = _read_file(part, key, rel)
        _check_bytes(key, rel, data, digest)
        tables[rel] = pq.read_table(pa.BufferReader(data), columns=columns if rel == "tokens.parquet" else None)
    tokens = tables.pop("tokens.parquet")
    return meta, tokens, [tables[r] for r in sorted(tables) if not r.startswith("filtered/")], [tables[r] for r in sorted(tables) if r.startswith("filtered/")]


def _read_file(part: Path, key: str, rel: str) -> bytes:
    try:
        return (part / rel).read_bytes()
    except FileNotFoundError:
        raise CorruptPartition(key, rel, "missing") from None
    except OSError as exc:
        raise CorruptPartition(key, rel, f"unreadable ({exc})") from None


def _check_bytes(key: str, rel: str, data: bytes, digest: str) -> None:
    actual = hashlib.sha256(data).hexdigest()
    if actual != digest:
        raise CorruptPartition(key, rel, f"sha256 {actual[:16]}… of {len(data)} bytes, expected {digest[:16]}… (corrupt or truncated)")


def remove_partition(cache_dir: Path, key: str) -> None:
    """Remove cached partition ``key`` (only a folder named by a 32-hex key: tokenmill's own)."""
    if not KEY.match(key):
        raise ValueError(f"{key!r} is not a partition key; refusing to remove {Path(cache_dir) / key}")
    path = Path(cache_dir) / key
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif os.path.lexists(path):
        path.unlink()


def build_partitions(misses: list[dict], cache_dir: Path, tokenizer: str, workers: int) -> None:
    """Build the partitions ``misses`` (from :func:`operators.corpus_build.plan.missing_partitions`) in Ray workers
    (:func:`operators.core.runtime.run_partitions`; a running Ray is needed), with progress; a retried task rewrites
    the same bytes."""
    items = [{**miss, "index": i} for i, miss in enumerate(misses)]
    run_partitions(PartitionBuilder, items, {"cache_dir": str(cache_dir), "tokenizer": tokenizer}, ray_workers(workers), progress="build partitions")


def remove_stale_tmp(cache_dir: Path) -> int:
    """Remove partition folders that killed runs left half-written (``.tmp-<key>-<8 hex>`` only); return how many.

    Call it while holding the build lock, before any partition task starts.
    """
    removed = 0
    for path in Path(cache_dir).iterdir() if Path(cache_dir).is_dir() else []:
        if TMP_NAME.match(path.name) and path.is_dir() and not path.is_symlink():
            log.info("removing stale partition folder %s (left by an interrupted build)", path)
            shutil.rmtree(path, ignore_errors=True)
            removed += 1
    return removed


def _empty_tokens() -> pa.Table:
    return pa.table(
        {
            "id": pa.array([], pa.string()),
            "source_name": pa.array([], pa.string()),
            "source": pa.array([], pa.string()),
            "location": pa.array([], pa.string()),
            "lang": pa.array([], pa.string()),
            "content_hash": pa.array([], pa.string()),
            "minhash": pa.array([], pa.list_(pa.uint32())),
            "n_words": pa.array([], pa.int32()),
            "n_tokens": pa.array([], pa.int32()),
            "input_ids": pa.array([], pa.list_(pa.int32())),
        }
    )


def kept_copies(doc_id: str, weight: float) -> int:
    """How many times a document appears under mixture ``weight`` (deterministic by id)."""
    whole, frac = int(weight), weight - int(weight)
    u = int(hashlib.blake2b(doc_id.encode(), digest_size=8).hexdigest(), 16) / 2**64
    return whole + (1 if u < frac else 0)


__all__ = [
    "PARTITION_FORMAT",
    "TOKENS_COLUMNS",
    "CorruptPartition",
    "PartitionBuilder",
    "build_partitions",
    "code_fingerprint",
    "file_sha256",
    "kept_copies",
    "load_partition",
    "partition_key",
    "read_meta",
    "remove_partition",
    "remove_stale_tmp",
    "verify_partition",
]
