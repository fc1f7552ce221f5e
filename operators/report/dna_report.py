"""The DNA tokenizer report: vocabulary, token lengths, bp/token overall, per input file and per held-out file."""

from __future__ import annotations

import collections
import json
import os
from pathlib import Path
from typing import Any

import duckdb

from tokenmill.operators.core.atomic import write_text_atomic

REPORT_FORMAT = "tokenmill dna_bpe report v1"


def bp_per_token_by_source(tokens_dir: Path, totals_only: bool = False) -> Any:
    """bp/token per source file from an encoded-segments folder (columns source, n_bp, n_tokens).

    Returns ``{source: {"segments", "bp", "tokens", "bp_per_token"}}``, or ``(segments, tokens)`` totals.
    """
    # the files as a parameter, never a path in SQL text (a folder may be named it's or g[1])
    files = sorted(str(p) for p in Path(tokens_dir).glob("*.parquet"))
    if not files:
        return (0, 0) if totals_only else {}
    with duckdb.connect() as con:
        if totals_only:
            totals = con.execute("SELECT count(*), coalesce(sum(n_tokens), 0) FROM read_parquet(?)", [files]).fetchone()
            if totals is None:  # cannot happen: an aggregate without GROUP BY gives one row
                raise RuntimeError(f"no totals row for {tokens_dir}")
            n, toks = totals
            return int(n), int(toks)
        rows = con.execute("SELECT source, count(*), sum(n_bp), sum(n_tokens) FROM read_parquet(?) GROUP BY source ORDER BY source", [files]).fetchall()
    return {s: {"segments": n, "bp": int(bp), "tokens": int(t), "bp_per_token": round(bp / t, 4) if t else None} for s, n, bp, t in rows}


def _overall(per_file: dict[str, dict]) -> float | None:
    bp = sum(v["bp"] for v in per_file.values())
    toks = sum(v["tokens"] for v in per_file.values())
    return round(bp / toks, 4) if toks else None


def write_dna_report(output: Path, model, token_dirs: dict[str, Path], seconds: dict[str, float], run_id: str, shards: dict | None = None) -> dict:
    """Write ``output/report.json`` and ``output/report.md``; return the report dict."""
    specials = set(model.special_tokens)
    lengths = collections.Counter(len(t) for t in model.vocab if t not in specials)
    per_file = bp_per_token_by_source(token_dirs["train"])
    per_eval = bp_per_token_by_source(token_dirs["eval"]) if "eval" in token_dirs else {}
    report = {
        "format": REPORT_FORMAT,
        "run_id": run_id,
        "vocab_size": model.vocab_size,
        "requested_vocab_size": model.config.vocab_size,
        "merges": len(model.merges),
        "stop_reason": model.stats.get("stop_reason"),
        "warnings": model.stats.get("warnings", []),
        "token_length_histogram": {str(k): lengths[k] for k in sorted(lengths)},
        "mean_token_length": round(sum(k * v for k, v in lengths.items()) / max(sum(lengths.values()), 1), 3),
        "bp_per_token": _overall(per_file),
        "per_file": per_file,
        "eval_bp_per_token": _overall(per_eval) if per_eval else None,
        "per_eval_file": per_eval,
        "seconds": {k: round(v, 3) for k, v in seconds.items()},
        "shards": shards,
        "training": {k: v for k, v in model.stats.items() if k != "warnings"},
    }
    write_text_atomic(output / "report.json", json.dumps(report, indent=2, default=str))
    write_text_atomic(output / "report.md", _markdown(report))
    return report


def _markdown(r: dict) -> str:
    lines = [
        f"# DNA BPE tokenizer report ({r['run_id']})",
        "",
        f"- vocabulary: **{r['vocab_size']}** tokens (requested {r['requested_vocab_size']}; {r['merges']} merges; stopped: {r['stop_reason']})",
        f"- bp/token on the training genomes: **{r['bp_per_token']}**" + (f"; held out: **{r['eval_bp_per_token']}**" if r["eval_bp_per_token"] else ""),
        f"- mean token length: {r['mean_token_length']} bp",
        (
            f"- shards: {r['shards']['rows']} packed rows, {r['shards']['tokens']} tokens, utilization {r['shards']['utilization']:.2%}"
            if r["shards"]
            else "- shards: none"
        ),
        "- seconds: " + ", ".join(f"{k} {v}" for k, v in r["seconds"].items()),
    ]
    lines += [f"- warning: {w}" for w in r["warnings"]]
    for title, table in (("Training files", r["per_file"]), ("Held-out files", r["per_eval_file"])):
        if table:
            lines += ["", f"## {title}", "", "| file | segments | bp | tokens | bp/token |", "|---|---:|---:|---:|---:|"]
            lines += [f"| {os.path.basename(s)} | {v['segments']} | {v['bp']} | {v['tokens']} | {v['bp_per_token']} |" for s, v in table.items()]
    lines += ["", "## Token length histogram (bp → tokens)", "", "| length | tokens |", "|---:|---:|"]
    lines += [f"| {k} | {v} |" for k, v in r["token_length_histogram"].items()]
    return "\n".join(lines) + "\n"
