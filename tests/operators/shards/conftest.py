"""Fixtures of the shard tests: real GPT-2 token ids of UDHR lines (helpers shared with the pack tests)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pack"))
from real_tokens import GPT2_VOCAB, udhr_token_docs  # noqa: E402


@pytest.fixture(scope="session")
def udhr_docs(shared_data):
    """UDHR lines of ten languages/scripts tokenized with GPT-2: [(doc_id, int64 ids)]."""
    return udhr_token_docs(shared_data)


@pytest.fixture(scope="session")
def gpt2_vocab() -> int:
    """The GPT-2 vocabulary size (uint16 shards)."""
    return GPT2_VOCAB
