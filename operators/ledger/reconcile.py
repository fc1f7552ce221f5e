"""Reconcile what readers saw with what every stage handed on and what was written; fail the run if they differ.

The counts come from three independent places: the readers' ``seen`` (records counted where the input is read),
the per-batch stage receipts (:mod:`operators.core.stages`) and the rows in the written documents and quarantine
files. For each source the chain must hold::

    seen == read.out                          (the reader emitted a row for every record it saw)
    stage[k-1].out == stage[k].in             (nothing lost between stages)
    stage[k].in == stage[k].out               (marking stages hand on every row, rejected ones marked)
    filtered.in == filtered.out + filtered    (the filtered sink wrote every document a quality filter dropped)
    sink.in == written + quarantined          (the quarantine sink wrote every row to one side or the other)
    seen == written + quarantined + filtered  (after dedup too: duplicates are quarantine rows)

A FASTA record becomes many segments, so for DNA sources the first and last lines compare segments emitted by
the reader instead of records seen (records are still reported).
"""

from __future__ import annotations

from dataclasses import dataclass


class CountMismatch(RuntimeError):
    """Records were lost between reading and writing: the run must fail."""


@dataclass(frozen=True, kw_only=True, slots=True)
class SourceCount:
    """The reconciled counts of one source."""

    source: str
    seen: int
    """Records the reader saw (FASTA: segments the reader emitted; ``fasta_records`` holds the records)."""
    out: int
    quarantined: int
    fasta_records: int | None = None
    filtered: int = 0
    """Documents a quality filter dropped (written to OUT/filtered)."""


def reconcile(
    receipts: dict,
    chain: list[str],
    written: dict[str, int],
    quarantined: dict[str, int],
    sources: list[str],
    filtered: dict[str, int] | None = None,
    filtered_stage: str = "filtered",
) -> tuple[list[SourceCount], list[str]]:
    """Check the count chain for every source; return (counts, problems). No problems: the run reconciles.

    Args:
        receipts: summed receipts (:func:`operators.core.stages.load_receipts`); ``chain[0]`` is the read stage.
        chain: stage names in pipeline order, the last one being the quarantine sink.
        written: rows per source in the final documents / segments files.
        quarantined: rows per source in the final quarantine files.
        sources: every input the run planned to read (one that left no read receipt was lost whole).
        filtered: rows per source in the final filtered files (the stage ``filtered_stage`` hands on the others).
    """
    filtered = filtered or {}
    read = receipts.get(chain[0], {})
    seen_text, seen_dna = read.get("seen", {}), read.get("fasta_records", {})
    counts: list[SourceCount] = []
    problems: list[str] = []
    for src in sorted(set(sources) | set(written) | set(quarantined) | set(filtered)):
        is_dna = src in seen_dna
        before = len(problems)  # this source's problems start here
        if src not in seen_text and not is_dna:
            problems.append(f"{src}: read left no count (its read task did not finish); nothing of it is trusted")
            continue
        emitted = read.get("out", {}).get(src, 0)
        seen = emitted if is_dna else seen_text[src]
        if seen != emitted:
            problems.append(f"{src}: stage {chain[0]} saw {seen} records but emitted {emitted} ({seen - emitted} lost)")
        prev_name, prev_out = chain[0], emitted
        for name in chain[1:]:
            stage = receipts.get(name, {})
            n_in, n_out = stage.get("in", {}).get(src, 0), stage.get("out", {}).get(src, 0)
            if n_in != prev_out:
                problems.append(
                    f"{src}: {prev_out - n_in} records lost between stages {prev_name} and {name} ({prev_name} handed on {prev_out}, {name} took {n_in})"
                )
            if name == filtered_stage and name != chain[-1]:
                n_f = filtered.get(src, 0)
                if n_in != n_out + n_f:
                    problems.append(f"{src}: stage {name} took {n_in} records but handed on {n_out} and filtered {n_f} ({n_in - n_out - n_f} lost)")
            elif name != chain[-1] and n_out != n_in:
                problems.append(f"{src}: stage {name} took {n_in} records but handed on {n_out} ({n_in - n_out} dropped without a quarantine row)")
            prev_name, prev_out = name, n_out
        n_written, n_q, n_f = written.get(src, 0), quarantined.get(src, 0), filtered.get(src, 0)
        sink_in = receipts.get(chain[-1], {}).get("in", {}).get(src, 0)
        if len(problems) == before and sink_in != n_written + n_q and sink_in != 0:
            # Dedup runs after the sink and turns written rows into quarantine rows: their sum stays the same.
            problems.append(
                f"{src}: stage {chain[-1]} took {sink_in} records but {n_written} were written and {n_q} quarantined ({sink_in - n_written - n_q} lost)"
            )
        if seen != n_written + n_q + n_f:
            also = f" + {n_f} filtered" if n_f or filtered_stage in chain else ""
            problems.append(
                f"{src}: {seen} records seen but {n_written} written + {n_q} quarantined{also} = {n_written + n_q + n_f} ({seen - n_written - n_q - n_f} lost)"
            )
        counts.append(SourceCount(source=src, seen=seen, out=n_written, quarantined=n_q, fasta_records=seen_dna.get(src) if is_dna else None, filtered=n_f))
    return counts, problems


def mismatch_message(problems: list[str], limit: int = 20) -> str:
    """A run-failing message that lists what was lost where."""
    head = "\n  ".join(problems[:limit])
    more = f"\n  ... and {len(problems) - limit} more" if len(problems) > limit else ""
    return (
        f"counts do not reconcile, the run is marked failed and nothing was published:\n  {head}{more}\n"
        f"This is a tokenmill bug or a broken operator, not bad input; please report it with the ledger."
    )


def text_edit_rows(receipts: dict[str, dict[str, dict[str, int]]], stages: list[str], prefix: str = "") -> list[tuple[str, str, str, int]]:
    """The ledger's ``text_edits`` rows ``(stage, source, kind, count)`` from a run's summed receipts: what the
    ``stages`` counted besides rows in and out (the PII formatter's replacements, the lines C4 removed), per source,
    non-zero counts only, stage names with ``prefix``."""
    return [
        (prefix + stage, src, kind, n)
        for stage in stages
        for kind, by_source in sorted(receipts.get(stage, {}).items())
        if kind not in ("in", "out")
        for src, n in sorted(by_source.items())
        if n
    ]
