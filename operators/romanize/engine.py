"""Exact, fast uroman romanization of single lines: the engine behind :class:`Romanizer`.

The reference is ``uroman.Uroman().romanize_string(line, lcode=lang)`` (no cache), line by line. This engine
returns the same string byte for byte, faster, through these paths, tried in order:

1. **Pure ASCII lines are returned unchanged.** Proved from uroman's tables at start-up
   (:func:`ascii_identity_holds`): every rule keyed by an ASCII string maps it to itself, digit runs keep their
   text (uroman's ``value_s``), ASCII has no virama/vowel-sign/tone-mark roles, and Latin has no abugida vowel.
   So every lattice edge over ASCII text spells its own source and any path through them gives the input back.
2. **Fixed lines** (:mod:`operators.romanize.fixed`): when no character of the line has a context rule and no
   two neighbours start a multi-character rule, each character has one fixed text and ``str.translate`` gives
   the line.
3. **Pieces with a cache.** Otherwise the line is cut into pieces that uroman romanizes alone exactly as inside
   the line (:mod:`operators.romanize.segments` argues why, per lattice rule); ``(lang, piece)`` is then a safe
   cache key. A fixed piece is translated; any other is looked up in the cache, else a piece of characters
   uroman-fast (uroman-rs) was checked on (:data:`FAST_SCRIPTS` minus :data:`FAST_EXCLUDED`, see
   :func:`fast_eligible`) goes to uroman-fast, any other to uroman's lattice. (With pieces or fixed tables off,
   a whole line of checked characters goes to uroman-fast.)
   uroman's own cache also cuts before ``。``/``་`` and inside punctuation runs, which is *not* context-free (it
   changes a few UDHR lines); our cuts keep a space or separator on the left piece and avoid those cases.
4. **Whole line** with uroman when a piece reports that it read text left of itself (Thai O ANG looks back
   past characters that romanize to nothing), or when the start-up checks of the cut argument fail.
"""

from __future__ import annotations

import importlib.metadata
import logging
import unicodedata
from collections.abc import Callable

import regex
from uroman.uroman import Uroman

from tokenmill.operators.quality.words import chars_in_ranges
from tokenmill.operators.romanize.fixed import FixedTables
from tokenmill.operators.romanize.segments import Segmenter, lattice_romanize, private_uroman

logger = logging.getLogger(__name__)

#: The uroman-fast release that :data:`FAST_SCRIPTS` and :data:`FAST_EXCLUDED` were measured on.
CHECKED_UROMAN_FAST_VERSION = "0.1.0b0"

#: uroman script names (``Uroman.chr_script_name``) whose characters may go to uroman-fast 0.1.0b0: on them it
#: equals uroman on every UDHR line (once :data:`FAST_EXCLUDED` is taken out), on every single character (alone,
#: between letters, doubled) and on random strings of the script. '' is uroman's name for characters without a
#: script (punctuation, symbols, Canadian syllabics, ...). Not listed, hence always uroman: Khmer, Myanmar and
#: Tibetan (uroman-fast differs on common letters there) and every script that UDHR does not cover.
FAST_SCRIPTS = frozenset(
    {
        "",
        "Arabic",
        "Arabic-Indic",
        "Armenian",
        "Bengali",
        "CJK",
        "Cherokee",
        "Cyrillic",
        "Devanagari",
        "Ethiopic",
        "Extended Arabic-Indic",
        "Georgian",
        "Greek",
        "Gujarati",
        "Gurmukhi",
        "Hangul",
        "Hebrew",
        "Hiragana",
        "Kannada",
        "Katakana",
        "Lao",
        "Latin",
        "Malayalam",
        "Mongolian",
        "Syriac",
        "Tagalog",
        "Tamil",
        "Thaana",
        "Thai",
        "Tifinagh",
        "Vai",
        "Yi",
    }
)

#: Code points of those scripts that still go to uroman (inclusive ranges): where uroman-fast differed on the
#: character alone or next to 'a' (or panicked); the characters explaining every difference on UDHR lines
#: (Thai O ANG, Gujarati visarga, Gurmukhi addak and nukta, CJK 参/參) and on random strings of each script
#: (mostly combining marks in unusual places: nukta, stress signs, candrabindu, Hebrew accents); all of Braille.
FAST_EXCLUDED = (
    "0184 01A7 01BC 0295 0591-05AF 0900 093C 0951-0954 09BC 09D7 0A01 0A03 0A3C 0A51 0A71 0A75 0A81 0A83 0ABC "
    "0AFA-0AFF 0BD7 0C81 0CBC 0D01 0D3B-0D3C 0D66-0D6F 0E2D 10C3 10F3 1CB3 2000-2001 205F 2103 2109 2126 213E "
    "214D 2460-2468 2474-247C 2488-2490 24EA 24F5-24FD 24FF 2776-277E 2780-2788 278A-2792 2800-28FF 2D23 4E07 "
    "4EAC 4EBF-4EC0 4F0D 5104 5146 5169 53C2-53C3 842C 9646 9678 FF65 FF70 FF9E-FF9F FFE3 1D7CE-1D7FF "
    "1F100-1F10C 1FBF0-1FBF9"
)
_FAST_EXCLUDED_CHARS = chars_in_ranges(FAST_EXCLUDED)


