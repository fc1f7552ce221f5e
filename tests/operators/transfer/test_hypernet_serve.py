"""The serving stage: surfaces or decompositions in, embeddings out, LRU cache, and a Ray Data actor pool."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
import torch

from tokenmill.operators.transfer.base_model import BASE_MODEL_NAME, load_base_model
from tokenmill.operators.transfer.decompose import SurfaceDecomposer
from tokenmill.operators.transfer.hypernet import HypernetConfig, Hypernetwork, pad_decompositions, save_hypernet
from tokenmill.operators.transfer.serve import HypernetEmbedder, HypernetServeConfig, LRUCache


@pytest.fixture(scope="module")
def base():
    return load_base_model()


@pytest.fixture(scope="module")
def checkpoint(base, tmp_path_factory):
    """A small random hypernetwork for the real base (heads not zero, so predictions differ from FVT)."""
    torch.manual_seed(0)
    model = Hypernetwork(HypernetConfig(embed_dim=base.dim, d_model=32, n_layers=1, n_heads=2, ffn_dim=64, residual_mean=False))
    folder = tmp_path_factory.mktemp("hn")
    save_hypernet(model, folder, base_name=BASE_MODEL_NAME, base_fingerprint=base.fingerprint(), dtype=torch.float32)
    return folder


@pytest.fixture(scope="module")
def embedder(checkpoint):
    return HypernetEmbedder(HypernetServeConfig(checkpoint=str(checkpoint), device="cpu", copy_single=False))


SURFACES = [" the", "ing", None, " unbelievable", " the", "):", " Привет"]


def test_embeddings_match_the_model(embedder, base):
    out = embedder(pa.table({"id": list(range(len(SURFACES))), "surface": SURFACES}))
    assert out.column_names == ["id", "surface", "embedding"]
    emb = out.column("embedding")
    assert emb.type.list_size == base.dim and emb.null_count == 1 and not emb[2].is_valid
    dec = SurfaceDecomposer(base.tokenizer_json)
    want, _ = embedder.model(*pad_decompositions([dec(" unbelievable")]), base.input_embeddings)
    np.testing.assert_allclose(np.asarray(emb[3].as_py()), want[0].detach().numpy(), atol=1e-5)
    np.testing.assert_array_equal(np.asarray(emb[0].as_py()), np.asarray(emb[4].as_py()))


def test_copy_single_keeps_original_rows_of_one_token_surfaces(checkpoint, embedder, base):
    """With copy_single, " the" and "ing" (one original token each) get exactly their original rows; " unbelievably"
    (several) and "\ufffd" (nothing the original reads: the empty marker) keep the prediction."""
    copying = HypernetEmbedder(HypernetServeConfig(checkpoint=str(checkpoint), device="cpu", copy_single=True))
    surfaces = [" the", "ing", " unbelievably", "\ufffd"]
    got = np.asarray(copying(pa.table({"surface": surfaces})).column("embedding").to_pylist())
    plain = np.asarray(embedder(pa.table({"surface": surfaces})).column("embedding").to_pylist())
    dec = SurfaceDecomposer(base.tokenizer_json)
    emb = base.input_embeddings.detach().numpy()
    assert len(dec(" the")) == len(dec("ing")) == 1 and len(dec(" unbelievably")) > 1 and dec("\ufffd") == (dec.empty_id,)
    np.testing.assert_array_equal(got[0], emb[dec(" the")[0]])
    np.testing.assert_array_equal(got[1], emb[dec("ing")[0]])
    assert not np.allclose(plain[0], emb[dec(" the")[0]], atol=1e-3)  # the prediction alone is not the row
    np.testing.assert_allclose(got[2:], plain[2:], atol=1e-6)


def test_cache_by_surface(embedder):
    before_hits = embedder.cache.hits
    embedder(pa.table({"surface": [" the", " the", "ing"]}))
    assert embedder.cache.hits >= before_hits + 2


def test_decomposition_column(embedder, base):
    """Dynamic-merge vocabularies carry their decomposition: base_ids are used as is."""
    dec = SurfaceDecomposer(base.tokenizer_json)
    ids = [list(dec(" unbelievable")), list(dec("ing"))]
    by_ids = embedder(pa.table({"base_ids": pa.array(ids, pa.list_(pa.int32()))})).column("embedding")
    by_surface = embedder(pa.table({"surface": [" unbelievable", "ing"]})).column("embedding")
    np.testing.assert_allclose(np.asarray(by_ids.to_pylist()), np.asarray(by_surface.to_pylist()), atol=1e-6)


def test_missing_columns_are_named(embedder):
    fresh = HypernetEmbedder.__new__(HypernetEmbedder)
    fresh.config, fresh._checked = embedder.config, False
    with pytest.raises(ValueError, match="HypernetEmbedder.*'surface'"):
        fresh(pa.table({"text": ["x"]}))


def test_target_text_blends_the_two_readings_of_no_space_surfaces(toy_bpe, embedder, base):
    """With target text, ``self`` (a word start in 2 of its 3 uses) gets 2/3 E(" self") + 1/3 E("self"); ``my``
    (always a word start) gets E(" my"); ``lf`` (never in the text) and ``(`` (punctuation) keep their rows."""
    from tokenmill.operators.transfer.embed_tokenizer import prepare_tokenizer, transfer_embeddings

    _, path, vocab = toy_bpe
    tok, _, smap = prepare_tokenizer(path, base.tokenizer_json)

    def rows(surfaces):
        return np.asarray(embedder(pa.table({"surface": surfaces})).column("embedding").to_pylist())

    plain = transfer_embeddings("hypernet", tok, base, smap, embedder=embedder).numpy()
    got = transfer_embeddings("hypernet", tok, base, smap, embedder=embedder, texts=["(self) myself", "self"]).numpy()
    start, cont = rows([" self", " my"]), rows(["self", "my"])
    np.testing.assert_allclose(plain[[vocab["self"], vocab["my"]]], cont, atol=1e-6)
    np.testing.assert_allclose(got[vocab["self"]], 2 / 3 * start[0] + 1 / 3 * cont[0], atol=1e-5)
    np.testing.assert_allclose(got[vocab["my"]], start[1], atol=1e-5)
    assert not np.allclose(start[0], cont[0], atol=1e-3)  # the two readings differ, so the blend is seen
    keep = [vocab["lf"], vocab["("], *sorted(smap)]
    np.testing.assert_array_equal(got[keep], plain[keep])


def test_lru_cache_evicts_least_recent():
    cache = LRUCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1
    cache.put("c", 3)
    assert cache.get("b") is None and cache.get("a") == 1 and cache.get("c") == 3 and len(cache) == 2


@pytest.mark.slow  # starts a Ray actor that loads the base model
def test_actor_pool_on_ray(ray_local, checkpoint, embedder):
    import ray

    from tokenmill.operators.core.runtime import ray_data

    cfg = HypernetServeConfig(checkpoint=str(checkpoint), device="cpu", copy_single=False)
    table = pa.table({"id": list(range(40)), "surface": [f" tok{i % 7}" if i % 9 else None for i in range(40)]})
    ds = ray_data().from_arrow(table).map_batches(HypernetEmbedder, fn_constructor_kwargs={"config": cfg}, batch_format="pyarrow", batch_size=16, concurrency=1)
    got = pa.concat_tables([ray.get(r) for r in ds.to_arrow_refs()]).sort_by("id")
    want = embedder(table)
    assert got.column("id").to_pylist() == list(range(40))
    assert got.column("embedding").null_count == want.column("embedding").null_count
    valid = [x is not None for x in want.column("surface").to_pylist()]
    rows_got = [x for x, v in zip(got.column("embedding").to_pylist(), valid) if v]
    rows_want = [x for x, v in zip(want.column("embedding").to_pylist(), valid) if v]
    np.testing.assert_allclose(np.asarray(rows_got), np.asarray(rows_want), atol=1e-5)
