"""Verify a committed shard set: checksums, every shard re-read, .bin/.idx/plan consistency, row invariants, totals.

A set passes only when everything its manifest promises holds. A manifest that is not JSON, lacks a key or has
one of the wrong type, or names a file by an absolute path or one that resolves outside the set's folder (``..``,
a symbolic link out) fails before any file is opened. Files in the directory that the manifest does
not list (leftovers of a crashed writer) are reported as warnings: they are not part of the set.

A remote set (``s3://bucket/prefix``) is checked the same way on a fresh local copy of the bytes in the store
(:func:`operators.shards.fetch.download_set`); a prefix without ``manifest.json`` fails as "no manifest".
"""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tokenmill.operators.core.uri import is_remote
from tokenmill.operators.pack.rows import concat_ranges, materialize_rows
from tokenmill.operators.shards.config import KINDS_OF_FORMAT, PLAN_FORMAT, ROWS_FORMAT, SUBDIRS
from tokenmill.operators.shards.manifest import load_manifest, sha256_file, shard_file, unreferenced_files
from tokenmill.operators.shards.megatron import open_bin, read_index
from tokenmill.operators.shards.parquet import list_column, read_checked

log = logging.getLogger(__name__)


class ShardProblem(Exception):
    """The first thing found wrong with a shard set."""


@dataclass(slots=True)
class VerifyReport:
    """Outcome of :func:`verify_shard_set`."""

    ok: bool
    problem: str | None = None
    """The first problem found (None when ok)."""
    warnings: list[str] = field(default_factory=list)
    totals: dict[str, Any] = field(default_factory=dict)


def verify_shard_set(directory: str | Path, *, checksums: bool = True) -> VerifyReport:
    """Check the shard set in ``directory``; stop at the first problem.

    Args:
        directory: the set's directory (with ``manifest.json``), local or a remote URI (``s3://bucket/prefix``).
        checksums: recompute every file's sha256 (the default; off only for quick checks).
    """
    remote = is_remote(str(directory))
    directory = str(directory) if remote else Path(directory)
    report = VerifyReport(ok=False)
    try:
        manifest = load_manifest(directory)
        report.warnings = [f"{n}: not listed in the manifest (not part of the set)" for n in unlisted_files(directory, manifest)]
        if remote:
            from tokenmill.operators.shards.fetch import download_set

            with tempfile.TemporaryDirectory(prefix="tokenmill-verify-") as copy:
                download_set(str(directory), Path(copy), manifest)
                _verify(Path(copy), load_manifest(copy), checksums)
        else:
            _verify(Path(directory), manifest, checksums)
    except ShardProblem as exc:
        report.problem = str(exc)
        return report
    except ValueError as exc:  # load_manifest and the format readers raise ValueError with the reason
        report.problem = str(exc)
        return report
    except (OSError, pa.ArrowException) as exc:  # a file that cannot be read is a problem of the set
        report.problem = f"{type(exc).__name__}: {exc}"
        return report
    except (KeyError, TypeError, IndexError) as exc:
        # load_manifest checks the structure verify relies on, so this is a gap in that check: still a FAIL of
        # the set (with the trace in the log), never a traceback for the person running verify.
        log.exception("verify_shard_set(%s): unexpected %s", directory, type(exc).__name__)
        report.problem = f"malformed manifest or shard ({type(exc).__name__}: {exc})"
        return report
    report.ok = True
    report.totals = manifest["totals"]
    return report


def unlisted_files(directory: str | Path, manifest: dict[str, Any]) -> list[str]:
    """Files in the set's folders that the manifest does not list: leftovers that look like ours (a crashed writer's)
    and, locally, any other file someone put there (``notes.txt``), which a reader of the set would not see."""
    names = set(unreferenced_files(directory, manifest))
    if not isinstance(directory, str) or not is_remote(directory):
        root = Path(directory)
        listed = {f["path"] for s in manifest["shards"] for f in s["files"].values()} | {"manifest.json"}
        for sub in ("", *SUBDIRS):
            folder = root / sub
            if folder.is_dir():
                names |= {(f"{sub}/{p.name}" if sub else p.name) for p in folder.iterdir() if p.is_file() and not p.name.startswith(".tokenmill")} - listed
    return sorted(names)


