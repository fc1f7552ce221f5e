"""The honest mixture audit: the LP estimate of :mod:`operators.report.mixture`, only when the samples can carry
it, with its uncertainty and a verdict.

1. **Enough data?** Every category's sample must hold ``min_bytes`` UTF-8 bytes and ``min_pairs`` distinct
   adjacent symbol pairs; otherwise the verdict is ``not enough data`` and no proportion is given.
2. **Point estimate**: the LP on the whole samples, and its *misfit*: the total slack as a share of the merged
   pairs' total frequency under the estimate. Above ``max_misfit`` the verdict is ``poor fit`` (no point
   estimate): no mixture of these categories explains the merges.
3. **Identifiability**: the least and most each proportion can be among the LP solutions whose objective is
   within ``range_tolerance`` of the optimum (:func:`proportion_ranges`).
4. **Uncertainty**: a block bootstrap — each sample redrawn with replacement in runs of about ``block_bytes`` of
   consecutive lines, the merges re-applied, the LP re-solved — gives each proportion a standard deviation sd.
   Its interval at ``confidence`` is estimate ± z·sd·√(1 + ``train_noise``) (the tokenizer's own training text
   is a sample too), widened to hold the range of step 3 (values the LP cannot rule out), clipped to [0, 1].
5. **Verdict**: ``poor fit`` (step 2); else ``under-determined`` (no point estimate) when a range of step 3 is
   wider than ``max_width``: the merges do not pin that share down, however much data; else ``estimated`` (wide
   intervals say "noisy").

What no interval covers: a sample that is not like the tokenizer's training data of that category (another
kind of code, another register of a language) biases the estimate.
"""

from __future__ import annotations

import itertools
import logging
import statistics
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tokenmill.operators.report.mixture import LpFit, MixtureAuditConfig, Trajectory, fit_lp, lp_rows, merge_trajectories

log = logging.getLogger(__name__)

ESTIMATED = "estimated"
UNDER_DETERMINED = "under-determined"
POOR_FIT = "poor fit"
NOT_ENOUGH_DATA = "not enough data"


@dataclass(frozen=True, slots=True)
class CategorySample:
    """One category's audit sample: word counts per block of consecutive lines (the bootstrap unit) and its size."""

    blocks: list[Counter[str]]
    n_bytes: int

    @classmethod
    def from_texts(cls, texts: Sequence[str], count: Callable[[list[str]], Counter[str]], block_bytes: int = 2048) -> CategorySample:
        """Cut ``texts`` (lines, in order) into runs of about ``block_bytes`` and count each run's words with
        ``count`` (the tokenizer's pre-tokenizer, e.g. :func:`operators.report.mixture.category_sample`)."""
        blocks, run, size, total = [], [], 0, 0
        for t in texts:
            n = len(t.encode("utf-8"))
            run.append(t)
            size += n
            total += n
            if size >= block_bytes:
                blocks.append(count(run))
                run, size = [], 0
        if run:
            blocks.append(count(run))
        return cls(blocks, total)

    @classmethod
    def from_counts(cls, counts: Mapping[str, int]) -> CategorySample:
        """One block of word counts (no bootstrap possible); its size is its symbol count (bytes for byte-level)."""
        return cls([Counter(counts)], sum(len(w) * c for w, c in counts.items()))

    def counts(self, multiplicity: np.ndarray | None = None) -> Counter[str]:
        """The sample's word counts, block ``b`` counted ``multiplicity[b]`` times (default: once)."""
        out: Counter[str] = Counter()
        for b, block in enumerate(self.blocks):
            k = 1 if multiplicity is None else int(multiplicity[b])
            for w, c in block.items():
                out[w] += k * c
        return +out

    def distinct_pairs(self) -> int:
        """Distinct adjacent symbol pairs in the sample before any merge."""
        return len({p for block in self.blocks for w in block for p in itertools.pairwise(w)})


def proportion_ranges(traj: Trajectory, fit: LpFit, relative_tolerance: float) -> dict[str, tuple[float, float]]:
    """The least and most each proportion can be while the LP's objective stays within ``relative_tolerance`` of
    its optimum (Σ v ≤ (1 + tol) · optimum + 1e-9): the LP's solution set, widened for noise. A wide range means
    the merges cannot tell that category's share apart (the mixture is under-determined).

    The constraints are the fit's (the lazily added set), a subset of all: ranges err on the wide side.
    """
    from scipy.optimize import linprog
    from scipy.sparse import vstack

    n, steps = len(traj.categories), len(traj.counts)
    budget = np.concatenate([np.zeros(n), np.ones(steps)])[None]
    a_ub = vstack([lp_rows(traj, fit.active), budget]).tocsr()
    b_ub = np.zeros(a_ub.shape[0])
    b_ub[-1] = fit.objective * (1.0 + relative_tolerance) + 1e-9
    a_eq = np.concatenate([np.ones(n), np.zeros(steps)])[None]
    out = {}
    for i, cat in enumerate(traj.categories):
        ends = []
        for sign in (1.0, -1.0):  # minimize, then maximize α_i
            cost = np.zeros(n + steps)
            cost[i] = sign
            res = linprog(cost, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=[1.0], bounds=[(0, None)] * (n + steps), method="highs")
            ends.append(float(res.x[i]) if res.status == 0 else float(fit.alpha[i]))
        out[cat] = (max(0.0, min(ends[0], float(fit.alpha[i]))), min(1.0, max(ends[1], float(fit.alpha[i]))))
    return out


