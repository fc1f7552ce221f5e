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
"""

from __future__ import annotations

import bisect
import copy
import logging
from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset, get_worker_info

from tokenmill.operators.io.remote import is_remote
from tokenmill.operators.pack.rows import materialize_rows
from tokenmill.operators.shards.config import PLAN_FORMAT, ROWS_FORMAT
from tokenmill.operators.shards.manifest import load_manifest, shard_file
from tokenmill.operators.shards.megatron import open_bin, read_index
from tokenmill.operators.shards.parquet import list_column, read_checked

log = logging.getLogger(__name__)

STATE_FORMAT = "tokenmill reader state v2"
_UNRECORDED = object()  # no batch size recorded for the current epoch's positions


class ShardSet:
    """Random access to the packed rows of a committed shard set (trusts only the manifest).

    A remote set (``s3://bucket/prefix``, configured by the standard ``AWS_*`` environment) is read through a
    local cache: each shard's files are fetched when first used and checked against the manifest's sha256
    (:func:`operators.shards.fetch.cached_file`); a prefix without ``manifest.json`` is no set (ValueError).

    Args:
        directory: the shard set's directory (holding ``manifest.json``), local or a remote URI.
        source: ``megatron`` (.bin + plan), ``parquet`` (rows), or ``auto`` (megatron when present).
    """

    def __init__(self, directory: str | Path, *, source: Literal["auto", "megatron", "parquet"] = "auto") -> None:
        self.directory: Path | str = str(directory) if is_remote(str(directory)) else Path(directory)
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
        state = {k: getattr(self, k) for k in ("directory", "manifest", "source", "context_length", "dtype", "pad_id", "shards", "row_starts", "num_rows")}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._open = OrderedDict()

    def _shard(self, k: int) -> dict[str, Any]:
        if k in self._open:
            self._open.move_to_end(k)
            return self._open[k]
        # load_manifest refused paths outside the directory; shard_file checks again where the file is opened.
        if isinstance(self.directory, str):  # remote: verified local copies
            from tokenmill.operators.shards.fetch import cached_file

            files = {kind: cached_file(self.directory, f) for kind, f in self.shards[k]["files"].items()}
        else:
            files = {kind: shard_file(self.directory, f["path"]) for kind, f in self.shards[k]["files"].items()}
        if self.source == "megatron":
            index = read_index(files["idx"])
            plan = read_checked(files["plan"], PLAN_FORMAT)
            doc, seg_off = list_column(plan, "doc")
            data: dict[str, Any] = {
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
        self.shards = directory if isinstance(directory, ShardSet) else ShardSet(directory)
        self.rank, self.world_size, self.seed, self.shuffle = rank, world_size, seed, shuffle
        self.drop_last, self.with_doc_info = drop_last, with_doc_info
        self.epoch = epoch
        self._order = self._compute_order()

    def _compute_order(self) -> np.ndarray:
        return rank_order(
            self.shards.num_rows, rank=self.rank, world_size=self.world_size, seed=self.seed, epoch=self.epoch, shuffle=self.shuffle, drop_last=self.drop_last
        )

    def __len__(self) -> int:
        return len(self._order)

    def set_epoch(self, epoch: int) -> None:
        """Switch to ``epoch`` (a new shuffle); a no-op when it is the current epoch."""
        if epoch != self.epoch:
            self.epoch = epoch
            self._order = self._compute_order()
            self._reset_positions()

    def _reset_positions(self) -> None:
        pass

    def _identity(self) -> dict[str, Any]:
        return {
            "format": STATE_FORMAT,
            "seed": self.seed,
            "shuffle": self.shuffle,
            "rank": self.rank,
            "world_size": self.world_size,
            "num_rows": self.shards.num_rows,
            "drop_last": self.drop_last,
        }

    def _check_state(self, state: dict[str, Any]) -> None:
        fmt = state.get("format") if isinstance(state, dict) else type(state).__name__
        if fmt != STATE_FORMAT:
            hint = ""
            if fmt == "tokenmill reader state v1":
                hint = (
                    " (a v1 state does not say what each DataLoader worker delivered, so it cannot be resumed "
                    "exactly; start its epoch again with set_epoch(state['epoch']))"
                )
            raise ValueError(f"reader state format is {fmt!r}, expected {STATE_FORMAT!r}{hint}")
        for key, value in self._identity().items():
            if state.get(key) != value:
                raise ValueError(f"reader state {key}={state.get(key)!r} does not match this dataset's {value!r}")


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


def _stream_len(n: int, stream: int, streams: int) -> int:
    """Length of ``order[stream::streams]`` for an order of ``n`` rows."""
    return len(range(stream, n, streams))


class PackedIterableDataset(_RankedDataset, IterableDataset):
    """Iterable dataset over this rank's rows of the current epoch; resumable with state_dict/load_state_dict.

    Each ``iter()`` yields what is left of the current epoch, then moves to the next epoch. Iterated directly (or
    by a ``DataLoader`` with ``num_workers=0``) its :meth:`state_dict` counts the samples it yielded. With
    DataLoader workers each worker iterates a copy, so only :class:`ResumableLoader` (which records what the
    consumer received from each worker) keeps this object's state exact; a plain multi-worker DataLoader still
    splits the rows between workers, but the state it leaves here says nothing about what they delivered.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Samples the consumer has received this epoch from each stream order[s::streams], one stream per
        # DataLoader worker (one for num_workers=0), and the stream the next batch comes from (round robin).
        self._positions = [0]
        self._next_stream = 0
        # Set only on the copy a ResumableLoader hands to its DataLoader: tag samples, DataLoader worker w reads
        # stream (w + rotation) % streams so that the round robin resumes at the stream that is due.
        self._loader_copy = False
        self._rotation = 0
        # Batch size of the ResumableLoader that read (or, from a loaded state, had read) this epoch's positions:
        # with several worker streams it sets the order (DataLoader takes whole batches from workers round robin).
        self._batch_size: Any = _UNRECORDED

    @property
    def _position(self) -> int:
        """Samples delivered so far in this epoch, all streams together."""
        return sum(self._positions)

    def _reset_positions(self) -> None:
        self._positions = [0] * len(self._positions)
        self._next_stream = 0

    def _remaining(self, stream: int) -> int:
        return _stream_len(len(self._order), stream, len(self._positions)) - self._positions[stream]

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

    def _use_streams(self, streams: int, batch_size: int | None) -> None:
        """Prepare to be read by ``streams`` DataLoader workers in batches of ``batch_size`` (ResumableLoader calls
        this): a state part-way through an epoch resumes in the uninterrupted order only with the same settings."""
        if streams != len(self._positions) and any(self._positions):
            raise ValueError(
                f"reader state was saved with num_workers={len(self._positions)} (0 and 1 are the same); "
                f"resume it with that many DataLoader workers, not {streams}"
            )
        saved = self._batch_size
        if any(self._positions) and saved is not _UNRECORDED and (saved or 1) != (batch_size or 1):  # None: 1 a batch
            if streams > 1:
                raise ValueError(
                    f"reader state was saved with batch_size={saved} and num_workers={streams}, which set the order of "
                    f"the workers' batches; resume it with batch_size={saved}, not {batch_size}"
                )
            log.warning(
                "reader state saved with batch_size=%s resumed with batch_size=%s: one worker stream, so the "
                "sample order is unchanged (only the batching differs)",
                saved,
                batch_size,
            )
        self._batch_size = batch_size
        if streams != len(self._positions):
            self._positions = [0] * streams
            self._next_stream = 0

    def _loader_view(self) -> PackedIterableDataset:
        view = copy.copy(self)
        view._positions = list(self._positions)
        view._loader_copy = True
        view._rotation = self._next_stream
        return view

    def _consumed(self, epoch: int, stream: int, position: int) -> None:
        """The consumer received the samples of ``stream`` up to ``position`` (ResumableLoader calls this)."""
        if epoch != self.epoch:
            raise RuntimeError(
                f"a batch of epoch {epoch} arrived while the dataset is at epoch {self.epoch}: do not call set_epoch while a ResumableLoader iterates"
            )
        self._positions[stream] = position
        self._next_stream = (stream + 1) % len(self._positions)

    def state_dict(self) -> dict[str, Any]:
        """Epoch and what the consumer received of it (plus identity, checked on load).

        ``position`` is the number of samples delivered in the epoch; ``worker_positions[s]`` how many of them came
        from DataLoader worker stream ``s`` (one stream when iterated without workers) and ``next_worker`` the
        stream the next batch is due from.
        """
        state = {
            **self._identity(),
            "epoch": self.epoch,
            "position": self._position,
            "worker_positions": list(self._positions),
            "next_worker": self._next_stream,
        }
        if self._batch_size is not _UNRECORDED:
            state["batch_size"] = self._batch_size  # a ResumableLoader's; with several workers it sets the order
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume: the next iteration yields exactly the samples not yet delivered when ``state`` was saved (in the
        same order, when read with the same ``num_workers`` and batch size as before)."""
        self._check_state(state)
        epoch, positions, nxt = state.get("epoch"), state.get("worker_positions"), state.get("next_worker")
        if not isinstance(epoch, int) or epoch < 0:
            raise ValueError(f"reader state epoch must be an integer >= 0, got {epoch!r}")
        if not isinstance(positions, list) or not positions or not all(isinstance(p, int) and p >= 0 for p in positions):
            raise ValueError(f"reader state worker_positions must be a non-empty list of integers >= 0, got {positions!r}")
        if not isinstance(nxt, int) or not 0 <= nxt < len(positions):
            raise ValueError(f"reader state next_worker must be in [0, {len(positions)}), got {nxt!r}")
        if state.get("position") != sum(positions):
            raise ValueError(f"reader state position={state.get('position')!r} is not the sum of worker_positions {positions}")
        self.set_epoch(epoch)
        n = len(self._order)
        for s, p in enumerate(positions):
            if p > _stream_len(n, s, len(positions)):
                raise ValueError(f"reader state worker_positions[{s}]={p} is past the end of that worker's {_stream_len(n, s, len(positions))} rows")
        self._positions = list(positions)
        self._next_stream = nxt
        self._batch_size = state.get("batch_size", _UNRECORDED)


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
