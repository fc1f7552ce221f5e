"""Serving the hypernetwork as a pipeline stage: tokens in, embeddings out, with an LRU cache by surface.

:class:`HypernetEmbedder` is a callable class for Ray Data's actor pools
(``ds.map_batches(HypernetEmbedder, fn_constructor_kwargs={"config": cfg}, concurrency=N, num_gpus=...)``) and
works the same on a plain ``pa.Table`` in-process. It takes either

* a ``surface`` column (a new tokenizer's vocabulary; see :mod:`operators.transfer.decompose` for the leading-
  space convention), decomposed here with the original tokenizer, or
* a ``base_ids`` column (the per-batch vocabulary tables of dynamic merging carry the decomposition), used as is;

and adds ``embedding`` (fixed-size list of float32) and, for bases with untied output embeddings,
``output_embedding``. A token that is one original token keeps that token's rows (``copy_single``). A row whose
``surface`` is null (a special token) gets a null embedding. The cache is keyed by surface (or by the id tuple
when there is no surface): vocabularies of consecutive batches overlap a lot.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import torch

from tokenmill.operators.transfer.base_model import load_base_model, pick_device
from tokenmill.operators.transfer.decompose import SurfaceDecomposer
from tokenmill.operators.transfer.hypernet import load_hypernet, pad_decompositions

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True, slots=True)
class HypernetServeConfig:
    """Settings of :class:`HypernetEmbedder`."""

    checkpoint: str
    """Folder with hypernet.safetensors + hypernet.json."""
    base_model: str = ""
    """Base model folder (empty: the packaged all-MiniLM-L6-v2); must match the checkpoint's fingerprint."""
    surface_column: str = "surface"
    """Input column of token surfaces (used when present)."""
    ids_column: str = "base_ids"
    """Input column of decompositions into original ids (used when there is no surface column)."""
    output_column: str = "embedding"
    """Output column of predicted input embeddings."""
    cache_size: int = 200_000
    """Surfaces kept in the LRU cache (0 disables it)."""
    chunk_rows: int = 2048
    """Tokens per hypernetwork forward pass."""
    device: str = "auto"
    """auto (CUDA when available), cpu or cuda."""
    copy_single: bool = True
    """A token that decomposes into one original token (not [UNK], not the empty marker) keeps that token's
    original embedding, as FVT and FOCUS do for shared tokens, instead of the hypernetwork's prediction of it (close,
    not exact; README, tokenizer transfer, gives the benchmark with and without)."""

    def __post_init__(self) -> None:
        if not self.checkpoint:
            raise ValueError("checkpoint: the hypernetwork checkpoint folder is required")
        if self.cache_size < 0:
            raise ValueError(f"cache_size: must be >= 0, got {self.cache_size}")
        if self.chunk_rows < 1:
            raise ValueError(f"chunk_rows: must be >= 1, got {self.chunk_rows}")
        for name in ("surface_column", "ids_column", "output_column"):
            if not getattr(self, name):
                raise ValueError(f"{name}: must name a column")


