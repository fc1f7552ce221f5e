"""Data-mixture audit of a BPE merge list (Hayase et al., 2024, "Data mixture inference: what do BPE tokenizers
reveal about their training data?").

A BPE trainer merges, at every step t, the pair with the highest count in its training data. If that data is a
mixture of categories (languages, code, ...) with byte proportions α, the count of a pair is
Σ_i α_i · c_i(t, p) where c_i is its count in category i's sample, *after the first t merges were applied to
that sample* (normalized by the sample's size). So the chosen pair m_t satisfies, for every other pair p,

    Σ_i α_i (c_i(t, m_t) − c_i(t, p)) + v_t ≥ 0,   v_t ≥ 0,   α ≥ 0,   Σ α = 1

and the α minimizing Σ v_t (slack for sampling noise) estimates the mixture — a linear program (scipy HiGHS).
Constraints are added lazily: at first only the top ``initial_k`` competitors of each category at each step;
after each solve, every candidate pair (the top ``candidate_k`` of any category at that step) that beats the
merge under the current α is added, until none does.

:func:`merge_trajectories` applies the merges to every category sample incrementally (:class:`CategoryPairs`: pair
counts updated only in the words a merge touches) and records the counts the LP needs. The audit users run — a
sample-size floor, bootstrap intervals, the range of each share and a verdict — is
:func:`operators.report.mixture_verdict.audit_mixture`.
"""

from __future__ import annotations

import glob
import itertools
import logging
import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tokenmill.operators.bpe.reference import merge_pair

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True, slots=True)
class MixtureAuditConfig:
    """How to audit a merge list."""

    max_merges: int = 300
    """Use the first this many merges. The earliest carry the most signal and the least of the tokenizer's own
    training text: on samples of other text (benchmarks/mixture_audit.py) 300 met every target, 600 let a 0 %
    category reach 0.022, 1000-2000 drift further (code's share falls as its training-file-specific merges join)."""
    initial_k: int = 3
    """Competitors per category and step in the first LP."""
    candidate_k: int = 50
    """Pairs per category and step checked for violations (the candidate pool)."""
    max_rounds: int = 20
    """Most lazy re-solves."""
    tolerance: float = 1e-9
    """A constraint counts as violated when it fails by more than this (in normalized counts)."""
    min_bytes: int = 32768
    """Refuse to estimate ("not enough data") when a category's sample holds fewer UTF-8 bytes than this."""
    min_pairs: int = 150
    """... or fewer distinct adjacent symbol pairs (before any merge) than this."""
    bootstrap: int = 20
    """Bootstrap replicates (samples redrawn block by block, merges re-applied, LP re-solved) behind each
    interval; 0: no intervals."""
    block_bytes: int = 2048
    """Bootstrap unit: runs of consecutive sample lines of about this many bytes (keeps neighbouring lines,
    which are not independent, together)."""
    confidence: float = 0.95
    """Coverage of the intervals (estimate ± z · bootstrap standard deviation, clipped to [0, 1])."""
    seed: int = 0
    """Seed of the bootstrap draws."""
    train_noise: float = 1.0
    """How much noise the tokenizer's own training text adds, as a share of the audit sample's variance: 1 (the
    default, cautious): as much as the sample's (a training set no bigger than the sample, as in the known-mixture
    validation); 0: none (a training set far larger than the sample). Intervals are ± z · sd · √(1 + this)."""
    range_tolerance: float = 0.05
    """Identifiability: each proportion's range over the LP solutions whose objective is within this share of
    the optimum."""
    max_width: float = 0.2
    """Verdict "under-determined" when any proportion's range (``range_tolerance``) is wider than this."""
    max_misfit: float = 0.3
    """Verdict "poor fit" when the LP's total slack exceeds this share of the merged pairs' total frequency under
    the estimate: no mixture of these categories explains the merges (a category is missing, or a sample is unlike
    the training text). Held-out known mixtures: 0.09-0.14; one category left out: 0.59; GPT-2 vs UDHR + code: > 3."""

    def __post_init__(self) -> None:
        for name in ("max_merges", "initial_k", "candidate_k", "max_rounds", "block_bytes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be >= 1")
        if self.candidate_k < self.initial_k:
            raise ValueError("candidate_k: must be >= initial_k")
        for name in ("min_bytes", "min_pairs", "bootstrap"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}: must be >= 0")
        if self.bootstrap == 1:
            raise ValueError("bootstrap: 0 (no intervals) or at least 2 replicates")
        if not 0.0 < self.confidence < 1.0:
            raise ValueError(f"confidence: must be in (0, 1), got {self.confidence}")
        if self.train_noise < 0:
            raise ValueError("train_noise: must be >= 0")
        if self.max_misfit <= 0:
            raise ValueError("max_misfit: must be > 0")
        if self.range_tolerance < 0 or not 0.0 < self.max_width <= 1.0:
            raise ValueError("range_tolerance: must be >= 0; max_width: in (0, 1]")


