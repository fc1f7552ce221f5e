"""Full checks (slow: uroman itself needs ~2 min for the corpus): every UDHR line, every uroman-fast character."""

from __future__ import annotations

import unicodedata

import pyarrow as pa
import pytest
import uroman_fast

from tokenmill.operators.romanize import UromanEngine


@pytest.fixture(scope="module")
def udhr_reference(udhr_files, reference_uroman) -> list[list[str]]:
    """uroman's own output for every line of every UDHR file (the specification)."""
    return [[reference_uroman.romanize_string(line, lcode=lang) for line in lines] for _n, lang, lines in udhr_files]


@pytest.mark.slow
def test_every_udhr_file_is_identical(udhr_files, udhr_reference, romanizer):
    table = pa.table({"text": ["\n".join(lines) for _n, _l, lines in udhr_files], "lang": [lang for _n, lang, _l in udhr_files]})
    got = romanizer(table).column("text_roman").to_pylist()
    for (name, _lang, _lines), doc, want in zip(udhr_files, got, udhr_reference):
        assert doc.split("\n") == want, name


@pytest.mark.slow
def test_every_udhr_file_is_identical_without_uroman_fast(udhr_files, udhr_reference, exact_engine):
    for (name, lang, lines), want in zip(udhr_files, udhr_reference):
        assert [exact_engine.romanize_line(line, lang) for line in lines] == want, name


@pytest.mark.slow
def test_uroman_fast_matches_on_every_udhr_line_it_is_used_for(udhr_files, udhr_reference, romanizer):
    engine = romanizer.engine
    used = 0
    for (name, lang, lines), want in zip(udhr_files, udhr_reference):
        for line, ref in zip(lines, want):
            if not line.isascii() and engine._fast_ok(line):
                used += 1
                assert uroman_fast.romanize(line, lang=lang) == ref, (name, line)
    assert used > 15000


@pytest.mark.slow
def test_uroman_fast_matches_on_every_character_it_is_used_for(reference_uroman, romanizer):
    """Each code point routed to uroman-fast, alone, between letters and doubled, equals uroman."""
    engine = romanizer.engine
    bad = []
    for cp in range(0x80, 0x323B0):
        c = chr(cp)
        if unicodedata.category(c) in ("Cn", "Cs", "Co") or not engine._fast_ok(c):
            continue
        for s in (c, "a" + c + "a", c + c + " " + c):
            if uroman_fast.romanize(s) != reference_uroman.romanize_string(s):
                bad.append(s)
                break
    assert not bad, [hex(ord(s[len(s) // 2])) for s in bad[:20]]


@pytest.mark.slow
def test_cache_off_and_whole_lines_are_also_exact(udhr_files, udhr_reference):
    """The slower settings (no cache; whole lines instead of pieces) give the same bytes on a third of UDHR."""
    for engine in (UromanEngine(cache_size=0, use_uroman_fast=False), UromanEngine(split=False)):
        for (name, lang, lines), want in list(zip(udhr_files, udhr_reference))[1::3]:
            assert [engine.romanize_line(line, lang) for line in lines] == want, name
