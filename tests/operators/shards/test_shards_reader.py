"""Torch reader: labels convention, rank disjointness and coverage, deterministic shuffles, exact resume."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from tokenmill.operators.shards import PackedIterableDataset, PackedMapDataset, ShardSet, collate_packed, rank_order


def ids_of(samples):
    """A row's identity: its input ids as bytes."""
    return [s["input_ids"].numpy().tobytes() for s in samples]


def test_sample_convention(small_set):
    out, _ = small_set
    shards = ShardSet(out)
    for i in range(shards.num_rows):
        s = shards.sample(i)
        cu, labels, ids, pos = s["cu_seqlens"], s["labels"], s["input_ids"], s["position_ids"]
        assert cu.dtype == torch.int32 and int(cu[0]) == 0 and int(cu[-1]) == 256
        assert ids.dtype == labels.dtype == pos.dtype == torch.int64
        assert s["max_seqlen"] == int((cu[1:] - cu[:-1]).max())
        starts = cu[:-1].long()
        assert (labels[starts] == -100).all() and (pos[starts] == 0).all()  # -100 at every document start
        target = labels != -100
        assert (labels[target] == ids[target]).all()  # otherwise labels are the (unshifted) input ids
    assert ShardSet(out, source="parquet").sample(3)["labels"].equal(shards.sample(3)["labels"])


@pytest.mark.parametrize("world_size", [1, 3, 4])
@pytest.mark.parametrize("shuffle", [True, False])
def test_ranks_are_disjoint_and_cover(small_set, world_size, shuffle):
    out, manifest = small_set
    n = manifest["totals"]["rows"]
    seen = []
    for rank in range(world_size):
        ds = PackedMapDataset(out, rank=rank, world_size=world_size, seed=7, shuffle=shuffle)
        order = rank_order(n, rank=rank, world_size=world_size, seed=7, epoch=0, shuffle=shuffle, drop_last=False)
        assert len(ds) == len(order)
        seen += order.tolist()
        assert ids_of([ds[0]]) == ids_of([ds.shards.sample(int(order[0]))])
    assert sorted(seen) == list(range(n))
    dropped = [rank_order(n, rank=r, world_size=world_size, seed=7, epoch=0, shuffle=shuffle, drop_last=True) for r in range(world_size)]
    assert len({len(d) for d in dropped}) == 1 and len(set(np.concatenate(dropped).tolist())) == len(np.concatenate(dropped))


def test_shuffle_is_deterministic_by_seed_and_epoch():
    a = rank_order(500, rank=0, world_size=1, seed=3, epoch=0, shuffle=True, drop_last=False)
    assert np.array_equal(a, rank_order(500, rank=0, world_size=1, seed=3, epoch=0, shuffle=True, drop_last=False))
    assert not np.array_equal(a, rank_order(500, rank=0, world_size=1, seed=3, epoch=1, shuffle=True, drop_last=False))
    assert not np.array_equal(a, rank_order(500, rank=0, world_size=1, seed=4, epoch=0, shuffle=True, drop_last=False))
    assert sorted(a.tolist()) == list(range(500))


@pytest.mark.parametrize("stop_after", [0, 1, 17])
def test_resume_yields_exactly_the_rest(small_set, stop_after):
    out, _ = small_set
    full = ids_of(PackedIterableDataset(out, rank=1, world_size=2, seed=11))
    ds = PackedIterableDataset(out, rank=1, world_size=2, seed=11)
    it = iter(ds)
    head = [next(it) for _ in range(stop_after)]
    state = ds.state_dict()
    assert state["position"] == stop_after and state["epoch"] == 0
    resumed = PackedIterableDataset(out, rank=1, world_size=2, seed=11)
    resumed.load_state_dict(state)
    rest = list(resumed)
    assert ids_of(head) + ids_of(rest) == full
    # The next iteration is the next epoch: a new shuffle (a rank gets another share of the rows).
    assert resumed.epoch == 1
    nxt = ids_of(resumed)
    assert len(nxt) == len(full) and nxt != full
    assert resumed.state_dict()["epoch"] == 2


def test_state_of_another_dataset_is_refused(small_set):
    out, _ = small_set
    state = PackedIterableDataset(out, rank=0, world_size=2, seed=1).state_dict()
    with pytest.raises(ValueError, match="rank"):
        PackedIterableDataset(out, rank=1, world_size=2, seed=1).load_state_dict(state)


def test_dataloader_workers_split_a_rank(small_set):
    out, _ = small_set
    ds = PackedIterableDataset(out, rank=0, world_size=2, seed=5, shuffle=False)
    expected = sorted(ids_of(PackedIterableDataset(out, rank=0, world_size=2, seed=5, shuffle=False)))
    loader = DataLoader(ds, batch_size=None, num_workers=2)
    assert sorted(ids_of(loader)) == expected


def test_collate_for_varlen_kernels(small_set):
    out, _ = small_set
    ds = PackedMapDataset(out, shuffle=False)
    batch = collate_packed([ds[0], ds[1], ds[2]], pin_memory=False)
    assert batch["input_ids"].shape == batch["labels"].shape == batch["position_ids"].shape == (3, 256)
    cu = batch["cu_seqlens"]
    assert int(cu[0]) == 0 and int(cu[-1]) == 3 * 256 and (cu[1:] > cu[:-1]).all()
    flat_pos = batch["position_ids"].reshape(-1)
    assert (flat_pos[cu[:-1].long()] == 0).all()
    assert batch["max_seqlen"] == max(ds[i]["max_seqlen"] for i in range(3))
    if torch.cuda.is_available():  # pinned by default where CUDA exists
        assert collate_packed([ds[0]])["input_ids"].is_pinned()


def test_pickles_without_its_memory_maps(small_set):
    import pickle

    out, _ = small_set
    ds = PackedMapDataset(out, seed=2)
    first = ds[0]  # opens a shard
    clone = pickle.loads(pickle.dumps(ds))  # what a spawn-started DataLoader worker receives
    assert len(pickle.dumps(ds)) < 100_000
    assert clone[0]["input_ids"].equal(first["input_ids"])