@dataclass(frozen=True, slots=True)
class Trajectory:
    """Per step t: the candidate pair ids (``cand[t]``, merge first) and their normalized counts per category
    (``counts[t]``: categories × candidates)."""

    categories: list[str]
    cand: list[np.ndarray]
    counts: list[np.ndarray]
    top_rank: list[np.ndarray]
    """Per step, per candidate: its best rank in any category (for the initial constraint set)."""
    pairs: list[tuple[str, str]] = field(default_factory=list)
    """Pair id → pair (the ids in ``cand``)."""


class CategoryPairs:
    """One category's words as token lists, with their pair counts and the words each pair occurs in.

    Categories built on the same ``pair_ids`` dict number pairs alike, so their counts line up by id.

    Args:
        words: {pre-tokenized word (in the tokenizer's symbols): count}.
        pair_ids: pair → id, shared by the categories compared (new pairs are added to it).
        capacity: initial size of the count array (it grows as pairs appear).
    """

    def __init__(self, words: Mapping[str, int], pair_ids: dict[tuple[str, str], int], capacity: int = 1 << 12) -> None:
        self._words = [list(w) for w in words]
        self._wcount = list(words.values())
        self.total = float(sum(len(w) * c for w, c in words.items())) or 1.0
        """Symbols in the sample before any merge (normalizes the counts)."""
        self._counts = np.zeros(capacity, np.float64)
        self._where: dict[int, set[int]] = {}
        self._pair_ids = pair_ids
        for i, toks in enumerate(self._words):
            self._add(i, toks, 1)

    def top_pairs(self, k: int) -> np.ndarray:
        """Ids of this category's (at most) ``k`` most frequent pairs now, most frequent first (ties: lower id first),
        among every pair id known to any category; pairs that no longer occur are left out."""
        n = len(self._pair_ids)
        self._reserve(n)
        counts = self._counts[:n]
        k = min(k, n)
        top = np.argpartition(-counts, k - 1)[:k] if n > k else np.arange(n)
        top = top[np.argsort(-counts[top], kind="stable")]
        return top[counts[top] > 0]

    def frequencies(self, ids: np.ndarray) -> np.ndarray:
        """Counts of the pairs ``ids`` now, divided by :attr:`total`; 0 for an id of -1 (a pair never seen)."""
        self._reserve(len(self._pair_ids))
        out = np.zeros(len(ids))
        valid = ids >= 0
        out[valid] = self._counts[ids[valid]] / self.total
        return out

    def merge(self, pair: tuple[str, str]) -> None:
        """Apply one merge to every word holding ``pair`` (left to right, without overlap, as the trainer)."""
        pid = self._pair_ids.get(pair)
        if pid is None or pid >= len(self._counts) or self._counts[pid] <= 0:
            return
        left, right = pair
        new = left + right
        for i in list(self._where.get(pid, ())):
            toks = self._words[i]
            self._add(i, toks, -1)
            out = merge_pair(toks, pair, new)
            self._words[i] = out
            self._add(i, out, 1)

    def _reserve(self, n: int) -> None:
        if len(self._counts) < n:
            self._counts = np.concatenate([self._counts, np.zeros(n - len(self._counts) + 1024)])

    def _pid(self, pair: tuple[str, str]) -> int:
        pid = self._pair_ids.get(pair)
        if pid is None:
            pid = self._pair_ids[pair] = len(self._pair_ids)
        if pid >= len(self._counts):
            self._counts = np.concatenate([self._counts, np.zeros(len(self._counts) + pid + 1, np.float64)])
        return pid

    def _add(self, i: int, toks: list[str], sign: int) -> None:
        c = self._wcount[i] * sign
        for pair in itertools.pairwise(toks):
            pid = self._pid(pair)
            self._counts[pid] += c
            if sign > 0:
                self._where.setdefault(pid, set()).add(i)


