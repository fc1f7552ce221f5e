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
import dataclasses
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
# What build.json counts per source, in this order (the report's per-source table shows the same columns).
SOURCE_COUNTS = (
    "records_seen",
    "records_in",
    "quarantined",
    "filtered",
    "duplicates",
    "unique_documents",
    "sampled_out",
    "upsampled_copies",
    "documents",
    "tokens",
)


@dataclasses.dataclass
class _Tally:
    """What assembly read from the partitions and decided about their documents, in canonical order."""

    per_source: collections.defaultdict[str, dict[str, int]] = dataclasses.field(
        default_factory=lambda: collections.defaultdict(lambda: dict.fromkeys(SOURCE_COUNTS, 0))
    )
    per_lang: collections.defaultdict[str, dict[str, int]] = dataclasses.field(
        default_factory=lambda: collections.defaultdict(lambda: {"documents": 0, "tokens": 0, "words": 0})
    )
    records_in: int = 0
    records_seen: int = 0
    stages: dict[str, collections.Counter] = dataclasses.field(default_factory=dict)  # the ingest chain's counts, in chain order
    edits: dict[str, dict[str, collections.Counter[str]]] = dataclasses.field(default_factory=dict)  # stage -> kind -> source
    filter_reasons: collections.defaultdict[str, collections.Counter[str]] = dataclasses.field(
        default_factory=lambda: collections.defaultdict(collections.Counter)
    )  # source -> rule
    quarantine_tables: list[pa.Table] = dataclasses.field(default_factory=list)
    filtered_tables: list[pa.Table] = dataclasses.field(default_factory=list)
    lost: list[str] = dataclasses.field(default_factory=list)  # partitions whose rows do not add up to what was read
    dup_rows: list[dict] = dataclasses.field(default_factory=list)
    mix_rows: list[dict] = dataclasses.field(default_factory=list)
    index_rows: collections.defaultdict[str, list] = dataclasses.field(default_factory=lambda: collections.defaultdict(list))
    pack_items: list[dict] = dataclasses.field(default_factory=list)  # per partition: the rows the workers pack
    kept_docs: int = 0
    near_dups: int = 0


def assemble_build(
    cfg: BuildConfig, keys: list[str], cache_dir: Path, staging: Path, engine, run_id: str, build_id: str, previous: dict | None, previous_dir: Path | None
) -> dict:
    """Write ``staging/shards``, ``staging/documents.parquet``, ``staging/quarantine.parquet`` and
    ``staging/filtered.parquet``; return the summary."""
    shard_cfg = resolve_eos_id(cfg.shards, engine)  # eos_id=auto: the tokenizer's EOS/SEP
    tally = _Tally()
    chooser = _Chooser(cfg)
    # The driver decides from ids, hashes and counts (the token ids are neither decoded nor packed here): every
    # partition's bytes are checked, its kept rows listed; Ray workers pack those rows (operators/corpus_build/pack.py).
    columns = [c for c in TOKENS_COLUMNS if c not in ("text", "input_ids") and (chooser.lsh is not None or c != "minhash")]
    for key in keys:
        name, tokens = _read_partition(tally, cache_dir, key, columns, build_id)
        chooser.choose(tally, key, name, tokens)
    if tally.lost:  # raised before anything is packed: the staging build is never published
        lost = tally.lost
        raise RuntimeError(
            f"build {build_id} is not published: records were lost between reading and the "
            f"cache ({len(lost)} partition(s)): " + "; ".join(lost[:5]) + (f"; and {len(lost) - 5} more" if len(lost) > 5 else "")
        )
    manifest = pack_groups(tally.pack_items, cache_dir, staging / "shards", shard_cfg, engine, run_id, build_id, cfg.workers)
    _count_packed(tally)
    index, quarantine = _write_tables(tally, staging)
    summary = _summary(tally, manifest, index, quarantine, cfg, engine, run_id, build_id)
    summary["diff"] = _diff(summary, previous, previous_dir, staging / "documents.parquet")
    return summary


