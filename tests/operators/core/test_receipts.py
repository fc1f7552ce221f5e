"""Count receipts: written one per file or gathered into one bundle per partition, summed once per receipt name."""

from __future__ import annotations

import pytest

from tokenmill.operators.core.stages import load_receipts, receipt_bundle, write_receipt


def _receipt(source: str, n: int) -> dict:
    return {"stage": "normalize", "in": {source: n}, "out": {source: n}}


def test_a_bundle_sums_like_single_files_and_a_repeated_receipt_counts_once(tmp_path):
    single, bundled = tmp_path / "single", tmp_path / "bundled"
    names = [(f"normalize-{i}", _receipt(f"s{i % 3}", i + 1)) for i in range(10)]
    for name, payload in names:
        write_receipt(str(single), name, payload)
    with receipt_bundle(str(bundled), "part-00000"):
        for name, payload in names[:6]:
            write_receipt(str(bundled), name, payload)
    with receipt_bundle(str(bundled), "part-00001"):  # a retried partition's receipt appears in a second bundle
        for name, payload in names[5:]:
            write_receipt(str(bundled), name, payload)
    assert sorted(p.name for p in bundled.iterdir()) == ["bundle-part-00000.json", "bundle-part-00001.json"]
    assert load_receipts(bundled) == load_receipts(single) == {"normalize": {"in": {"s0": 22, "s1": 15, "s2": 18}, "out": {"s0": 22, "s1": 15, "s2": 18}}}


def test_a_failed_partition_writes_no_bundle_and_other_folders_write_through(tmp_path):
    run, other = tmp_path / "run", tmp_path / "other"
    with pytest.raises(RuntimeError), receipt_bundle(str(run), "part-00003"):
        write_receipt(str(run), "read-a", _receipt("a", 1))
        write_receipt(str(other), "read-b", _receipt("b", 2))  # not the bundle's folder: its own file at once
        raise RuntimeError("worker failed mid-partition")
    assert not run.exists()
    assert [p.name for p in other.iterdir()] == ["read-b.json"]
    with receipt_bundle(None, "part-00004"):  # no receipts folder: nothing to gather
        pass