def merge_trajectories(samples: Mapping[str, Mapping[str, int]], merges: list[tuple[str, str]], candidate_k: int = 50) -> Trajectory:
    """Apply ``merges`` to every category's word counts and record the LP's counts at each step.

    Args:
        samples: category → {pre-tokenized word (in the tokenizer's symbols): count}.
        merges: the ordered merge list.
        candidate_k: pairs per category and step kept as candidates.
    """
    pair_ids: dict[tuple[str, str], int] = {}
    cats = [CategoryPairs(words, pair_ids) for words in samples.values()]
    cand, counts, ranks = [], [], []
    for left, right in merges:
        mid = pair_ids.get((left, right))
        best_rank: dict[int, int] = {}
        for c in cats:
            for r, pid in enumerate(c.top_pairs(candidate_k).tolist()):
                if pid != mid:
                    best_rank[pid] = min(best_rank.get(pid, r), r)
        ids = np.array([-1 if mid is None else mid, *best_rank], np.int64)
        cand.append(ids)
        counts.append(np.array([c.frequencies(ids) for c in cats]).reshape(len(cats), len(ids)))
        ranks.append(np.array([0, *best_rank.values()], np.int64))
        for c in cats:
            c.merge((left, right))
    pairs = [("", "")] * len(pair_ids)
    for pair, pid in pair_ids.items():
        pairs[pid] = pair
    return Trajectory(list(samples), cand, counts, ranks, pairs)


@dataclass(frozen=True, slots=True)
class LpFit:
    """One solve of the mixture LP: the proportions, the per-step slack, Σ slack and the constraints it kept."""

    alpha: np.ndarray
    slack: np.ndarray
    objective: float
    active: list[tuple[int, int]]
    rounds: int


def lp_rows(traj: Trajectory, active: list[tuple[int, int]]) -> Any:
    """The ``Σ α (c_p − c_m) − v_t ≤ 0`` rows of ``active`` as a sparse matrix over (α, v)."""
    from scipy.sparse import coo_matrix

    n, steps = len(traj.categories), len(traj.counts)
    rows, cols, vals = [], [], []
    for r, (t, j) in enumerate(active):
        diff = traj.counts[t][:, j] - traj.counts[t][:, 0]
        for i in range(n):
            if diff[i] != 0:
                rows.append(r)
                cols.append(i)
                vals.append(diff[i])
        rows.append(r)
        cols.append(n + t)
        vals.append(-1.0)
    return coo_matrix((vals, (rows, cols)), shape=(max(len(active), 1), n + steps)).tocsr()


