"""Fixed strings (operators.romanize.fixed): per-character texts and str.translate against uroman itself."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tokenmill.operators.romanize.fixed import FixedTables, reference_fixed_romanize
from tokenmill.operators.romanize.segments import lattice_romanize

LANGS = [None, "rus", "ukr", "bul", "kaz", "kir", "ell", "pes", "fas", "uig", "heb", "ydd", "kor", "cmn", "amh", "hye", "kat", "jpn", "arb"]


@pytest.fixture(scope="module")
def tables(exact_engine) -> FixedTables:
    return FixedTables(exact_engine.uroman, ascii_identity=exact_engine.ascii_identity)


@pytest.fixture(scope="module")
def udhr_chars(udhr_files) -> list[str]:
    """Every distinct character of UDHR plus the caps and lone-rule characters that show each branch."""
    chars = {c for _n, _l, lines in udhr_files for line in lines for c in line}
    return sorted(chars | set("ЖЩЁЮЯ ½ﬁＡ가힣\u200c\ue000\t"))


def test_each_characters_text_is_uromans_own(tables, udhr_chars, exact_engine):
    """The text computed from the rules equals uroman's lattice on the character alone, for every language."""
    u = exact_engine.uroman
    checked = fixed = caps = 0
    for lang in LANGS:
        for c in udhr_chars:
            rom, is_caps = tables.romanization(c, lang)
            checked += 1
            if rom is None:
                continue
            fixed += 1
            caps += is_caps
            assert lattice_romanize(u, c, lang)[0] == rom, (c, hex(ord(c)), lang)
    assert fixed > 0.4 * checked and caps > 0


@pytest.fixture(scope="module")
def alphabet(tables, udhr_chars) -> dict[str | None, list[str]]:
    """Per language: its fixed characters (letters of many scripts, caps, punctuation, spaces)."""
    return {lang: [c for c in udhr_chars if tables.romanization(c, lang)[0] is not None] for lang in LANGS}


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fixed_strings_translate_exactly_like_uroman(data, tables, alphabet, reference_uroman):
    lang = data.draw(st.sampled_from(LANGS))
    # words of mostly one script: sample a window of the sorted alphabet, plus spaces and ASCII punctuation
    chars = alphabet[lang]
    lo = data.draw(st.integers(0, len(chars) - 1))
    pool = [*chars[lo : lo + 40], " ", " ", ",", ".", "-"]
    s = "".join(data.draw(st.lists(st.sampled_from(pool), min_size=1, max_size=30)))
    want = reference_uroman.romanize_string(s, lcode=lang)
    if tables.is_fixed(s, lang):
        assert tables.translate(s, lang) == want
        assert reference_fixed_romanize(tables, s, lang) == want


def test_pairs_with_a_rule_for_the_language_are_not_fixed(tables, reference_uroman):
    # 'ае' has a rule for Russian only; Greek 'ου' for every language
    assert not tables.is_fixed("знаете", "rus") and tables.is_fixed("знаете", "bul")
    assert tables.translate("знаете", "bul") == reference_uroman.romanize_string("знаете", lcode="bul")
    assert not tables.is_fixed("του", "ell")
    # Russian 'е' becomes 'ye' at the start of a word: a flagged rule for rus only
    assert not tables.is_fixed("ель", "rus") and tables.is_fixed("ель", "ukr")


def test_upper_case_rules_are_capitalized_before_lower_case(tables, reference_uroman):
    for s in ("Жизнь", "ЖИЗНЬ", "Ж", "Щука ЩУКА Щ.", "ЖЖж"):
        assert tables.is_fixed(s, "ukr"), s
        want = reference_uroman.romanize_string(s, lcode="ukr")
        assert tables.translate(s, "ukr") == want == reference_fixed_romanize(tables, s, "ukr")
    for s in ("Θάλασσα ΘΑΛΑΣΣΑ Θ", "Ψάρι ΨΑΡΙ"):  # 'TH' / 'PS' become 'Th' / 'Ps' before lower case only
        assert tables.is_fixed(s, "ell"), s
        assert tables.translate(s, "ell") == reference_uroman.romanize_string(s, lcode="ell")
    assert tables.translate("Θα ΘΑ", "ell").split() == ["Tha", "THA"]
    assert tables.translate("Жизнь ЖИЗНЬ", "ukr").split() == ["Zhyzn", "ZhYZN"]  # uroman's own output