def _read_partition(tally: _Tally, cache_dir: Path, key: str, columns: list[str], build_id: str) -> tuple[str, pa.Table]:
    """Load partition ``key`` (its bytes checked), add its counts, quarantined and filtered rows to ``tally`` and
    check its rows against what its reader saw; return its source name and its documents (``columns``)."""
    try:
        meta, tokens, q_tables, f_tables = load_partition(cache_dir / key, key, columns=columns)
    except CorruptPartition as exc:  # planning verified it: it changed since, or a worker wrote bad bytes
        raise RuntimeError(f"{exc}; build {build_id} is not published. Rerun the build: it removes a corrupt cached partition and recomputes it") from None
    name = meta["source_name"]
    for stage, counts in meta.get("stages", {}).items():
        tally.stages.setdefault(stage, collections.Counter()).update(counts)
    for stage, kinds in meta.get("edits", {}).items():
        for kind, n in kinds.items():
            tally.edits.setdefault(stage, {}).setdefault(kind, collections.Counter())[name] += n
    # Counted from the stored rows, not from meta, and checked against what the reader saw.
    n_docs, n_q, n_f = tokens.num_rows, sum(t.num_rows for t in q_tables), sum(t.num_rows for t in f_tables)
    expected_field = "emitted" if meta["input_format"] == "fasta" else "seen"  # FASTA: rows are segments
    if meta[expected_field] != n_docs + n_q + n_f:
        gap = meta[expected_field] - (n_docs + n_q + n_f)
        tally.lost.append(
            f"source {name}: {meta['uri']} [{meta['start']}, {meta['end']}): the reader "
            f"{'saw' if expected_field == 'seen' else 'emitted'} {meta[expected_field]} records, the "
            f"partition holds {n_docs} documents + {n_q} quarantined + {n_f} filtered: "
            + (f"{gap} records lost" if gap > 0 else f"{-gap} records more than were read")
        )
    tally.records_in += n_docs + n_q + n_f
    tally.records_seen += meta["seen"]
    source = tally.per_source[name]
    source["records_seen"] += meta["seen"]
    source["records_in"] += n_docs + n_q + n_f
    source["quarantined"] += n_q
    source["filtered"] += n_f
    tally.quarantine_tables += [t.cast(QUARANTINE) for t in q_tables]
    tally.filtered_tables += [t.cast(FILTERED) for t in f_tables]
    for t in f_tables:
        tally.filter_reasons[name].update(t["reason"].to_pylist())
    return name, tokens


class _Chooser:
    """Which documents a build keeps, and how many copies of each: exact dedup (the first in canonical order is
    kept), optional near dedup (MinHash LSH), then the source's weight (deterministic by document id)."""

    def __init__(self, cfg: BuildConfig) -> None:
        self.weights = {s.name: s.weight for s in cfg.sources}
        self.dedup = cfg.dedup
        self.first_of: dict[str, str] = {}  # content hash -> id of the document kept for it (the first in canonical order)
        self.lsh = LshIndex(threshold=cfg.near_dedup_threshold) if cfg.near_dedup else None

    def choose(self, tally: _Tally, key: str, name: str, tokens: pa.Table) -> None:
        """Decide about the documents of partition ``key`` (source ``name``): duplicates and documents not drawn
        under a weight < 1 to quarantine rows, the kept ones (with their copies) to the pack items and the index."""
        lsh, weight, counts = self.lsh, self.weights[name], tally.per_source[name]
        keep_ids, keep_rows = [], []
        sigs = tokens["minhash"].to_numpy(zero_copy_only=False) if lsh else None
        for i, (doc_id, h) in enumerate(zip(tokens["id"].to_pylist(), tokens["content_hash"].to_pylist())):
            reason = "duplicate" if self.dedup and h in self.first_of else None
            near = lsh.query_add(doc_id, np.asarray(sigs[i], np.uint32)) if lsh and sigs is not None and reason is None else None
            if near is not None:
                reason, tally.near_dups = "near_duplicate", tally.near_dups + 1
            if reason:
                detail = f"same content as {self.first_of[h]}" if near is None else f"near copy of {near}"
                tally.dup_rows.append(
                    {
                        "source": tokens["source"][i].as_py(),
                        "location": tokens["location"][i].as_py(),
                        "stage": "dedup",
                        "reason": reason,
                        "detail": detail,
                        "excerpt": None,
                    }
                )
                counts["duplicates"] += 1
                continue
            self.first_of[h] = doc_id
            tally.kept_docs += 1
            counts["unique_documents"] += 1
            copies = kept_copies(doc_id, weight)
            if copies == 0:  # not drawn under weight < 1: counted and quarantined, never silent
                tally.mix_rows.append(
                    {
                        "source": tokens["source"][i].as_py(),
                        "location": tokens["location"][i].as_py(),
                        "stage": "mix",
                        "reason": "sampled_out",
                        "excerpt": None,
                        "detail": f"weight {weight:g} kept about {weight:.0%} of source {name} (deterministic by document id); this one was not drawn",
                    }
                )
                counts["sampled_out"] += 1
                continue
            counts["upsampled_copies"] += copies - 1
            for copy in range(copies):
                keep_ids.append(doc_id if copy == 0 else f"{doc_id}#{copy}")
                keep_rows.append(i)
        if not keep_rows:
            return
        kept = tokens.take(pa.array(keep_rows, pa.int64()))
        tally.pack_items.append({"key": key, "rows": keep_rows, "ids": keep_ids, "tokens": int(pc.sum(kept["n_tokens"]).as_py() or 0)})
        for col in ("source_name", "source", "location", "lang", "n_tokens", "n_words"):
            tally.index_rows[col] += kept[col].to_pylist()
        tally.index_rows["doc_key"] += keep_ids
        tally.index_rows["id"] += kept["id"].to_pylist()


