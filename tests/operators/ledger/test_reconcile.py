"""The count chain: every way of losing a record is named with its source and stage."""

from __future__ import annotations

from tokenmill.operators.ledger.reconcile import mismatch_message, reconcile

CHAIN = ["read", "normalize", "quarantine"]


def _receipts(seen=10, read_out=10, norm_in=10, norm_out=10, sink_in=10) -> dict:
    return {
        "read": {"seen": {"a": seen}, "out": {"a": read_out}},
        "normalize": {"in": {"a": norm_in}, "out": {"a": norm_out}},
        "quarantine": {"in": {"a": sink_in}, "out": {"a": sink_in - 2}},
    }


def test_a_clean_run_reconciles():
    counts, problems = reconcile(_receipts(), CHAIN, {"a": 8}, {"a": 2}, ["a"])
    assert problems == []
    assert (counts[0].seen, counts[0].out, counts[0].quarantined) == (10, 8, 2)


def test_each_loss_names_its_stage():
    cases = {
        "stage read saw 10 records but emitted 9": _receipts(read_out=9, norm_in=9, norm_out=9, sink_in=9),
        "1 records lost between stages read and normalize": _receipts(norm_in=9, norm_out=9, sink_in=9),
        "stage normalize took 10 records but handed on 9": _receipts(norm_out=9, sink_in=9),
        "stage quarantine took 10 records but 7 were written and 2 quarantined": _receipts(),
    }
    for expected, receipts in cases.items():
        written = {"a": 7}
        _, problems = reconcile(receipts, CHAIN, written, {"a": 2}, ["a"])
        assert any(expected in p for p in problems), (expected, problems)
        assert any("10 records seen but 7 written + 2 quarantined" in p for p in problems)


def test_a_source_without_a_read_receipt_is_a_problem():
    _, problems = reconcile(_receipts(), CHAIN, {"a": 8}, {"a": 2}, ["a", "b"])
    assert problems == ["b: read left no count (its read task did not finish); nothing of it is trusted"]
    assert "counts do not reconcile" in mismatch_message(problems)


def test_dna_sources_reconcile_segments_and_report_records():
    receipts = {"read": {"fasta_records": {"g.fa": 3}, "out": {"g.fa": 50}}, "quarantine": {"in": {"g.fa": 50}, "out": {"g.fa": 45}}}
    counts, problems = reconcile(receipts, ["read", "quarantine"], {"g.fa": 45}, {"g.fa": 5}, ["g.fa"])
    assert problems == [] and counts[0].fasta_records == 3 and counts[0].seen == 50


def test_one_source_problem_does_not_hide_another_sources_sink_loss():
    receipts = {
        "read": {"seen": {"a": 10, "b": 5}, "out": {"a": 9, "b": 5}},
        "normalize": {"in": {"a": 9, "b": 5}, "out": {"a": 9, "b": 5}},
        "quarantine": {"in": {"a": 9, "b": 5}, "out": {"a": 9, "b": 5}},
    }
    _, problems = reconcile(receipts, CHAIN, {"a": 9, "b": 4}, {}, ["a", "b"])
    assert any(p.startswith("a: stage read saw 10") for p in problems)
    assert any(p.startswith("b: stage quarantine took 5 records but 4 were written") for p in problems)
