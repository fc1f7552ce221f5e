"""megatron-core's own IndexedDataset reads our .bin/.idx; our files are byte-identical to its builder's."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.operators.shards.shard_helpers import write_set
from tokenmill.operators.shards import read_index

indexed_dataset = pytest.importorskip("megatron.core.datasets.indexed_dataset", reason="megatron-core is a test dependency")


@pytest.mark.parametrize("vocab_size,shift,dtype", [(50257, 0, np.uint16), (120_000, 69_000, np.int32)])
def test_megatron_core_reads_our_shards(tmp_path, udhr_docs, vocab_size, shift, dtype):
    docs = [(d, ids + shift) for d, ids in udhr_docs[:200] if len(ids)]
    manifest = write_set(tmp_path, docs, vocab_size=vocab_size, pack={"context_length": 128, "eos_id": 50256 + shift}, shard_tokens=5000)
    got = []
    for shard in manifest["shards"]:
        ds = indexed_dataset.IndexedDataset(str(tmp_path / shard["name"]))
        assert ds.index.dtype == dtype
        assert len(ds) == shard["documents"]
        np.testing.assert_array_equal(ds.document_indices, np.arange(len(ds) + 1))  # one sequence per document
        got += [np.array(ds[i]) for i in range(len(ds))]  # copy: the arrays view ds's memory map
        np.testing.assert_array_equal(np.array(ds.get(0, offset=1, length=3)), got[-len(ds)][1:4])
    assert len(got) == len(docs)
    for (_, ids), seq in zip(docs, got):
        np.testing.assert_array_equal(seq, np.append(ids, 50256 + shift))  # documents as stored, with EOS


def test_byte_identical_to_megatron_builder(tmp_path, udhr_docs):
    docs = [(d, ids) for d, ids in udhr_docs[:150] if len(ids)]
    manifest = write_set(tmp_path / "ours", docs, pack={"context_length": 4096}, formats=("megatron",))
    assert manifest["totals"]["shards"] == 1
    prefix = tmp_path / "ours" / manifest["shards"][0]["name"]
    builder = indexed_dataset.IndexedDatasetBuilder(str(tmp_path / "theirs.bin"), dtype=np.uint16)
    for _, ids in docs:
        builder.add_item(torch.from_numpy(ids))
        builder.end_document()
    builder.finalize(str(tmp_path / "theirs.idx"))
    assert prefix.with_suffix(".bin").read_bytes() == (tmp_path / "theirs.bin").read_bytes()
    assert prefix.with_suffix(".idx").read_bytes() == (tmp_path / "theirs.idx").read_bytes()
    index = read_index(tmp_path / "theirs.idx")
    assert index.dtype == np.uint16 and index.lengths.tolist() == [len(ids) for _, ids in docs]


def test_read_index_rejects_foreign_files(tmp_path):
    bad = tmp_path / "x.idx"
    bad.write_bytes(b"NOTANIDX" + bytes(40))
    with pytest.raises(ValueError, match="bad magic"):
        read_index(bad)
    bad.write_bytes(b"MMIDIDX\x00\x00" + (2).to_bytes(8, "little") + bytes(17))
    with pytest.raises(ValueError, match="version 2"):
        read_index(bad)