def _check(cond: Any, message: str) -> None:
    if not cond:
        raise ShardProblem(message)


def _verify(directory: Path, manifest: dict[str, Any], checksums: bool) -> None:
    C = int(manifest["context_length"])
    dtype = np.dtype(manifest["token_dtype"])
    vocab = int(manifest["tokenizer"]["vocab_size"])
    pad_id = int(manifest["config"]["pack"]["pad_id"])
    kinds = [k for f in manifest["formats"] for k in KINDS_OF_FORMAT[f]]
    sums = {k: 0 for k in ("rows", "documents", "segments", "tokens", "pad_tokens")}
    last_part, last_seq = 0, dict[str, int]()
    for shard in manifest["shards"]:
        name = shard.get("name", "?")
        for kind in kinds:
            _check(kind in shard.get("files", {}), f"shard {name}: no {kind} file in the manifest")
            entry = shard["files"][kind]
            path = shard_file(directory, entry["path"])  # load_manifest refused escapes; checked again where opened
            _check(path.is_file(), f"shard {name}: {entry['path']} is missing")
            size = path.stat().st_size
            _check(size == entry["bytes"], f"shard {name}: {entry['path']} has {size} bytes, manifest says {entry['bytes']}")
            if checksums:
                _check(sha256_file(path) == entry["sha256"], f"shard {name}: {entry['path']} sha256 does not match the manifest")
        files = {k: shard_file(directory, shard["files"][k]["path"]) for k in kinds}
        place = _check_provenance(name, files, manifest)
        if place is not None:  # the shard's own (part, seq): parts in order, a writer's shards in order
            part, seq, writer = *place, name.rsplit("-", 1)[0]
            _check(
                part >= last_part and seq > last_seq.get(writer, -1),
                f"shard {name}: listed after a shard that comes later in the "
                f"set (part {part}, shard {seq} of its writer): the manifest's shard list was reordered",
            )
            last_part, last_seq[writer] = part, seq
        rows = _verify_megatron(name, files, shard, C, dtype, vocab, pad_id) if "bin" in files else None
        if "rows" in files:
            _verify_rows(name, files["rows"], shard, C, dtype, vocab, pad_id, rows)
        for k in sums:
            sums[k] += int(shard[k])
    totals = manifest["totals"]
    for k, v in sums.items():
        _check(int(totals.get(k, -1)) == v, f"totals: {k} is {totals.get(k)} in the manifest, the shards add up to {v}")
    _check(int(totals.get("shards", -1)) == len(manifest["shards"]), "totals: shard count does not match the shard list")
    slots = sums["rows"] * C
    _check(int(totals.get("slots", -1)) == slots, f"totals: slots is {totals.get('slots')}, rows x context_length is {slots}")
    util = sums["tokens"] / slots if slots else 1.0
    _check(abs(float(totals.get("utilization", -1)) - util) < 1e-9, f"totals: utilization {totals.get('utilization')} != {util}")


def _check_provenance(name: str, files: dict[str, Path], manifest: dict[str, Any]) -> tuple[int, int] | None:
    """Cross-check the manifest against what the shard's own Parquet files recorded when they were written: the
    tokenizer hash, vocabulary size, pack config (BOS/EOS/PAD ids, context length...). Returns the shard's (part,
    seq), or None for files written before these were recorded."""
    path = files.get("plan") or files.get("rows")
    if path is None:
        return None
    meta = pq.read_schema(path).metadata or {}
    info = json.loads(meta.get(b"tokenmill.info", b"{}"))
    if "tokenizer_hash" not in info:
        return None
    _check(
        info["tokenizer_hash"] == manifest["tokenizer"].get("hash"),
        f"shard {name}: written with tokenizer {str(info['tokenizer_hash'])[:12]}, the manifest says {str(manifest['tokenizer'].get('hash'))[:12]}",
    )
    _check(
        info["vocab_size"] == manifest["tokenizer"]["vocab_size"],
        f"shard {name}: written for vocab_size {info['vocab_size']}, the manifest says {manifest['tokenizer']['vocab_size']}",
    )
    pack = manifest["config"].get("pack", {})
    for key, value in info["pack"].items():
        _check(pack.get(key) == value, f"shard {name}: written with pack.{key}={value!r}, the manifest says {pack.get(key)!r}")
    return int(info["part"]), int(info["seq"])


