"""Torch datasets over a committed shard set: map-style and iterable, rank-aware, shuffled by seed and epoch, resumable.

Every sample is one packed row in HF's padding-free convention (also what flash-attention varlen kernels take):

- ``input_ids`` (long, ``context_length``), padding slots hold ``pad_id``;
- ``labels`` (long): ``input_ids`` with -100 at the first token of every document segment and on padding. Labels
  are *not* shifted: the model shifts them (``logits[:, :-1]`` against ``labels[:, 1:]``) as HF causal LMs do, so
  the -100 at a segment start stops the last token of one document from being trained to predict the first token
  of the next;
- ``position_ids`` (long): restart at 0 for every segment;
- ``cu_seqlens`` (int32): segment boundaries with a leading 0; padding, if any, is the last segment, so
  ``cu_seqlens[-1] == context_length``;
- ``max_seqlen`` (int): the longest segment.

Rows are read from the Megatron ``.bin`` (memory-mapped) and the pack plan when the set has them, else from the
Parquet rows. Ranks get ``order[rank::world_size]`` of one permutation of all rows (seeded by ``seed`` and
``epoch``): disjoint and, unless ``drop_last``, covering. Inside a DataLoader worker the rank's share is split
again by worker. ``state_dict()`` of the iterable dataset records how many samples it yielded in the epoch, and
``load_state_dict()`` makes the next iteration yield exactly the remaining ones.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from pathlib import Path
from typing import Any, Iterator, Literal

import numpy as np
import torch
from torch.utils.data import Dataset, IterableDataset, get_worker_info

from operators.pack.rows import materialize_rows
from operators.shards.config import PLAN_FORMAT, ROWS_FORMAT
from operators.shards.manifest import load_manifest
from operators.shards.megatron import open_bin, read_index
from operators.shards.parquet import list_column, read_checked

STATE_FORMAT = "tokenmill reader state v1"


class ShardSet:
    """Random access to the packed rows of a committed shard set (trusts only the manifest).

    Args:
        directory: the shard set's directory (holding ``manifest.json``).
        source: ``megatron`` (.bin + plan), ``parquet`` (rows), or ``auto`` (megatron when present).
    """

    def __init__(self, directory: str | Path, *, source: Literal["auto", "megatron", "parquet"] = "auto") -> None:
        self.directory = Path(directory)
        self.manifest = load_manifest(self.directory)
        formats = self.manifest["formats"]
        if source == "auto":
            source = "megatron" if "megatron" in formats else "parquet"
        if source not in formats:
            raise ValueError(f"ShardSet: source {source!r} not in this set's formats {formats}")
        self.source = source
        self.context_length = int(self.manifest["context_length"])
        self.dtype = np.dtype(self.manifest["token_dtype"])
        self.pad_id = int(self.manifest["config"]["pack"]["pad_id"])
        self.shards = self.manifest["shards"]
        self.row_starts = np.concatenate([[0], np.cumsum([int(s["rows"]) for s in self.shards])]).astype(np.int64)
        self.num_rows = int(self.row_starts[-1])
        self._open: OrderedDict[int, dict[str, Any]] = OrderedDict()

    def __len__(self) -> int:
        return self.num_rows

    def __getstate__(self) -> dict[str, Any]:
        # DataLoader workers started by spawn get a pickled copy: send the manifest, not open memory maps.
        state = {k: getattr(self, k) for k in ("directory", "manifest", "source", "context_length", "dtype", "pad_id",
                                               "shards", "row_starts", "num_rows")}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._open = OrderedDict()

    def _shard(self, k: int) -> dict[str, Any]:
        if k in self._open:
            self._open.move_to_end(k)
            return self._open[k]
        files = {kind: self.directory / f["path"] for kind, f in self.shards[k]["files"].items()}
        if self.source == "megatron":
            index = read_index(files["idx"])
            plan = read_checked(files["plan"], PLAN_FORMAT)
            doc, seg_off = list_column(plan, "doc")
            data = {
                "tokens": open_bin(files["bin"], index.dtype),
                "doc_pos": index.pointers // index.dtype.itemsize,
                "seg_off": seg_off,
                "doc": doc.astype(np.int64),
                "start": list_column(plan, "start")[0].astype(np.int64),
                "length": list_column(plan, "length")[0].astype(np.int64),
                "doc_id": list_column(plan, "doc_id")[0],
            }
        else:
            table = read_checked(files["rows"], ROWS_FORMAT)
            C = self.context_length
            data = {name: list_column(table, name) for name in ("cu_seqlens", "doc_ids", "doc_offsets")}
            for name in ("input_ids", "position_ids", "loss_mask"):
                data[name] = list_column(table, name)[0].reshape(-1, C)
        self._open[k] = data
        if len(self._open) > 4:  # memory maps are cheap, parquet shards are not: keep a few
            self._open.popitem(last=False)
        return data

    def row(self, i: int) -> dict[str, Any]:
        """Row ``i`` (global index) as numpy arrays plus ``doc_ids`` / ``doc_offsets`` of its segments."""
        if not 0 <= i < self.num_rows:
            raise IndexError(f"row {i} out of range [0, {self.num_rows})")
        k = bisect.bisect_right(self.row_starts, i) - 1
        r = i - int(self.row_starts[k])
        d = self._shard(k)
        if self.source == "megatron":
            a, b = int(d["seg_off"][r]), int(d["seg_off"][r + 1])
            batch = materialize_rows(
                tokens=d["tokens"],
                seg_src=d["doc_pos"][d["doc"][a:b]] + d["start"][a:b],
                seg_len=d["length"][a:b],
                seg_row=np.zeros(b - a, np.int64),
                num_rows=1,
                context_length=self.context_length,
                pad_id=self.pad_id,
            )
            return {
                "input_ids": batch.input_ids[0],
                "position_ids": batch.position_ids[0],
                "loss_mask": batch.loss_mask[0],
                "cu_seqlens": batch.cu_values,
                "doc_ids": list(d["doc_id"][a:b]),
                "doc_offsets": d["start"][a:b],
            }
        cu, cu_off = d["cu_seqlens"]
        ids, ids_off = d["doc_ids"]
        offs, offs_off = d["doc_offsets"]
        return {
            "input_ids": d["input_ids"][r],
            "position_ids": d["position_ids"][r],
            "loss_mask": d["loss_mask"][r],
            "cu_seqlens": cu[cu_off[r] : cu_off[r + 1]],
            "doc_ids": list(ids[ids_off[r] : ids_off[r + 1]]),
            "doc_offsets": offs[offs_off[r] : offs_off[r + 1]],
        }

    def sample(self, i: int, *, with_doc_info: bool = False) -> dict[str, Any]:
        """Row ``i`` as training tensors (see the module docstring)."""
        row = self.row(i)
        input_ids = torch.from_numpy(row["input_ids"].astype(np.int64))
        labels = input_ids.clone()
        labels[torch.from_numpy(row["loss_mask"] == 0)] = -100
        cu = torch.from_numpy(np.array(row["cu_seqlens"], dtype=np.int32))
        out = {
            "input_ids": input_ids,
            "labels": labels,
            "position_ids": torch.from_numpy(row["position_ids"].astype(np.int64)),
            "cu_seqlens": cu,
            "max_seqlen": int((cu[1:] - cu[:-1]).max()),
        }
        if with_doc_info:
            out["doc_ids"] = row["doc_ids"]
            out["doc_offsets"] = torch.from_numpy(np.array(row["doc_offsets"], np.int64))
        return out


def rank_order(num_rows: int, *, rank: int, world_size: int, seed: int, epoch: int, shuffle: bool, drop_last: bool) -> np.ndarray:
    """Global row indices that ``rank`` reads in ``epoch``: ``perm[rank::world_size]`` of one shared permutation."""
    if not 0 <= rank < world_size:
        raise ValueError(f"rank must be in [0, world_size={world_size}), got {rank}")
    order = np.random.default_rng([seed, epoch]).permutation(num_rows) if shuffle else np.arange(num_rows)
    if drop_last:
        order = order[: num_rows - num_rows % world_size]
    return order[rank::world_size]


class _RankedDataset:
    """What the map-style and the iterable dataset share: the shard set, rank, seed, epoch."""

    def __init__(self, directory: str | Path | ShardSet, *, rank: int = 0, world_size: int = 1, seed: int = 0,
                 shuffle: bool = True, epoch: int = 0, drop_last: bool = False, with_doc_info: bool = False) -> None:
        self.shards = directory if isinstance(directory, ShardSet) else ShardSet(directory)
        self.rank, self.world_size, self.seed, self.shuffle = rank, world_size, seed, shuffle
        self.drop_last, self.with_doc_info = drop_last, with_doc_info
        self.epoch = epoch
        self._order = self._compute_order()

    def _compute_order(self) -> np.ndarray:
        return rank_order(self.shards.num_rows, rank=self.rank, world_size=self.world_size, seed=self.seed,
                          epoch=self.epoch, shuffle=self.shuffle, drop_last=self.drop_last)

    def __len__(self) -> int:
        return len(self._order)

    def set_epoch(self, epoch: int) -> None:
        """Switch to ``epoch`` (a new shuffle); a no-op when it is the current epoch."""
        if epoch != self.epoch:
            self.epoch = epoch
            self._order = self._compute_order()
            self._position = 0

    def _identity(self) -> dict[str, Any]:
        return {"format": STATE_FORMAT, "seed": self.seed, "shuffle": self.shuffle, "rank": self.rank,
                "world_size": self.world_size, "num_rows": self.shards.num_rows, "drop_last": self.drop_last}

    def _check_state(self, state: dict[str, Any]) -> None:
        for key, value in self._identity().items():
            if state.get(key) != value:
                raise ValueError(f"reader state {key}={state.get(key)!r} does not match this dataset's {value!r}")


class PackedMapDataset(_RankedDataset, Dataset):
    """Map-style dataset: item ``i`` is this rank's ``i``-th row of the current epoch's order."""

    _position = 0

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.shards.sample(int(self._order[i]), with_doc_info=self.with_doc_info)

    def state_dict(self) -> dict[str, Any]:
        """The epoch (plus identity); item positions are the sampler's to keep."""
        return {**self._identity(), "epoch": self.epoch, "position": 0}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the epoch from :meth:`state_dict`."""
        self._check_state(state)
        self.set_epoch(int(state["epoch"]))


class PackedIterableDataset(_RankedDataset, IterableDataset):
    """Iterable dataset over this rank's rows of the current epoch; resumable with state_dict/load_state_dict.

    Each ``iter()`` yields what is left of the current epoch, then moves to the next epoch. With DataLoader
    workers, call :meth:`set_epoch` each epoch (workers iterate copies) and save state with a stateful loader.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._position = 0

    def __iter__(self) -> Iterator[dict[str, Any]]:
        order = self._order
        info = get_worker_info()
        if info is not None:
            order = order[info.id :: info.num_workers]
        if self._position >= len(order) and len(order):
            self.set_epoch(self.epoch + 1)
            order = self._order if info is None else self._order[info.id :: info.num_workers]
        while self._position < len(order):
            i = int(order[self._position])
            self._position += 1  # counted before the yield: a state saved after consuming k samples says k
            yield self.shards.sample(i, with_doc_info=self.with_doc_info)
        self.set_epoch(self.epoch + 1)

    def state_dict(self) -> dict[str, Any]:
        """Epoch and samples yielded so far in it (plus identity, checked on load)."""
        return {**self._identity(), "epoch": self.epoch, "position": self._position}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume: the next iteration yields exactly the samples not yet yielded when ``state`` was saved."""
        self._check_state(state)
        self.set_epoch(int(state["epoch"]))
        self._position = int(state["position"])


def collate_packed(samples: list[dict[str, Any]], *, pin_memory: bool | None = None) -> dict[str, Any]:
    """Batch samples: stack the fixed-length tensors to (B, C); concatenate ``cu_seqlens`` over the flattened
    batch (offset by ``b * C``) for varlen kernels; ``max_seqlen`` is the batch maximum.

    Args:
        samples: dataset samples.
        pin_memory: pin the tensors (default: when CUDA is available).
    """
    C = samples[0]["input_ids"].shape[0]
    out: dict[str, Any] = {k: torch.stack([s[k] for s in samples]) for k in ("input_ids", "labels", "position_ids")}
    cus = [samples[0]["cu_seqlens"]] + [s["cu_seqlens"][1:] + b * C for b, s in enumerate(samples) if b]
    out["cu_seqlens"] = torch.cat(cus).to(torch.int32)
    out["max_seqlen"] = max(int(s["max_seqlen"]) for s in samples)
    if "doc_ids" in samples[0]:
        out["doc_ids"] = [s["doc_ids"] for s in samples]
        out["doc_offsets"] = [s["doc_offsets"] for s in samples]
    if pin_memory is None:
        pin_memory = torch.cuda.is_available()
    if pin_memory:
        out = {k: v.pin_memory() if isinstance(v, torch.Tensor) else v for k, v in out.items()}
    return out
