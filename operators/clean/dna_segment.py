"""DNA segmenting, streaming: FASTA sequence lines in, fixed-length upper-case segments out.

Rules (DNABERT-2 style): sequence is upper-cased and its soft-masked (lower-case) fraction recorded; runs of N
end a segment (``n_policy=split``); IUPAC ambiguity codes split, become N or quarantine the segment
(``iupac_policy``); any other character quarantines the segment that holds it; segments are ``segment_length``
long, and shorter pieces (record tails, pieces between N runs) below ``min_length`` are quarantined as too short.
Memory is bounded by one segment whatever the record length.
"""

from __future__ import annotations

import re

from tokenmill.operators.core.ids import stable_id
from tokenmill.operators.core.ingest_config import IngestConfig
from tokenmill.operators.core.rows import RowBuffer

STAGE = "segment"
_ACGT = b"ACGTacgt"
_LOWER = bytes(range(ord("a"), ord("z") + 1))
_RUNS = re.compile(rb"([ACGTacgt]+)|([Nn]+)|([RYSWKMBDHVryswkmbdhv]+)|([^ACGTNacgtnRYSWKMBDHVryswkmbdhv]+)")
_WHITESPACE = b" \t\r\n\v\f"


class DnaSegmenter:
    """Cut the sequence of FASTA records into segments; emitted rows go to ``buf`` (DNA_SEGMENTS_RAW)."""

    def __init__(self, cfg: IngestConfig, source: str, buf: RowBuffer) -> None:
        self.cfg = cfg
        self.source = source
        self.buf = buf
        self.record: str | None = None
        self.record_index = -1
        self._reset_segment(0)
        self.pos = 0

    def _reset_segment(self, start: int) -> None:
        self.seg_start = start
        self.parts: list[bytes] = []
        self.seg_len = 0
        self.bad: tuple[str, str] | None = None

    def start_record(self, name: str) -> None:
        """Begin a FASTA record (the header's first word)."""
        self.end_record()
        self.record = name
        self.record_index += 1
        self.pos = 0
        self._reset_segment(0)

    def end_record(self) -> None:
        """Flush the last segment of the current record."""
        if self.record is None:
            return
        if self.pos == 0:
            self._reject("empty_record", f"record {self.record!r} has no sequence", b"", 0)
        self._flush()
        self.record = None

    def feed(self, line: bytes) -> None:
        """Add one sequence line of the current record."""
        line = line.translate(None, _WHITESPACE)
        if not line.translate(None, _ACGT):  # fast path: plain (soft-masked) bases
            self._append(line)
            return
        for m in _RUNS.finditer(line):
            acgt, n_run, iupac, other = m.groups()
            if acgt:
                self._append(acgt)
            elif iupac and self.cfg.iupac_policy == "quarantine":
                self._append(iupac, ("iupac_code", f"IUPAC ambiguity code {iupac[:1].decode()!r} (iupac_policy=quarantine)"))
            elif other:
                self._append(other, ("invalid_dna_char", f"character {other[:1]!r} is not a nucleotide or IUPAC code"))
            elif (n_run or self.cfg.iupac_policy == "to_n") and self.cfg.n_policy == "keep":
                self._append(b"N" * len(m.group(0)))
            else:  # an N run, or IUPAC codes with split / to_n(+split): the segment ends here
                self._flush()
                self.pos += len(m.group(0))
                self._reset_segment(self.pos)

    def _mark_bad(self, reason: str, detail: str) -> None:
        if self.bad is None:
            self.bad = (reason, f"{detail} at {self.record}:{self.pos}")

    def _append(self, data: bytes, bad: tuple[str, str] | None = None) -> None:
        """Add bases to the open segment, flushing full ones; ``bad`` (reason, detail) marks every segment that gets
        a piece of ``data`` (a bad run that crosses a segment boundary spoils both segments)."""
        seg_len = self.cfg.segment_length
        while data:
            if bad is not None:
                self._mark_bad(*bad)
            take = data[: seg_len - self.seg_len]
            self.parts.append(take)
            self.seg_len += len(take)
            self.pos += len(take)
            data = data[len(take) :]
            if self.seg_len == seg_len:
                self._flush()
                self._reset_segment(self.pos)

    def _flush(self) -> None:
        if not self.seg_len:
            return
        seg = b"".join(self.parts)
        if self.bad:
            self._reject(self.bad[0], self.bad[1], seg, self.seg_start)
        elif len(seg) < self.cfg.min_length:
            self._reject("short_segment", f"{len(seg)} bp < min_length={self.cfg.min_length}", seg, self.seg_start)
        else:
            loc = self._location(self.seg_start)
            lower = len(seg) - len(seg.translate(None, _LOWER))
            self.buf.add(
                id=stable_id(self.source, loc),
                source=self.source,
                location=loc,
                record=self.record,
                offset=self.seg_start,
                seq=seg.upper().decode("ascii"),
                soft_masked_fraction=lower / len(seg),
            )
        self._reset_segment(self.pos)

    def _location(self, offset: int) -> str:
        return f"record={self.record_index}:{self.record},offset={offset}"

    def _reject(self, reason: str, detail: str, seg: bytes, offset: int) -> None:
        self.buf.reject(stage=STAGE, reason=reason, detail=detail, raw=seg, source=self.source, location=self._location(offset))
