"""One cached partition of a corpus build: read → normalize → quarantine → encode, keyed by content.

A partition is one read task (a file, or a byte range of a big one) of one source. Its key hashes the input's
content fingerprint, the source's ingest config, the tokenizer's hash and the code that shapes the output, so an
unchanged input is never recomputed and any change that could alter the output is. A partition is written to a
temporary folder and renamed into ``cache/<key>/`` when complete; a killed task leaves no half partition, and a
retried one rewrites the same bytes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from operators.clean.minhash import MinHasher
from operators.clean.text_normalize import TextNormalizer
from operators.core.ingest_config import IngestConfig
from operators.encode import Encoder, EncoderConfig
from operators.io.quarantine_sink import QuarantineSink
from operators.io.read_task import ReadTask
from schemas import DOCUMENTS, DNA_SEGMENTS

_ROOT = Path(__file__).resolve().parents[2]
# Code whose changes can change a partition's bytes (readers, cleaning, encoding, this file).
_CODE = ["operators/io", "operators/clean", "operators/encode", "operators/core", "schemas",
         "operators/build/partition.py"]
TOKENS_COLUMNS = ["id", "source_name", "source", "location", "lang", "content_hash", "minhash", "n_words", "n_tokens",
                  "input_ids"]


def code_fingerprint(paths: tuple[str, ...] | list[str] = tuple(_CODE)) -> str:
    """Hash of the code that shapes partition outputs (not the whole repo: a README edit keeps the cache)."""
    digest = hashlib.sha256()
    for rel in paths:
        path = _ROOT / rel
        for f in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            digest.update(str(f.relative_to(_ROOT)).encode() + b"\0" + f.read_bytes())
    return digest.hexdigest()[:16]


def partition_key(task: dict, fingerprint: str, source_name: str, ingest: IngestConfig, tokenizer_hash: str,
                  code: str) -> str:
    """The content address of a partition's output."""
    payload = {"fingerprint": fingerprint, "start": task["start"], "end": task["end"], "row_group": task.get("row_group"),
               "format": task["format"], "compression": task["compression"], "source": source_name, "uri": task["uri"],
               "ingest": dataclasses.asdict(ingest), "tokenizer": tokenizer_hash, "code": code}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]


class PartitionBuilder:
    """Callable on a batch of partition tasks (columns: key, source_name, task json, ingest json): builds missing ones.

    Returns one summary row per partition: key, documents, quarantined, tokens.
    """

    def __init__(self, cache_dir: str, tokenizer: str) -> None:
        self.cache_dir = Path(cache_dir)
        self.encoder = Encoder(EncoderConfig(tokenizer=tokenizer, text_column="text"))
        self.minhasher = MinHasher()

    def __call__(self, batch: pa.Table) -> pa.Table:
        out = []
        for row in batch.to_pylist():
            out.append(self.build(row["key"], row["source_name"], json.loads(row["task"]),
                                  IngestConfig(**json.loads(row["ingest"]))))
        return pa.Table.from_pylist(out)

    def build(self, key: str, source_name: str, task: dict, cfg: IngestConfig) -> dict:
        """Build partition ``key`` unless it is cached; return its summary."""
        final = self.cache_dir / key
        if (final / "meta.json").is_file():
            return json.loads((final / "meta.json").read_text())
        tmp = self.cache_dir / f".tmp-{key}-{uuid.uuid4().hex[:8]}"
        (tmp / "quarantine").mkdir(parents=True)
        is_dna = task["format"] == "fasta"
        sink = QuarantineSink(str(tmp / "quarantine"), DNA_SEGMENTS if is_dna else DOCUMENTS)
        normalizer = TextNormalizer(cfg)
        parts = []
        for block in ReadTask(cfg)(pa.Table.from_pylist([task])):
            kept = sink(block) if is_dna else sink(normalizer(block))
            if is_dna:  # DNA segments become documents whose text is the sequence
                kept = pa.table({"id": kept["id"], "source": kept["source"],
                                 "location": pc.binary_join_element_wise(kept["record"], pc.cast(kept["offset"], pa.string()), ":"),
                                 "text": kept["seq"], "lang": pa.nulls(kept.num_rows, pa.string())})
            if kept.num_rows:
                parts.append(self._encode(kept, source_name))
        tokens = pa.concat_tables(parts) if parts else _empty_tokens()
        pq.write_table(tokens, tmp / "tokens.parquet", compression="zstd")
        n_q = sum(pq.read_metadata(f).num_rows for f in (tmp / "quarantine").glob("*.parquet"))
        meta = {"key": key, "source_name": source_name, "uri": task["uri"], "documents": tokens.num_rows,
                "quarantined": n_q, "tokens": int(pc.sum(tokens["n_tokens"]).as_py() or 0)}
        (tmp / "meta.json").write_text(json.dumps(meta))
        _fsync_tree(tmp)
        try:
            os.rename(tmp, final)
        except OSError:  # another attempt finished first: its bytes are the same
            shutil.rmtree(tmp, ignore_errors=True)
        return meta

    def _encode(self, docs: pa.Table, source_name: str) -> pa.Table:
        enc = self.encoder(docs.select(["id", "source", "location", "text", "lang"]))
        texts = enc["text"].to_pylist()
        hashes = [hashlib.blake2b(t.encode(), digest_size=8).hexdigest() for t in texts]
        enc = enc.append_column("n_words", pa.array([len(t.split()) for t in texts], pa.int32()))
        enc = enc.append_column("source_name", pa.array([source_name] * enc.num_rows, pa.string()))
        enc = enc.append_column("content_hash", pa.array(hashes, pa.string()))
        # Near-dup signatures are stored with the partition: later builds compare against them without recomputing.
        sigs = [self.minhasher.signature(t).tolist() for t in texts]
        enc = enc.append_column("minhash", pa.array(sigs, pa.list_(pa.uint32())))
        return enc.select(TOKENS_COLUMNS)


def _empty_tokens() -> pa.Table:
    return pa.table({"id": pa.array([], pa.string()), "source_name": pa.array([], pa.string()),
                     "source": pa.array([], pa.string()), "location": pa.array([], pa.string()),
                     "lang": pa.array([], pa.string()), "content_hash": pa.array([], pa.string()),
                     "minhash": pa.array([], pa.list_(pa.uint32())), "n_words": pa.array([], pa.int32()), "n_tokens": pa.array([], pa.int32()), "input_ids": pa.array([], pa.list_(pa.int32()))})


def _fsync_tree(path: Path) -> None:
    for f in path.rglob("*"):
        if f.is_file():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())


def kept_copies(doc_id: str, weight: float) -> int:
    """How many times a document appears under mixture ``weight`` (deterministic by id)."""
    whole, frac = int(weight), weight - int(weight)
    u = int(hashlib.blake2b(doc_id.encode(), digest_size=8).hexdigest(), 16) / 2**64
    return whole + (1 if u < frac else 0)


__all__ = ["PartitionBuilder", "TOKENS_COLUMNS", "code_fingerprint", "kept_copies", "partition_key"]
