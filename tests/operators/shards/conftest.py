"""Fixtures of the shard tests: real GPT-2 token ids of UDHR lines (helpers shared with the pack tests)."""

from __future__ import annotations

import pytest

from tests.operators.pack.real_tokens import udhr_token_docs
from tests.operators.shards.shard_helpers import write_set


@pytest.fixture(scope="session")
def udhr_docs(shared_data):
    """UDHR lines of ten languages/scripts tokenized with GPT-2: [(doc_id, int64 ids)]."""
    return udhr_token_docs(shared_data)


@pytest.fixture()
def small_set(tmp_path, udhr_docs):
    """A committed multi-shard set of 300 UDHR lines (context 256, EOS appended, both formats)."""
    out = tmp_path / "shards"
    manifest = write_set(
        out, udhr_docs[:300], pack={"context_length": 256, "buffer_docs": 64, "eos_id": 50256, "pad_id": 50256}, shard_tokens=8000, row_group_rows=16
    )
    return out, manifest


@pytest.fixture(scope="module")
def resume_set(tmp_path_factory, udhr_docs):
    """The set the resume tests share, one per module (112 rows: 56 a rank, so 3 workers end on partial batches)."""
    out = tmp_path_factory.mktemp("resume") / "shards"
    write_set(out, udhr_docs[:300], pack={"context_length": 256, "buffer_docs": 64, "eos_id": 50256, "pad_id": 50256}, shard_tokens=8000, row_group_rows=16)
    return out
