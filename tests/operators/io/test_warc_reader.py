"""The WARC reader on WARC files written here with warcio from real text: pages, broken records, damaged files."""

from __future__ import annotations

import collections
import gzip
import io
import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tokenmill.operators.core.ingest_config import IngestConfig
from tokenmill.operators.core.rows import Seen
from tokenmill.operators.io.read_task import ReadTask
from tokenmill.operators.io.sources import detect_format, plan_read_tasks, resolve_inputs
from tokenmill.operators.io.warc_reader import read_warc
from tokenmill.pipelines import ingest as ingest_pipeline

from ..quality.web_corpus import NOTICES
from .html_pages import html_pages, http_record, word_overlap, write_warc

warcio = pytest.importorskip("warcio")  # the test extra: it writes the WARC files these tests read


def _read(path: Path, **cfg) -> tuple[pa.Table, int]:
    fmt, comp = detect_format(str(path))
    seen = Seen()
    task = {"uri": str(path), "format": fmt, "compression": comp, "start": 0, "end": -1}
    blocks = list(read_warc(task, IngestConfig(**cfg), seen))
    return pa.concat_tables(blocks), seen.n


def _member(record_bytes: bytes) -> bytes:
    return gzip.compress(record_bytes, mtime=0)


BROKEN = b"WARC/1.1\r\nWARC-Type: response\r\nWARC-Target-URI: https://broken.example.org/\r\nContent-Length: twelve\r\n\r\n<html>x</html>\r\n\r\n"


def _extras(path: Path) -> None:
    """Append to ``path`` (a .warc.gz): a PNG response, a WET conversion record, a broken record (its own member)."""
    from warcio.warcwriter import WARCWriter

    with open(path, "ab") as fh:
        writer = WARCWriter(fh, gzip=True)
        writer.write_record(http_record(writer, "https://img.example.org/a.png", b"\x89PNG\r\n\x1a\n" + bytes(64), "image/png"))
        wet = "Plain text of a converted page.\nIts second line."
        writer.write_record(
            writer.create_warc_record("https://wet.example.org/", "conversion", payload=io.BytesIO(wet.encode()), warc_content_type="text/plain")
        )
        fh.write(_member(BROKEN))


def test_pages_documents_meta_and_quarantine(tmp_path, shared_data):
    pages = html_pages(shared_data, 12, seed=1)
    path = write_warc(tmp_path / "crawl.warc.gz", pages)
    _extras(path)
    table, seen = _read(path)
    reasons = collections.Counter(table["_reject_reason"].to_pylist())
    assert reasons == {None: 13, "not_html": 1, "unreadable_record": 1}
    assert seen == table.num_rows == 15  # warcinfo and request records are not documents and not counted
    docs = table.filter(pa.compute.is_null(table["_reject_reason"]))
    metas = [json.loads(m) for m in docs["meta"].to_pylist()]
    assert [m["url"] for m in metas] == [url for url, _, _ in pages] + ["https://wet.example.org/"]
    assert all(m["date"].startswith("20") and m["record_id"].startswith("<urn:uuid:") for m in metas)
    assert [m.get("status") for m in metas] == [200] * 12 + [None]
    for (_, main, _), text in zip(pages, docs["text"].to_pylist()):
        recall, precision = word_overlap(main, text)
        assert recall == 1.0 and precision > 0.8  # every word of the page's prose, little boilerplate
        assert not any(n in text for n in NOTICES)  # the cookie banner and the footer are left out
    assert docs["text"][12].as_py() == "Plain text of a converted page.\nIts second line."
    locations = table["location"].to_pylist()
    assert locations == sorted(locations, key=lambda loc: int(loc.split("=")[1])) and len(set(locations)) == 15
    broken = table.filter(pa.compute.equal(table["_reject_reason"], "unreadable_record"))
    assert "Content-Length" in broken["_reject_detail"][0].as_py() and broken["_reject_excerpt"][0].as_py() == "https://broken.example.org/"


