"""DnaSegmenter against a character-by-character reference of its rules, on generated records fed in random line
breaks (hypothesis) and on real genome lines; plus the cases a reader would ask about by name."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from tokenmill.operators.clean.dna_segment import DnaSegmenter
from tokenmill.operators.core.ingest_config import IngestConfig
from tokenmill.operators.core.rows import RowBuffer
from tokenmill.schemas import DNA_SEGMENTS_RAW

IUPAC = set("RYSWKMBDHVryswkmbdhv")


def reference(seq: str, cfg: IngestConfig) -> list[tuple[int, str | None, str | None]]:
    """(offset, upper-case segment or None, reject reason or None) per segment of one record, rule by rule."""
    out: list[tuple[int, str | None, str | None]] = []
    start, cur, bad = 0, "", None

    def flush() -> None:
        if not cur:
            return
        if bad:
            out.append((start, None, bad))
        elif len(cur) < cfg.min_length:
            out.append((start, None, "short_segment"))
        else:
            out.append((start, cur.upper(), None))

    if not seq:
        return [(0, None, "empty_record")]
    for pos, c in enumerate(seq):
        split = (c in "Nn" and cfg.n_policy == "split") or (
            c in IUPAC and (cfg.iupac_policy == "split" or (cfg.iupac_policy == "to_n" and cfg.n_policy == "split"))
        )
        if split:
            flush()
            start, cur, bad = pos + 1, "", None
            continue
        if c in IUPAC and cfg.iupac_policy == "quarantine":
            bad = bad or "iupac_code"
        elif c not in "ACGTNacgtn" and c not in IUPAC:
            bad = bad or "invalid_dna_char"
        kept_as_n = c in "Nn" or (c in IUPAC and cfg.iupac_policy == "to_n")  # n_policy=keep, or it split above
        cur += "N" if kept_as_n else c
        if len(cur) == cfg.segment_length:
            flush()
            start, cur, bad = pos + 1, "", None
    flush()
    return out


def segment(lines: list[str], cfg: IngestConfig) -> list[tuple[int, str | None, str | None]]:
    buf = RowBuffer(DNA_SEGMENTS_RAW, 1 << 20)
    seg = DnaSegmenter(cfg, "genome.fa", buf)
    seg.start_record("chr1")
    for line in lines:
        seg.feed(line.encode())
    seg.end_record()
    rows = buf.take().to_pylist()
    got = []
    for r in rows:
        offset = int(r["location"].rsplit("offset=", 1)[1])
        got.append((offset, r["seq"], r["_reject_reason"]))
        assert (r["seq"] is None) == (r["_reject_reason"] is not None)
        if r["seq"] is not None:
            assert r["offset"] == offset and r["record"] == "chr1" and set(r["seq"]) <= set("ACGTN")
    return got


def cut(seq: str, breaks: list[int]) -> list[str]:
    points = sorted({b % (len(seq) + 1) for b in breaks} | {0, len(seq)})
    return [seq[a:b] for a, b in itertools.pairwise(points)] or [""]


CONFIGS = [IngestConfig(segment_length=8, min_length=3, n_policy=n, iupac_policy=i) for n in ("split", "keep") for i in ("split", "to_n", "quarantine")]


# Records as runs of bases, N, IUPAC codes and junk, so long records and runs across segment boundaries are common.
RUNS = st.sampled_from(["ACGT", "acgtA", "GATTACA", "C", "N", "nN", "R", "yK", "M", "x", "x-x", "-"])


@settings(max_examples=300, deadline=None)
@given(seq=st.lists(RUNS, max_size=20).map("".join), breaks=st.lists(st.integers(0, 80), max_size=6), which=st.integers(0, len(CONFIGS) - 1))
def test_matches_the_reference(seq, breaks, which):
    cfg = CONFIGS[which]
    assert segment(cut(seq, breaks), cfg) == reference(seq, cfg)


def test_a_bad_run_across_a_segment_boundary_spoils_both_segments():
    cfg = IngestConfig(segment_length=10, min_length=2)
    got = segment(["ACGTACGTXXXXACGTAC"], cfg)
    assert got == [(0, None, "invalid_dna_char"), (10, None, "invalid_dna_char")]


def test_soft_masked_bases_are_upper_cased_with_their_fraction():
    buf = RowBuffer(DNA_SEGMENTS_RAW, 100)
    seg = DnaSegmenter(IngestConfig(segment_length=8, min_length=2), "g.fa", buf)
    seg.start_record("r")
    seg.feed(b"acgtACGT")
    seg.end_record()
    (row,) = buf.take().to_pylist()
    assert row["seq"] == "ACGTACGT" and row["soft_masked_fraction"] == 0.5


def test_real_genome_lines(shared_data):
    lines = (shared_data / "dna/lambda_phage.fa").read_text().splitlines()[1:400]
    cfg = IngestConfig(segment_length=1000, min_length=50)
    got = segment(lines, cfg)
    seq = "".join(lines)
    assert got == reference(seq, cfg)
    assert "".join(s for _, s, _ in got if s) == seq.upper()[: sum(len(s) for _, s, _ in got if s)]
