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
again by worker (worker ``w`` of ``W`` reads ``share[w::W]``).

Exact resume. ``PackedIterableDataset.state_dict()`` says how much of the epoch the consumer has received, and
``load_state_dict()`` makes the next iteration yield exactly the rest. Iterated directly (or with
``num_workers=0``) the dataset counts what it yielded. With DataLoader workers every worker iterates its own copy
and runs ahead (prefetch), so read it through :class:`ResumableLoader`: each batch carries the worker stream it
came from and how far into that stream it reaches, recorded when the training loop receives it, so the state
(``worker_positions`` per worker, ``next_worker`` due next; format ``tokenmill reader state v2``) covers exactly
the consumed batches. A fresh loader with the same ``num_workers`` and ``batch_size`` and the loaded state
continues the epoch in the uninterrupted order: no repeats, no gaps::

    from tokenmill.operators.shards.reader import PackedIterableDataset, ResumableLoader

    ds = PackedIterableDataset(shard_dir, rank=rank, world_size=world_size, seed=0)
    loader = ResumableLoader(ds, batch_size=8, num_workers=2)   # collate_packed batches
    for step, batch in enumerate(loader):
        train_step(batch)
        if step % 1000 == 0:
            save({"model": ..., "data": loader.state_dict()})   # per rank

    # after a restart, on each rank:
    ds = PackedIterableDataset(shard_dir, rank=rank, world_size=world_size, seed=0)
    loader = ResumableLoader(ds, batch_size=8, num_workers=2)
    loader.load_state_dict(checkpoint["data"])
    for batch in loader: ...                                    # exactly the batches not yet trained on

A plain ``DataLoader(ds, num_workers=2)`` still works for reading, but the main process's dataset never sees what
the workers delivered, so its state is not a resume point. A ``ResumableLoader`` loop that runs to its end moves
the dataset to the next epoch (``set_epoch`` with the current epoch is a no-op, so the usual
``for epoch in ...: ds.set_epoch(epoch)`` loop resumes mid-epoch too).

This module is the torch glue; the rows come from :class:`~operators.shards.shard_set.ShardSet` (reading
``.bin``/``.idx``/plan or Parquet rows) and the order and its resumable state from :mod:`operators.shards.sampler`.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset, get_worker_info

from tokenmill.operators.shards.sampler import STATE_FORMAT, RankedOrder, StreamPositions, rank_order
from tokenmill.operators.shards.shard_set import ShardSet

__all__ = [
    "STATE_FORMAT",
    "PackedIterableDataset",
    "PackedMapDataset",
    "ResumableLoader",
    "ShardSet",
    "collate_packed",
    "rank_order",
]

log = logging.getLogger(__name__)


class _RankedDataset(RankedOrder):
    """What the map-style and the iterable dataset share: the shard set, rank, seed, epoch."""

    def __init__(
        self,
        directory: str | Path | ShardSet,
        *,
        rank: int = 0,
        world_size: int = 1,
        seed: int = 0,
        shuffle: bool = True,
        epoch: int = 0,
        drop_last: bool = False,
        with_doc_info: bool = False,
    ) -> None:
        self.with_doc_info = with_doc_info
        shards = directory if isinstance(directory, ShardSet) else ShardSet(directory)
        super().__init__(shards, rank=rank, world_size=world_size, seed=seed, shuffle=shuffle, epoch=epoch, drop_last=drop_last)
        self.shards: ShardSet = shards


