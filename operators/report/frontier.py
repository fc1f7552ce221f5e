"""The fairness/compression frontier of parity-aware training: the sweep rows ``benchmarks/multilingual.py
--frontier-out`` writes (one per build and corpus: share of global merges, held-out max / median / p90 premium,
English bytes/token ÷ the plain build's), read back and drawn for the fairness report."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tokenmill.operators.core.atomic import atomic_path

FRONTIER_BENCHES = ("fairness_frontier", "fairness_udhr_heldout")


def load_frontier(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The rows of a sweep written by ``benchmarks/multilingual.py --frontier-out`` (JSON lines; one per build and
    corpus, with ``global_merges``, ``max_premium``, ``median_premium``, ``p90_premium``, ``eng_vs_plain``, ...)."""
    rows = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = [r for r in rows if r.get("bench") in FRONTIER_BENCHES]
    need = ("corpus", "tokenizer", "global_merges", "max_premium", "median_premium", "p90_premium", "eng_vs_plain", "bytes_per_token")
    for r in rows:
        missing = [k for k in need if k not in r]
        if missing:
            raise ValueError(f"{path}: a row lacks {missing}; write it with benchmarks/multilingual.py --frontier-out")
    if not rows:
        raise ValueError(f"{path}: no fairness_frontier rows; write it with benchmarks/multilingual.py --frontier-out")
    return rows


def setting_label(row: dict[str, Any]) -> str:
    """A frontier point's label: its setting, ``cap 1.9`` (with ``+ref`` when English counts in the global merges,
    ``floor 0.9``) for a premium cap, else the fixed share of global merges (``0.5``)."""
    cap = row.get("premium_cap")
    if cap:
        ref = "+ref" if row.get("reference_in_global") else ""
        floor = f" floor {row['global_floor']:g}" if row.get("global_floor") else ""
        return f"cap {cap:g}{ref}{floor}"
    return f"{row['global_merges']:g}"


def write_frontier_chart(rows: list[dict[str, Any]], out: Path) -> str:
    """Draw ``frontier.png``: per corpus (and fold, when the sweep ran on both: ``fold`` A / B), English
    bytes/token (÷ the plain build's) against the max and median premium of each parity-aware setting (labelled
    with its setting: the fixed share of global merges, or ``cap 1.9`` for a premium cap, whose final share of
    global merges is an outcome, not the setting), the non-parity builds as crosses, and the targets (English >=
    0.9x, max <= 2.5, median <= 1.2) as dashed lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = sorted({(r["corpus"], r.get("fold") or "") for r in rows})
    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 4.5), squeeze=False)
    for ax, (corpus, fold) in zip(axes[0], panels):
        sweep: dict[str, list[dict[str, Any]]] = {}
        for r in rows:
            if r["corpus"] == corpus and (r.get("fold") or "") == fold and r["bench"] == "fairness_frontier":
                sweep.setdefault(r.get("global_schedule") or "", []).append(r)
        for schedule, pts in sorted(sweep.items()):
            pts.sort(key=lambda r: (r.get("premium_cap") or 0.0, r["global_merges"]))
            x = [r["eng_vs_plain"] for r in pts]
            for metric, style in (("max_premium", "o-"), ("median_premium", "s--")):
                ax.plot(x, [r[metric] for r in pts], style, label=f"{metric.split('_')[0]} ({schedule})")
            for r in pts:
                ax.annotate(setting_label(r), (r["eng_vs_plain"], r["max_premium"]), textcoords="offset points", xytext=(4, 4), fontsize=8)
        for r in rows:
            if r["corpus"] == corpus and (r.get("fold") or "") == fold and r["bench"] != "fairness_frontier":
                ax.plot([r["eng_vs_plain"]], [r["max_premium"]], "kx")
                ax.annotate(
                    r["tokenizer"].removeprefix("tokenmill-"), (r["eng_vs_plain"], r["max_premium"]), textcoords="offset points", xytext=(4, -10), fontsize=8
                )
        ax.axvline(0.9, color="grey", lw=0.8, ls=":")
        ax.axhline(2.5, color="grey", lw=0.8, ls=":")
        ax.axhline(1.2, color="grey", lw=0.8, ls=":")
        ax.set(
            xlabel="English bytes/token ÷ plain build's",
            ylabel="premium vs eng (held-out)",
            title=f"Fairness / compression frontier ({corpus}{', fold ' + fold if fold else ''})",
        )
        ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(out / "frontier.png") as tmp:  # the temporary name does not end in .png: say the format
        fig.savefig(tmp, dpi=100, bbox_inches="tight", format="png")
    plt.close(fig)
    return "frontier.png"
