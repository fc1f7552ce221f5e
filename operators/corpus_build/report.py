"""The build report: ``report.html`` with PNG plots, from the build summary and documents index.

Plots: tokens per source and per language, document length histogram, quarantine by reason, documents the sources'
quality filters dropped per rule and source (with a table of the same counts), tokenizer fertility (tokens per
whitespace word) per language; numbers: packing utilization, dedup rate, the diff to the previous build. The same
numbers are in ``build.json`` and the ledger.
"""

from __future__ import annotations

import collections
import html
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
import pyarrow.parquet as pq

from tokenmill.operators.corpus_build.assemble import SOURCE_COUNTS
from tokenmill.operators.io.chain import SINK_STAGE
from tokenmill.operators.ledger import Ledger
from tokenmill.operators.shards import load_manifest, set_bytes


def record_build(ledger: Ledger, summary: dict, final: Path, seconds_partitions: float) -> None:
    """The build's stages, quarantine and filter reasons, text edits and artifact in the ledger; each stage's rows_in is the
    previous stage's rows_out (partitions → dedup → mix → pack_shards)."""
    t = summary["totals"]
    read_out = t["records_in"] - t["quarantined_read"] - t.get("filtered", 0)
    # The ingest chain inside the partitions, one row per operator as ingest writes them: the live rows it took
    # (rows rejected earlier pass through it marked) and those it quarantined; the sink is the partitions row.
    # A quality filter's rows_out leaves out the documents it filtered (filter_reasons has them by rule and source).
    rejected: collections.Counter[str] = collections.Counter()
    for key, n in summary["quarantine"].items():
        rejected[key.split("/", 1)[0]] += n
    filtered: collections.Counter[str] = collections.Counter()
    for reasons in summary.get("filter_reasons", {}).values():
        for reason, n in reasons.items():
            filtered[reason.split(":", 1)[0]] += n
    live = t["records_in"] - rejected["read"] - rejected["segment"]
    for stage in summary.get("stages", {}):
        if stage != SINK_STAGE:
            gone = rejected[stage] + filtered[stage]
            ledger.add_stage(stage, rows_in=live, rows_out=live - gone, rows_quarantined=rejected[stage])
            live -= gone
    ledger.add_stage("partitions", rows_in=t["records_in"], rows_out=read_out, rows_quarantined=t["quarantined_read"], seconds=seconds_partitions)
    ledger.add_stage("dedup", rows_in=read_out, rows_out=t["unique_documents"], rows_quarantined=t["duplicates"])
    ledger.add_stage("mix", rows_in=t["unique_documents"], rows_out=t["documents"], rows_quarantined=t["sampled_out"])
    ledger.add_stage(
        "pack_shards",
        rows_in=t["documents"],
        rows_out=t["rows"],
        rows_quarantined=0,
        tokens=t["tokens"],
        bytes=set_bytes(load_manifest(final / "shards")),
        seconds=summary["seconds"]["assemble"],
    )
    ledger.add_quarantine_reasons([(s, r, n) for (s, r), n in ((tuple(k.split("/", 1)), v) for k, v in summary["quarantine"].items())])
    ledger.add_text_edits(
        [(stage, name, kind, n) for stage, kinds in summary.get("text_edits", {}).items() for kind, by_source in kinds.items() for name, n in by_source.items()]
    )
    ledger.add_filter_reasons(
        [(reason.split(":", 1)[0], name, reason, n) for name, reasons in summary.get("filter_reasons", {}).items() for reason, n in reasons.items()]
    )
    ledger.add_artifact(final, "build")


def _bar(path: Path, items: list[tuple[str, float]], title: str, xlabel: str) -> str:
    fig, ax = plt.subplots(figsize=(8, max(2.0, 0.28 * len(items) + 1)))
    ax.barh([k for k, _ in items][::-1], [v for _, v in items][::-1], color="#4c72b0")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path.name


def _drops(path: Path, by_source: dict[str, dict[str, int]]) -> tuple[str, str]:
    """A stacked bar chart (drops per rule, one colour per source) and the HTML table of the same counts."""
    names = sorted(by_source)
    rules = sorted({r for reasons in by_source.values() for r in reasons}, key=lambda r: (-sum(by_source[s].get(r, 0) for s in names), r))
    fig, ax = plt.subplots(figsize=(8, max(2.0, 0.3 * len(rules) + 1.2)))
    left = [0] * len(rules)
    for name in names:
        counts = [by_source[name].get(r, 0) for r in rules]
        ax.barh(rules[::-1], counts[::-1], left=left[::-1], label=name)
        left = [a + b for a, b in zip(left, counts)]
    ax.set_title("Documents filtered, per rule and source")
    ax.set_xlabel("documents")
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in ("rule", *names, "total"))
    body = "".join(
        f"<tr><td>{html.escape(r)}</td>"
        + "".join(f"<td>{by_source[s].get(r, 0)}</td>" for s in names)
        + f"<td>{sum(by_source[s].get(r, 0) for s in names)}</td></tr>"
        for r in rules
    )
    totals = "".join(f"<td>{sum(by_source[s].values())}</td>" for s in names)
    table = f"<h2>Filtered by quality rules</h2><table><tr>{head}</tr>{body}<tr><th>total</th>{totals}<td>{sum(left)}</td></tr></table>"
    return path.name, table