class PackedMapDataset(_RankedDataset, Dataset):
    """Map-style dataset: item ``i`` is this rank's ``i``-th row of the current epoch's order."""

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.shards.sample(int(self._order[i]), with_doc_info=self.with_doc_info)

    def state_dict(self) -> dict[str, Any]:
        """The epoch (plus identity); item positions are the sampler's to keep."""
        return {**self._identity(), "epoch": self.epoch, "position": 0}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the epoch from :meth:`state_dict`."""
        self._check_state(state)
        self.set_epoch(int(state["epoch"]))


# Key of the (epoch, stream, position) tag a sample carries from a DataLoader worker to ResumableLoader; removed
# before the user's collate sees the sample.
_TAG = "_tokenmill_reader_position"


class PackedIterableDataset(_RankedDataset, StreamPositions, IterableDataset):
    """Iterable dataset over this rank's rows of the current epoch; resumable with state_dict/load_state_dict.

    Each ``iter()`` yields what is left of the current epoch, then moves to the next epoch. Iterated directly (or
    by a ``DataLoader`` with ``num_workers=0``) its :meth:`state_dict` counts the samples it yielded. With
    DataLoader workers each worker iterates a copy, so only :class:`ResumableLoader` (which records what the
    consumer received from each worker) keeps this object's state exact; a plain multi-worker DataLoader still
    splits the rows between workers, but the state it leaves here says nothing about what they delivered.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Set only on the copy a ResumableLoader hands to its DataLoader: tag samples, DataLoader worker w reads
        # stream (w + rotation) % streams so that the round robin resumes at the stream that is due.
        self._loader_copy = False
        self._rotation = 0

    def __iter__(self) -> Iterator[dict[str, Any]]:
        info = get_worker_info()
        if self._loader_copy:
            yield from self._iter_stream(info)
            return
        streams = len(self._positions)
        if streams != 1:
            raise ValueError(
                f"this dataset's state holds positions for {streams} DataLoader workers: iterate it "
                f"through ResumableLoader(dataset, num_workers={streams}, ...) to resume exactly"
            )
        order = self._order
        if info is not None:
            log.warning(
                "PackedIterableDataset in a DataLoader worker without ResumableLoader: the main process's "
                "state_dict() will not see what the workers delivered (use ResumableLoader to resume)"
            )
            order = order[info.id :: info.num_workers]
        if self._positions[0] >= len(order) and len(order):
            self.set_epoch(self.epoch + 1)
            order = self._order if info is None else self._order[info.id :: info.num_workers]
        while self._positions[0] < len(order):
            i = int(order[self._positions[0]])
            self._positions[0] += 1  # counted before the yield: a state saved after consuming k samples says k
            yield self.shards.sample(i, with_doc_info=self.with_doc_info)
        self.set_epoch(self.epoch + 1)

    def _iter_stream(self, info: Any) -> Iterator[dict[str, Any]]:
        # On the loader copy: yield the rest of one stream, each sample tagged with where it leaves the stream.
        streams = len(self._positions)
        workers = 1 if info is None else info.num_workers
        if workers != streams:  # ResumableLoader sets both from its num_workers
            raise RuntimeError(f"loader copy has {streams} streams but runs in {workers} DataLoader workers")
        stream = ((0 if info is None else info.id) + self._rotation) % streams
        order = self._order[stream::streams]
        for j in range(self._positions[stream], len(order)):
            sample = self.shards.sample(int(order[j]), with_doc_info=self.with_doc_info)
            sample[_TAG] = (self.epoch, stream, j + 1)
            yield sample

    def _loader_view(self) -> PackedIterableDataset:
        view = copy.copy(self)
        view._positions = list(self._positions)
        view._loader_copy = True
        view._rotation = self._next_stream
        return view


def _one_sample(sample: dict[str, Any]) -> dict[str, Any]:
    return sample


class _UntagCollate:
    """Runs in the DataLoader worker: strip the position tags, collate, return ``(last tag, batch)``."""

    def __init__(self, collate_fn: Callable[[Any], Any]) -> None:
        self.collate_fn = collate_fn

    def __call__(self, samples: Any) -> tuple[tuple[int, int, int], Any]:
        if isinstance(samples, dict):  # batch_size=None: one sample at a time
            return samples.pop(_TAG), self.collate_fn(samples)
        tags = [s.pop(_TAG) for s in samples]
        assert all(t[:2] == tags[-1][:2] for t in tags), "a batch holds samples of one worker stream"
        return tags[-1], self.collate_fn(samples)


