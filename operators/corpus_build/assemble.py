"""Assemble a build from cached partitions: mix (weights), exact dedup, pack into shards (in Ray workers, see
:mod:`operators.corpus_build.pack`), index, quarantine, diff.

Partitions are visited in canonical order (sources in config order, files sorted, byte ranges ascending), rows
in file order, so the same partitions always give the same shard bytes however they were computed.

Exact dedup follows the one rule of :mod:`operators.clean.dedup`: of each group of identical texts the **first in
canonical input order** is kept and the later ones are quarantined as ``duplicate`` ("same content as <kept id>").
A rebuild that appends sources, files or bytes at the end of that order therefore never changes which earlier
document is kept, and so never rewrites the shards before it.

Every count reconciles or the build fails: each partition's files are verified against their checksums as they
are read, and what its reader saw must equal the documents plus quarantined plus filtered rows it holds (filtered:
good input a source's quality filters dropped, written to the build's ``filtered.parquet`` with its rule, value and
threshold, counted per source and rule in ``filter_reasons``). Every document the
stages drop is in ``quarantine.parquet`` with a reason: read/clean rejections, ``dedup`` (exact or near
duplicate) and ``mix``/``sampled_out`` (not drawn under a weight < 1); copies added by a weight > 1 are counted
as ``upsampled_copies``. So ``unique_documents - sampled_out + upsampled_copies == documents`` packed.
"""

from __future__ import annotations

import collections
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tokenmill.operators.clean.minhash import LshIndex
from tokenmill.operators.corpus_build.config import BuildConfig
from tokenmill.operators.corpus_build.pack import pack_groups
from tokenmill.operators.corpus_build.partition import TOKENS_COLUMNS, CorruptPartition, kept_copies, load_partition
from tokenmill.operators.encode import resolve_eos_id
from tokenmill.operators.quality import FILTERED
from tokenmill.schemas import QUARANTINE

INDEX_FORMAT = "tokenmill build documents v1"


