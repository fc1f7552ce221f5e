"""Tokenizer fairness on a parallel corpus (Petrov et al., 2023): per-language premiums, side by side.

The corpus is parallel (UDHR: the same declaration in every file), so the number of tokens a tokenizer needs
for one language relative to English — the *premium* — measures how much more a speaker of that language pays
per unit of content. Per language and tokenizer: tokens, bytes/token, chars/token, premium, fertility (tokens
per whitespace word, only where the script separates words with spaces) and the unknown-token rate; per
script: aggregates; per tokenizer: max / median / p90 premium. Written as ``fairness.json`` (format
``tokenmill fairness v1``), PNG charts and ``fairness.html``.

Tokenizers are anything :func:`operators.encode.load_engine` loads (HF tokenizer.json, GPT-2 encoder.json +
vocab.bpe, sentencepiece .model), so ours and the real GPT-2, Mistral and BERT are scored the same way.
"""

from __future__ import annotations

import glob as globlib
import html
import json
import logging
import os
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tokenmill.operators.clean.text_normalize import dominant_script
from tokenmill.operators.core.atomic import atomic_path, write_text_atomic
from tokenmill.operators.encode import load_engine
from tokenmill.operators.io.decode import lang_from_filename
from tokenmill.operators.report.frontier import write_frontier_chart

log = logging.getLogger(__name__)

FORMAT = "tokenmill fairness v1"
# Scripts whose writing does not put spaces between words: fertility (tokens per whitespace word) means nothing.
UNSPACED_SCRIPTS = frozenset({"Han", "Japanese", "Hiragana", "Katakana", "Thai", "Lao", "Khmer", "Myanmar", "Tibetan", "Yi", "Javanese", "Balinese"})
# A "word" this long on average is a sentence without spaces (a script we did not list), not a word.
MAX_MEAN_WORD_CHARS = 20.0


@dataclass(frozen=True, kw_only=True, slots=True)
class FairnessConfig:
    """How to score tokenizers on a parallel corpus."""

    reference_lang: str = "eng"
    """Language every premium is relative to (tokens(lang) / tokens(reference_lang))."""
    charts: bool = True
    """Draw the PNG charts (matplotlib, Agg backend)."""
    batch_lines: int = 256
    """Lines per encode call."""
    min_line_ratio: float = 0.5
    """A language with fewer non-blank lines than this share of the reference's is a partial translation (UDHR's
    dzo, chr, pbu, taj hold 1-3 lines): reported with ``partial: true`` but left out of the summary premiums."""

    def __post_init__(self) -> None:
        if not self.reference_lang:
            raise ValueError("reference_lang: must be a language code such as 'eng'")
        if not 0.0 <= self.min_line_ratio <= 1.0:
            raise ValueError(f"min_line_ratio: must be in [0, 1], got {self.min_line_ratio}")
        if self.batch_lines < 1:
            raise ValueError(f"batch_lines: must be >= 1, got {self.batch_lines}")


def load_parallel(patterns: str | list[str]) -> dict[str, list[str]]:
    """Read a parallel corpus: ``lang -> non-blank lines`` (stripped), from files named ``<lang>[_variant].txt``.

    The language comes from the file name by the same rule as ingest's ``lang_from: filename``
    (:func:`operators.io.decode.lang_from_filename`); a file whose name holds no language code (UDHR's
    ``007.txt``) is skipped with a warning naming it. When several files share a language (``aka_asante``,
    ``aka_fante``) the first in sorted order is used, so every language is one version of the text.

    Raises:
        ValueError: no file matches.
    """
    files = sorted({f for p in ([patterns] if isinstance(patterns, str) else patterns) for f in globlib.glob(p)})
    if not files:
        raise ValueError(f"parallel: no file matches {patterns!r}")
    out: dict[str, list[str]] = {}
    unnamed = [f for f in files if lang_from_filename(Path(f).as_posix()) is None]
    if unnamed:
        log.warning("parallel: skipping %d files whose names hold no language code: %s", len(unnamed), ", ".join(Path(f).name for f in unnamed))
    for f in files:
        lang = lang_from_filename(Path(f).as_posix())
        if lang is None or lang in out:
            continue
        lines = [ln.strip() for ln in Path(f).read_text(encoding="utf-8", errors="replace").splitlines()]
        lines = [ln for ln in lines if ln]
        if lines:
            out[lang] = lines
    return out