def _verify_megatron(name: str, files: dict[str, Path], shard: dict, C: int, dtype: np.dtype, vocab: int, pad_id: int):
    index = read_index(files["idx"])
    S = len(index.lengths)
    _check(index.dtype == dtype, f"shard {name}: .idx dtype {index.dtype} != manifest token_dtype {dtype}")
    _check(int(shard["documents"]) == S, f"shard {name}: .idx has {S} sequences, manifest says {shard['documents']} documents")
    _check(np.array_equal(index.doc_indices, np.arange(S + 1)), f"shard {name}: .idx document indices are not one sequence per document")
    lengths = index.lengths.astype(np.int64)
    _check((lengths > 0).all(), f"shard {name}: .idx has an empty sequence")
    expected_ptr = np.concatenate([[0], np.cumsum(lengths)[:-1]]) * dtype.itemsize if S else np.zeros(0, np.int64)
    _check(np.array_equal(index.pointers, expected_ptr), f"shard {name}: .idx byte pointers do not follow the sequence lengths")
    bin_bytes = files["bin"].stat().st_size
    _check(bin_bytes == int(lengths.sum()) * dtype.itemsize, f"shard {name}: .bin has {bin_bytes} bytes, .idx needs {int(lengths.sum()) * dtype.itemsize}")
    tokens = open_bin(files["bin"], dtype)
    _check(tokens.size == 0 or int(tokens.max()) < vocab, f"shard {name}: .bin holds a token id >= vocab_size {vocab}")

    plan = read_checked(files["plan"], PLAN_FORMAT)
    R = plan.num_rows
    _check(int(shard["rows"]) == R, f"shard {name}: plan has {R} rows, manifest says {shard['rows']}")
    doc, seg_off = list_column(plan, "doc")
    start = list_column(plan, "start")[0].astype(np.int64)
    length = list_column(plan, "length")[0].astype(np.int64)
    doc_id = list_column(plan, "doc_id")[0]
    _check(len(start) == len(doc) == len(length) == len(doc_id), f"shard {name}: plan columns disagree on segment counts")
    _check(len(doc) == int(shard["segments"]), f"shard {name}: plan has {len(doc)} segments, manifest says {shard['segments']}")
    _check(((doc >= 0) & (doc < S)).all(), f"shard {name}: plan refers to a document outside the .bin")
    _check((length > 0).all() and (length <= C).all() and (start >= 0).all(), f"shard {name}: plan has a segment of bad start/length")
    _check((start + length <= lengths[doc]).all(), f"shard {name}: plan segment runs past the end of its document")
    per_row = np.add.reduceat(length, seg_off[:-1]) if R and len(length) else np.zeros(R, np.int64)
    _check((np.diff(seg_off) > 0).all(), f"shard {name}: plan has a row without segments")
    _check((per_row <= C).all(), f"shard {name}: plan row holds more than context_length={C} tokens")
    _check(int(per_row.sum()) == int(shard["tokens"]), f"shard {name}: plan holds {int(per_row.sum())} tokens, manifest says {shard['tokens']}")
    # Every document's tokens are covered exactly once, in contiguous pieces.
    o = np.lexsort((start, doc))
    d, s, e = doc[o], start[o], start[o] + length[o]
    first = np.ones(len(d), bool)
    first[1:] = d[1:] != d[:-1]
    _check(np.array_equal(np.unique(d), np.arange(S)), f"shard {name}: a document of the .bin is in no packed row")
    _check((s[first] == 0).all(), f"shard {name}: a document's first piece does not start at 0")
    _check((s[~first] == e[np.flatnonzero(~first) - 1]).all(), f"shard {name}: a document's pieces overlap or leave a gap")
    last = np.ones(len(d), bool)
    last[:-1] = d[:-1] != d[1:]
    _check((e[last] == lengths[d[last]]).all(), f"shard {name}: a document is not covered to its end")
    pointers = index.pointers // dtype.itemsize
    batch = materialize_rows(
        tokens=tokens,
        seg_src=pointers[doc] + start,
        seg_len=length,
        seg_row=np.repeat(np.arange(R), np.diff(seg_off)),
        num_rows=R,
        context_length=C,
        pad_id=pad_id,
    )
    return batch, list(doc_id), start


