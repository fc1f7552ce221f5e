"""Corrupt and cut gzip/zstd inputs, generated here: nothing unverified is published, intact members are kept,
and the reader's counts reconcile (every record seen is either kept or quarantined with a reason).

Expected results are computed independently of tokenmill: each member/frame of the damaged file is decoded on its
own with ``zlib``/``zstandard`` (what ``gzip -dc`` would verify member by member).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import zlib
from pathlib import Path

import pyarrow as pa
import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tokenmill.operators.io import IngestConfig, plan_read_tasks, resolve_inputs, streams
from tokenmill.operators.io.read_task import ReadTask


def _records(first: int, n: int) -> bytes:
    return b"".join(
        json.dumps({"text": f"rec {i} {hashlib.sha1(str(i).encode()).hexdigest()[: i % 13]} " + "lorem ipsum dolor " * (i % 7), "id": i}).encode() + b"\n"
        for i in range(first, first + n)
    )


def _members(n_members: int, per: int, compress) -> tuple[list[bytes], list[bytes]]:
    """(plain bodies, compressed members) of ``n_members`` members of ``per`` records each."""
    bodies = [_records(k * per, per) for k in range(n_members)]
    return bodies, [compress(b) for b in bodies]


def _gz(body: bytes) -> bytes:
    return gzip.compress(body, mtime=0)


def _zst(body: bytes) -> bytes:
    return zstandard.ZstdCompressor(write_checksum=True).compress(body)


def _read(path: Path) -> tuple[list[dict], list[dict], int]:
    """(kept rows, quarantined rows, records the reader saw)."""
    reader = ReadTask(IngestConfig())
    tasks = plan_read_tasks(resolve_inputs([str(path)]))
    blocks = list(reader(pa.Table.from_pylist(tasks)))
    rows = pa.concat_tables(blocks).to_pylist() if blocks else []
    seen = sum(r["seen"] for r in reader.receipts)
    assert seen == sum(r["emitted"] for r in reader.receipts) == len(rows)  # in = kept + quarantined
    return [r for r in rows if r["_reject_reason"] is None], [r for r in rows if r["_reject_reason"] is not None], seen


def _texts(body: bytes) -> list[str]:
    return [json.loads(line)["text"] for line in body.splitlines() if line.strip()]


def _flip(data: bytes, at: int, n: int = 3) -> bytes:
    out = bytearray(data)
    for i in range(at, at + n):
        out[i] ^= 0x5A
    return bytes(out)


def test_flipped_bytes_in_a_single_member_publish_nothing(tmp_path):
    body = _records(0, 3000)
    gz = _gz(body)
    bad = _flip(gz, len(gz) // 2)
    with pytest.raises((OSError, EOFError, zlib.error)):
        gzip.decompress(bad)  # the standard library agrees the file is corrupt
    path = tmp_path / "flip.jsonl.gz"
    path.write_bytes(bad)
    kept, quarantined, _seen = _read(path)
    assert kept == []  # before: the lines decoded before the CRC check were published, garbage included
    assert quarantined and {r["_reject_reason"] for r in quarantined} == {"corrupt_input"}
    assert "failed verification" in quarantined[0]["_reject_detail"]
    assert f"compressed bytes [0, {len(bad)})" in quarantined[0]["_reject_detail"]


@pytest.mark.parametrize("codec", ["gzip", "zstd"])
def test_a_corrupt_member_in_the_middle_keeps_the_intact_ones_after_it(tmp_path, codec):
    bodies, members = _members(6, 1000, _gz if codec == "gzip" else _zst)
    members[3] = _flip(members[3], len(members[3]) // 2)
    path = tmp_path / f"mid.jsonl.{'gz' if codec == 'gzip' else 'zst'}"
    path.write_bytes(b"".join(members))
    kept, quarantined, seen = _read(path)
    good = bodies[:3] + bodies[4:]
    assert [r["text"] for r in kept] == [t for b in good for t in _texts(b)]  # 5,000: before, 3,000
    assert quarantined and {r["_reject_reason"] for r in quarantined} == {"corrupt_input"}
    start = sum(map(len, members[:3]))
    assert f"[{start}, {start + len(members[3])})" in quarantined[0]["_reject_detail"]
    assert (
        f"resumed at the next valid {'member' if codec == 'gzip' else 'frame'}, at compressed byte "
        f"{start + len(members[3])}" in quarantined[0]["_reject_detail"]
    )
    assert seen == 5000 + len(quarantined)


def test_a_member_cut_in_the_middle_of_the_file(tmp_path):
    bodies, members = _members(3, 1000, _gz)
    cut = members[1][: len(members[1]) // 2]
    path = tmp_path / "cut_mid.jsonl.gz"
    path.write_bytes(members[0] + cut + members[2])
    kept, quarantined, _ = _read(path)
    # members 1 and 3 verify; before, member 3 was lost and the quarantine said "0 bytes ... are lost"
    assert [r["text"] for r in kept] == _texts(bodies[0]) + _texts(bodies[2])
    # the complete lines decoded from the cut member are quarantined, not silently dropped
    dec = zlib.decompressobj(16 + zlib.MAX_WBITS)
    prefix = dec.decompress(cut) + dec.flush()
    assert len(quarantined) >= prefix.count(b"\n")
    assert all(r["_reject_reason"] == "corrupt_input" for r in quarantined)
    assert {r["_reject_excerpt"] for r in quarantined[:10]} <= {line.decode()[:200] for line in prefix.splitlines()}


@pytest.mark.parametrize("codec", ["gzip", "zstd"])
def test_a_cut_final_member_keeps_its_complete_lines(tmp_path, codec):
    compress = _gz if codec == "gzip" else _zst
    bodies, members = _members(2, 5000, compress)
    cut = members[1][: int(len(members[1]) * 0.6)]
    path = tmp_path / f"cut_end.jsonl.{'gz' if codec == 'gzip' else 'zst'}"
    path.write_bytes(members[0] + cut)
    if codec == "gzip":
        dec = zlib.decompressobj(16 + zlib.MAX_WBITS)
        prefix = dec.decompress(cut) + dec.flush()
    else:
        prefix = zstandard.ZstdDecompressor().decompressobj().decompress(cut)
    complete, tail = prefix[: prefix.rfind(b"\n") + 1], prefix[prefix.rfind(b"\n") + 1 :]
    kept, quarantined, _ = _read(path)
    # the complete lines up to the cut are kept, but those decoded from the last 64 bytes before it are held back
    # (quarantined one by one): a cut cannot be verified, and damaged bytes there could complete a garbage line
    n_held = len(quarantined) - 1
    assert 0 <= n_held < len(_texts(complete)) // 10
    assert [r["text"] for r in kept] == _texts(bodies[0]) + _texts(complete)[: len(_texts(complete)) - n_held]
    assert [r["_reject_reason"] for r in quarantined] == ["truncated_input"] * (n_held + 1)
    assert all("held back" in r["_reject_detail"] for r in quarantined[:-1])
    detail = quarantined[-1]["_reject_detail"]
    assert f"the {len(tail)} decoded bytes after the last complete line" in detail and "whatever followed the cut is lost" in detail
    if tail:
        assert quarantined[-1]["_reject_excerpt"] == tail.decode()[:200]


def test_garbage_between_members_is_one_lost_range(tmp_path):
    bodies, members = _members(2, 500, _gz)
    path = tmp_path / "gap.jsonl.gz"
    path.write_bytes(members[0] + b"not gzip at all " * 8 + members[1])
    kept, quarantined, _ = _read(path)
    assert [r["text"] for r in kept] == _texts(bodies[0]) + _texts(bodies[1])
    assert len(quarantined) == 1 and quarantined[0]["_reject_excerpt"] is None
    assert f"[{len(members[0])}, {len(members[0]) + 128})" in quarantined[0]["_reject_detail"]


@pytest.mark.parametrize("status", ["ok", "corrupt", "truncated"])
def test_members_larger_than_the_buffer_are_verified_before_they_are_read(tmp_path, monkeypatch, status):
    """A member bigger than MEMBER_BUFFER is verified first, then decoded again; the result is the same."""
    monkeypatch.setattr(streams, "MEMBER_BUFFER", 4096)
    bodies, members = _members(3, 800, _gz)
    if status == "corrupt":
        members[1] = _flip(members[1], len(members[1]) // 2)
    if status == "truncated":
        members[2] = members[2][: len(members[2]) // 2]
    path = tmp_path / "big.jsonl.gz"
    path.write_bytes(b"".join(members))
    kept, quarantined, _ = _read(path)
    monkeypatch.setattr(streams, "MEMBER_BUFFER", 64 << 20)
    kept_mem, quarantined_mem, _ = _read(path)
    assert kept == kept_mem and quarantined == quarantined_mem
    if status == "ok":
        assert [r["text"] for r in kept] == [t for b in bodies for t in _texts(b)] and not quarantined
    if status == "corrupt":
        assert [r["text"] for r in kept] == _texts(bodies[0]) + _texts(bodies[2]) and quarantined


def test_a_line_spanning_members_is_joined_and_text_readers_agree(tmp_path):
    body = _records(0, 50)
    path = tmp_path / "span.jsonl.gz"
    path.write_bytes(_gz(body[:1000]) + _gz(body[1000:]))  # the cut falls inside a line
    kept, quarantined, _ = _read(path)
    assert [r["text"] for r in kept] == _texts(body) and not quarantined


def _verified_members(data: bytes, bounds: list[tuple[int, int]]) -> list[bool]:
    """Whether each member region of ``data`` decodes and verifies on its own (zlib, independent of tokenmill)."""
    out = []
    for start, end in bounds:
        dec = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            dec.decompress(data[start:end])
            out.append(dec.eof and not dec.unused_data)
        except zlib.error:
            out.append(False)
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flips=st.lists(st.tuples(st.floats(0, 0.9999), st.integers(1, 255)), min_size=1, max_size=4))
def test_fuzz_flipped_bytes_never_publish_garbage(tmp_path, flips):
    bodies, members = _members(4, 150, _gz)
    data = bytearray(b"".join(members))
    for where, mask in flips:
        data[int(where * len(data))] ^= mask
    bounds, at = [], 0
    for m in members:
        bounds.append((at, at + len(m)))
        at += len(m)
    ok = _verified_members(bytes(data), bounds)
    path = tmp_path / "fuzz.jsonl.gz"
    path.write_bytes(bytes(data))
    kept, quarantined, _ = _read(path)
    # exactly the records of the members that verify (a flip in a header's MTIME/OS byte changes no data) ...
    texts = [r["text"] for r in kept]
    want = [t for b, good in zip(bodies, ok) for t in _texts(b) if good]
    if ok[-1] or texts == want:
        assert texts == want
    else:  # ... but a flip that leaves the final member wanting more bytes reads as a cut file: a prefix of its
        # lines, decoded before the damage, is kept (never a line that is not in the original)
        assert texts[: len(want)] == want and texts[len(want) :] == _texts(bodies[-1])[: len(texts) - len(want)]
        assert [r["_reject_reason"] for r in quarantined][-1] == "truncated_input"
    assert bool(quarantined) == (not all(ok))
    assert all(r["_reject_reason"] in ("corrupt_input", "truncated_input") for r in quarantined)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.tuples(st.floats(0, 0.9999), st.floats(0, 0.9999)))
def test_fuzz_cut_out_ranges_keep_every_intact_member(tmp_path, cut):
    """Bytes [a, b) cut out of a 4-member file: every member wholly outside the cut is kept, nothing else is."""
    bodies, members = _members(4, 150, _gz)
    data = b"".join(members)
    a, b = sorted(int(x * len(data)) for x in cut)
    if a == b:
        b = a + 1
    bounds, at = [], 0
    for m in members:
        bounds.append((at, at + len(m)))
        at += len(m)
    intact = [end <= a or start >= b for start, end in bounds]
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[:a] + data[b:])
    kept, quarantined, _ = _read(path)
    texts = [r["text"] for r in kept]
    want = [t for body, good in zip(bodies, intact) for t in _texts(body) if good]
    cut_member = intact.index(False)
    if not any(intact[cut_member:]):  # nothing whole after the cut: the cut member may keep its complete lines
        assert texts[: len(want)] == want
        assert texts[len(want) :] == _texts(bodies[cut_member])[: len(texts) - len(want)]
    else:
        assert texts == want
    assert quarantined or texts == [t for body in bodies for t in _texts(body)]  # (a cut of only the last NULs)
    if any(intact[cut_member:]):
        assert all(r["_reject_reason"] in ("corrupt_input", "truncated_input") for r in quarantined)
    # else: a cut member whose last bytes are foreign (left from another member) reads as a cut file; a line those
    # bytes completed can be garbage, which the JSON check quarantines (a cut member cannot be verified)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=3000), codec=st.sampled_from(["gzip", "zstd"]))
def test_fuzz_random_bytes_complete_with_reconciled_counts(tmp_path, data, codec):
    path = tmp_path / f"random.jsonl.{'gz' if codec == 'gzip' else 'zst'}"
    path.write_bytes(_MAGIC_PREFIX[codec] + data)
    kept, _quarantined, _seen = _read(path)  # never raises; _read checks seen == emitted
    assert not kept or all(isinstance(r["text"], str) for r in kept)


_MAGIC_PREFIX = {"gzip": b"\x1f\x8b\x08\x00", "zstd": b"\x28\xb5\x2f\xfd"}


def test_fasta_never_joins_sequence_across_a_corrupt_member(tmp_path):
    """A record whose middle member is corrupt: the sequence after the gap continues as its own record."""
    seq = b"".join(
        hashlib.sha256(str(i).encode()).hexdigest().translate(bytes.maketrans(b"0123456789abcdef", b"ACGTACGTACGTACGT")).encode() + b"\n" for i in range(3000)
    )
    lines = (b">chr1 test\n" + seq).splitlines(keepends=True)
    parts = [b"".join(lines[:1000]), b"".join(lines[1000:2000]), b"".join(lines[2000:])]
    members = [_gz(p) for p in parts]
    members[1] = _flip(members[1], len(members[1]) // 2)
    path = tmp_path / "g.fa.gz"
    path.write_bytes(b"".join(members))
    cfg = IngestConfig()
    reader = ReadTask(cfg)
    rows = pa.concat_tables(list(reader(pa.Table.from_pylist(plan_read_tasks(resolve_inputs([str(path)])))))).to_pylist()
    kept = [r for r in rows if r["_reject_reason"] is None]
    bad = [r for r in rows if r["_reject_reason"] is not None]
    assert bad and all(r["_reject_reason"] in ("corrupt_input", "short_segment") for r in bad)
    before = b"".join(parts[0].splitlines()[1:])
    after = b"".join(parts[2].splitlines())
    got_before = "".join(r["seq"] for r in kept if r["record"] == "chr1")
    got_after = "".join(r["seq"] for r in kept if r["record"].startswith("chr1~after_lost_data@"))
    # every kept base is where it was: a prefix of the sequence before the gap, a prefix of the one after it
    assert got_before and before.decode().startswith(got_before)
    assert got_after and after.decode().startswith(got_after)


@pytest.mark.parametrize("codec", ["gzip", "zstd"])
def test_compressed_lines_equal_plain_lines(tmp_path, codec):
    """Offsets and line ends (BOM, CRLF, blank lines, a last line without newline, a line across members) are the
    same read compressed as read plain."""
    body = b"\xef\xbb\xbf" + b"".join(f"line {i}\r\n".encode() if i % 3 else b"\n" for i in range(3000)) + b"tail"
    plain = tmp_path / "p.txt"
    plain.write_bytes(body)
    packed = tmp_path / f"p.txt.{'gz' if codec == 'gzip' else 'zst'}"
    compress = _gz if codec == "gzip" else _zst
    packed.write_bytes(b"".join(compress(body[i : i + 7001]) for i in range(0, len(body), 7001)))
    assert list(streams.iter_lines(str(packed), codec)) == list(streams.iter_lines(str(plain), None))


def test_a_parquet_page_whose_checksum_fails_is_quarantined_not_read(tmp_path):
    """Damage that still decodes (one digit changed in a plain-encoded string) is caught by the page's CRC, when the
    writer wrote one; the row group is quarantined whole, the file's other row groups are read."""
    import pyarrow.parquet as pq

    table = pa.table({"text": [f"document number {i} of the corpus" for i in range(400)]})
    path = tmp_path / "docs.parquet"
    pq.write_table(table, path, compression="none", use_dictionary=False, write_page_checksum=True, row_group_size=200)
    good, quarantined, seen = _read(path)
    assert len(good) == 400 and not quarantined
    data = bytearray(path.read_bytes())
    at = data.find(b"document number 250 ")
    data[at + len("document number 2")] ^= 0x01  # '5' -> '4': still a valid string, the wrong text
    path.write_bytes(bytes(data))
    assert pq.ParquetFile(path).read_row_group(1)["text"][50].as_py() == "document number 240 of the corpus"  # decodes
    good, quarantined, seen = _read(path)
    assert seen == 201  # the intact row group's rows, and the damaged one as one record
    assert [r["text"] for r in good] == [f"document number {i} of the corpus" for i in range(200)]
    assert [(r["_reject_reason"], r["location"]) for r in quarantined] == [("unreadable_parquet", "row_group=1")]
    assert "CRC" in quarantined[0]["_reject_detail"]
