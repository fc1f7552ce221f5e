"""Streaming FASTA reader (.fa/.fna/.fasta, optionally .gz/.zst) feeding the DNA segmenter."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa

from tokenmill.operators.clean.dna_segment import DnaSegmenter
from tokenmill.operators.core.ingest_config import IngestConfig
from tokenmill.operators.core.rows import RowBuffer, Seen
from tokenmill.operators.io.streams import InputFault, iter_lines
from tokenmill.schemas import DNA_SEGMENTS_RAW

STAGE = "read"


def read_fasta(task: dict, cfg: IngestConfig, seen: Seen | None = None) -> Iterator[pa.Table]:
    """Yield DNA_SEGMENTS_RAW blocks for a FASTA file; problems become rejected rows with a reason.

    ``seen`` counts FASTA records (headers), stray sequence lines and a faulty tail; the rows emitted are segments,
    so for DNA the reconciliation is emitted segments = out + quarantined, with records seen reported beside it.
    """
    seen = seen if seen is not None else Seen()
    src = task["uri"]
    buf = RowBuffer(DNA_SEGMENTS_RAW, cfg.batch_rows)
    seg = DnaSegmenter(cfg, src, buf)
    gap_in: str | None = None  # the record that lost data to a corrupt member: what follows continues it
    try:
        for offset, line, fault in iter_lines(src, task["compression"]):
            if fault is not None:  # never join sequence across data lost to a corrupt or cut member
                seen.n += 1
                buf.reject(stage=STAGE, reason=fault.reason, detail=fault.detail, raw=line or None, source=src, location=f"byte={offset}")
                if seg.record is not None:
                    gap_in = seg.record.split("~after_lost_data@", 1)[0]
                    seg.end_record()
            elif line.startswith(b">"):
                seen.n += 1
                gap_in = None
                header = line[1:].decode("utf-8", "replace").strip()
                seg.start_record(header.split()[0] if header else f"unnamed@{offset}")
            elif line.startswith(b";") or not line.strip():
                continue  # comment or blank line: not sequence
            elif gap_in is not None:  # sequence after the lost part of a record: its offsets restart here
                seg.start_record(f"{gap_in}~after_lost_data@byte={offset}")
                gap_in = None
                seg.feed(line)
            elif seg.record is None:
                seen.n += 1
                buf.reject(
                    stage=STAGE, reason="sequence_before_header", raw=line, source=src, location=f"byte={offset}", detail="sequence line before any '>' header"
                )
            else:
                seg.feed(line)
            if buf.full:
                yield buf.take()
    except InputFault as exc:
        exc.quarantine(buf, seen, STAGE, src)
    seg.end_record()
    yield from buf.rest()


def fasta_sequences(path: str, cfg: IngestConfig) -> list[str]:
    """The kept segments of one FASTA file, in file order (a convenience for benchmarks and tests, no Ray)."""
    task = {"uri": str(path), "compression": None, "start": 0, "end": -1}
    out: list[str] = []
    for block in read_fasta(task, cfg):
        kept = [s for s, r in zip(block["seq"].to_pylist(), block["_reject_reason"].to_pylist()) if r is None]
        out.extend(kept)
    return out