def write_build_report(build_dir: Path, summary: dict) -> Path:
    """Write ``build_dir/report.html`` and its PNG plots under ``build_dir/report/``."""
    plots = build_dir / "report"
    plots.mkdir(exist_ok=True)
    images = []
    per_source = sorted(((k, v["tokens"]) for k, v in summary["per_source"].items()), key=lambda kv: -kv[1])
    images.append(_bar(plots / "tokens_per_source.png", per_source, "Tokens per source", "tokens"))
    langs = sorted(summary["per_lang"].items(), key=lambda kv: -kv[1]["tokens"])[:40]
    images.append(_bar(plots / "tokens_per_language.png", [(k, v["tokens"]) for k, v in langs], "Tokens per language (top 40)", "tokens"))
    fert = [(k, v["tokens"] / v["words"]) for k, v in langs if v["words"]]
    images.append(_bar(plots / "fertility.png", sorted(fert, key=lambda kv: -kv[1]), "Tokenizer fertility (tokens per whitespace word)", "tokens / word"))
    drops_table = ""
    if any(summary.get("filter_reasons", {}).values()):
        by_source = {name: summary["filter_reasons"].get(name, {}) for name in summary["per_source"]}  # every source, 0s too
        image, drops_table = _drops(plots / "filtered.png", by_source)
        images.append(image)
    if summary["quarantine"]:
        images.append(
            _bar(plots / "quarantine.png", sorted(summary["quarantine"].items(), key=lambda kv: -kv[1]), "Quarantined records by stage/reason", "records")
        )
    lengths = (
        pq.read_table(build_dir / "documents.parquet", columns=["n_tokens"])["n_tokens"].to_pylist()
        if "n_tokens" in pq.read_schema(build_dir / "documents.parquet").names
        else []
    )
    if lengths:
        fig, ax = plt.subplots(figsize=(8, 3))
        ax.hist(lengths, bins=60, color="#55a868", log=True)
        ax.set_title("Document length (tokens)")
        fig.tight_layout()
        fig.savefig(plots / "doc_lengths.png", dpi=90)
        plt.close(fig)
        images.append("doc_lengths.png")
    t = summary["totals"]
    rows = [
        ("documents", t["documents"]),
        ("tokens", t["tokens"]),
        ("packed rows", t["rows"]),
        ("packing utilization", f"{t['utilization']:.2%}"),
        ("dedup rate", f"{t['dedup_rate']:.2%}"),
        ("records seen by the readers", t.get("records_seen", t["records_in"])),
        ("records in", t["records_in"]),
        ("quarantined while reading", t["quarantined_read"]),
        ("filtered by quality rules (in filtered.parquet)", t.get("filtered", 0)),
        ("duplicates", t["duplicates"]),
        ("unique documents", t["unique_documents"]),
        ("sampled out (weight < 1, in quarantine as mix/sampled_out)", t.get("sampled_out", 0)),
        ("upsampled copies (weight > 1)", t.get("upsampled_copies", 0)),
    ]
    diff = summary.get("diff")
    if diff:
        rows += [
            ("previous build", diff["previous_build"]),
            ("documents added", diff["documents_added"]),
            ("documents removed", diff["documents_removed"]),
            ("tokens delta", diff["tokens_delta"]),
        ]
    cache = summary.get("cache", {})
    rows += [
        ("partitions cached / built", f"{cache.get('hits', 0)} / {cache.get('misses', 0)}"),
        ("corrupt cached partitions recomputed", cache.get("corrupt", 0)),
    ]
    body = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows)
    mix = sorted(summary["per_source"].items())
    if mix:  # where each source's documents went: a drop is never silent
        cols = SOURCE_COUNTS
        head = "".join(f"<th>{html.escape(c)}</th>" for c in ("source", *cols))
        body_src = "".join(
            "<tr><td>" + html.escape(name) + "</td>" + "".join(f"<td>{html.escape(str(v.get(c, '')))}</td>" for c in cols) + "</tr>" for name, v in mix
        )
        per_source_table = f"<h2>Per source</h2><table><tr>{head}</tr>{body_src}</table>"
    else:
        per_source_table = ""
    imgs = "".join(f'<p><img src="report/{name}" alt="{name}"></p>' for name in images)
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>Build {summary['build_id']}</title>"
        "<style>body{font-family:sans-serif;margin:2em}th{text-align:left;padding-right:2em}</style></head><body>"
        f"<h1>tokenmill build {html.escape(summary['build_id'])}</h1><table>{body}</table>{per_source_table}{drops_table}{imgs}"
        "</body></html>"
    )
    out = build_dir / "report.html"
    out.write_text(page)
    return out
