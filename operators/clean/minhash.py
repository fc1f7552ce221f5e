"""MinHash signatures and LSH banding for near-duplicate detection (Broder 1997; as in datatrove/NeMo Curator).

A document's signature is the minimum of ``num_perm`` universal hashes over its word 5-gram shingles. Two
documents' signatures agree in a position with probability equal to their shingles' Jaccard similarity, so LSH
with ``bands`` × ``rows`` finds pairs above ~(1/bands)^(1/rows) similarity, and the estimate is then checked
against ``threshold``. Signatures are stored with each cached build partition, so a rebuild compares new documents
with the previous build's documents without recomputing their signatures.
"""

from __future__ import annotations

import hashlib

import numpy as np

_MASK = np.uint64((1 << 61) - 1)


class MinHasher:
    """Signatures of ``num_perm`` 32-bit values over word ``ngram`` shingles (deterministic by ``seed``)."""

    def __init__(self, num_perm: int = 64, ngram: int = 5, seed: int = 1) -> None:
        rng = np.random.default_rng(seed)
        self.a = rng.integers(1, (1 << 61) - 1, size=num_perm, dtype=np.uint64)
        self.b = rng.integers(0, (1 << 61) - 1, size=num_perm, dtype=np.uint64)
        self.ngram = ngram
        self.num_perm = num_perm

    def shingles(self, text: str) -> np.ndarray:
        """64-bit hashes (61 bits used) of the document's word n-grams (the whole text when shorter)."""
        words = text.lower().split()
        grams = {" ".join(words[i : i + self.ngram]) for i in range(max(1, len(words) - self.ngram + 1))}
        return np.fromiter(
            (int.from_bytes(hashlib.blake2b(g.encode(), digest_size=8).digest(), "little") & ((1 << 61) - 1) for g in grams), dtype=np.uint64, count=len(grams)
        )

    def signature(self, text: str) -> np.ndarray:
        """The MinHash signature (uint32[num_perm]) of ``text``."""
        x = self.shingles(text)
        # (a*x + b) mod p, in uint64 with wrap-around: a deterministic universal-style hash per permutation.
        h = (np.outer(x, self.a) + self.b) & _MASK
        return (h.min(axis=0) >> np.uint64(29)).astype(np.uint32)


def jaccard_estimate(s1: np.ndarray, s2: np.ndarray) -> float:
    """Fraction of agreeing signature positions: an unbiased estimate of the shingle Jaccard similarity."""
    return float(np.mean(s1 == s2))


def exact_jaccard(hasher: MinHasher, t1: str, t2: str) -> float:
    """The reference: Jaccard similarity of the two documents' shingle sets."""
    a, b = set(hasher.shingles(t1).tolist()), set(hasher.shingles(t2).tolist())
    return len(a & b) / len(a | b) if a | b else 1.0


class LshIndex:
    """Band the signatures; ``query_add`` returns an earlier document whose estimate is >= threshold, else None."""

    def __init__(self, num_perm: int = 64, bands: int = 16, threshold: float = 0.8) -> None:
        if num_perm % bands:
            raise ValueError(f"bands={bands} must divide num_perm={num_perm}")
        self.rows = num_perm // bands
        self.bands = bands
        self.threshold = threshold
        self.buckets: dict[tuple[int, bytes], int] = {}
        self.signatures: list[np.ndarray] = []
        self.keys: list[str] = []

    def query_add(self, key: str, sig: np.ndarray) -> str | None:
        """Check ``sig`` against the index; add it when it is not a near-duplicate."""
        band_keys = [(b, sig[b * self.rows : (b + 1) * self.rows].tobytes()) for b in range(self.bands)]
        for bk in band_keys:
            j = self.buckets.get(bk)
            if j is not None and jaccard_estimate(sig, self.signatures[j]) >= self.threshold:
                return self.keys[j]
        idx = len(self.signatures)
        self.signatures.append(sig)
        self.keys.append(key)
        for bk in band_keys:
            self.buckets.setdefault(bk, idx)
        return None
