"""merges_to_seqlen: the curve matches what DynamicBPE really does at every budget."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from tokenmill.operators.dynamic import DynamicBPE, merges_to_seqlen


def test_curve_equals_operator_lengths(tokenizers, udhr):
    tok = tokenizers["mistral"]
    texts = [line for lang in ("eng", "hin", "kor") for line in udhr(lang)[1:21]]  # 60 rows -> batches 32 + 28
    curve = merges_to_seqlen(tok, texts, batch_size=32, boundary="word")
    assert curve.rows == 60 and curve.batch_size == 32
    assert np.all(np.diff(curve.mean_length) <= 0)
    for merges in (0, 1, 10, 100, 1000, None):
        op = DynamicBPE(tok, max_merges=merges, boundary="word")
        lengths = [op(pa.table({"text": texts[i : i + 32]})).column("dynamic_length").to_numpy() for i in (0, 32)]
        assert curve.length_at(merges) == pytest.approx(np.concatenate(lengths).mean(), abs=1e-12)
    assert curve.base_mean_length == pytest.approx(np.mean([len(tok.encode(t)) for t in texts]))
    target = curve.reduction_at(100)
    k = curve.merges_for_reduction(target)
    assert k is not None and k <= 100 and curve.reduction_at(k) >= target - 1e-12
    assert k == 0 or curve.reduction_at(k - 1) < target
    assert curve.merges_for_reduction(1.01) is None


def test_capped_curve_and_bad_batch_size(tokenizers, udhr):
    curve = merges_to_seqlen(tokenizers["gpt2"], udhr("ell_monotonic")[:40], batch_size=16, max_merges=50)
    assert len(curve.mean_length) == 51
    assert curve.length_at(None) == curve.length_at(50) < curve.base_mean_length
    with pytest.raises(ValueError, match="batch_size"):
        merges_to_seqlen(tokenizers["gpt2"], ["x"], batch_size=0)