def fit_lp(traj: Trajectory, config: MixtureAuditConfig | None = None) -> LpFit:
    """Solve the LP with lazily added constraints (see the module docstring)."""
    from scipy.optimize import linprog

    config = config or MixtureAuditConfig()
    n, steps = len(traj.categories), len(traj.counts)
    active: list[tuple[int, int]] = [(t, j) for t in range(steps) for j in range(1, traj.counts[t].shape[1]) if traj.top_rank[t][j] < config.initial_k]
    seen = set(active)
    alpha, slack, objective = np.full(n, 1.0 / n), np.zeros(steps), float("nan")
    rounds = 0
    cost = np.concatenate([np.zeros(n), np.ones(steps)])
    a_eq = np.concatenate([np.ones(n), np.zeros(steps)])[None]
    while rounds < config.max_rounds:
        rounds += 1
        a_ub = lp_rows(traj, active)
        res = linprog(cost, A_ub=a_ub, b_ub=np.zeros(a_ub.shape[0]), A_eq=a_eq, b_eq=[1.0], bounds=[(0, None)] * (n + steps), method="highs")
        if res.status != 0:
            raise RuntimeError(f"mixture LP failed: {res.message}")
        alpha, slack, objective = res.x[:n], res.x[n:], float(res.fun)
        added = 0
        for t in range(steps):
            w = alpha @ traj.counts[t]
            for j in (np.nonzero(w[1:] > w[0] + slack[t] + config.tolerance)[0] + 1).tolist():
                if (t, j) not in seen:
                    seen.add((t, j))
                    active.append((t, j))
                    added += 1
        log.info("mixture LP round %d: %d constraints, objective %.3g, %d violated added", rounds, len(active), objective, added)
        if not added:
            break
    return LpFit(alpha, slack, objective, active, rounds)


def solve_mixture(traj: Trajectory, config: MixtureAuditConfig | None = None) -> dict[str, Any]:
    """Solve the LP; returns ``{"proportions", "objective", "constraints", "rounds", "steps"}``."""
    fit = fit_lp(traj, config)
    return {
        "proportions": dict(zip(traj.categories, (float(a) for a in fit.alpha))),
        "objective": fit.objective,
        "constraints": len(fit.active),
        "rounds": fit.rounds,
        "steps": len(traj.counts),
    }


def mean_absolute_error(estimated: Mapping[str, float], truth: Mapping[str, float]) -> float:
    """Mean over categories of |estimated − true| proportion."""
    return float(np.mean([abs(estimated.get(k, 0.0) - v) for k, v in truth.items()]))


def word_counts(pieces_per_text: list[list[str]]) -> Counter[str]:
    """Count pre-tokenized pieces (already in the tokenizer's symbols)."""
    out: Counter[str] = Counter()
    for pieces in pieces_per_text:
        out.update(pieces)
    return out


def load_merges_and_pretokenizer(path: str) -> tuple[list[tuple[str, str]], Any]:
    """The ordered merges of a BPE tokenizer (tokenizer.json or GPT-2 folder) and its ``tokenizers.Tokenizer``."""
    import json

    from tokenmill.operators.encode.locate import locate_tokenizer, open_hf_tokenizer

    located = locate_tokenizer(path)
    if located.kind == "sentencepiece":
        raise ValueError(f"tokenizer: {path} is a sentencepiece model; the audit needs a BPE merge list")
    tok = open_hf_tokenizer(located)
    model = json.loads(tok.to_str())["model"]
    if model.get("type") != "BPE":
        raise ValueError(f"tokenizer: {path} is a {model.get('type')} model; the audit needs BPE merges")
    return [_merge_pair(m) for m in model["merges"]], tok


def _merge_pair(merge: Any) -> tuple[str, str]:
    """A tokenizer.json merge, ``"left right"`` (older files) or ``["left", "right"]``, as a pair."""
    left, right = merge.split(" ", 1) if isinstance(merge, str) else merge
    return left, right


def read_category(pattern: str, max_bytes: int) -> list[str]:
    """Lines (with their newlines) of the files matching ``pattern`` (recursive glob, sorted), up to ``max_bytes``."""
    files = sorted(f for f in glob.glob(pattern, recursive=True) if os.path.isfile(f))
    lines: list[str] = []
    size = 0
    for f in files:
        for line in Path(f).read_text(encoding="utf-8", errors="replace").splitlines(keepends=True):
            if size >= max_bytes:
                return lines
            lines.append(line)
            size += len(line.encode("utf-8"))
    return lines


def category_sample(tok: Any, texts: list[str]) -> Counter[str]:
    """Word counts of ``texts`` as the tokenizer's pre-tokenizer cuts them (byte-level symbols for GPT-2 style)."""
    if tok.pre_tokenizer is None:
        return Counter(texts)
    return word_counts([[p for p, _ in tok.pre_tokenizer.pre_tokenize_str(t)] for t in texts])
