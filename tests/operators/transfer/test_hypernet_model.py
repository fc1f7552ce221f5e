"""The hypernetwork module: shapes, the FVT start, config validation and the safetensors + JSON round trip."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from tokenmill.operators.transfer.fvt import fvt_embeddings
from tokenmill.operators.transfer.hypernet import (
    CONFIG_FILE,
    FORMAT,
    WEIGHTS_FILE,
    HypernetConfig,
    Hypernetwork,
    load_hypernet,
    pad_decompositions,
    save_hypernet,
)

SMALL = dict(embed_dim=16, d_model=32, n_layers=2, n_heads=4, ffn_dim=64, surface_maxlen=4)


def _base(v: int = 50, d: int = 16, seed: int = 0) -> torch.Tensor:
    return torch.randn(v, d, generator=torch.Generator().manual_seed(seed))


def _decomps() -> list[list[int]]:
    return [[3], [4, 5], [6, 7, 8, 9, 10, 11], [0, 1, 2]]  # one longer than surface_maxlen


def test_shapes_tied_and_untied():
    base = _base()
    ids, lengths = pad_decompositions(_decomps())
    assert ids.shape == (4, 6) and lengths.tolist() == [1, 2, 6, 3]
    model = Hypernetwork(HypernetConfig(**SMALL))
    pred_in, pred_out = model(ids, lengths, base)
    assert pred_in.shape == (4, 16) and pred_out is None
    untied = Hypernetwork(HypernetConfig(**SMALL, untied=True))
    pred_in, pred_out = untied(ids, lengths, base, _base(seed=1))
    assert pred_in.shape == (4, 16) and pred_out.shape == (4, 16)
    with pytest.raises(ValueError, match="untied"):
        untied(ids, lengths, base)


def test_fresh_network_is_fvt_over_the_full_decomposition():
    """Zero-initialised heads + residual mean: an untrained hypernetwork equals the FVT baseline exactly."""
    base = _base()
    model = Hypernetwork(HypernetConfig(**SMALL))
    model.output_scale.fill_(0.05)
    ids, lengths = pad_decompositions(_decomps())
    pred, _ = model(ids, lengths, base)
    torch.testing.assert_close(pred, fvt_embeddings(base, _decomps()))


def test_padding_does_not_change_predictions():
    base = _base()
    torch.manual_seed(0)
    model = Hypernetwork(HypernetConfig(**SMALL, residual_mean=False)).eval()
    alone = model(*pad_decompositions([[4, 5]]), base)[0]
    batched = model(*pad_decompositions([[4, 5], [6, 7, 8, 9, 10]]), base)[0][:1]
    torch.testing.assert_close(alone, batched, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    "bad, field",
    [
        (dict(n_heads=5), "n_heads"),
        (dict(surface_maxlen=0), "surface_maxlen"),
        (dict(dropout=1.0), "dropout"),
    ],
)
def test_config_validation_names_the_field(bad, field):
    with pytest.raises(ValueError, match=field):
        HypernetConfig(**{**SMALL, **bad})


def test_empty_decomposition_is_rejected():
    with pytest.raises(ValueError, match="at least one id"):
        pad_decompositions([[1], []])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_checkpoint_round_trip(tmp_path, dtype):
    base = _base()
    torch.manual_seed(1)
    model = Hypernetwork(HypernetConfig(**SMALL, residual_mean=False)).eval()
    save_hypernet(model, tmp_path, base_name="toy", base_fingerprint="abc", dtype=dtype, extra={"training": {"steps": 3}})
    loaded, doc = load_hypernet(tmp_path, base_fingerprint="abc")
    assert doc["format"] == FORMAT and doc["config"] == dataclasses.asdict(model.config)
    assert loaded.config == model.config and doc["training"]["steps"] == 3
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    ids, lengths = pad_decompositions(_decomps())
    want, got = model(ids, lengths, base)[0], loaded(ids, lengths, base)[0]
    tol = 0 if dtype == torch.float32 else 2e-2
    torch.testing.assert_close(got, want, atol=tol, rtol=tol)
    # Only safetensors and JSON on disk: no pickle anywhere.
    assert sorted(p.name for p in tmp_path.iterdir()) == [CONFIG_FILE, WEIGHTS_FILE]
    assert not (tmp_path / WEIGHTS_FILE).read_bytes().startswith(b"\x80")


def test_checkpoint_checks(tmp_path):
    model = Hypernetwork(HypernetConfig(**SMALL))
    save_hypernet(model, tmp_path, base_name="toy", base_fingerprint="abc")
    with pytest.raises(ValueError, match="fingerprint"):
        load_hypernet(tmp_path, base_fingerprint="other")
    doc = json.loads((tmp_path / CONFIG_FILE).read_text())
    (tmp_path / CONFIG_FILE).write_text(json.dumps({**doc, "config": {**doc["config"], "new_knob": 1}}))
    with pytest.raises(ValueError, match="unknown config keys"):
        load_hypernet(tmp_path)
    (tmp_path / CONFIG_FILE).write_text(json.dumps({**doc, "format": "tokenmill hypernet v0"}))
    with pytest.raises(ValueError, match="format"):
        load_hypernet(tmp_path)
    with pytest.raises(ValueError, match="expected"):
        load_hypernet(tmp_path / "missing")
