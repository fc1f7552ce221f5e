"""Exact, fast uroman romanization of single lines: the engine behind :class:`Romanizer`.

The reference is ``uroman.Uroman().romanize_string(line, lcode=lang)`` (no cache), line by line. This engine
returns the same string byte for byte, faster, through four paths tried in order:

1. **Pure ASCII lines are returned unchanged.** Proved from uroman's tables at start-up
   (:func:`ascii_identity_holds`): every rule keyed by an ASCII string maps it to itself, digit runs keep their
   text (uroman's ``value_s``), ASCII has no virama/vowel-sign/tone-mark roles, and Latin has no abugida vowel.
   So every lattice edge over ASCII text spells its own source and any path through them gives the input back.
2. **uroman-fast (uroman-rs)** for lines whose characters all belong to :data:`FAST_SCRIPTS`, the scripts on
   which it matched uroman on every UDHR line and on every single character of the script (see the tests).
3. **Segments with a cache.** A line is cut after each run of ASCII spaces (the spaces stay on the left piece),
   unless the next piece starts with a combining mark or another character that reads its left neighbour. For
   uroman 1.3.1.1 such a piece romanizes the same alone as inside its line (argument in :func:`split_segments`),
   so ``(lang, piece)`` is a safe cache key. uroman's own cache cuts around ``。``/``་``/punctuation too, which
   is *not* context-free (it changes output on a few UDHR lines); we never cut there.
4. **Whole line**, when a piece reports that it needed text left of itself (Thai O ANG looks back past a space
   when the letters before it romanize to nothing), for Braille lines and when the proof's preconditions fail.
"""

from __future__ import annotations

import importlib.metadata
import logging
import unicodedata

import regex
import uroman as uroman_pkg
from uroman.uroman import Lattice, Uroman

logger = logging.getLogger(__name__)

#: The uroman release whose lattice code the segment argument was checked against.
PROVED_UROMAN_VERSION = "1.3.1.1"
#: The uroman-fast release that :data:`FAST_SCRIPTS` and :data:`FAST_EXCLUDED` were measured on.
CHECKED_UROMAN_FAST_VERSION = "0.1.0b0"

#: uroman script names (``Uroman.chr_script_name``) on which uroman-fast 0.1.0b0 equals uroman on every UDHR
#: line and on every single character (alone and in two small contexts); '' is uroman's name for characters
#: without a script (punctuation, symbols, Canadian syllabics, ...). Not listed, hence always uroman: CJK,
#: Hiragana, Katakana, Thai, Khmer, Myanmar, Tibetan, Gujarati, Gurmukhi (uroman-fast differs there), and
#: every script UDHR does not cover.
FAST_SCRIPTS = frozenset({
    "", "Arabic", "Arabic-Indic", "Armenian", "Bengali", "Cherokee", "Cyrillic", "Devanagari", "Ethiopic",
    "Extended Arabic-Indic", "Georgian", "Greek", "Hangul", "Hebrew", "Kannada", "Lao", "Latin", "Malayalam",
    "Mongolian", "Syriac", "Tagalog", "Tamil", "Thaana", "Tifinagh", "Vai", "Yi",
})

#: Code points of those scripts that still go to uroman: where uroman-fast differed on the character alone or
#: next to 'a' (or panicked); the characters that explain every difference found by a search over random
#: strings of each script (mostly combining marks in unusual places: nukta, stress signs, candrabindu, Hebrew
#: accents); and all of Braille (uroman carries Braille capitals and number marks across words). Inclusive.
FAST_EXCLUDED = (
    "0184 01A7 01BC 0295 0591-05AF 0900 093C 0951-0954 09BC 09D7 0BD7 0C81 0CBC 0D01 0D3B-0D3C 0D66-0D6F 10C3 "
    "10F3 1CB3 2000-2001 205F 2103 2109 2126 213E 214D 2460-2468 2474-247C 2488-2490 24EA 24F5-24FD 24FF "
    "2776-277E 2780-2788 278A-2792 2800-28FF 2D23 FF65 FF70 FF9E-FF9F FFE3 1D7CE-1D7FF 1F100-1F10C 1FBF0-1FBF9"
)