def assemble_build(
    cfg: BuildConfig, keys: list[str], cache_dir: Path, staging: Path, engine, run_id: str, build_id: str, previous: dict | None, previous_dir: Path | None
) -> dict:
    """Write ``staging/shards``, ``staging/documents.parquet``, ``staging/quarantine.parquet`` and
    ``staging/filtered.parquet``; return the summary."""
    weights = {s.name: s.weight for s in cfg.sources}
    shard_cfg = resolve_eos_id(cfg.shards, engine)  # eos_id=auto: the tokenizer's EOS/SEP
    first_of: dict[str, str] = {}  # content hash -> id of the document kept for it (the first in canonical order)
    lsh = LshIndex(threshold=cfg.near_dedup_threshold) if cfg.near_dedup else None
    near_dups = kept_docs = 0
    index_rows: dict[str, list] = collections.defaultdict(list)
    dup_rows: list[dict] = []
    mix_rows: list[dict] = []
    quarantine_tables: list[pa.Table] = []
    filtered_tables: list[pa.Table] = []
    filter_reasons: collections.defaultdict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)  # source -> rule
    per_source: collections.defaultdict[str, dict[str, int]] = collections.defaultdict(
        lambda: {
            "records_seen": 0,
            "records_in": 0,
            "quarantined": 0,
            "filtered": 0,
            "duplicates": 0,
            "unique_documents": 0,
            "sampled_out": 0,
            "upsampled_copies": 0,
            "documents": 0,
            "tokens": 0,
        }
    )
    per_lang: collections.defaultdict[str, dict[str, int]] = collections.defaultdict(lambda: {"documents": 0, "tokens": 0, "words": 0})
    records_in = records_seen = 0
    stages: dict[str, collections.Counter] = {}  # the ingest chain's counts, summed over partitions in chain order
    edits: dict[str, dict[str, collections.Counter[str]]] = {}  # stage -> kind -> source: edits inside kept documents
    lost: list[str] = []
    # The driver decides from ids, hashes and counts (the token ids are neither decoded nor packed here): every
    # partition's bytes are checked, its kept rows listed; Ray workers pack those rows (operators/corpus_build/pack.py).
    columns = [c for c in TOKENS_COLUMNS if c not in ("text", "input_ids") and (lsh or c != "minhash")]
    pack_items: list[dict] = []
    for key in keys:
        try:
            meta, tokens, q_tables, f_tables = load_partition(cache_dir / key, key, columns=columns)
        except CorruptPartition as exc:  # planning verified it: it changed since, or a worker wrote bad bytes
            raise RuntimeError(f"{exc}; build {build_id} is not published. Rerun the build: it removes a corrupt cached partition and recomputes it") from None
        name = meta["source_name"]
        for stage, counts in meta.get("stages", {}).items():
            stages.setdefault(stage, collections.Counter()).update(counts)
        for stage, kinds in meta.get("edits", {}).items():
            for kind, n in kinds.items():
                edits.setdefault(stage, {}).setdefault(kind, collections.Counter())[name] += n
        # Counted from the stored rows, not from meta, and checked against what the reader saw.
        n_docs, n_q, n_f = tokens.num_rows, sum(t.num_rows for t in q_tables), sum(t.num_rows for t in f_tables)
        expected_field = "emitted" if meta["input_format"] == "fasta" else "seen"  # FASTA: rows are segments
        if meta[expected_field] != n_docs + n_q + n_f:
            gap = meta[expected_field] - (n_docs + n_q + n_f)
            lost.append(
                f"source {name}: {meta['uri']} [{meta['start']}, {meta['end']}): the reader "
                f"{'saw' if expected_field == 'seen' else 'emitted'} {meta[expected_field]} records, the "
                f"partition holds {n_docs} documents + {n_q} quarantined + {n_f} filtered: "
                + (f"{gap} records lost" if gap > 0 else f"{-gap} records more than were read")
            )
        records_in += n_docs + n_q + n_f
        records_seen += meta["seen"]
        per_source[name]["records_seen"] += meta["seen"]
        per_source[name]["records_in"] += n_docs + n_q + n_f
        per_source[name]["quarantined"] += n_q
        per_source[name]["filtered"] += n_f
        quarantine_tables += [t.cast(QUARANTINE) for t in q_tables]
        filtered_tables += [t.cast(FILTERED) for t in f_tables]
        for t in f_tables:
            filter_reasons[name].update(t["reason"].to_pylist())
        keep_ids, keep_rows = [], []
        sigs = tokens["minhash"].to_numpy(zero_copy_only=False) if lsh else None
        for i, (doc_id, h) in enumerate(zip(tokens["id"].to_pylist(), tokens["content_hash"].to_pylist())):
            reason = "duplicate" if cfg.dedup and h in first_of else None
            near = lsh.query_add(doc_id, np.asarray(sigs[i], np.uint32)) if lsh and sigs is not None and reason is None else None
            if near is not None:
                reason, near_dups = "near_duplicate", near_dups + 1
            if reason:
                detail = f"same content as {first_of[h]}" if near is None else f"near copy of {near}"
                dup_rows.append(
                    {
                        "source": tokens["source"][i].as_py(),
                        "location": tokens["location"][i].as_py(),
                        "stage": "dedup",
                        "reason": reason,
                        "detail": detail,
                        "excerpt": None,
                    }
                )
                per_source[name]["duplicates"] += 1
                continue
            first_of[h] = doc_id
            kept_docs += 1
            per_source[name]["unique_documents"] += 1
            copies = kept_copies(doc_id, weights[name])
            if copies == 0:  # not drawn under weight < 1: counted and quarantined, never silent
                mix_rows.append(
                    {
                        "source": tokens["source"][i].as_py(),
                        "location": tokens["location"][i].as_py(),
                        "stage": "mix",
                        "reason": "sampled_out",
                        "excerpt": None,
                        "detail": f"weight {weights[name]:g} kept about {weights[name]:.0%} of source "
                        f"{name} (deterministic by document id); this one was not drawn",
                    }
                )
                per_source[name]["sampled_out"] += 1
                continue
            per_source[name]["upsampled_copies"] += copies - 1
            for copy in range(copies):
                keep_ids.append(doc_id if copy == 0 else f"{doc_id}#{copy}")
                keep_rows.append(i)
        if not keep_rows:
            continue
        kept = tokens.take(pa.array(keep_rows, pa.int64()))
        pack_items.append({"key": key, "rows": keep_rows, "ids": keep_ids, "tokens": int(pc.sum(kept["n_tokens"]).as_py() or 0)})
        for col in ("source_name", "source", "location", "lang", "n_tokens", "n_words"):
            index_rows[col] += kept[col].to_pylist()
        index_rows["doc_key"] += keep_ids
        index_rows["id"] += kept["id"].to_pylist()
    if lost:  # raised before anything is packed: the staging build is never published
        raise RuntimeError(
            f"build {build_id} is not published: records were lost between reading and the "
            f"cache ({len(lost)} partition(s)): " + "; ".join(lost[:5]) + (f"; and {len(lost) - 5} more" if len(lost) > 5 else "")
        )
    manifest = pack_groups(pack_items, cache_dir, staging / "shards", shard_cfg, engine, run_id, build_id, cfg.workers)
    for name, lang, n, w in zip(index_rows["source_name"], index_rows["lang"], index_rows["n_tokens"], index_rows["n_words"]):
        per_source[name]["documents"] += 1
        per_source[name]["tokens"] += n
        stats = per_lang[lang or "und"]
        stats["documents"] += 1
        stats["tokens"] += n
        stats["words"] += w
    index = pa.table(
        {k: index_rows[k] for k in ("doc_key", "id", "source_name", "source", "location", "lang", "n_tokens", "n_words")}
        if index_rows
        else {k: pa.array([], pa.string()) for k in ("doc_key", "id")},
    ).replace_schema_metadata({"tokenmill.format": INDEX_FORMAT})
    pq.write_table(index, staging / "documents.parquet", compression="zstd")
    q = pa.concat_tables([*quarantine_tables, pa.Table.from_pylist(dup_rows, schema=QUARANTINE), pa.Table.from_pylist(mix_rows, schema=QUARANTINE)])
    pq.write_table(q, staging / "quarantine.parquet", compression="zstd")
    pq.write_table(pa.concat_tables([FILTERED.empty_table(), *filtered_tables]), staging / "filtered.parquet", compression="zstd")
    reasons = collections.Counter(f"{s}/{r}" for s, r in zip(q["stage"].to_pylist(), q["reason"].to_pylist()))
    t = manifest["totals"]
    sampled_out = sum(v["sampled_out"] for v in per_source.values())
    upsampled = sum(v["upsampled_copies"] for v in per_source.values())
    if t["documents"] != kept_docs - sampled_out + upsampled or len(index) != t["documents"]:
        raise RuntimeError(
            f"build {build_id} is not published: counts do not reconcile: {kept_docs} unique - "
            f"{sampled_out} sampled out + {upsampled} upsampled copies != {t['documents']} packed "
            f"({len(index)} in the index)"
        )
    summary = {
        "format": "tokenmill build v1",
        "build_id": build_id,
        "run_id": run_id,
        "tokenizer": {"path": cfg.tokenizer.path, "sha256": engine.sha256, "vocab_size": engine.vocab_size},
        "context_length": cfg.shards.pack.context_length,
        "totals": {
            "records_seen": records_seen,
            "records_in": records_in,
            "quarantined_read": sum(v["quarantined"] for v in per_source.values()),
            "filtered": sum(v["filtered"] for v in per_source.values()),
            "duplicates": len(dup_rows),
            "near_duplicates": near_dups,
            "unique_documents": kept_docs,
            "sampled_out": sampled_out,
            "upsampled_copies": upsampled,
            "documents": t["documents"],
            "tokens": t["tokens"],
            "rows": t["rows"],
            "utilization": t["utilization"],
            "dedup_rate": len(dup_rows) / max(kept_docs + len(dup_rows), 1),
        },
        "shard_sha256": [s["files"][k]["sha256"] for s in manifest["shards"] for k in sorted(s["files"])],
        "per_source": dict(per_source),
        "per_lang": dict(per_lang),
        "quarantine": dict(reasons),
        "filter_reasons": {name: dict(sorted(c.items())) for name, c in sorted(filter_reasons.items())},
        "text_edits": {stage: {kind: dict(sorted(c.items())) for kind, c in sorted(kinds.items())} for stage, kinds in edits.items()},
        "stages": {stage: {"in": c["in"], "out": c["out"]} for stage, c in stages.items()},
    }
    summary["diff"] = _diff(summary, previous, previous_dir, staging / "documents.parquet")
    return summary


