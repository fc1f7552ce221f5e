"""Exact resume through ResumableLoader: with 0, 2 and 3 DataLoader workers, shuffled or not, on two ranks, a
state saved after k consumed batches plus a fresh loader loaded with it give exactly the uninterrupted epoch."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from tokenmill.operators.shards.reader import STATE_FORMAT, PackedIterableDataset, ResumableLoader, collate_packed

WORLD_SIZE = 2
BATCH = 4


@pytest.fixture(scope="module")
def shard_dir(resume_set):
    """One committed set for the whole module (conftest's resume_set)."""
    return resume_set


def ids_of_batch(batch) -> list[bytes]:
    """Row identities of a collated batch (or of one sample with batch_size=None)."""
    ids = batch["input_ids"]
    return [ids.numpy().tobytes()] if ids.dim() == 1 else [r.numpy().tobytes() for r in ids]


def dataset(shard_dir, rank: int, shuffle: bool, **kw) -> PackedIterableDataset:
    return PackedIterableDataset(shard_dir, rank=rank, world_size=WORLD_SIZE, seed=13, shuffle=shuffle, **kw)


def take(loader, k: int | None) -> list[list[bytes]]:
    """The first ``k`` batches (all when None) of one pass over ``loader``, as lists of row identities."""
    out = []
    for batch in loader:
        out.append(ids_of_batch(batch))
        if k is not None and len(out) == k:
            break
    return out


@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("workers", [0, 2, 3])
def test_resume_equals_the_uninterrupted_epoch(shard_dir, workers, shuffle):
    every_rank = []
    for rank in range(WORLD_SIZE):
        full = take(ResumableLoader(dataset(shard_dir, rank, shuffle), batch_size=BATCH, num_workers=workers), None)
        flat = [r for b in full for r in b]
        assert len(flat) == len(set(flat)) == 56
        every_rank += flat
        for k in (5, len(full) - 2):  # mid-epoch, and among the partial last batches of the workers
            loader = ResumableLoader(dataset(shard_dir, rank, shuffle), batch_size=BATCH, num_workers=workers)
            head = take(loader, k)
            state = loader.state_dict()
            # The state counts what the loop received, not what the workers prefetched.
            assert state["format"] == STATE_FORMAT and state["epoch"] == 0
            assert state["position"] == sum(len(b) for b in head)
            assert len(state["worker_positions"]) == max(1, workers)
            resumed = ResumableLoader(dataset(shard_dir, rank, shuffle), batch_size=BATCH, num_workers=workers)
            resumed.load_state_dict(state)
            rest = take(resumed, None)
            assert head + rest == full  # same batches, same order: no repeats, no gaps
            assert resumed.state_dict()["epoch"] == 1 and resumed.state_dict()["position"] == 0
    shard_rows = dataset(shard_dir, 0, shuffle).shards.num_rows
    assert len(every_rank) == len(set(every_rank)) == shard_rows  # the two ranks are disjoint and cover the set


def test_the_reported_bug_is_gone(shard_dir):
    """The integrity issue's case: 2 workers, 5 batches, state, fresh loader: its first batch is the 6th."""
    full = take(ResumableLoader(dataset(shard_dir, 0, True), batch_size=BATCH, num_workers=2), None)
    loader = ResumableLoader(dataset(shard_dir, 0, True), batch_size=BATCH, num_workers=2)
    take(loader, 5)
    state = loader.dataset.state_dict()  # the dataset itself, in the main process, knows
    assert state["position"] == 5 * BATCH and state["worker_positions"] == [3 * BATCH, 2 * BATCH]
    assert state["next_worker"] == 1
    resumed = ResumableLoader(dataset(shard_dir, 0, True), batch_size=BATCH, num_workers=2)
    resumed.load_state_dict(state)
    assert take(resumed, 1) == [full[5]]


def test_same_loader_continues_after_a_break_and_across_epochs(shard_dir):
    """Breaking out of the loop and iterating again continues; a whole epoch moves to the next one; a state saved
    in epoch 1 resumes there."""
    epochs = [take(ResumableLoader(dataset(shard_dir, 1, True, epoch=e), batch_size=BATCH, num_workers=2), None) for e in (0, 1)]
    assert epochs[0] != epochs[1]
    loader = ResumableLoader(dataset(shard_dir, 1, True), batch_size=BATCH, num_workers=2)
    got = take(loader, 3)
    got += take(loader, None)  # the rest of epoch 0 from the same loader
    assert got == epochs[0] and loader.state_dict()["epoch"] == 1
    loader.set_epoch(1)  # the usual per-epoch call: a no-op at the current epoch
    head = take(loader, 4)
    state = loader.state_dict()
    assert state["epoch"] == 1 and state["position"] == 4 * BATCH
    resumed = ResumableLoader(dataset(shard_dir, 1, True), batch_size=BATCH, num_workers=2)
    resumed.load_state_dict(state)
    resumed.set_epoch(state["epoch"])  # what a training loop restarting at the saved epoch calls
    assert head + take(resumed, None) == epochs[1]


def test_single_samples_and_drop_last(shard_dir):
    full = take(ResumableLoader(dataset(shard_dir, 0, True), batch_size=None, num_workers=2), None)
    assert len(full) == 56
    loader = ResumableLoader(dataset(shard_dir, 0, True), batch_size=None, num_workers=2)
    head = take(loader, 7)
    resumed = ResumableLoader(dataset(shard_dir, 0, True), batch_size=None, num_workers=2)
    resumed.load_state_dict(loader.state_dict())
    assert head + take(resumed, None) == full

    kw = {"batch_size": BATCH, "num_workers": 3, "drop_last": True}  # each worker drops its own partial batch
    full = take(ResumableLoader(dataset(shard_dir, 0, True), **kw), None)
    assert all(len(b) == BATCH for b in full)
    loader = ResumableLoader(dataset(shard_dir, 0, True), **kw)
    head = take(loader, len(full) - 1)
    resumed = ResumableLoader(dataset(shard_dir, 0, True), **kw)
    resumed.load_state_dict(loader.state_dict())
    assert head + take(resumed, None) == full
    assert resumed.state_dict()["epoch"] == 1
    loader = ResumableLoader(dataset(shard_dir, 0, True), **kw)
    take(loader, len(full))  # every full batch consumed, the loop not run to its end
    assert len(take(loader, None)) == len(full)  # the next pass is the next epoch, not an empty one
    assert loader.state_dict()["epoch"] == 2


def test_num_workers_0_states_are_interchangeable(shard_dir):
    """Direct iteration, num_workers=0 and num_workers=1 are one stream: their states resume each other."""
    full = [s["input_ids"].numpy().tobytes() for s in dataset(shard_dir, 0, True)]
    ds = dataset(shard_dir, 0, True)
    it = iter(ds)
    head = [next(it)["input_ids"].numpy().tobytes() for _ in range(9)]
    state = ds.state_dict()
    assert state["position"] == 9 and state["worker_positions"] == [9] and state["next_worker"] == 0
    resumed = ResumableLoader(dataset(shard_dir, 0, True), batch_size=None, num_workers=1)
    resumed.load_state_dict(state)
    more = take(resumed, 10)
    back = dataset(shard_dir, 0, True)
    back.load_state_dict(resumed.state_dict())
    rest = [s["input_ids"].numpy().tobytes() for s in back]
    assert head + [r for b in more for r in b] + rest == full


def test_bad_states_and_options_are_refused(shard_dir):
    loader = ResumableLoader(dataset(shard_dir, 0, True), batch_size=BATCH, num_workers=2)
    take(loader, 3)
    state = loader.state_dict()
    with pytest.raises(ValueError, match="num_workers=2"):
        ResumableLoader(dataset(shard_dir, 0, True), batch_size=BATCH, num_workers=3).load_state_dict(state)
    with pytest.raises(ValueError, match="through ResumableLoader"):
        ds = dataset(shard_dir, 0, True)
        ds.load_state_dict(state)
        next(iter(ds))
    with pytest.raises(ValueError, match="rank"):
        dataset(shard_dir, 1, True).load_state_dict(state)
    v1 = {**state, "format": "tokenmill reader state v1"}
    with pytest.raises(ValueError, match=r"format is 'tokenmill reader state v1', expected 'tokenmill reader state v2' \(a v1"):
        dataset(shard_dir, 0, True).load_state_dict(v1)
    with pytest.raises(ValueError, match="format is 'list'"):
        dataset(shard_dir, 0, True).load_state_dict([state])
    with pytest.raises(ValueError, match="past the end"):
        dataset(shard_dir, 0, True).load_state_dict({**state, "worker_positions": [100, 0], "position": 100})
    with pytest.raises(ValueError, match="not the sum"):
        dataset(shard_dir, 0, True).load_state_dict({**state, "position": 1})
    with pytest.raises(ValueError, match="next_worker"):
        dataset(shard_dir, 0, True).load_state_dict({**state, "next_worker": 2})
    with pytest.raises(ValueError, match="persistent_workers"):
        ResumableLoader(dataset(shard_dir, 0, True), num_workers=2, persistent_workers=True)
    with pytest.raises(ValueError, match="in_order"):
        ResumableLoader(dataset(shard_dir, 0, True), num_workers=2, in_order=False)
    with pytest.raises(ValueError, match="PackedIterableDataset"):
        ResumableLoader([1, 2, 3])


def test_the_loader_view_pickles_small(shard_dir):
    """What a spawn-started worker receives: the dataset view and the collate wrapper, without memory maps."""
    loader = ResumableLoader(dataset(shard_dir, 0, True), batch_size=BATCH, num_workers=2)
    take(loader, 1)  # opens a shard in the main process
    view = loader.dataset._loader_view()
    from tokenmill.operators.shards.reader import _UntagCollate

    blob = pickle.dumps((view, _UntagCollate(collate_packed)))
    assert len(blob) < 100_000
    clone, _ = pickle.loads(blob)
    assert clone._loader_copy and clone._positions == view._positions and np.array_equal(clone._order, view._order)