def _code_points(ranges: str) -> frozenset[str]:
    chars = set()
    for item in ranges.split():
        lo, _, hi = item.partition("-")
        chars.update(chr(cp) for cp in range(int(lo, 16), int(hi or lo, 16) + 1))
    return frozenset(chars)


_FAST_EXCLUDED_CHARS = _code_points(FAST_EXCLUDED)


def _fast_eligible(c: str, script: str) -> bool:
    """Whether uroman-fast may romanize character ``c`` (of uroman script ``script``)."""
    if script not in FAST_SCRIPTS or c in _FAST_EXCLUDED_CHARS:
        return False
    # Number symbols (circled, Ethiopic or Roman numerals, fractions, fullwidth or mathematical digits) go
    # through uroman's number logic, where the two implementations part most often; a script's own decimal
    # digits (Arabic-Indic, Devanagari, ...) were checked on UDHR and stay.
    if c.isascii() or unicodedata.numeric(c, None) is None:
        return True
    return script != "" and unicodedata.decimal(c, None) is not None
_BRAILLE = regex.compile(r"[\u2800-\u28FF]")
# Characters that change how the end of the piece on their left romanizes when they follow it (uroman's
# ``expand_rom_with_special_chars`` extends an edge over a following virama, Japanese small kana and the long
# vowel mark); combining marks are excluded wholesale, whatever their role.
_READS_LEFT = "ーゃゅょャュョ"


def ascii_identity_holds(u: Uroman) -> bool:
    """Check, on the loaded tables, the facts that make uroman return any pure-ASCII string unchanged."""
    for key, rules in u.rom_rules.items():
        if not key or not rules or not key.isascii():
            continue  # the empty key only serves look-ups past the end of a string, never an edge
        # t == key keeps the text; a leading '+m' would be cut, edge spaces stripped, digits re-spaced.
        if key[0] == " " or key[-1] == " " or regex.match(r"\+(m|ng|n|h|r)", key) or any(map(str.isdigit, key)):
            return False
        if any(r["t"] != key or r["t-at-end-of-syllable"] is not None for r in rules):
            return False
    for i in range(128):
        c = chr(i)
        if any(u.dict_bool.get((role, c)) for role in ("is-virama", "is-vowel-sign", "is-medial-consonant-sign")):
            return False
        if u.dict_str.get(("tone-mark", c)) or u.dict_str.get(("syllable-info", c)):
            return False
        num = u.num_props.get(c)
        if num and not (c.isdigit() and num.get("type") == "digit" and num.get("base") == 1):
            return False
        if unicodedata.decomposition(c) or unicodedata.category(c) in ("Mn", "Cf", "Co"):
            return False
    scripts = {u.dict_str.get(("script", chr(i)), "") for i in range(128)}
    return not any(u.scripts[s.lower()]["abugida-default-vowels"] for s in scripts if s.lower() in u.scripts)


def segment_preconditions_hold(u: Uroman) -> bool:
    """Check the table facts the segment argument of :func:`split_segments` relies on."""
    if getattr(uroman_pkg.uroman, "__version__", None) != PROVED_UROMAN_VERSION:
        return False
    sp = " "
    if u.rom_rules.get(sp) or u.dict_bool.get(("s-prefix", sp)) or u.num_props.get(sp):
        return False
    if u.dict_str.get(("script", sp)) or u.dict_str.get(("tone-mark", sp)) or u.dict_str.get(("syllable-info", sp)):
        return False
    for key, rules in u.rom_rules.items():
        if not rules:
            continue
        if sp in key[:-1]:
            return False  # a rule would span from one piece into the next
        if key.endswith(sp):
            for r in rules:  # such an edge ends where the next piece starts: it must not make it mid-word
                flags = ("use-only-at-start-of-word", "dont-use-at-start-of-word", "use-only-at-end-of-word",
                         "dont-use-at-end-of-word", "use-only-for-whole-word", "t-at-end-of-syllable")
                if any(r[f] for f in flags) or any(ch.isalpha() for ch in r["t"]):
                    return False
    viramas = [k[1] for k, v in u.dict_bool.items() if v and k[0] == "is-virama"]
    return all(unicodedata.category(c).startswith("M") for c in viramas)


