"""Streaming FASTA reader (.fa/.fna/.fasta, optionally .gz/.zst) feeding the DNA segmenter."""

from __future__ import annotations

from typing import Iterator

import pyarrow as pa

from operators.clean.dna_segment import DnaSegmenter
from operators.core.ingest_config import IngestConfig
from operators.core.rows import RowBuffer
from operators.io.streams import TruncatedInput, iter_lines
from schemas import DNA_SEGMENTS_RAW

STAGE = "read"


def read_fasta(task: dict, cfg: IngestConfig) -> Iterator[pa.Table]:
    """Yield DNA_SEGMENTS_RAW blocks for a FASTA file; problems become rejected rows with a reason."""
    src = task["uri"]
    buf = RowBuffer(DNA_SEGMENTS_RAW, cfg.batch_rows)
    seg = DnaSegmenter(cfg, src, buf)
    last = 0
    try:
        for offset, line in iter_lines(src, task["compression"]):
            last = offset + len(line) + 1
            if line.startswith(b">"):
                header = line[1:].decode("utf-8", "replace").strip()
                seg.start_record(header.split()[0] if header else f"unnamed@{offset}")
            elif line.startswith(b";") or not line.strip():
                continue  # comment or blank line: not sequence
            elif seg.record is None:
                buf.reject(stage=STAGE, reason="sequence_before_header", raw=line, source=src,
                           location=f"byte={offset}", detail="sequence line before any '>' header")
            else:
                seg.feed(line)
            if buf.full:
                yield buf.take()
    except TruncatedInput as exc:
        buf.reject(stage=STAGE, reason="truncated_input", detail=f"{exc}; sequence before this point was kept",
                   raw=None, source=src, location=f"byte={last}")
    seg.end_record()
    if len(buf):
        yield buf.take()


def fasta_sequences(path: str, cfg: IngestConfig) -> list[str]:
    """The kept segments of one FASTA file, in file order (a convenience for benchmarks and tests, no Ray)."""
    task = {"uri": str(path), "compression": None, "start": 0, "end": -1}
    out: list[str] = []
    for block in read_fasta(task, cfg):
        kept = [s for s, r in zip(block["seq"].to_pylist(), block["_reject_reason"].to_pylist()) if r is None]
        out.extend(kept)
    return out