def _verify_rows(name: str, path: Path, shard: dict, C: int, dtype: np.dtype, vocab: int, pad_id: int, rebuilt) -> None:
    table = read_checked(path, ROWS_FORMAT)
    R = table.num_rows
    _check(int(shard["rows"]) == R, f"shard {name}: rows file has {R} rows, manifest says {shard['rows']}")
    want = pa.list_(pa.from_numpy_dtype(dtype), C)
    _check(table.schema.field("input_ids").type == want, f"shard {name}: input_ids is {table.schema.field('input_ids').type}, expected {want}")
    ids = list_column(table, "input_ids")[0].reshape(R, C)
    pos = list_column(table, "position_ids")[0].reshape(R, C)
    mask = list_column(table, "loss_mask")[0].reshape(R, C)
    cu, cu_off = list_column(table, "cu_seqlens")
    doc_ids, doc_off = list_column(table, "doc_ids")
    offs, offs_off = list_column(table, "doc_offsets")
    num_tokens = table.column("num_tokens").to_numpy().astype(np.int64)
    _check(ids.size == 0 or int(ids.max()) < vocab, f"shard {name}: a token id >= vocab_size {vocab}")
    _check(np.array_equal(doc_off, offs_off), f"shard {name}: doc_ids and doc_offsets disagree")
    cu = cu.astype(np.int64)
    n_cu = np.diff(cu_off)
    _check((n_cu >= 2).all(), f"shard {name}: a row has an empty cu_seqlens")
    _check((cu[cu_off[:-1]] == 0).all(), f"shard {name}: a cu_seqlens does not start at 0")
    _check((cu[cu_off[1:] - 1] == C).all(), f"shard {name}: a cu_seqlens does not end at context_length={C}")
    seg = np.diff(cu)
    inside = np.ones(len(seg), bool)
    inside[cu_off[1:-1] - 1] = False  # the step from one row's last boundary to the next row's 0
    seg = seg[inside]
    _check((seg > 0).all(), f"shard {name}: cu_seqlens is not strictly increasing")
    n_real = np.diff(doc_off)
    has_pad = num_tokens < C
    _check(np.array_equal(n_cu - 1, n_real + has_pad), f"shard {name}: segment count of cu_seqlens does not match doc_ids (+ padding)")
    _check((cu[cu_off[:-1] + n_real] == num_tokens).all(), f"shard {name}: num_tokens does not match the last document boundary")
    # Positions restart at every boundary and count up by one; targets skip segment starts and padding.
    exp_pos = concat_ranges(np.zeros(len(seg), np.int64), seg)
    _check(np.array_equal(pos.reshape(-1), exp_pos), f"shard {name}: position_ids do not restart at 0 for every segment")
    exp_mask = (exp_pos > 0).astype(np.uint8)
    col = np.arange(C)[None, :]
    padding = col >= num_tokens[:, None]
    exp_mask[padding.reshape(-1)] = 0
    _check(np.array_equal(mask.reshape(-1), exp_mask), f"shard {name}: loss_mask is not 0 exactly at segment starts and padding")
    _check((ids[padding] == pad_id).all(), f"shard {name}: a padding slot does not hold pad_id={pad_id}")
    _check(int(num_tokens.sum()) == int(shard["tokens"]), f"shard {name}: rows hold {int(num_tokens.sum())} tokens, manifest says {shard['tokens']}")
    _check(int(padding.sum()) == int(shard["pad_tokens"]), f"shard {name}: rows hold {int(padding.sum())} padding slots, manifest says {shard['pad_tokens']}")
    if rebuilt is not None:
        batch, plan_ids, plan_start = rebuilt
        _check(np.array_equal(batch.input_ids, ids), f"shard {name}: rows file and .bin + plan disagree on input_ids")
        _check(
            np.array_equal(batch.cu_values, cu) and np.array_equal(batch.position_ids, pos) and np.array_equal(batch.loss_mask, mask),
            f"shard {name}: rows file and .bin + plan disagree on boundaries",
        )
        _check(list(doc_ids) == plan_ids and np.array_equal(offs, plan_start), f"shard {name}: rows file and plan disagree on documents")