def split_segments(line: str) -> list[str]:
    """Cut ``line`` after each run of ASCII spaces whose next character is safe to start a piece.

    Why a piece romanizes alone as in its line (uroman 1.3.1.1, preconditions checked by
    :func:`segment_preconditions_hold`): the space has no rule, number role or script; no rule key holds a space
    except as its last character, so no edge crosses a cut; number chains, Tibetan syllables and Thai vowel
    patterns stop at a space; ``start == 0`` and "previous char is a space" are treated alike (start-of-word,
    start-of-syllable, leading-space stripping); the left piece keeps its trailing spaces, so everything that
    looks right (end-of-word, end-of-syllable, trailing-space stripping) sees the same space in both cases; and
    the right piece does not start with a character that extends the edge on its left (combining marks, virama,
    small kana, long vowel mark). The one look-back of unbounded reach (Thai O ANG) is detected per piece at run
    time by :class:`_TrackingLattice`. Braille lines are never cut (capitals and number marks carry over spaces).
    """
    return [m for m in _SEGMENT.findall(line) if m]


_SEGMENT = regex.compile(r" *[^ ]*(?: +[\p{M}" + _READS_LEFT + r"][^ ]*)* *")


class _TrackingLattice(Lattice):
    """uroman's lattice, recording whether a look-back walked off the left edge of the string it was given."""

    needs_left_context = False

    def find_rom_edge_path_backwards(self, start, end, min_char=None, return_str=False, skip_num_edge=False):
        found = super().find_rom_edge_path_backwards(start, end, min_char, return_str, skip_num_edge)
        # Only Thai O ANG calls this (start=0, min_char=1); at end == 0 the caller ignores the result because the
        # character before a piece is a space. Otherwise a short result means the walk reached position 0 and,
        # inside the full line, would have continued into the previous piece.
        n_chars = len(found) if isinstance(found, str) else sum(len(e.txt) for e in found)
        if start == 0 and end > 0 and min_char and n_chars < min_char:
            self.needs_left_context = True
        return found


def _load_uroman_fast():
    """uroman-fast's ``romanize`` if the checked release is installed, else None (then uroman does all)."""
    try:
        version = importlib.metadata.version("uroman-fast")
        from uroman_fast import romanize
    except (ImportError, importlib.metadata.PackageNotFoundError):
        logger.warning("uroman-fast is not installed; using uroman for every script")
        return None
    if version != CHECKED_UROMAN_FAST_VERSION:
        logger.warning("uroman-fast %s is not the checked %s; using uroman for every script",
                       version, CHECKED_UROMAN_FAST_VERSION)
        return None
    return romanize