def violations(traj: Trajectory, fit: LpFit, merges: list[tuple[str, str]], k: int = 5) -> list[dict[str, Any]]:
    """The competitor pairs behind most of the LP's slack: at each step with slack, the pair that beats the merge
    most under the estimate takes that step's slack. ``merged_by_tokenizer`` false for a frequent pair the whole
    merge list never merges hints at a trainer rule the samples cannot show (GPT-2 merges no whitespace runs)."""
    blame: dict[int, list[float]] = {}
    for t, counts in enumerate(traj.counts):
        if fit.slack[t] <= 0 or counts.shape[1] < 2:
            continue
        w = fit.alpha @ counts
        j = 1 + int(np.argmax(w[1:]))
        entry = blame.setdefault(int(traj.cand[t][j]), [0.0, 0.0])
        entry[0] += float(fit.slack[t])
        entry[1] += 1
    merged = set(merges)
    total = sum(v[0] for v in blame.values()) or 1.0
    out = []
    for pid, (slack, steps) in sorted(blame.items(), key=lambda kv: -kv[1][0])[:k]:
        pair = traj.pairs[pid]
        out.append({"pair": list(pair), "slack_share": round(slack / total, 4), "steps": int(steps), "merged_by_tokenizer": pair in merged})
    return out


def check_samples(samples: Mapping[str, CategorySample], config: MixtureAuditConfig) -> tuple[dict[str, dict[str, int]], list[str]]:
    """Each sample's size (bytes, distinct pairs, blocks) and the reasons it is too small (empty: enough)."""
    sizes, reasons = {}, []
    for cat, s in samples.items():
        sizes[cat] = {"bytes": s.n_bytes, "distinct_pairs": s.distinct_pairs(), "blocks": len(s.blocks)}
        if s.n_bytes < config.min_bytes:
            reasons.append(f"{cat}: {s.n_bytes} bytes < min_bytes {config.min_bytes}")
        if sizes[cat]["distinct_pairs"] < config.min_pairs:
            reasons.append(f"{cat}: {sizes[cat]['distinct_pairs']} distinct pairs < min_pairs {config.min_pairs}")
        if config.bootstrap and len(s.blocks) < 2:
            reasons.append(f"{cat}: one block, nothing to bootstrap (give the sample as lines)")
    return sizes, reasons


def bootstrap_estimates(samples: Mapping[str, CategorySample], merges: list[tuple[str, str]], config: MixtureAuditConfig) -> np.ndarray:
    """``config.bootstrap`` × categories proportions, each from samples redrawn block by block (seeded)."""
    rng = np.random.default_rng(config.seed)
    out = []
    for r in range(config.bootstrap):
        redrawn = {cat: s.counts(np.bincount(rng.integers(0, len(s.blocks), len(s.blocks)), minlength=len(s.blocks))) for cat, s in samples.items()}
        out.append(fit_lp(merge_trajectories(redrawn, merges, config.candidate_k), config).alpha)
        log.info("mixture bootstrap %d/%d", r + 1, config.bootstrap)
    return np.array(out)