def _count(con: duckdb.DuckDBPyConnection, sql: str, params: dict | None = None) -> int:
    """The single value of a ``SELECT count(*)`` query."""
    row = con.execute(sql, params).fetchone()
    assert row is not None  # an aggregate without GROUP BY always returns one row
    return row[0]


def _diff(summary: dict, previous: dict | None, previous_dir: Path | None, index: Path) -> dict | None:
    """Against the previous build: documents added/removed, tokens per source and language."""
    if previous is None or previous_dir is None or not (previous_dir / "documents.parquet").is_file():
        return None
    con = duckdb.connect()
    # paths as parameters (lists: a folder named g[1] is not a pattern), never pasted into SQL text
    files = {"new": [str(index)], "old": [str(previous_dir / "documents.parquet")]}
    added = _count(con, "SELECT count(*) FROM read_parquet($new) n ANTI JOIN read_parquet($old) o USING (doc_key)", files)
    removed = _count(con, "SELECT count(*) FROM read_parquet($old) o ANTI JOIN read_parquet($new) n USING (doc_key)", files)
    con.close()

    def delta(key: str) -> dict:
        names = set(summary[key]) | set(previous.get(key, {}))
        return {n: summary[key].get(n, {}).get("tokens", 0) - previous.get(key, {}).get(n, {}).get("tokens", 0) for n in sorted(names)}

    return {
        "previous_build": previous["build_id"],
        "documents_added": added,
        "documents_removed": removed,
        "tokens_delta": summary["totals"]["tokens"] - previous["totals"]["tokens"],
        "tokens_delta_per_source": delta("per_source"),
        "tokens_delta_per_lang": delta("per_lang"),
    }