def fast_eligible(c: str, script: str) -> bool:
    """Whether uroman-fast may romanize character ``c`` (of uroman script ``script``)."""
    if script not in FAST_SCRIPTS or c in _FAST_EXCLUDED_CHARS:
        return False
    # Number symbols (circled, Ethiopic or Roman numerals, fractions, fullwidth or mathematical digits) go
    # through uroman's number logic, where the two implementations part most often; a script's own decimal
    # digits (Arabic-Indic, Devanagari, ...) were checked on UDHR and stay.
    if c.isascii() or unicodedata.numeric(c, None) is None:
        return True
    return script != "" and unicodedata.decimal(c, None) is not None


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


def _load_uroman_fast() -> Callable[..., str] | None:
    """uroman-fast's ``romanize`` if the checked release is installed, else None (then uroman does all)."""
    try:
        version = importlib.metadata.version("uroman-fast")
        from uroman_fast import romanize
    except (ImportError, importlib.metadata.PackageNotFoundError):
        logger.warning("uroman-fast is not installed; using uroman for every script")
        return None
    if version != CHECKED_UROMAN_FAST_VERSION:
        logger.warning("uroman-fast %s is not the checked %s; using uroman for every script", version, CHECKED_UROMAN_FAST_VERSION)
        return None
    return romanize


PATH_STATS = (
    "ascii_lines",
    "fixed_lines",
    "fast_lines",
    "cached_lines",
    "piece_hits",
    "fixed_pieces",
    "fast_pieces",
    "lattice_pieces",
    "whole_lines",
    "context_fallbacks",
    "uroman_errors",
)
"""The engine's counters of which path romanized a line or piece (its ``stats``, besides ``lines``)."""

_WARM_UP = "Müller Привет नमस्ते ক্ষ ਪੰਜਾਬ ભારત ภาษาไทย ខ្មែរ မြန်မာ ཀ་ཁ། 日本語のカナ 中文，一二三 한국 ሰላም 12.5 ½ ①"


