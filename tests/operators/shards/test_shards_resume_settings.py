"""Resuming a reader state with settings that change the order is refused with a one-line fix; a different batch
size with one worker stream keeps the sample order, and a warning says so (the issue's "the loader resumes with a
different batch size in a different order without saying so")."""

from __future__ import annotations

import logging

import pytest

from tokenmill.operators.shards.reader import PackedIterableDataset, ResumableLoader

BATCH = 4


@pytest.fixture(scope="module")
def shard_dir(resume_set):
    return resume_set


def dataset(shard_dir) -> PackedIterableDataset:
    return PackedIterableDataset(shard_dir, rank=0, world_size=2, seed=13, shuffle=True)


def rows(loader, k: int | None = None) -> list[bytes]:
    """Row identities of the first ``k`` batches (all when None) of one pass, flattened."""
    out: list[bytes] = []
    for n, batch in enumerate(loader, 1):
        ids = batch["input_ids"]
        out += [ids.numpy().tobytes()] if ids.dim() == 1 else [r.numpy().tobytes() for r in ids]
        if n == k:
            break
    return out


def test_a_different_batch_size_with_workers_is_refused(shard_dir):
    loader = ResumableLoader(dataset(shard_dir), batch_size=BATCH, num_workers=2)
    rows(loader, 5)
    state = loader.state_dict()
    assert state["batch_size"] == BATCH
    with pytest.raises(ValueError, match=r"saved with batch_size=4 and num_workers=2.*resume it with batch_size=4, not 8") as err:
        ResumableLoader(dataset(shard_dir), batch_size=BATCH * 2, num_workers=2).load_state_dict(state)
    assert "\n" not in str(err.value)
    ds = dataset(shard_dir)  # loaded into the dataset first, then handed to a loader
    ds.load_state_dict(state)
    with pytest.raises(ValueError, match="resume it with batch_size=4, not None"):
        ResumableLoader(ds, batch_size=None, num_workers=2)
    ds = dataset(shard_dir)  # loaded into the dataset after the loader was made: refused when iterated
    late = ResumableLoader(ds, batch_size=2, num_workers=2)
    ds.load_state_dict(state)
    with pytest.raises(ValueError, match="resume it with batch_size=4, not 2"):
        next(iter(late))
    # the same settings still resume exactly
    full = rows(ResumableLoader(dataset(shard_dir), batch_size=BATCH, num_workers=2))
    resumed = ResumableLoader(dataset(shard_dir), batch_size=BATCH, num_workers=2)
    resumed.load_state_dict(state)
    assert full[: 5 * BATCH] + rows(resumed) == full


def test_a_different_num_workers_is_refused_in_one_line(shard_dir):
    loader = ResumableLoader(dataset(shard_dir), batch_size=BATCH, num_workers=2)
    rows(loader, 3)
    with pytest.raises(ValueError, match="saved with num_workers=2.*not 3") as err:
        ResumableLoader(dataset(shard_dir), batch_size=BATCH, num_workers=3).load_state_dict(loader.state_dict())
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("workers", [0, 1])
@pytest.mark.parametrize("new_batch", [1, 8, None])
def test_one_stream_keeps_the_sample_order_with_another_batch_size(shard_dir, caplog, workers, new_batch):
    """With one worker stream the batches are consecutive samples of one order: another batch size continues it
    exactly (no repeats, no gaps, same order), and a warning says the batching differs."""
    full = rows(ResumableLoader(dataset(shard_dir), batch_size=BATCH, num_workers=workers))
    loader = ResumableLoader(dataset(shard_dir), batch_size=BATCH, num_workers=workers)
    head = rows(loader, 5)
    resumed = ResumableLoader(dataset(shard_dir), batch_size=new_batch, num_workers=workers)
    with caplog.at_level(logging.WARNING, logger="tokenmill.operators.shards.reader"):
        resumed.load_state_dict(loader.state_dict())
        rest = rows(resumed)
    assert head + rest == full
    warnings = [r.getMessage() for r in caplog.records if "batch_size" in r.getMessage()]
    assert warnings == [
        f"reader state saved with batch_size={BATCH} resumed with batch_size={new_batch}: one worker "
        "stream, so the sample order is unchanged (only the batching differs)"
    ]


def test_states_without_a_batch_size_still_load(shard_dir):
    """States saved before the batch size was recorded (or by direct iteration) load as before."""
    loader = ResumableLoader(dataset(shard_dir), batch_size=BATCH, num_workers=2)
    rows(loader, 2)
    state = loader.state_dict()
    del state["batch_size"]
    resumed = ResumableLoader(dataset(shard_dir), batch_size=BATCH, num_workers=2)
    resumed.load_state_dict(state)
    assert len(rows(resumed)) == 56 - 2 * BATCH
    ds = dataset(shard_dir)
    next(iter(ds))
    assert "batch_size" not in ds.state_dict()