def _count_packed(tally: _Tally) -> None:
    """Documents and tokens per source and language, from the index of what was packed."""
    rows = tally.index_rows
    for name, lang, n, w in zip(rows["source_name"], rows["lang"], rows["n_tokens"], rows["n_words"]):
        tally.per_source[name]["documents"] += 1
        tally.per_source[name]["tokens"] += n
        stats = tally.per_lang[lang or "und"]
        stats["documents"] += 1
        stats["tokens"] += n
        stats["words"] += w


def _write_tables(tally: _Tally, staging: Path) -> tuple[pa.Table, pa.Table]:
    """Write the build's document index, quarantine and filtered tables into ``staging``; return the index and the
    quarantine."""
    rows = tally.index_rows
    index = pa.table(
        {k: rows[k] for k in ("doc_key", "id", "source_name", "source", "location", "lang", "n_tokens", "n_words")}
        if rows
        else {k: pa.array([], pa.string()) for k in ("doc_key", "id")},
    ).replace_schema_metadata({"tokenmill.format": INDEX_FORMAT})
    pq.write_table(index, staging / "documents.parquet", compression="zstd")
    q = pa.concat_tables(
        [*tally.quarantine_tables, pa.Table.from_pylist(tally.dup_rows, schema=QUARANTINE), pa.Table.from_pylist(tally.mix_rows, schema=QUARANTINE)]
    )
    pq.write_table(q, staging / "quarantine.parquet", compression="zstd")
    pq.write_table(pa.concat_tables([FILTERED.empty_table(), *tally.filtered_tables]), staging / "filtered.parquet", compression="zstd")
    return index, q


def _summary(tally: _Tally, manifest: dict, index: pa.Table, q: pa.Table, cfg: BuildConfig, engine, run_id: str, build_id: str) -> dict:
    """The build's summary (``build.json`` without the diff), after checking that unique documents, sampled out and
    upsampled copies add up to the documents packed."""
    per_source, kept_docs, dup_rows = tally.per_source, tally.kept_docs, tally.dup_rows
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
    return {
        "format": "tokenmill build v1",
        "build_id": build_id,
        "run_id": run_id,
        "tokenizer": {"path": cfg.tokenizer.path, "sha256": engine.sha256, "vocab_size": engine.vocab_size},
        "context_length": cfg.shards.pack.context_length,
        "totals": {
            "records_seen": tally.records_seen,
            "records_in": tally.records_in,
            "quarantined_read": sum(v["quarantined"] for v in per_source.values()),
            "filtered": sum(v["filtered"] for v in per_source.values()),
            "duplicates": len(dup_rows),
            "near_duplicates": tally.near_dups,
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
        "per_lang": dict(tally.per_lang),
        "quarantine": dict(reasons),
        "filter_reasons": {name: dict(sorted(c.items())) for name, c in sorted(tally.filter_reasons.items())},
        "text_edits": {stage: {kind: dict(sorted(c.items())) for kind, c in sorted(kinds.items())} for stage, kinds in tally.edits.items()},
        "stages": {stage: {"in": c["in"], "out": c["out"]} for stage, c in tally.stages.items()},
    }


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
