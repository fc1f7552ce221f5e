"""Our FineWeb chain against datatrove 0.10.1's on web-like pages, when datatrove (the bench extra) is installed."""

from __future__ import annotations

import pytest

from .test_ingest_quality import _pure_chain
from .web_corpus import web_documents

PEER = ("gopher_repetition", "gopher_quality", "c4", "fineweb")


def test_same_decisions_reasons_and_text_as_datatrove(shared_data):
    pytest.importorskip("datatrove", reason="datatrove is in the bench extra: pip install 'datatrove==0.10.1' spacy")
    pytest.importorskip("spacy")
    from datatrove.data import Document
    from datatrove.pipeline.filters import C4QualityFilter, FineWebQualityFilter, GopherQualityFilter, GopherRepetitionFilter

    filters = [GopherRepetitionFilter(), GopherQualityFilter(), C4QualityFilter(filter_no_terminal_punct=False), FineWebQualityFilter()]
    pages = [text for _, text in web_documents(shared_data, 250, seed=11)]
    peer_reasons, peer_texts = [], []
    for i, text in enumerate(pages):
        doc, reason = Document(text=text, id=str(i)), None
        for name, f in zip(PEER, filters):
            result = f.filter(doc)
            ok, why = result if isinstance(result, tuple) else (result, None)
            if not ok:
                reason = f"{name}:{why}"
                break
        peer_reasons.append(reason)
        peer_texts.append(doc.text)
    reasons, texts = _pure_chain(pages)
    same = sum(a == b for a, b in zip(reasons, peer_reasons))
    assert same / len(pages) >= 0.99, [(a, b) for a, b in zip(peer_reasons, reasons) if a != b]
    kept = [i for i, r in enumerate(reasons) if r is None and peer_reasons[i] is None]
    assert kept and all(texts[i] == peer_texts[i] for i in kept)
