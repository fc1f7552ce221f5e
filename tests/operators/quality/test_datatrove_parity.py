"""Our FineWeb chain against datatrove 0.10.1's on web-like pages, when datatrove (the bench extra) is installed."""

from __future__ import annotations

import pytest

from .fineweb_chain import peer_chain, run_ours, run_peer
from .web_corpus import web_documents


def test_same_decisions_reasons_and_text_as_datatrove(shared_data):
    pytest.importorskip("datatrove", reason="datatrove is in the bench extra: pip install 'datatrove==0.10.1' spacy")
    pytest.importorskip("spacy")
    pages = [text for _, text in web_documents(shared_data, 250, seed=11)]
    peer_reasons, peer_texts = run_peer(peer_chain(), pages)
    reasons, texts = run_ours(pages)
    same = sum(a == b for a, b in zip(reasons, peer_reasons))
    assert same / len(pages) >= 0.99, [(a, b) for a, b in zip(peer_reasons, reasons) if a != b]
    kept = [i for i, r in enumerate(reasons) if r is None and peer_reasons[i] is None]
    assert kept and all(texts[i] == peer_texts[i] for i in kept)