class LRUCache:
    """A plain LRU map with hit/miss counters (OrderedDict; most recent at the end)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._data: OrderedDict = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key):
        if key in self._data:
            self._data.move_to_end(key)
            self.hits += 1
            return self._data[key]
        self.misses += 1
        return None

    def put(self, key, value) -> None:
        if self.capacity <= 0:
            return
        self._data[key] = value
        self._data.move_to_end(key)
        while len(self._data) > self.capacity:
            self._data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)


class HypernetEmbedder:
    """Predict embeddings for a table of tokens (Ray Data actor stage). Heavy setup happens once, here."""

    def __init__(self, config: HypernetServeConfig) -> None:
        self.config = config
        self.device = pick_device(config.device)
        base = load_base_model(config.base_model or None, device=self.device)
        self.model, self.doc = load_hypernet(config.checkpoint, base_fingerprint=base.fingerprint(), device=self.device)
        self.emb_in = base.input_embeddings.detach()
        self.emb_out = base.output_embeddings.detach() if base.output_embeddings is not None else None
        self.dim = int(self.emb_in.shape[1])
        self.decomposer = SurfaceDecomposer(base.tokenizer_json)
        self.cache = LRUCache(config.cache_size)
        self._checked = False
        del base  # only the embedding matrices are needed from here on

    def _check(self, batch: pa.Table) -> None:
        c = self.config
        if c.surface_column not in batch.column_names and c.ids_column not in batch.column_names:
            raise ValueError(f"HypernetEmbedder: the batch needs a {c.surface_column!r} or an {c.ids_column!r} column; it has {batch.column_names}")
        self._checked = True

    def __call__(self, batch: pa.Table) -> pa.Table:
        if not self._checked:
            self._check(batch)
        c = self.config
        if c.surface_column in batch.column_names:
            keys = batch.column(c.surface_column).to_pylist()
            decomps = None
        else:
            decomps = [tuple(d) if d is not None else None for d in batch.column(c.ids_column).to_pylist()]
            keys = [("ids", d) if d is not None else None for d in decomps]
        rows_in = np.zeros((len(keys), self.dim), np.float32)
        rows_out = np.zeros((len(keys), self.dim), np.float32) if self.emb_out is not None else None
        valid = np.array([k is not None for k in keys], bool)
        missing: dict = {}
        for i, k in enumerate(keys):
            if k is None:
                continue
            hit = self.cache.get(k)
            if hit is None:
                missing.setdefault(k, []).append(i)
            else:
                rows_in[i] = hit[0]
                if rows_out is not None:
                    rows_out[i] = hit[1]
        if missing:
            todo = list(missing)
            parts = [k[1] if isinstance(k, tuple) else self.decomposer(k) for k in todo]
            pred_in, pred_out = self.predict(parts)
            for j, k in enumerate(todo):
                value = (pred_in[j], pred_out[j] if pred_out is not None else None)
                self.cache.put(k, value)
                for i in missing[k]:
                    rows_in[i] = value[0]
                    if rows_out is not None:
                        rows_out[i] = value[1]
        out = batch.append_column(c.output_column, _fixed_list(rows_in, valid))
        if rows_out is not None:
            out = out.append_column("output_" + c.output_column, _fixed_list(rows_out, valid))
        return out

    @torch.no_grad()
    def predict(self, decomps: list) -> tuple[np.ndarray, np.ndarray | None]:
        """Embeddings for decompositions (lists of original ids), in ``chunk_rows`` passes."""
        ins, outs = [], []
        # Sorting by length keeps padding small inside each chunk.
        order = sorted(range(len(decomps)), key=lambda i: len(decomps[i]))
        for s in range(0, len(order), self.config.chunk_rows):
            idx = order[s : s + self.config.chunk_rows]
            ids, lengths = pad_decompositions([decomps[i] or (self.decomposer.empty_id,) for i in idx], device=self.device)
            p_in, p_out = self.model(ids, lengths, self.emb_in, self.emb_out)
            ins.append(p_in.float().cpu().numpy())
            if p_out is not None:
                outs.append(p_out.float().cpu().numpy())
        inv = np.argsort(np.asarray(order, np.int64)) if order else np.zeros(0, np.int64)
        pred_in = np.concatenate(ins)[inv] if ins else np.zeros((0, self.dim), np.float32)
        pred_out = np.concatenate(outs)[inv] if outs else None
        if self.config.copy_single:
            skip = {self.decomposer.empty_id, self.decomposer.unk_id}
            single = [i for i, d in enumerate(decomps) if d is not None and len(d) == 1 and d[0] not in skip]
            if single:
                ids = torch.as_tensor([decomps[i][0] for i in single], device=self.emb_in.device)
                pred_in[single] = self.emb_in[ids].float().cpu().numpy()
                if pred_out is not None and self.emb_out is not None:
                    pred_out[single] = self.emb_out[ids].float().cpu().numpy()
        return pred_in, pred_out


def embed_on_ray(table: pa.Table, serve: HypernetServeConfig, *, batch_size: int, actors: int) -> pa.Table:
    """Run :class:`HypernetEmbedder` over ``table`` as a Ray Data actor pool (a GPU each when there is one); rows
    come back in id order. Needs a running Ray."""
    import ray

    from tokenmill.operators.core.runtime import actor_pool, ray_data

    ds = (
        ray_data()
        .from_arrow(table)
        .map_batches(
            HypernetEmbedder,
            fn_constructor_kwargs={"config": serve},
            batch_format="pyarrow",
            batch_size=batch_size,
            compute=actor_pool(actors),
            num_gpus=1 if torch.cuda.is_available() else 0,
        )
    )
    return pa.concat_tables([ray.get(ref) for ref in ds.to_arrow_refs()]).sort_by("id")


def _fixed_list(rows: np.ndarray, valid: np.ndarray) -> pa.Array:
    flat = pa.array(rows.reshape(-1), type=pa.float32())
    arr = pa.FixedSizeListArray.from_arrays(flat, rows.shape[1])
    if valid.all():
        return arr
    return pa.FixedSizeListArray.from_arrays(flat, rows.shape[1], mask=pa.array(~valid))