def _unk_id(engine: Any) -> int | None:
    """The engine's unknown-token id, or None when it has none (byte-level BPE never needs one)."""
    return engine.unk_id


def score_languages(
    encode: Callable[[list[str]], list[list[int]]],
    parallel: dict[str, list[str]],
    *,
    unk_id: int | None = None,
    reference_lang: str = "eng",
    batch_lines: int = 256,
    scripts: dict[str, str | None] | None = None,
    min_line_ratio: float = 0.0,
) -> dict[str, Any]:
    """Score one tokenizer (``encode``: lines → token ids) on ``parallel``; see the module docstring.

    Languages with fewer lines than ``min_line_ratio`` × the reference's are marked ``partial`` and left out of
    the summary (max / median / p90 premium, per-script aggregates).
    """
    if reference_lang not in parallel:
        raise ValueError(f"reference_lang: {reference_lang!r} is not among the parallel languages")
    per: dict[str, dict[str, Any]] = {}
    for lang, lines in parallel.items():
        n_tok = n_unk = 0
        for i in range(0, len(lines), batch_lines):
            for ids in encode(lines[i : i + batch_lines]):
                n_tok += len(ids)
                if unk_id is not None:
                    n_unk += sum(1 for t in ids if t == unk_id)
        text = "\n".join(lines)
        n_bytes, n_chars = len(text.encode("utf-8")) - (len(lines) - 1), len(text) - (len(lines) - 1)
        n_words = sum(len(ln.split()) for ln in lines)
        script = scripts.get(lang) if scripts is not None else dominant_script(text)
        spaced = script not in UNSPACED_SCRIPTS and n_words > 0 and n_chars / n_words <= MAX_MEAN_WORD_CHARS
        per[lang] = {
            "script": script,
            "lines": len(lines),
            "bytes": n_bytes,
            "chars": n_chars,
            "words": n_words,
            "tokens": n_tok,
            "bytes_per_token": n_bytes / n_tok if n_tok else None,
            "chars_per_token": n_chars / n_tok if n_tok else None,
            "fertility": n_tok / n_words if spaced else None,
            "unk_rate": n_unk / n_tok if n_tok else 0.0,
        }
    ref_tokens, ref_lines = per[reference_lang]["tokens"], per[reference_lang]["lines"]
    for row in per.values():
        row["premium"] = row["tokens"] / ref_tokens if ref_tokens else None
        row["partial"] = row["lines"] < min_line_ratio * ref_lines
    full = {k: r for k, r in per.items() if not r["partial"] and r["premium"] is not None}
    premiums = [r["premium"] for r in full.values()]
    worst = max(full, key=lambda k: full[k]["premium"])
    total_tok = sum(r["tokens"] for r in full.values())
    return {
        "max_premium": max(premiums),
        "median_premium": statistics.median(premiums),
        "p90_premium": _quantile(premiums, 0.9),
        "mean_premium": statistics.fmean(premiums),
        "worst_language": worst,
        "languages": len(full),
        "partial_languages": sorted(set(per) - set(full)),
        "bytes_per_token": sum(r["bytes"] for r in full.values()) / total_tok if total_tok else None,
        "unk_rate": sum(r["unk_rate"] * r["tokens"] for r in full.values()) / total_tok if total_tok else 0.0,
        "per_script": _per_script(full),
        "per_language": per,
    }


