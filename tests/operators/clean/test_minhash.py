"""MinHash near-duplicate detection on real UDHR text: estimates track exact Jaccard; LSH finds edited copies."""

from __future__ import annotations

import itertools

import numpy as np

from tokenmill.operators.clean.minhash import LshIndex, MinHasher, exact_jaccard, jaccard_estimate


def _paragraphs(shared_data, lang="eng", n=40):
    lines = [l for l in (shared_data / f"text/udhr/{lang}.txt").read_text().splitlines() if len(l.split()) > 25]
    return lines[:n]


def test_estimate_tracks_exact_jaccard(shared_data):
    hasher = MinHasher(num_perm=256)
    docs = _paragraphs(shared_data)
    errors = []
    for a, b in itertools.pairwise(docs):
        edited = b.replace("the", "a", 2)
        for x, y in ((a, b), (b, edited)):
            errors.append(abs(jaccard_estimate(hasher.signature(x), hasher.signature(y)) - exact_jaccard(hasher, x, y)))
    assert np.mean(errors) < 0.04


def test_lsh_flags_near_copies_and_keeps_distinct_documents(shared_data):
    hasher, index = MinHasher(num_perm=64), LshIndex(num_perm=64, bands=16, threshold=0.7)
    docs = _paragraphs(shared_data) + _paragraphs(shared_data, "fra")
    assert all(index.query_add(str(i), hasher.signature(d)) is None for i, d in enumerate(docs))
    near = docs[3] + " This sentence was appended."  # a near copy of document 3
    assert index.query_add("copy", hasher.signature(near)) == "3"
    assert hasher.signature(docs[0]).dtype == np.uint32 and len(hasher.signature(docs[0])) == 64
