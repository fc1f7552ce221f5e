"""Packing: fast (numpy) packer equals the pure-Python reference; row invariants; long documents; bounded memory."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tokenmill.operators.core.config import ConfigError, build_config
from tokenmill.operators.pack import Packer, PackerConfig, ReferencePacker, best_fit_decreasing, pack_documents
from tokenmill.operators.pack.packer import best_fit_decreasing_scan

ROW_FIELDS = ("input_ids", "position_ids", "cu_seqlens", "loss_mask", "doc_offsets")


def run_both(cfg: PackerConfig, docs):
    ref, fast = ReferencePacker(cfg), Packer(cfg)
    ref_rows, fast_rows = [], []
    for doc_id, ids in docs:
        ref_rows += ref.add(doc_id, ids)
        fast_rows += fast.add(doc_id, ids)
    ref_rows += ref.flush()
    fast_rows += [r for b in fast.flush() for r in b.rows()]
    return ref, fast, ref_rows, fast_rows


def assert_rows_equal(ref_rows, fast_rows):
    assert len(ref_rows) == len(fast_rows)
    for a, b in zip(ref_rows, fast_rows):
        for name in ROW_FIELDS:
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
        assert a.doc_ids == b.doc_ids
        assert a.num_tokens == b.num_tokens


def check_invariants(rows, cfg: PackerConfig, stored: dict[str, np.ndarray]):
    """Every row is well formed and every stored document is covered exactly once, in order."""
    C = cfg.context_length
    pieces: dict[str, list[tuple[int, np.ndarray]]] = {}
    for row in rows:
        assert row.input_ids.shape == (C,) and row.position_ids.shape == (C,) and row.loss_mask.shape == (C,)
        cu = row.cu_seqlens
        assert cu.dtype == np.int32 and cu[0] == 0 and cu[-1] == C and (np.diff(cu) > 0).all()
        n_real = len(row.doc_ids)
        assert len(cu) - 1 == n_real + (row.num_tokens < C)
        assert cu[n_real] == row.num_tokens
        for k in range(len(cu) - 1):
            a, b = cu[k], cu[k + 1]
            np.testing.assert_array_equal(row.position_ids[a:b], np.arange(b - a))
            assert row.loss_mask[a] == 0 and (row.loss_mask[a + 1 : b] == (k < n_real)).all()
            if k < n_real:
                pieces.setdefault(row.doc_ids[k], []).append((int(row.doc_offsets[k]), row.input_ids[a:b]))
            else:
                assert (row.input_ids[a:b] == cfg.pad_id).all()
    assert set(pieces) == set(stored)
    for doc_id, parts in pieces.items():
        parts.sort(key=lambda p: p[0])
        np.testing.assert_array_equal(np.concatenate([p for _, p in parts]), stored[doc_id])


def stored_tokens(cfg: PackerConfig, docs):
    """What the contract says each kept document stores."""
    out = {}
    for doc_id, ids in docs:
        t = list(ids)
        t = ([cfg.bos_id] if cfg.bos_id is not None else []) + t + ([cfg.eos_id] if cfg.eos_id is not None else [])
        if not t or (len(t) > cfg.context_length and cfg.long_docs == "drop"):
            continue
        if cfg.long_docs == "truncate":
            t = t[: cfg.context_length]
        out[doc_id] = np.array(t)
    return out


def test_config_validation_names_the_field():
    with pytest.raises(ValueError, match="context_length"):
        PackerConfig(context_length=1)
    with pytest.raises(ValueError, match="long_docs"):
        PackerConfig(long_docs="chop")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="buffer_docs"):
        PackerConfig(buffer_docs=0)
    with pytest.raises(ValueError, match="carry_fraction"):
        PackerConfig(carry_fraction=1.0)
    with pytest.raises(ConfigError, match="bos_id"):
        build_config(PackerConfig, {"bos_id": "x"})
    assert build_config(PackerConfig, {"context_length": 2048, "long_docs": "drop"}).context_length == 2048


def test_best_fit_decreasing_known_answer():
    # 5 -> bin0 (room 1); 4 -> bin1 (2); 3 -> bin2 (3); 3 -> bin2 (0); 2 -> bin1 (0); 1 -> bin0 (0)
    item, offset, _length, bins, room = best_fit_decreasing(np.array([5, 4, 3, 3, 2, 1]), 6)
    assert bins.tolist() == [0, 1, 2, 2, 1, 0] and item.tolist() == [0, 1, 2, 3, 4, 5]
    assert room.tolist() == [0, 0, 0] and offset.tolist() == [0] * 6
    # Best fit, not first fit: 2 goes to the bin with room 2 (bin1), not the first with room >= 2 (bin0, room 3).
    *_, bins, room = best_fit_decreasing(np.array([7, 8, 2]), 10)
    assert bins.tolist() == [0, 1, 1] and room.tolist() == [3, 0]


def test_split_to_fill_known_answer():
    # Three items of 4 in bins of 10: whole, two per bin (room 2 left). Cutting to fill (min 2): the third item's
    # head (2) fills bin0, its rest (2) opens bin1.
    _, _, _, bins, room = best_fit_decreasing(np.array([4, 4, 4]), 10)
    assert bins.tolist() == [0, 0, 1] and room.tolist() == [2, 6]
    item, offset, length, bins, room = best_fit_decreasing(np.array([4, 4, 4]), 10, split_min=2)
    assert list(zip(item.tolist(), offset.tolist(), length.tolist(), bins.tolist())) == [(0, 0, 4, 0), (1, 0, 4, 0), (2, 0, 2, 0), (2, 2, 2, 1)]
    assert room.tolist() == [0, 8]
    # Rows too short of room (< split_min) are not filled by cutting.
    *_, bins, room = best_fit_decreasing(np.array([4, 4, 4]), 10, split_min=3)
    assert bins.tolist() == [0, 0, 1]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.integers(0, 40), max_size=80), st.integers(1, 40), st.sampled_from([0, 1, 2, 5, 16]))
def test_best_fit_decreasing_equals_the_scan(lens, capacity, split_min):
    """The bisection over sorted (room, bin) pairs places every item exactly as the plain scan of every bin does."""
    sorted_lens = np.sort(np.minimum(np.array(lens, dtype=np.int64), capacity))[::-1]
    fast = best_fit_decreasing(sorted_lens, capacity, split_min=split_min)
    scan = best_fit_decreasing_scan(sorted_lens, capacity, split_min=split_min)
    for a, b in zip(fast, scan):
        assert a.dtype == b.dtype and a.tolist() == b.tolist()


docs_strategy = st.lists(st.lists(st.integers(3, 60), max_size=70), max_size=60)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    docs=docs_strategy,
    context_length=st.integers(2, 40),
    buffer_docs=st.integers(1, 25),
    long_docs=st.sampled_from(["split", "truncate", "drop"]),
    bos=st.sampled_from([None, 1]),
    eos=st.sampled_from([None, 2]),
    carry=st.sampled_from([0.0, 0.25, 0.6]),
    split_to_fill=st.sampled_from([0, 0, 1, 5]),
)
def test_fast_equals_reference(docs, context_length, buffer_docs, long_docs, bos, eos, carry, split_to_fill):
    cfg = PackerConfig(
        context_length=context_length,
        buffer_docs=buffer_docs,
        long_docs=long_docs,
        pad_id=0,
        bos_id=bos,
        eos_id=eos,
        carry_fraction=carry,
        split_to_fill=split_to_fill,
    )
    named = [(f"d{i}", np.array(d, np.int64)) for i, d in enumerate(docs)]
    ref, fast, ref_rows, fast_rows = run_both(cfg, named)
    assert_rows_equal(ref_rows, fast_rows)
    assert ref.stats == fast.stats
    check_invariants(fast_rows, cfg, stored_tokens(cfg, named))


@pytest.mark.parametrize("long_docs,split_to_fill", [("split", 0), ("truncate", 0), ("drop", 0), ("split", 16)])
def test_fast_equals_reference_on_udhr(udhr_docs, long_docs, split_to_fill):
    cfg = PackerConfig(context_length=256, buffer_docs=64, long_docs=long_docs, bos_id=50256, eos_id=50256, pad_id=50256, split_to_fill=split_to_fill)
    docs = udhr_docs[:400]
    ref, fast, ref_rows, fast_rows = run_both(cfg, docs)
    assert_rows_equal(ref_rows, fast_rows)
    assert ref.stats == fast.stats
    check_invariants(fast_rows, cfg, stored_tokens(cfg, docs))
    st_ = fast.stats
    n_long = sum(len(ids) + 2 > 256 for _, ids in docs)
    assert n_long > 0
    assert {"split": st_.docs_split, "truncate": st_.docs_truncated, "drop": st_.docs_dropped_long}[long_docs] == n_long
    assert st_.docs_in == len(docs) and st_.rows == len(fast_rows)
    assert st_.pad_tokens == sum(256 - r.num_tokens for r in fast_rows)
    assert (st_.fill_splits > 0) == (split_to_fill > 0)


def test_utilization_on_real_lines(udhr_docs):
    cfg = PackerConfig(context_length=1024, buffer_docs=512)
    rows = list(pack_documents(udhr_docs, cfg))
    used = sum(r.num_tokens for r in rows)
    assert used == sum(len(ids) for _, ids in udhr_docs)
    assert used / (len(rows) * 1024) > 0.995


def test_batch_api_matches_single_documents(udhr_docs):
    cfg = PackerConfig(context_length=300, buffer_docs=50, eos_id=50256)
    docs = udhr_docs[:300]
    one = Packer(cfg)
    rows_one = [r for d, ids in docs for r in one.add(d, ids)] + [r for b in one.flush() for r in b.rows()]
    many = Packer(cfg, dtype=np.uint16)
    values = np.concatenate([ids for _, ids in docs])
    offsets = np.concatenate([[0], np.cumsum([len(ids) for _, ids in docs])])
    rows_many = []
    for a in range(0, len(docs), 37):  # uneven batches, offsets not starting at 0
        b = min(a + 37, len(docs))
        rows_many += [r for batch in many.add_batch([d for d, _ in docs[a:b]], values, offsets[a : b + 1]) for r in batch.rows()]
    rows_many += [r for b in many.flush() for r in b.rows()]
    assert rows_many[0].input_ids.dtype == np.uint16
    assert_rows_equal(rows_one, rows_many)


def test_memory_stays_bounded():
    rng = np.random.default_rng(0)
    cfg = PackerConfig(context_length=128, buffer_docs=100, long_docs="split")
    packer = Packer(cfg)
    peak_tokens = 0
    for i in range(3000):
        packer.add(str(i), rng.integers(0, 100, int(rng.integers(1, 400))))
        assert packer.buffered_pieces < cfg.buffer_docs
        peak_tokens = max(peak_tokens, packer.held_tokens)
    # The arena holds the documents with waiting pieces, at most doubled before it compacts (and at least 64 Ki
    # tokens, below which compacting is not worth it), far below the ~600 k tokens streamed.
    assert peak_tokens <= max(1 << 16, 4 * cfg.buffer_docs * cfg.context_length)
    assert packer.stats.tokens_in > 8 * peak_tokens
    packer.flush()
    assert packer.buffered_pieces == 0
    assert packer.stats.tokens == packer.stats.tokens_in