def _quantile(values: list[float], q: float) -> float:
    """Linear-interpolation quantile (numpy's default), without numpy."""
    xs = sorted(values)
    pos = q * (len(xs) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def _per_script(per: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in per.values():
        groups.setdefault(row["script"] or "none", []).append(row)
    out = {}
    for script, rows in sorted(groups.items()):
        prem = [r["premium"] for r in rows]
        tok = sum(r["tokens"] for r in rows)
        out[script] = {
            "languages": len(rows),
            "median_premium": statistics.median(prem),
            "max_premium": max(prem),
            "mean_premium": statistics.fmean(prem),
            "bytes_per_token": sum(r["bytes"] for r in rows) / tok if tok else None,
            "unk_rate": sum(r["unk_rate"] * r["tokens"] for r in rows) / tok if tok else 0.0,
        }
    return out


def fairness_report(
    tokenizers: dict[str, str],
    parallel: dict[str, list[str]],
    output: str | os.PathLike,
    config: FairnessConfig | None = None,
    *,
    corpus: str = "",
    frontier: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Score every tokenizer (``name -> path``) on ``parallel`` and write ``output/fairness.json``, charts, HTML.

    ``frontier``: rows of a fairness/compression sweep (:func:`operators.report.frontier.load_frontier`), kept in the report as
    ``"frontier"`` and drawn as ``frontier.png`` (English bytes/token vs premium, one point per setting).

    Returns:
        The report written to ``fairness.json``: ``{"format", "corpus", "reference_lang", "tokenizers":
        {name: {"max_premium", "median_premium", "p90_premium", ..., "per_script", "per_language"}}}``.
    """
    config = config or FairnessConfig()
    if not tokenizers:
        raise ValueError("tokenizers: pass at least one NAME=PATH")
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    scripts = {lang: dominant_script("\n".join(lines)) for lang, lines in parallel.items()}
    report: dict[str, Any] = {"format": FORMAT, "corpus": corpus, "reference_lang": config.reference_lang, "tokenizers": {}}
    for name, path in tokenizers.items():
        engine = load_engine(str(path))
        scores = score_languages(
            engine.encode_batch,
            parallel,
            unk_id=_unk_id(engine),
            reference_lang=config.reference_lang,
            batch_lines=config.batch_lines,
            scripts=scripts,
            min_line_ratio=config.min_line_ratio,
        )
        report["tokenizers"][name] = {"path": str(path), "kind": engine.kind, "vocab_size": engine.vocab_size, "sha256": engine.sha256, **scores}
        log.info("fairness %s: max premium %.2f (%s), median %.2f", name, scores["max_premium"], scores["worst_language"], scores["median_premium"])
    if frontier:
        report["frontier"] = frontier
    charts = write_charts(report, out) if config.charts else []
    if frontier and config.charts:
        charts.append(write_frontier_chart(frontier, out))
    write_text_atomic(out / "fairness.json", json.dumps(report, indent=1, ensure_ascii=False))
    write_text_atomic(out / "fairness.html", write_html(report, charts))
    return report


def load_fairness(path: str | os.PathLike) -> dict[str, Any]:
    """Read a ``fairness.json`` and check its format."""
    report = json.loads(Path(path).read_text(encoding="utf-8"))
    if report.get("format") != FORMAT:
        raise ValueError(f"{path}: format {report.get('format')!r} is not {FORMAT!r}")
    return report


def summary_table(report: dict[str, Any]) -> str:
    """A plain-text table: tokenizer, vocab, max (language), median, p90 premium, bytes/token, unk rate."""
    rows = [("tokenizer", "vocab", "max_premium", "worst", "median", "p90", "bytes/tok", "unk")]
    for name, t in report["tokenizers"].items():
        rows.append(
            (
                name,
                str(t["vocab_size"]),
                f"{t['max_premium']:.2f}",
                t["worst_language"],
                f"{t['median_premium']:.2f}",
                f"{t['p90_premium']:.2f}",
                f"{t['bytes_per_token']:.2f}",
                f"{t['unk_rate']:.4f}",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows)


def write_charts(report: dict[str, Any], out: Path) -> list[str]:
    """Draw ``premium_sorted.png`` (each tokenizer's premiums, sorted) and ``premium_by_script.png``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    toks = report["tokenizers"]
    fig, ax = plt.subplots(figsize=(9, 4.5))
    for name, t in toks.items():
        ax.plot(sorted(r["premium"] for r in t["per_language"].values() if not r["partial"]), label=name)
    ax.axhline(1.0, color="grey", lw=0.8, ls="--")
    ax.set(
        xlabel="languages, sorted by premium",
        ylabel=f"premium vs {report['reference_lang']}",
        yscale="log",
        title="Tokenization premium per language (parallel UDHR)",
    )
    ax.legend()
    _save_png(fig, out / "premium_sorted.png")
    plt.close(fig)

    scripts = sorted(
        {s for t in toks.values() for s in t["per_script"]}, key=lambda s: -max(t["per_script"].get(s, {}).get("median_premium", 0) for t in toks.values())
    )
    fig, ax = plt.subplots(figsize=(max(9, 0.45 * len(scripts) * max(len(toks), 1) / 2), 4.5))
    width = 0.8 / max(len(toks), 1)
    for k, (name, t) in enumerate(toks.items()):
        ax.bar([i + k * width for i in range(len(scripts))], [t["per_script"].get(s, {}).get("median_premium", 0) for s in scripts], width, label=name)
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(scripts))], scripts, rotation=60, ha="right", fontsize=8)
    ax.set(ylabel="median premium", yscale="log", title="Median premium per script")
    ax.legend()
    fig.tight_layout()
    _save_png(fig, out / "premium_by_script.png")
    plt.close(fig)
    return ["premium_sorted.png", "premium_by_script.png"]


def _save_png(fig: Any, path: Path) -> None:
    with atomic_path(path) as tmp:  # the temporary name does not end in .png: say the format
        fig.savefig(tmp, dpi=100, bbox_inches="tight", format="png")


def write_html(report: dict[str, Any], charts: list[str]) -> str:
    """The HTML report: summary table, charts, per-script and per-language tables."""
    esc = html.escape
    toks = report["tokenizers"]
    names = list(toks)

    def fmt(x: Any) -> str:
        return "" if x is None else f"{x:.3f}" if isinstance(x, float) else esc(str(x))

    def table(head: list[str], rows: list[list[Any]]) -> str:
        return (
            "<table><tr>"
            + "".join(f"<th>{esc(h)}</th>" for h in head)
            + "</tr>"
            + "".join("<tr>" + "".join(f"<td>{fmt(c)}</td>" for c in r) + "</tr>" for r in rows)
            + "</table>"
        )

    summary = table(
        ["tokenizer", "kind", "vocab", "max premium", "worst", "median", "p90", "bytes/token", "unk rate"],
        [
            [n, t["kind"], t["vocab_size"], t["max_premium"], t["worst_language"], t["median_premium"], t["p90_premium"], t["bytes_per_token"], t["unk_rate"]]
            for n, t in toks.items()
        ],
    )
    scripts = sorted({s for t in toks.values() for s in t["per_script"]})
    by_script = table(
        ["script", "languages"] + [f"{n} median" for n in names] + [f"{n} max" for n in names],
        [
            [s, next(t["per_script"][s]["languages"] for t in toks.values() if s in t["per_script"])]
            + [toks[n]["per_script"].get(s, {}).get("median_premium") for n in names]
            + [toks[n]["per_script"].get(s, {}).get("max_premium") for n in names]
            for s in scripts
        ],
    )
    langs = sorted(toks[names[0]]["per_language"], key=lambda lg: -toks[names[0]]["per_language"][lg]["premium"])
    first = toks[names[0]]["per_language"]
    metrics = ("premium", "bytes_per_token", "fertility", "unk_rate")
    by_lang = table(
        ["lang", "script", "partial"] + [f"{n} {m}" for n in names for m in metrics],
        [[lg, first[lg]["script"], "yes" if first[lg]["partial"] else ""] + [toks[n]["per_language"][lg][m] for n in names for m in metrics] for lg in langs],
    )
    imgs = "".join(f'<p><img src="{esc(c)}" alt="{esc(c)}"></p>' for c in charts if c != "frontier.png")
    frontier = ""
    if report.get("frontier"):
        cols = (
            "corpus",
            "fold",
            "tokenizer",
            "global_merges",
            "global_schedule",
            "premium_cap",
            "max_premium",
            "median_premium",
            "p90_premium",
            "eng_vs_plain",
            "bytes_per_token",
        )
        img = '<p><img src="frontier.png" alt="frontier.png"></p>' if "frontier.png" in charts else ""
        frontier = (
            "<h2>Fairness / compression frontier</h2><p>Held-out premiums and English bytes/token (÷ the plain build's) "
            "per share of global merges in parity-aware training (premium cap rows: the share the cap ended with).</p>"
            + img
            + table(list(cols), [[r.get(c) for c in cols] for r in report["frontier"]])
        )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>Tokenizer fairness</title><style>"
        "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;font-size:13px}"
        "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}</style></head><body>"
        f"<h1>Tokenizer fairness</h1><p>{esc(FORMAT)} &middot; corpus {esc(report.get('corpus', ''))} &middot; "
        f"premium = tokens(lang) / tokens({esc(report['reference_lang'])})</p>"
        f"<h2>Summary</h2>{summary}{imgs}{frontier}<h2>Per script</h2>{by_script}"
        f"<h2>Per language</h2>{by_lang}</body></html>"
    )
