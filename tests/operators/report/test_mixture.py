"""Data-mixture audit (Hayase et al., 2024): incremental pair counts equal a recount, and tokenizers trained on
known mixtures of UDHR languages and code give back their proportions (the LP alone: samples = training text,
no size floor, no bootstrap; the honest audit with held-out samples is in test_mixture_verdict.py)."""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from tokenmill.operators.bpe.reference import apply_merges
from tokenmill.operators.report.fairness import load_parallel
from tokenmill.operators.report.mixture import (
    CategoryPairs,
    MixtureAuditConfig,
    mean_absolute_error,
    merge_trajectories,
)
from tokenmill.operators.report.mixture_verdict import audit_mixture
from tokenmill.operators.tokenize_text import ByteLevelPreTokenizer

from .known_mixtures import train_mixture

LANGS = ("eng", "fra", "deu", "rus", "spa", "arb")
LP_ONLY = MixtureAuditConfig(min_bytes=0, min_pairs=0, bootstrap=0, max_width=1.0, max_misfit=1e9)  # no verdict gates


def _recount(words: Counter, merges: list[tuple[str, str]]) -> Counter:
    """Pair counts after applying ``merges`` (reference: re-segment every word and count from scratch)."""
    out: Counter = Counter()
    for w, c in words.items():
        toks = apply_merges(w, merges)
        for p in itertools.pairwise(toks):
            out[p] += c
    return out


@pytest.fixture(scope="module")
def categories(shared_data) -> tuple[dict, dict]:
    """(train halves, held-out halves) of each category as byte-level word counts."""
    pre = ByteLevelPreTokenizer()
    par = load_parallel([str(shared_data / "text/udhr" / f"{lg}.txt") for lg in LANGS])
    code = [ln for f in sorted((shared_data / "code/flask").rglob("*.py")) for ln in Path(f).read_text().splitlines(keepends=True)]
    texts = {**par, "code": code}
    train = {k: pre.count(v[::2]) for k, v in texts.items()}
    held = {k: pre.count(v[1::2]) for k, v in texts.items()}
    return train, held


def test_category_pairs_known_counts():
    """Pair counts, their order and their normalization, before and after a merge, on a hand-checked sample."""
    pair_ids: dict = {}
    cat = CategoryPairs({"abab": 2, "ab": 1, "ba": 1}, pair_ids)
    assert cat.total == 2 * 4 + 2 + 2
    ab, ba = pair_ids[("a", "b")], pair_ids[("b", "a")]
    assert cat.top_pairs(5).tolist() == [ab, ba]  # ab: 2*2 + 1 = 5, ba: 2*1 + 1 = 3
    assert cat.frequencies(np.array([ab, ba, -1])).tolist() == [5 / 12, 3 / 12, 0.0]
    cat.merge(("a", "b"))  # abab → [ab, ab], ab → [ab]
    abab = pair_ids[("ab", "ab")]
    assert cat.top_pairs(5).tolist() == [abab, ba]  # ab and ba (inside abab) are gone; (ab, ab) occurs twice
    assert cat.frequencies(np.array([ab, abab])).tolist() == [0.0, 2 / 12]
    other = CategoryPairs({"xy": 1}, pair_ids)  # a second category numbers pairs on the same ids
    assert other.frequencies(np.array([ab, pair_ids[("x", "y")]])).tolist() == [0.0, 1 / 2]


def test_trajectory_counts_equal_recount(categories):
    train, _ = categories
    samples = {k: Counter(dict(list(train[k].items())[:300])) for k in ("eng", "rus")}
    merges = train_mixture(samples, {"eng": 0.5, "rus": 0.5}, 320)
    traj = merge_trajectories(samples, merges, candidate_k=10)
    totals = {k: sum(len(w) * c for w, c in v.items()) for k, v in samples.items()}
    for t in (0, 5, 30, len(merges) - 1):
        for ci, cat in enumerate(traj.categories):
            ref = _recount(samples[cat], merges[:t])
            assert traj.counts[t][ci, 0] == pytest.approx(ref[merges[t]] / totals[cat])
            top = max(ref.values())
            assert traj.counts[t][ci].max() == pytest.approx(top / totals[cat])


def _mixtures(seed: int = 0):
    rng = np.random.default_rng(seed)
    names = [*LANGS, "code"]
    for k in (3, 4, 5, 3, 5, 4):
        cats = [str(c) for c in rng.choice(names, k, replace=False)]
        yield dict(zip(cats, rng.dirichlet(np.ones(k)).tolist()))


def test_recovers_known_mixtures(categories):
    """Samples drawn from the same text the tokenizer was trained on: the LP is exact up to rounding."""
    train, _ = categories
    errors = []
    for alpha in _mixtures():
        merges = train_mixture(train, alpha, 700)
        est = audit_mixture({c: train[c] for c in alpha}, merges, LP_ONLY)
        assert sum(est["proportions"].values()) == pytest.approx(1.0)
        errors.append(mean_absolute_error(est["proportions"], alpha))
        for c, (lo, hi) in est["ranges"].items():  # exact data: the LP's solution set is a point, up to rounding
            assert hi - lo < 0.05 and lo - 1e-6 <= est["proportions"][c] <= hi + 1e-6
    assert np.mean(errors) <= 0.02, errors


def test_held_out_samples_are_close(categories):
    """Audit samples disjoint from the training text (other UDHR articles / other code lines): noisier, since a
    UDHR half is only ~6 KB, but still close."""
    train, held = categories
    errors = []
    for alpha in list(_mixtures(1))[:5]:
        merges = train_mixture(train, alpha, 700)
        est = audit_mixture({c: held[c] for c in alpha}, merges, LP_ONLY)
        errors.append(mean_absolute_error(est["proportions"], alpha))
    assert np.mean(errors) <= 0.08, errors


def test_validation():
    with pytest.raises(ValueError, match="candidate_k"):
        MixtureAuditConfig(initial_k=5, candidate_k=2)
    with pytest.raises(ValueError, match="bootstrap"):
        MixtureAuditConfig(bootstrap=1)
    with pytest.raises(ValueError, match="confidence"):
        MixtureAuditConfig(confidence=1.0)
    with pytest.raises(ValueError, match="samples"):
        audit_mixture({"a": Counter({"ab": 2})}, [("a", "b")])
