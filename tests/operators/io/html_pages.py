"""Web pages as a crawler stores them, built from real text in ../shared/data, and WARC files of them written with warcio.

A page's main content is real prose (flask/click documentation paragraphs and UDHR articles in English, or the UDHR
in another language) wrapped in the boilerplate of a typical site: a navigation menu, a sidebar of links, a cookie
banner, a footer, scripts and styles. Knowing the main text of every page lets the tests and
``benchmarks/warc.py`` measure how much of it an extractor recovers (recall) and how much boilerplate it lets in
(precision). The same seed gives the same pages.
"""

from __future__ import annotations

import html
import io
import random
from collections import Counter
from pathlib import Path

from tests.operators.quality.web_corpus import MENU, NOTICES, Sources


def _page(rng: random.Random, src: Sources, url: str) -> tuple[list[str], str]:
    if rng.random() < 0.25:
        lines = rng.choice(src.foreign)
        start = rng.randrange(len(lines))
        main = lines[start : start + rng.randint(3, 8)] or lines[:3]
    else:
        start = rng.randrange(len(src.paragraphs))
        main = src.paragraphs[start : start + rng.randint(3, 10)] or src.paragraphs[:3]
    title = " ".join(main[0].split()[:6])
    menu = "".join(f'<li><a href="/{i}">{html.escape(m)}</a></li>' for i, m in enumerate(rng.sample(MENU, 8)))
    related = "".join(f'<li><a href="/post/{i}">{html.escape(m)} {i}</a></li>' for i, m in enumerate(rng.sample(MENU, 5)))
    body = "\n".join(f"<p>{html.escape(p)}</p>" for p in main)
    page = (
        f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif} .nav li{display:inline}</style>"
        "<script>window.dataLayer=window.dataLayer||[];function gtag(){dataLayer.push(arguments)}</script></head>\n"
        f'<body><header><a href="/">Example site</a><nav class="nav"><ul>{menu}</ul></nav></header>\n'
        f'<div class="cookie-banner">{html.escape(rng.choice(NOTICES))} <button>Accept</button></div>\n'
        f"<main><article><h1>{html.escape(title)}</h1>\n{body}\n</article></main>\n"
        f'<aside class="sidebar"><h3>Related posts</h3><ul>{related}</ul></aside>\n'
        f"<footer><p>{html.escape(rng.choice(NOTICES))}</p><p>{html.escape(url)}</p></footer></body></html>\n"
    )
    return main, page


def html_pages(data: Path, n: int, seed: int = 0) -> list[tuple[str, list[str], str]]:
    """``n`` pages ``(url, main paragraphs, html)`` from the real text under ``data`` (../shared/data)."""
    rng = random.Random(seed)
    src = Sources(data)
    pages = []
    for i in range(n):
        url = f"https://site{i % 7}.example.org/articles/{i}"
        main, page = _page(rng, src, url)
        pages.append((url, main, page))
    return pages


def http_record(writer, url: str, body: bytes, content_type: str = "text/html; charset=utf-8"):
    """A warcio ``response`` record of an HTTP 200 with ``body``."""
    from warcio.statusandheaders import StatusAndHeaders

    headers = StatusAndHeaders("200 OK", [("Content-Type", content_type), ("Content-Length", str(len(body)))], protocol="HTTP/1.1")
    return writer.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=headers)


def write_warc(path: Path, pages: list[tuple[str, list[str], str]], *, gzip: bool = True) -> Path:
    """Write ``pages`` as a WARC file with warcio: a ``warcinfo`` record, then a ``request`` and a ``response``
    record per page (one gzip member per record when ``gzip``)."""
    from warcio.warcwriter import WARCWriter

    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=gzip)
        writer.write_record(writer.create_warcinfo_record(path.name, {"software": "tokenmill tests", "format": "WARC File Format 1.1"}))
        for url, _, page in pages:
            writer.write_record(writer.create_warc_record(url, "request", payload=io.BytesIO(f"GET {url} HTTP/1.1\r\n\r\n".encode())))
            writer.write_record(http_record(writer, url, page.encode("utf-8")))
    return path


def word_overlap(main: list[str], extracted: str) -> tuple[float, float]:
    """(recall, precision) of the words of ``extracted`` against the page's main text (multisets of words)."""
    truth = Counter(" ".join(main).split())
    got = Counter(extracted.split())
    common = sum((truth & got).values())
    return common / max(sum(truth.values()), 1), common / max(sum(got.values()), 1)
