"""Which rows a rank reads in an epoch, in which order, and how far its consumer got: the resumable order behind
the torch reader (:mod:`operators.shards.reader`), without torch.

:func:`rank_order` gives rank ``r`` the rows ``perm[r::world_size]`` of one permutation seeded by ``seed`` and
``epoch``. :class:`RankedOrder` keeps a rank's order for the current epoch and the identity a saved state must
match; :class:`StreamPositions` adds how many samples of each DataLoader worker stream the consumer received, and
the state (format :data:`STATE_FORMAT`) that resumes exactly there.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

import numpy as np

# The torch reader's logger: what the reader's state logic warns about is filtered under the reader's name.
log = logging.getLogger("tokenmill.operators.shards.reader")

STATE_FORMAT = "tokenmill reader state v2"
_UNRECORDED = object()  # no batch size recorded for the current epoch's positions


class _Rows(Protocol):
    num_rows: int


def rank_order(num_rows: int, *, rank: int, world_size: int, seed: int, epoch: int, shuffle: bool, drop_last: bool) -> np.ndarray:
    """Global row indices that ``rank`` reads in ``epoch``: ``perm[rank::world_size]`` of one shared permutation."""
    if not 0 <= rank < world_size:
        raise ValueError(f"rank must be in [0, world_size={world_size}), got {rank}")
    order = np.random.default_rng([seed, epoch]).permutation(num_rows) if shuffle else np.arange(num_rows)
    if drop_last:
        order = order[: num_rows - num_rows % world_size]
    return order[rank::world_size]


def _stream_len(n: int, stream: int, streams: int) -> int:
    """Length of ``order[stream::streams]`` for an order of ``n`` rows."""
    return len(range(stream, n, streams))


class RankedOrder:
    """This rank's order of a shard set's rows in the current epoch, and the identity a saved state must match."""

    def __init__(self, shards: _Rows, *, rank: int, world_size: int, seed: int, shuffle: bool, epoch: int, drop_last: bool) -> None:
        self.shards: _Rows = shards
        self.rank, self.world_size, self.seed, self.shuffle = rank, world_size, seed, shuffle
        self.drop_last = drop_last
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


class StreamPositions(RankedOrder):
    """A :class:`RankedOrder` that counts what the consumer received of each worker stream ``order[s::streams]``,
    saves it as a state and resumes from one (the bookkeeping of :class:`operators.shards.reader.PackedIterableDataset`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Samples the consumer has received this epoch from each stream order[s::streams], one stream per
        # DataLoader worker (one for num_workers=0), and the stream the next batch comes from (round robin).
        self._positions = [0]
        self._next_stream = 0
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