def test_corrupt_member_is_one_row_and_reading_resumes(tmp_path, shared_data):
    pages = html_pages(shared_data, 6, seed=2)
    path = write_warc(tmp_path / "crawl.warc.gz", pages)
    data = bytearray(path.read_bytes())
    starts = [i for i in range(len(data)) if data[i : i + 3] == b"\x1f\x8b\x08"]
    members = [(a, b) for a, b in zip(starts, [*starts[1:], len(data)]) if b - a > 400]  # responses (not requests)
    a, b = members[2]  # the third page's response
    data[(a + b) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    table, seen = _read(path)
    assert collections.Counter(table["_reject_reason"].to_pylist()) == {None: 5, "corrupt_input": 1}
    assert seen == 6
    docs = table.filter(pa.compute.is_null(table["_reject_reason"]))
    assert [json.loads(m)["url"] for m in docs["meta"].to_pylist()] == [u for i, (u, _, _) in enumerate(pages) if i != 2]
    assert "failed verification" in table.filter(pa.compute.is_valid(table["_reject_reason"]))["_reject_detail"][0].as_py()


def test_cut_file_keeps_whole_records_and_reports_the_cut(tmp_path, shared_data):
    pages = html_pages(shared_data, 5, seed=3)
    path = write_warc(tmp_path / "crawl.warc.gz", pages)
    path.write_bytes(path.read_bytes()[:-300])  # inside the last response's member
    table, seen = _read(path)
    assert collections.Counter(table["_reject_reason"].to_pylist()) == {None: 4, "truncated_input": 1}
    assert seen == 5


def test_uncompressed_digest_and_unreadable_header(tmp_path, shared_data):
    pages = html_pages(shared_data, 5, seed=4)
    path = write_warc(tmp_path / "crawl.warc", pages, gzip=False)
    table, seen = _read(path)
    assert seen == table.num_rows == 5 and table["_reject_reason"].null_count == 5
    data = bytearray(path.read_bytes())
    responses = [i for i in range(len(data)) if data[i : i + 19] == b"WARC-Type: response"]
    body = data.index(b"<article>", responses[1])
    data[body + 20] ^= 0x20  # one letter of the second page changes case: its digest no longer matches
    header = data.index(b"Content-Length:", responses[3])
    data[header : header + 15] = b"Content-Lxngth:"
    path.write_bytes(bytes(data))
    table, seen = _read(path)
    reasons = table["_reject_reason"].to_pylist()
    assert reasons == [None, "digest_mismatch", None, "unreadable_record", None]  # parsing resumes after it
    assert seen == 5
    assert json.loads(table["meta"][4].as_py())["url"] == pages[4][0]


def test_uncompressed_garbage_instead_of_a_record_header(tmp_path, shared_data):
    pages = html_pages(shared_data, 5, seed=4)
    path = write_warc(tmp_path / "crawl.warc", pages, gzip=False)
    data = bytearray(path.read_bytes())
    version = data.rindex(b"WARC/1.", 0, data.index(b"WARC-Type: response", data.index(pages[2][0].encode())))
    data[version : version + 8] = b"GARBAGE!"  # the third page's response record has no WARC header line
    path.write_bytes(bytes(data))
    table, seen = _read(path)
    assert table["_reject_reason"].to_pylist() == [None, None, "unreadable_record", None, None]
    urls = [json.loads(m)["url"] for m in table["meta"].to_pylist() if m]
    assert urls == [pages[i][0] for i in (0, 1, 3, 4)] and seen == 5


def test_not_a_warc_and_format_override(tmp_path):
    path = tmp_path / "notes.warc"
    path.write_text("just some text\nnot a web archive\n")
    table, seen = _read(path)
    assert seen == table.num_rows  # whatever the parser makes of it, nothing is silent
    assert detect_format("x/CC-MAIN-1.warc.wet.gz") == ("warc", "gzip")
    assert detect_format("x/a.warc.zst") == ("warc", "zstd")
    assert detect_format("x/a.gz", "wet") == ("wet", "gzip")


def test_ingest_of_a_warc_reconciles(tmp_path, shared_data, ray_local):
    pages = html_pages(shared_data, 30, seed=5)
    path = write_warc(tmp_path / "crawl.warc.gz", pages)
    _extras(path)
    out = tmp_path / "out"
    rc = ingest_pipeline.main(["--input", str(path), "--output", str(out), "--quiet"])
    assert rc == 0
    docs = pq.read_table(out / "documents")
    quarantine = pq.read_table(out / "quarantine")
    assert docs.num_rows == 31 and sorted(quarantine["reason"].to_pylist()) == ["not_html", "unreadable_record"]
    assert {json.loads(m)["url"] for m in docs["meta"].to_pylist()} >= {url for url, _, _ in pages}
    con = duckdb.connect(str(out / "ledger.duckdb"), read_only=True)
    seen, n_out, n_q = con.execute("SELECT records_seen, records_out, records_quarantined FROM source_counts").fetchone()
    assert (seen, n_out, n_q) == (33, 31, 2)


def test_read_task_counts_warc_records(tmp_path, shared_data):
    pages = html_pages(shared_data, 4, seed=6)
    path = write_warc(tmp_path / "a.warc.gz", pages)
    reader = ReadTask(IngestConfig())
    tasks = plan_read_tasks(resolve_inputs([str(path)]))
    rows = sum(b.num_rows for b in reader(pa.Table.from_pylist(tasks)))
    assert reader.receipts[0]["seen"] == reader.receipts[0]["emitted"] == rows == 4


def test_zstd_warc_and_too_large_records(tmp_path, shared_data):
    import zstandard

    pages = html_pages(shared_data, 4, seed=9)
    plain = write_warc(tmp_path / "crawl.warc", pages, gzip=False)
    path = tmp_path / "crawl.warc.zst"
    path.write_bytes(zstandard.ZstdCompressor(write_checksum=True).compress(plain.read_bytes()))
    table, seen = _read(path)
    assert seen == 4 and table["_reject_reason"].null_count == 4
    assert [json.loads(m)["url"] for m in table["meta"].to_pylist()] == [url for url, _, _ in pages]
    from warcio.archiveiterator import ArchiveIterator

    with open(plain, "rb") as fh:  # each response record's block length, as warcio reads it
        lengths = [int(r.rec_headers.get_header("Content-Length")) for r in ArchiveIterator(fh) if r.rec_type == "response"]
    limit = sorted(lengths)[1]
    table, seen = _read(path, max_document_bytes=limit)
    reasons = table["_reject_reason"].to_pylist()
    assert seen == 4 and reasons == ["too_large" if n > limit else None for n in lengths] and 0 < reasons.count("too_large") < 4
