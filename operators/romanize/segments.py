"""Cutting lines into pieces that uroman romanizes alone exactly as inside their line.

uroman (1.3.1.1, the version this was checked against) builds one lattice per string; some of its rules look at
neighbouring characters. A cut is safe when nothing in the lattice reads across it. We cut only:

* after a run of ASCII spaces, the spaces staying on the left piece;
* after a *separator* (``་ ༎ 。 、 ， ！ ？ ： ；``) when the next character is not a space;

and never before a character that reads its left neighbour (combining marks, a virama, Japanese small kana
and long vowel mark) or, after a separator, before one whose romanization starts with a space (uroman strips
that space at the start of a string but not after a separator; ``。（`` is such a case).

Why the pieces are independent, channel by channel of ``uroman.Lattice`` (each table fact is checked at start-up
by :func:`space_cut_ok` / :func:`separator_ok`; a failed check disables that cut):

* rule edges: the cut character occurs in no multi-character rule key (a space only as the last character,
  in ``'፡ '``), so no edge spans a cut, and ``is_at_end_of_word``'s prefix scan stops at the cut;
* start/end of word and syllable: the character before a cut is a space or a separator, neither a letter nor a
  mark, and every edge ending at the cut spells no letter or digit; so "preceded by a letter" is False, as at
  the start of a string; the left piece keeps its space/separator, so its last letters see the same right
  neighbour in both cases;
* space stripping: a leading space of an edge is stripped at position 0 and after a space alike; trailing
  spaces are stripped before a space, and no cut is made before a space except after a space run;
* numbers: the cut characters have no numeric value and are not ``.``, signs or fraction connectors, so digit
  chains, signs and ``·`` spacing stop at them;
* abugida vowels, Thai and Japanese context rules: the cut characters are not viramas, vowel signs, tone marks,
  Thai pre-vowels, small tsu or addak, and have no script (uroman's ``''``), like the string start;
* Tibetan syllables are runs of Tibetan letters, ended by a space or a separator;
* Braille (capitals, number marks) carries over spaces: Braille lines are never cut;
* Thai O ANG looks left past any number of characters that romanize to nothing: :func:`tracking_lattice`
  reports when that walk reaches the start of a piece, and the caller then romanizes the whole line.
"""

from __future__ import annotations

import functools
import importlib.util
import types
import unicodedata
from typing import Any

import regex
import uroman.uroman as uroman_module
from uroman.uroman import Uroman

#: The uroman release whose lattice code the argument above was checked against.
PROVED_UROMAN_VERSION = "1.3.1.1"
#: Candidate cut characters besides the space: Tibetan tsheg and nyis shad, CJK full stop, comma, enumeration
#: comma and fullwidth ! ? : ; (each kept only if :func:`separator_ok` holds on the loaded tables).
SEPARATOR_CANDIDATES = "\u0f0b\u0f0e\u3002\u3001\uff0c\uff01\uff1f\uff1a\uff1b"
# Characters whose edge uroman extends over the character on their left (besides combining marks).
_READS_LEFT = "ーゃゅょャュョ"
# uroman character roles and rule flags that make a romanization depend on its neighbours (fixed.py reads them too)
ROLES = ("is-virama", "is-vowel-sign", "is-medial-consonant-sign")
RULE_FLAGS = (
    "use-only-at-start-of-word",
    "dont-use-at-start-of-word",
    "use-only-at-end-of-word",
    "dont-use-at-end-of-word",
    "use-only-for-whole-word",
    "t-at-end-of-syllable",
)
_BRAILLE = regex.compile(r"[\u2800-\u28FF]")


def _plain(u: Uroman, c: str) -> bool:
    """No script, number, syllable or abugida role, and not a letter or mark."""
    if u.dict_str.get(("script", c)) or u.dict_str.get(("tone-mark", c)) or u.dict_str.get(("syllable-info", c)):
        return False
    if any(u.dict_bool.get((role, c)) for role in ROLES) or u.num_props.get(c):
        return False
    if unicodedata.numeric(c, None) is not None or unicodedata.category(c)[0] in "LMN":
        return False
    signs = set("".join(u.minus_signs)) | set("".join(u.plus_signs)) | set("".join(u.fraction_connectors))
    return c not in signs and c not in ".っッ\u0a71\u2820"


def space_cut_ok(u: Uroman) -> bool:
    """The table facts behind cutting after a run of ASCII spaces."""
    if getattr(uroman_module, "__version__", None) != PROVED_UROMAN_VERSION:
        return False
    if not _plain(u, " ") or u.rom_rules.get(" ") or u.dict_bool.get(("s-prefix", " ")):
        return False
    for key, rules in u.rom_rules.items():
        if rules and " " in key[:-1]:
            return False
        # ends at the cut: must not spell letters or carry position flags
        if rules and key.endswith(" ") and any(any(r[f] for f in RULE_FLAGS) or _spells(r["t"]) for r in rules):
            return False
    viramas = [k[1] for k, v in u.dict_bool.items() if v and k[0] == "is-virama"]
    return all(unicodedata.category(c).startswith("M") for c in viramas)


def separator_ok(u: Uroman, x: str) -> bool:
    """The table facts behind cutting after separator ``x`` (see the module docstring)."""
    if not _plain(u, x) or unicodedata.category(x) in ("Zs", "Cf", "Co"):
        return False
    if any(x in key for key, rules in u.rom_rules.items() if rules and key != x):
        return False
    rules = u.rom_rules.get(x) or []
    if any(any(r[f] for f in RULE_FLAGS) or _spells(r["t"]) for r in rules):
        return False
    decomposition = unicodedata.decomposition(x)
    if decomposition:  # uroman adds an edge for the decomposed text: allow only ASCII punctuation there
        parts = decomposition.split()
        text = "".join(chr(int(p, 16)) for p in parts if not p.startswith("<"))
        if not (parts[0].startswith("<") and text.isascii() and not _spells(text)):
            return False
    return True