def audit_mixture(
    samples: Mapping[str, CategorySample | Mapping[str, int]], merges: list[tuple[str, str]], config: MixtureAuditConfig | None = None
) -> dict[str, Any]:
    """Estimate the category proportions a merge list reflects, with intervals and a verdict (module docstring).

    Args:
        samples: category → its sample (:class:`CategorySample`; a plain ``{word: count}`` is one block).
        merges: the tokenizer's ordered merges.
        config: audit options.

    Returns:
        ``{"verdict", "reasons", "sample", "proportions" (None unless estimated), "intervals", "std", "ranges",
        "lp_solution", "misfit", "violations", "objective", "constraints", "rounds", "steps", "bootstrap", "confidence"}``.
    """
    config = config or MixtureAuditConfig()
    if len(samples) < 2:
        raise ValueError("samples: need at least two categories to audit a mixture")
    if not merges:
        raise ValueError("merges: the merge list is empty")
    cats = {c: s if isinstance(s, CategorySample) else CategorySample.from_counts(s) for c, s in samples.items()}
    sizes, reasons = check_samples(cats, config)
    report: dict[str, Any] = {"verdict": NOT_ENOUGH_DATA, "reasons": reasons, "sample": sizes, "proportions": None, "intervals": None}
    report.update(std=None, ranges=None, lp_solution=None, bootstrap=config.bootstrap, confidence=config.confidence)
    if reasons:
        return report
    used = merges[: config.max_merges]
    traj = merge_trajectories({c: s.counts() for c, s in cats.items()}, used, config.candidate_k)
    fit = fit_lp(traj, config)
    names = list(cats)
    point = {c: float(a) for c, a in zip(names, fit.alpha)}
    ranges = proportion_ranges(traj, fit, config.range_tolerance)
    merged_mass = float(sum(fit.alpha @ counts[:, 0] for counts in traj.counts))
    misfit = fit.objective / merged_mass if merged_mass > 0 else float("inf")
    report.update(
        violations=violations(traj, fit, merges),
        misfit=misfit if np.isfinite(misfit) else None,
        lp_solution=point,
        ranges={c: [round(lo, 6), round(hi, 6)] for c, (lo, hi) in ranges.items()},
        objective=fit.objective,
        constraints=len(fit.active),
        rounds=fit.rounds,
        steps=len(used),
    )
    widths = {c: hi - lo for c, (lo, hi) in ranges.items()}
    if config.bootstrap:
        reps = bootstrap_estimates(cats, used, config)
        z = statistics.NormalDist().inv_cdf(0.5 + config.confidence / 2)
        std = reps.std(axis=0, ddof=1)
        half = {c: z * float(sd) * (1.0 + config.train_noise) ** 0.5 for c, sd in zip(names, std)}
        intervals = {c: [max(0.0, min(point[c] - half[c], ranges[c][0])), min(1.0, max(point[c] + half[c], ranges[c][1]))] for c in names}
        report.update(std={c: float(sd) for c, sd in zip(names, std)}, intervals=intervals)
    wide = [c for c in names if widths[c] > config.max_width]
    if misfit > config.max_misfit:
        report["verdict"] = POOR_FIT
        report["reasons"] = [
            f"misfit {misfit:.3f} > max_misfit {config.max_misfit}: no mixture of these categories explains the merges "
            "(a category of the training data is missing, or a sample is unlike its training text)"
        ]
    elif wide:
        report["verdict"] = UNDER_DETERMINED
        report["reasons"] = [f"{c}: the data allow {ranges[c][0]:.3f}..{ranges[c][1]:.3f}" + _interval_note(report, c) for c in wide]
    else:
        report["verdict"] = ESTIMATED
        report["proportions"] = point
    return report


def _interval_note(report: dict[str, Any], cat: str) -> str:
    if report["intervals"] is None:
        return ""
    lo, hi = report["intervals"][cat]
    return f" (bootstrap {report['confidence']:.0%} interval {lo:.3f}..{hi:.3f})"


def format_report(report: dict[str, Any]) -> str:
    """The verdict, then per category: estimate ± interval and range, or why there is none (console text)."""
    lines = [f"verdict: {report['verdict']}"]
    lines += [f"  {r}" for r in report["reasons"]]
    if report["lp_solution"] is None:
        lines += [f"  {c:20s} {v['bytes']:>9d} bytes {v['distinct_pairs']:>7d} pairs" for c, v in report["sample"].items()]
        return "\n".join(lines)
    if report.get("misfit") is not None:
        lines.append(f"  misfit {report['misfit']:.3f} (LP slack / merged pairs' frequency; known mixtures: ~0.1)")
    if report["verdict"] == POOR_FIT:
        for v in report.get("violations", [])[:3]:
            never = "" if v["merged_by_tokenizer"] else "; this tokenizer never merges it"
            lines.append(f"  {v['slack_share']:.0%} of the slack: pair {tuple(v['pair'])!r} beats {v['steps']} merges{never}")
    conf = f"{report['confidence']:.0%}"
    head = "estimate" if report["proportions"] is not None else "LP vertex"
    if report["proportions"] is None:
        lines.append("  (LP vertex: one solution of the LP, not an estimate)")
    lines.append(f"  {'category':20s} {head:>12s}  {conf + ' interval':>17s}  {'range within tolerance':>22s}")
    for c, p in sorted(report["lp_solution"].items(), key=lambda kv: -kv[1]):
        iv = report["intervals"][c] if report["intervals"] else None
        lo, hi = report["ranges"][c]
        ivs = f"[{iv[0]:.3f}, {iv[1]:.3f}]" if iv else "-"
        lines.append(f"  {c:20s} {p:>12.3f}  {ivs:>17s}  {f'[{lo:.3f}, {hi:.3f}]':>22s}")
    return "\n".join(lines)