class ResumableLoader:
    """A ``torch.utils.data.DataLoader`` over a :class:`PackedIterableDataset` whose state is exact with workers.

    Every batch carries, from the worker that made it, the stream it came from and how far into that stream it
    reaches; the dataset records it when the batch is handed to the consumer (not when a worker prefetched it).
    ``state_dict()`` therefore describes exactly the batches the training loop received, and a fresh loader with
    the loaded state yields exactly the rest of the epoch, in the order the uninterrupted loader would have
    (DataLoader takes batches from its workers round robin; the resumed loader starts that round at the worker
    that was due). Resume with the same ``num_workers`` (0 and 1 are the same) and ``batch_size``: a state part-way
    through an epoch is refused (ValueError) with other ones, except a different ``batch_size`` with one worker
    stream, which keeps the sample order (a warning says so).

    Args:
        dataset: the dataset; its ``state_dict()`` / ``load_state_dict()`` are this loader's.
        batch_size: samples per batch (None: single samples, as DataLoader's ``batch_size=None``).
        num_workers: DataLoader worker processes.
        collate_fn: batches samples (default :func:`collate_packed`; with ``batch_size=None`` samples pass as they are).
        **loader_kwargs: other DataLoader arguments (``pin_memory``, ``prefetch_factor``, ``drop_last``,
            ``multiprocessing_context``, ``worker_init_fn``, ``timeout``).
    """

    def __init__(
        self,
        dataset: PackedIterableDataset,
        *,
        batch_size: int | None = 1,
        num_workers: int = 0,
        collate_fn: Callable[[Any], Any] | None = None,
        **loader_kwargs: Any,
    ) -> None:
        if not isinstance(dataset, PackedIterableDataset):
            raise ValueError(f"ResumableLoader: dataset must be a PackedIterableDataset, got {type(dataset).__name__}")
        if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
            raise ValueError(f"ResumableLoader: batch_size must be an integer >= 1 or None, got {batch_size!r}")
        if not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError(f"ResumableLoader: num_workers must be an integer >= 0, got {num_workers!r}")
        for key in ("sampler", "batch_sampler", "shuffle"):
            if key in loader_kwargs:
                raise ValueError(f"ResumableLoader: {key} is not for an iterable dataset (the dataset shuffles by seed and epoch)")
        if loader_kwargs.get("persistent_workers"):
            raise ValueError("ResumableLoader: persistent_workers=True keeps worker copies that a loaded state cannot reach; leave it off")
        if loader_kwargs.get("in_order", True) is not True:
            raise ValueError("ResumableLoader: in_order=False delivers batches in arrival order, which no state can reproduce; leave it on")
        self.dataset = dataset
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.collate_fn = collate_fn or (collate_packed if batch_size is not None else _one_sample)
        self.loader_kwargs = loader_kwargs
        self._streams = max(1, num_workers)
        dataset._use_streams(self._streams, batch_size)

    def _epoch_done(self) -> bool:
        ds = self.dataset
        short = self.batch_size if self.loader_kwargs.get("drop_last") and self.batch_size else 1
        return all(ds._remaining(s) < short for s in range(len(ds._positions)))

    def __iter__(self) -> Iterator[Any]:
        ds = self.dataset
        ds._use_streams(self._streams, self.batch_size)  # a state loaded since construction must match num_workers
        if self._epoch_done() and len(ds):
            ds.set_epoch(ds.epoch + 1)
        loader = DataLoader(
            ds._loader_view(), batch_size=self.batch_size, num_workers=self.num_workers, collate_fn=_UntagCollate(self.collate_fn), **self.loader_kwargs
        )
        for (epoch, stream, position), batch in loader:
            ds._consumed(epoch, stream, position)  # recorded as the consumer receives it, not as workers prefetch
            yield batch
        ds.set_epoch(ds.epoch + 1)

    def set_epoch(self, epoch: int) -> None:
        """The dataset's :meth:`PackedIterableDataset.set_epoch`."""
        self.dataset.set_epoch(epoch)

    def state_dict(self) -> dict[str, Any]:
        """The dataset's state: what the consumer has received (see :meth:`PackedIterableDataset.state_dict`)."""
        return self.dataset.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Load a state from :meth:`state_dict`; call before iterating."""
        self.dataset.load_state_dict(state)
        self.dataset._use_streams(self._streams, self.batch_size)


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