class UromanEngine:
    """Romanize lines exactly as ``Uroman().romanize_string(line, lcode=lang)``; set up once per process/actor.

    Args:
        cache_size: most (lang, piece) results kept (the cache is emptied when full); 0 disables the cache.
        split: cut lines into context-free pieces (path 3); False romanizes and caches whole lines.
        use_uroman_fast: use uroman-fast for checked characters (path 3).
        use_fixed: translate fixed lines and pieces (path 2 and in 3).
    """

    def __init__(self, *, cache_size: int = 200_000, split: bool = True, use_uroman_fast: bool = True, use_fixed: bool = True) -> None:
        # cache off: uroman's own cache cuts strings differently from the reference
        self.uroman = private_uroman().Uroman()
        self.cache_size = cache_size
        self._cache: dict[tuple[str | None, str], str | tuple[str]] = {}
        self.ascii_identity = ascii_identity_holds(self.uroman)
        self.segmenter = Segmenter(self.uroman)
        self.fixed = FixedTables(self.uroman, ascii_identity=self.ascii_identity) if use_fixed else None
        self.split = split and self.segmenter.enabled
        if split and not self.split:
            logger.warning("uroman tables or version differ from the checked ones: romanizing whole lines")
        self._fast = _load_uroman_fast() if use_uroman_fast else None
        # Set-up work that would otherwise land on the first batch: uroman-rs loads its tables on its first
        # call, and the lattice compiles its patterns as it meets them (results are not kept).
        if self._fast is not None:
            self._fast(_WARM_UP, lang=None)
        for lang in (None, "hin", "tha"):
            lattice_romanize(self.uroman, _WARM_UP, lang)
        self._fast_char: dict[str, bool] = {}
        self.stats = dict.fromkeys(("lines", *PATH_STATS), 0)

    @property
    def uses_uroman_fast(self) -> bool:
        """Whether uroman-fast is loaded (and used for the characters it was checked on)."""
        return self._fast is not None

    def romanize_text(self, text: str, lang: str | None) -> str:
        """Romanize a document line by line (split on '\\n', joined with '\\n')."""
        lang = lang or None
        return "\n".join([self.romanize_line(line, lang) for line in text.split("\n")])

    def romanize_line(self, line: str, lang: str | None) -> str:
        """Romanize one line (no '\\n' inside); ``lang`` None or '' means no language code."""
        lang = lang or None
        stats = self.stats
        stats["lines"] += 1
        if self.ascii_identity and line.isascii():
            stats["ascii_lines"] += 1
            return line
        fixed = self.fixed
        if fixed is not None and fixed.is_fixed(line, lang):
            stats["fixed_lines"] += 1
            return fixed.translate(line, lang)
        if self._fast is not None and (not self.split or fixed is None) and self._fast_ok(line):
            rom = self._try_fast(line, lang)
            if rom is not None:
                stats["fast_lines"] += 1
                return rom
        hit = self._cache.get((lang, line))
        if hit is not None:
            stats["cached_lines"] += 1
            return hit if hit.__class__ is str else hit[0]  # a whole line needs no left context
        if not self.split:
            return self._whole_line(line, lang)
        out = []
        try:
            for i, piece in enumerate(self.segmenter.split(line)):
                if self.ascii_identity and piece.isascii():
                    out.append(piece)
                    continue
                if fixed is not None and fixed.is_fixed(piece, lang):
                    stats["fixed_pieces"] += 1
                    out.append(fixed.translate(piece, lang))
                    continue
                piece_rom = self._piece(piece, lang)
                if type(piece_rom) is not str:  # the piece read text left of itself: only right at the line start
                    if i:
                        stats["context_fallbacks"] += 1
                        return self._whole_line(line, lang)
                    piece_rom = piece_rom[0]
                out.append(piece_rom)
        except Exception:  # uroman itself failed on a piece; the whole line decides (see _whole_line)
            return self._whole_line(line, lang)
        return "".join(out)

    def _fast_ok(self, s: str) -> bool:
        known = self._fast_char
        for c in set(s):
            ok = known.get(c)
            if ok is None:
                ok = known[c] = fast_eligible(c, self.uroman.dict_str.get(("script", c), ""))
            if not ok:
                return False
        return True

    def _try_fast(self, s: str, lang: str | None) -> str | None:
        if self._fast is None:
            return None
        try:
            return self._fast(s, lang=lang)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException:  # a Rust panic arrives as pyo3's PanicException, a BaseException
            logger.debug("uroman-fast failed on %r; using uroman", s[:80])
            return None

    def _piece(self, piece: str, lang: str | None) -> str | tuple[str]:
        """uroman(piece) as a str, or as a 1-tuple when the piece looked left of itself."""
        key = (lang, piece)
        hit = self._cache.get(key)
        if hit is not None:
            self.stats["piece_hits"] += 1
            return hit
        # uroman-fast never looks left: the one character that makes uroman do so (Thai O ANG) is excluded
        result: str | tuple[str] | None = None
        if self._fast is not None and self._fast_ok(piece):
            result = self._try_fast(piece, lang)
        if result is not None:
            self.stats["fast_pieces"] += 1
        else:
            self.stats["lattice_pieces"] += 1
            rom, needs_left = lattice_romanize(self.uroman, piece, lang)
            result = (rom,) if needs_left else rom
        self._remember(key, result)
        return result

    def _whole_line(self, line: str, lang: str | None) -> str:
        self.stats["whole_lines"] += 1
        try:
            rom, _ = lattice_romanize(self.uroman, line, lang)
        except Exception:
            # uroman raises on a few malformed inputs (e.g. Thai O ANG before a character without a rule, where
            # uroman.Uroman().romanize_string raises TypeError too): keep the line as it is and count it, rather
            # than failing the whole batch.
            self.stats["uroman_errors"] += 1
            logger.warning("uroman failed on line %r (lang %s); kept unchanged", line[:80], lang, exc_info=True)
            return line
        self._remember((lang, line), rom)
        return rom

    def _remember(self, key: tuple[str | None, str], value: str | tuple[str]) -> None:
        if self.cache_size <= 0:
            return
        if len(self._cache) >= self.cache_size:
            self._cache.clear()  # a simple bound; frequent pieces come back at once
        self._cache[key] = value


def reference_romanize_text(u: Uroman, text: str, lang: str | None) -> str:
    """The specification: uroman's own ``romanize_string`` on each line (slow; for tests and benchmarks)."""
    return "\n".join(u.romanize_string(line, lcode=lang) for line in text.split("\n"))