def _spells(t: str | None) -> bool:
    return t is not None and any(ch.isalnum() for ch in t)


class Segmenter:
    """Cut lines into context-free pieces for one loaded uroman (see the module docstring).

    Attributes:
        enabled: whether any cut is allowed (False when the uroman version or its tables differ).
        separators: the separator characters in use.
    """

    def __init__(self, u: Uroman) -> None:
        self.enabled = space_cut_ok(u)
        self.separators = "".join(x for x in SEPARATOR_CANDIDATES if separator_ok(u, x)) if self.enabled else ""
        lead_space = sorted({k[0] for k, rules in u.rom_rules.items() if k and any((r["t"] or "").startswith(" ") for r in rules)})
        after_space = r"[^ \p{M}" + regex.escape(_READS_LEFT) + "]"
        after_sep = r"[^ \p{M}" + regex.escape(_READS_LEFT + "".join(lead_space)) + "]"
        # Leading spaces stay with the first word: walking left over them finds nothing, as at a string start.
        pattern = r"(?<=[^ ] +)(?=" + after_space + ")"
        if self.separators:
            pattern += r"|(?<=[" + regex.escape(self.separators) + r"])(?=" + after_sep + ")"
        self._cut = regex.compile(pattern, flags=regex.VERSION1)

    def split(self, line: str) -> list[str]:
        """The pieces of ``line`` (joined, they give ``line`` back); the whole line if cutting is off."""
        if not self.enabled or _BRAILLE.search(line):
            return [line] if line else []
        return [p for p in self._cut.split(line) if p]


class _CompiledRegex:
    """The ``regex`` functions uroman calls, with a plain dict of compiled patterns in front.

    uroman passes pattern strings to ``regex.match``/``search``/... on every lattice step, and the regex module's
    own pattern cache (flag arithmetic on enums, locks) costs about half of uroman's run time. Compiling each
    (pattern, flags) once gives the very same Pattern objects, hence the same matches.
    """

    def __init__(self) -> None:
        self._patterns: dict[tuple[str, int], regex.Pattern] = {}
        self.IGNORECASE = regex.IGNORECASE

    def _get(self, pattern: str, flags: int) -> regex.Pattern:
        key = (pattern, flags)
        compiled = self._patterns.get(key)
        if compiled is None:
            compiled = self._patterns[key] = regex.compile(pattern, flags)
        return compiled

    def match(self, pattern, string, flags=0):
        return self._get(pattern, flags).match(string)

    def search(self, pattern, string, flags=0):
        return self._get(pattern, flags).search(string)

    def sub(self, pattern, repl, string, count=0, flags=0):
        return self._get(pattern, flags).sub(repl, string, count)

    def split(self, pattern, string, maxsplit=0, flags=0):
        return self._get(pattern, flags).split(string, maxsplit)

    def findall(self, pattern, string, flags=0):
        return self._get(pattern, flags).findall(string)


@functools.cache
def private_uroman() -> types.ModuleType:
    """A private copy of the installed ``uroman.uroman`` module whose ``regex`` is :class:`_CompiledRegex`.

    Same source file, same tables, same code path; only pattern compilation is cached. The shared ``uroman``
    module is left untouched (tests compare against it).
    """
    spec = importlib.util.spec_from_file_location("_tokenmill_uroman", uroman_module.__file__)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load a private copy of uroman from {uroman_module.__file__}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    vars(module)["regex"] = _CompiledRegex()
    return module


@functools.cache
def tracking_lattice() -> type:
    """The private uroman's ``Lattice``, recording whether a look-back walked off the left of its string."""

    lattice: Any = private_uroman().Lattice  # a class known only at run time

    class TrackingLattice(lattice):
        needs_left_context = False

        def find_rom_edge_path_backwards(self, start, end, min_char=None, return_str=False, skip_num_edge=False):
            found = super().find_rom_edge_path_backwards(start, end, min_char, return_str, skip_num_edge)
            # Only Thai O ANG calls this (start=0, min_char=1). At end == 0 the caller ignores the result: the
            # character before a piece is a space or a separator (no script). Otherwise a short result means the
            # walk reached position 0 and, inside the full line, would have gone on into the previous piece.
            n_chars = len(found) if isinstance(found, str) else sum(len(e.txt) for e in found)
            if start == 0 and end > 0 and min_char and n_chars < min_char:
                self.needs_left_context = True
            return found

    return TrackingLattice


def lattice_romanize(u: Uroman, s: str, lang: str | None) -> tuple[str, bool]:
    """uroman's ``romanize_string_core`` (no cache, string output), plus whether it needed text left of ``s``.

    ``u`` must come from :func:`private_uroman` (``private_uroman().Uroman()``).
    """
    lat = tracking_lattice()(s, uroman=u, lcode=lang)
    lat.pick_tibetan_vowel_edge()
    lat.prep_braille()
    lat.add_romanization()
    lat.add_numbers(u)
    lat.add_braille_numbers()
    lat.add_rom_fall_back_singles()
    return lat.edge_path_to_surf(lat.best_rom_edge_path(0, len(s))), lat.needs_left_context