class UromanEngine:
    """Romanize lines exactly as ``Uroman().romanize_string(line, lcode=lang)``; set up once per process/actor.

    Args:
        cache_size: most (lang, piece) results kept (the cache is emptied when full); 0 disables the cache.
        split: cut lines into context-free pieces (path 3); False romanizes and caches whole lines.
        use_uroman_fast: use uroman-fast for lines whose scripts are all in :data:`FAST_SCRIPTS`.
    """

    def __init__(self, *, cache_size: int = 1_000_000, split: bool = True, use_uroman_fast: bool = True) -> None:
        self.uroman = Uroman()  # cache off: uroman's own cache segments differently from the reference
        self.cache_size = cache_size
        self._cache: dict[tuple[str | None, str], str | tuple[str]] = {}
        self.ascii_identity = ascii_identity_holds(self.uroman)
        self.split = split and segment_preconditions_hold(self.uroman)
        if split and not self.split:
            logger.warning("uroman %s: segment preconditions not met, romanizing whole lines",
                           getattr(uroman_pkg.uroman, "__version__", "?"))
        self._fast = _load_uroman_fast() if use_uroman_fast else None
        self._fast_char: dict[str, bool] = {}
        self.stats = dict.fromkeys(
            ("lines", "ascii_lines", "fast_lines", "cached_lines", "segment_hits", "segment_misses",
             "whole_lines", "context_fallbacks"), 0)

    @property
    def uses_uroman_fast(self) -> bool:
        """Whether uroman-fast is loaded (and used for lines of :data:`FAST_SCRIPTS`)."""
        return self._fast is not None

    def romanize_text(self, text: str, lang: str | None) -> str:
        """Romanize a document line by line (split on '\\n', joined with '\\n')."""
        lang = lang or None
        return "\n".join([self.romanize_line(line, lang) for line in text.split("\n")])

    def romanize_line(self, line: str, lang: str | None) -> str:
        """Romanize one line (no '\\n' inside)."""
        stats = self.stats
        stats["lines"] += 1
        if self.ascii_identity and line.isascii():
            stats["ascii_lines"] += 1
            return line
        if self._fast is not None and self._fast_ok(line):
            try:
                rom = self._fast(line, lang=lang)
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException:  # a Rust panic arrives as pyo3's PanicException, a BaseException
                logger.debug("uroman-fast failed on %r; using uroman", line[:80])
            else:
                stats["fast_lines"] += 1
                return rom
        hit = self._cache.get((lang, line))
        if hit is not None:
            stats["cached_lines"] += 1
            return hit if hit.__class__ is str else hit[0]  # a whole line needs no left context
        if not self.split or _BRAILLE.search(line):
            return self._whole_line(line, lang)
        out = []
        first = True
        for piece in split_segments(line):
            if self.ascii_identity and piece.isascii():
                out.append(piece)
            else:
                rom = self._piece(piece, lang)
                if rom.__class__ is not str:  # this piece read text left of itself
                    if not first:
                        stats["context_fallbacks"] += 1
                        return self._whole_line(line, lang)
                    rom = rom[0]
                out.append(rom)
            first = False
        return "".join(out)

    def _fast_ok(self, line: str) -> bool:
        known = self._fast_char
        for c in set(line):
            ok = known.get(c)
            if ok is None:
                ok = known[c] = _fast_eligible(c, self.uroman.dict_str.get(("script", c), ""))
            if not ok:
                return False
        return True

    def _piece(self, piece: str, lang: str | None) -> str | tuple[str]:
        """uroman(piece) as a str, or as a 1-tuple when the piece looked left of itself."""
        key = (lang, piece)
        hit = self._cache.get(key)
        if hit is not None:
            self.stats["segment_hits"] += 1
            return hit
        self.stats["segment_misses"] += 1
        rom, needs_left = self.lattice_romanize(piece, lang)
        result = (rom,) if needs_left else rom
        self._remember(key, result)
        return result

    def _whole_line(self, line: str, lang: str | None) -> str:
        self.stats["whole_lines"] += 1
        rom, _ = self.lattice_romanize(line, lang)
        self._remember((lang, line), rom)
        return rom

    def _remember(self, key: tuple[str | None, str], value: str | tuple[str]) -> None:
        if self.cache_size <= 0:
            return
        if len(self._cache) >= self.cache_size:
            self._cache.clear()  # simple bound; pieces repeat, so it refills with the frequent ones
        self._cache[key] = value

    def lattice_romanize(self, s: str, lang: str | None) -> tuple[str, bool]:
        """uroman's ``romanize_string_core`` (no cache, string output), also reporting a left look-back."""
        lat = _TrackingLattice(s, uroman=self.uroman, lcode=lang)
        lat.pick_tibetan_vowel_edge()
        lat.prep_braille()
        lat.add_romanization()
        lat.add_numbers(self.uroman)
        lat.add_braille_numbers()
        lat.add_rom_fall_back_singles()
        return lat.edge_path_to_surf(lat.best_rom_edge_path(0, len(s))), lat.needs_left_context


def reference_romanize_text(u: Uroman, text: str, lang: str | None) -> str:
    """The specification: uroman's own ``romanize_string`` on each line (slow; for tests and benchmarks)."""
    return "\n".join(u.romanize_string(line, lcode=lang) for line in text.split("\n"))
