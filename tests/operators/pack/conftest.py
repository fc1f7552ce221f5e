"""Fixtures of the pack tests: real GPT-2 token ids of UDHR lines."""

from __future__ import annotations

import pytest

from tests.operators.pack.real_tokens import udhr_token_docs


@pytest.fixture(scope="session")
def udhr_docs(shared_data):
    """UDHR lines of ten languages/scripts tokenized with GPT-2: [(doc_id, int64 ids)]."""
    return udhr_token_docs(shared_data)
