"""Benchmark: the WARC reader's two choices, each measured against its alternative on the same pages, one process.

1. Reading ``.warc.gz``: fastwarc 2.0.1 vs warcio 1.8.2, every record of a file of pages (warcio wrote it), HTTP
   payloads of the responses read out; same records and payload bytes checked.
2. Main-text extraction from HTML: resiliparse 2.0.1 (``extract_plain_text(main_content=True)``) vs trafilatura
   2.3.1 (``extract``, its defaults), on the same pages. The pages are real prose (flask/click documentation, UDHR in
   many languages) inside a site's boilerplate (menu, sidebar, cookie banner, footer, scripts:
   tests/operators/io/html_pages.py), so quality is measured against the known main text: word recall (main-text
   words recovered) and word precision (extracted words that are main text), as multisets.

Timings alternate the two sides and keep the best of ``--repeat`` runs. Prints one JSON line per comparison, then a
short table.

    pip install fastwarc==2.0.1 resiliparse==2.0.1 warcio==1.8.2 trafilatura==2.3.1 lxml_html_clean
    python benchmarks/warc.py [--pages 2000] [--repeat 3] [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# Why sys.path: tests/ is not installed, and this benchmark measures the HTML pages and WARC writer the tests
# use (tests/operators/io/html_pages.py), so that a benchmark and its tests see the same input; `python benchmarks/warc.py` puts
# only benchmarks/ on sys.path, so the repository root is added for that package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.operators.io.html_pages import html_pages, word_overlap, write_warc

ROOT = Path(__file__).resolve().parents[1]


def read_fastwarc(path: Path) -> tuple[int, str]:
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    digest, n = hashlib.sha256(), 0
    with open(path, "rb") as fh:
        for record in ArchiveIterator(fh, record_types=WarcRecordType.response, parse_http=True):
            digest.update(record.reader.read())
            n += 1
    return n, digest.hexdigest()


def read_warcio(path: Path) -> tuple[int, str]:
    from warcio.archiveiterator import ArchiveIterator

    digest, n = hashlib.sha256(), 0
    with open(path, "rb") as fh:
        for record in ArchiveIterator(fh):
            if record.rec_type == "response":
                digest.update(record.content_stream().read())
                n += 1
    return n, digest.hexdigest()


def read_ours(path: Path) -> int:
    from tokenmill.operators.core.ingest_config import IngestConfig
    from tokenmill.operators.io.warc_reader import read_warc

    task = {"uri": str(path), "format": "warc", "compression": "gzip", "start": 0, "end": -1}
    return sum(block.num_rows for block in read_warc(task, IngestConfig()))


def extract_resiliparse(page: str) -> str:
    from resiliparse.extract.html2text import extract_plain_text

    return extract_plain_text(page, main_content=True)


def extract_trafilatura(page: str) -> str:
    import trafilatura

    return trafilatura.extract(page) or ""


def best_of(fn, arg, repeat: int, into: list[float]):
    """``fn(arg)``, its seconds appended to ``into``."""
    t = time.perf_counter()
    out = fn(arg)
    into.append(time.perf_counter() - t)
    return out


def compare(name: str, ours, peer, arg, repeat: int) -> tuple[list[float], list[float], Any, Any]:
    """Run ``ours`` and ``peer`` on ``arg`` ``repeat`` times each, alternating; (times, times, result, result)."""
    t_ours: list[float] = []
    t_peer: list[float] = []
    r_ours = r_peer = None
    for _ in range(repeat):
        r_ours = best_of(ours, arg, repeat, t_ours)
        r_peer = best_of(peer, arg, repeat, t_peer)
    return t_ours, t_peer, r_ours, r_peer


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--pages", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    args = ap.parse_args(argv)
    pages = html_pages(args.data, args.pages, args.seed)
    versions = {}
    for dist in ("fastwarc", "warcio", "resiliparse", "trafilatura"):
        from importlib import metadata

        versions[dist] = metadata.version(dist)

    with tempfile.TemporaryDirectory() as tmp:
        path = write_warc(Path(tmp) / "pages.warc.gz", pages)
        size = path.stat().st_size
        t_fast, t_warcio, r_fast, r_warcio = compare("read", read_fastwarc, read_warcio, path, args.repeat)
        t_reader: list[float] = []
        for _ in range(args.repeat):
            docs = best_of(read_ours, path, args.repeat, t_reader)
    read = {
        "bench": "warc_read",
        "ours": f"fastwarc {versions['fastwarc']}",
        "ours_s": round(min(t_fast), 4),
        "peer": f"warcio {versions['warcio']}",
        "peer_s": round(min(t_warcio), 4),
        "ratio": round(min(t_fast) / min(t_warcio), 3),
        "quality": {"records": r_fast[0], "peer_records": r_warcio[0], "identical_payloads": r_fast == r_warcio, "file_mb": round(size / 1e6, 2)},
    }
    print(json.dumps(read))
    reader = {
        "bench": "warc_reader",
        "what": "tokenmill's WARC reader end to end (gzip members verified, records parsed, main text extracted)",
        "ours_s": round(min(t_reader), 4),
        "pages_per_s": round(len(pages) / min(t_reader), 1),
        "documents": docs,
    }
    print(json.dumps(reader))

    htmls = [page for _, _, page in pages]
    t_res: list[float] = []
    t_tra: list[float] = []
    out_res: list[str] = []
    out_tra: list[str] = []
    for _ in range(args.repeat):
        out_res = best_of(lambda hs: [extract_resiliparse(h) for h in hs], htmls, args.repeat, t_res)
        out_tra = best_of(lambda hs: [extract_trafilatura(h) for h in hs], htmls, args.repeat, t_tra)
    q_res = [word_overlap(main, text) for (_, main, _), text in zip(pages, out_res)]
    q_tra = [word_overlap(main, text) for (_, main, _), text in zip(pages, out_tra)]

    def quality(q: list[tuple[float, float]], outs: list[str]) -> dict:
        recall = statistics.fmean(r for r, _ in q)
        precision = statistics.fmean(p for _, p in q)
        return {
            "recall": round(recall, 4),
            "precision": round(precision, 4),
            "f1": round(2 * recall * precision / max(recall + precision, 1e-9), 4),
            "empty": sum(1 for t in outs if not t.strip()),
            "pages_full_recall": sum(1 for r, _ in q if r >= 0.999),
        }

    extract: dict[str, Any] = {
        "bench": "html_extract",
        "pages": len(pages),
        "ours": f"resiliparse {versions['resiliparse']}",
        "ours_s": round(min(t_res), 4),
        "ours_pages_per_s": round(len(pages) / min(t_res), 1),
        "peer": f"trafilatura {versions['trafilatura']}",
        "peer_s": round(min(t_tra), 4),
        "peer_pages_per_s": round(len(pages) / min(t_tra), 1),
        "ratio": round(min(t_res) / min(t_tra), 4),
        "quality": {"ours": quality(q_res, out_res), "peer": quality(q_tra, out_tra)},
    }
    print(json.dumps(extract))
    print(f"\n{'comparison':14} {'ours':>22} {'s':>8} {'peer':>22} {'s':>8}")
    print(f"{'warc read':14} {read['ours']:>22} {read['ours_s']:>8} {read['peer']:>22} {read['peer_s']:>8}")
    print(f"{'html extract':14} {extract['ours']:>22} {extract['ours_s']:>8} {extract['peer']:>22} {extract['peer_s']:>8}")
    for side in ("ours", "peer"):
        q = extract["quality"][side]
        print(f"  {extract[side]:22} recall {q['recall']:.3f} precision {q['precision']:.3f} f1 {q['f1']:.3f} empty {q['empty']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
