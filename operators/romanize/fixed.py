"""Strings whose uroman romanization is the concatenation of fixed per-character romanizations.

uroman (1.3.1.1) builds a lattice of edges per string and walks it greedily, longest edge first. For most letters
of alphabetic scripts (Cyrillic, Greek, Armenian, Georgian, Hebrew, Arabic, Hangul, Han, Ethiopic, ...) the only
edge at a position is the one of its own character, and nothing in the lattice reads the neighbours of that
character. A string made of such characters romanizes to the concatenation of its characters' romanizations,
which ``str.translate`` computes at C speed.

A character ``c`` is *fixed* for a language when (checked by :meth:`FixedTables.romanization`):

* no rule of ``c`` for the language carries a word-position or syllable flag (``cand_is_valid``,
  ``t-at-end-of-syllable``), so the rule chosen for ``c`` depends on the language only;
* its script has no abugida default vowel and is not Thai, Tibetan, Coptic or Braille (the context rules of
  ``add_default_abugida_vowel``, ``expand_rom_with_special_chars``, ``pick_tibetan_vowel_edge``, ``prep_braille``);
* it is not a mark, virama, vowel or medial-consonant sign, tone mark, Japanese small tsu / small y / long vowel
  mark, Gurmukhi addak, Thai O ANG or the Braille capital sign: the characters that change a *neighbour's* edge;
* it has no number properties and no Unicode numeric value (``add_numbers`` adds edges only at such characters,
  so a string without them gets no number edge at all);
* its romanization does not start or end with a space (a rule's leading/trailing space is stripped next to
  spaces) and has no ``+m``-style tail marker; a Hangul syllable has no rule besides uroman's algorithmic edge
  (two edges of the same kind would be picked in set order).

and a string of fixed characters is *fixed* when, in addition, no two neighbours start a rule key of two or more
characters that has a rule for the language (:attr:`LangTable.bad_pairs`): then every edge spans one character.
Pairs of ASCII characters whose keys are all ASCII are allowed when uroman maps ASCII to itself
(:func:`operators.romanize.engine.ascii_identity_holds`): any edge over them spells its own source.

One context rule is kept rather than avoided: a single-character rule whose text is upper case, like ``Ж`` ->
``ZH``, is capitalized (``Zh``) before a lower-case character. Those characters (:attr:`LangTable.caps`) get
both texts and the next character decides.

Each character's text is computed once per language, by uroman's own lattice on the character alone.
:func:`reference_fixed_romanize` is the plain-Python statement of the result, tested against uroman.
"""

from __future__ import annotations

import itertools
import unicodedata
from dataclasses import dataclass, field

import regex
from uroman.uroman import Uroman

from tokenmill.operators.romanize.segments import ROLES, RULE_FLAGS, lattice_romanize

#: Characters that change the romanization of a neighbour (see the module docstring).
_NEIGHBOUR_CHANGERS = frozenset("っッゃゅょャュョー\u0a71\u2820\u0e2d")
_EXCLUDED_SCRIPTS = frozenset({"Thai", "Tibetan", "Coptic", "Braille"})
_TAIL = regex.compile(r"\+(m|ng|n|h|r)")


@dataclass(slots=True)
class LangTable:
    """What is known for one language code."""

    fixed: set[str] = field(default_factory=set)
    """Fixed characters (caps included)."""
    checked: set[str] = field(default_factory=set)
    """Characters already decided (fixed or not)."""
    table: dict[int, str] = field(default_factory=dict)
    """``str.translate`` table: code point -> text (for caps: the text before a non-lower-case character)."""
    caps: dict[str, str] = field(default_factory=dict)
    """Caps character -> its text before a lower-case character."""
    caps_re: regex.Pattern | None = None
    """Matches any caps character (None while there is none)."""
    bad_pairs: frozenset[str] = frozenset()
    """Two-character starts of multi-character rule keys that have a rule for this language."""
    risky: frozenset[str] = frozenset()
    """First characters of :attr:`bad_pairs`."""


class FixedTables:
    """Per-language tables of fixed characters, filled as characters are met (see the module docstring).

    Args:
        u: a uroman from :func:`operators.romanize.segments.private_uroman` (its tables are read, not changed).
        ascii_identity: whether uroman maps every ASCII string to itself (then ASCII-only keys never split).
    """

    def __init__(self, u: Uroman, *, ascii_identity: bool) -> None:
        self.uroman = u
        self.ascii_identity = ascii_identity
        # pair -> lcodes of the rules of keys starting with it (None: a rule for every language)
        self._pairs: dict[str, list[list[str] | None]] = {}
        for key, rules in list(u.rom_rules.items()):
            if len(key) < 2 or not rules:
                continue
            if ascii_identity and key.isascii():
                continue
            self._pairs.setdefault(key[:2], []).extend(r["lcodes"] or None for r in rules if r["t"] is not None)
        self._structural: dict[str, bool] = {}
        self._lang_free: dict[str, tuple[str | None, bool]] = {}
        self.langs: dict[str | None, LangTable] = {}

    # --- characters --------------------------------------------------------------------------------------------

    def structurally_fixed(self, c: str) -> bool:
        """The conditions of the module docstring that do not depend on the character's text."""
        ok = self._structural.get(c)
        if ok is None:
            ok = self._structural[c] = self._structural_check(c)
        return ok

    def _structural_check(self, c: str) -> bool:
        u = self.uroman
        if self.ascii_identity and c.isascii():
            return not c.isdigit() and c != "\n"  # ASCII digits make number edges
        if c in _NEIGHBOUR_CHANGERS or unicodedata.category(c)[0] == "M" or 0x2800 <= ord(c) <= 0x28FF:
            return False
        if any(u.dict_bool.get((role, c)) for role in ROLES) or u.dict_str.get(("tone-mark", c)):
            return False
        if u.dict_str.get(("syllable-info", c)) or u.num_props.get(c) or unicodedata.numeric(c, None) is not None:
            return False
        script = u.dict_str.get(("script", c), "")
        if script in _EXCLUDED_SCRIPTS:
            return False
        if script.lower() in u.scripts and u.scripts[script.lower()]["abugida-default-vowels"]:
            return False
        rules = u.rom_rules.get(c) or []
        # a rule's leading/trailing space is stripped next to a space or at the string start: context
        texts = [r["t"] for r in rules if r["t"]]
        if any(t[0] == " " or t[-1] == " " or _TAIL.match(t) for t in texts):
            return False
        return not (rules and 0xAC00 <= ord(c) <= 0xD7A3)

    def romanization(self, c: str, lang: str | None) -> tuple[str | None, bool]:
        """(text of ``c`` for ``lang`` or None if ``c`` is not fixed, whether that text is capitalized before a
        lower-case character)."""
        if not self.structurally_fixed(c):
            return None, False
        if self.ascii_identity and c.isascii():
            return c, False
        rules = self.uroman.rom_rules.get(c) or []
        # a flag makes the rule depend on the neighbours, but only where the rule is for this language
        # (cand_is_valid rejects a rule for another language whatever its flags say)
        if any(r[f] and (not r["lcodes"] or lang in r["lcodes"]) for r in rules for f in RULE_FLAGS):
            return None, False
        # the decomposition edge romanizes the decomposed text, whose rules may depend on the language
        if any(r["lcodes"] for r in rules) or unicodedata.decomposition(c):
            return self._text(c, lang)
        found = self._lang_free.get(c)
        if found is None:
            found = self._lang_free[c] = self._text(c, None)
        return found

    def _text(self, c: str, lang: str | None) -> tuple[str | None, bool]:
        """The text of the one edge of a structurally fixed ``c`` (as ``add_romanization`` and
        ``add_rom_fall_back_singles`` make it), without building a lattice; tested against the lattice."""
        u = self.uroman
        valid = [r for r in u.rom_rules.get(c) or [] if r["t"] is not None and (not r["lcodes"] or lang in r["lcodes"])]
        if valid and u.dict_bool.get(("s-prefix", c)):
            best = valid[0]  # simple_top_romanization_candidate_for_span: the first rule of the highest n-restr
            for rule in valid[1:]:
                if (rule["n-restr"] or 0) > (best["n-restr"] or 0):
                    best = rule
            rom = best["t"]
            # expand_rom_with_special_chars capitalizes a one-character upper-case rule before lower case
            return rom, rom.isupper() and rom.capitalize() != rom
        if valid or unicodedata.decomposition(c) or 0xAC00 <= ord(c) <= 0xD7A3:
            # uroman's decomposition or Hangul edge (or a rule only the fall-back step sees): ask the lattice
            rom, needs_left = lattice_romanize(u, c, lang)
            if needs_left or (rom.isupper() and rom.capitalize() != rom):
                return None, False
            return rom, False
        # the fall-back edge: format and private-use characters vanish, anything else stays as it is
        return ("" if unicodedata.category(c) in ("Cf", "Co") else c), False

    # --- strings -----------------------------------------------------------------------------------------------

    def lang_table(self, lang: str | None) -> LangTable:
        """The table of ``lang``, created on first use."""
        table = self.langs.get(lang)
        if table is None:
            bad = frozenset(p for p, codes in self._pairs.items() if any(lc is None or lang in lc for lc in codes))
            table = self.langs[lang] = LangTable(bad_pairs=bad, risky=frozenset(p[0] for p in bad))
        return table

    def is_fixed(self, s: str, lang: str | None) -> bool:
        """Whether ``s`` is a fixed string for ``lang`` (learning the characters not seen before)."""
        t = self.langs.get(lang) or self.lang_table(lang)
        chars = set(s)
        if not chars <= t.fixed:
            new = chars - t.checked
            if not new:
                return False
            self._learn(t, new, lang)
            if not chars <= t.fixed:
                return False
        if chars.isdisjoint(t.risky):
            return True
        bad = t.bad_pairs
        return not any(a in t.risky and a + b in bad for a, b in itertools.pairwise(s))

    def _learn(self, t: LangTable, chars: set[str], lang: str | None) -> None:
        new_caps = False
        for c in chars:
            t.checked.add(c)
            rom, caps = self.romanization(c, lang)
            if rom is None:
                continue
            t.fixed.add(c)
            t.table[ord(c)] = rom
            if caps:
                t.caps[c] = rom.capitalize()
                new_caps = True
        if new_caps:
            t.caps_re = regex.compile("[" + regex.escape("".join(sorted(t.caps))) + "]")

    def translate(self, s: str, lang: str | None) -> str:
        """The romanization of ``s``; only for strings where :meth:`is_fixed` holds."""
        t = self.langs[lang]
        if t.caps_re is None:
            return s.translate(t.table)
        out = []
        last = 0
        for m in t.caps_re.finditer(s):
            i = m.start()
            out.append(s[last:i].translate(t.table))
            c = s[i]
            out.append(t.caps[c] if s[i + 1 : i + 2].islower() else t.table[ord(c)])
            last = i + 1
        if not out:
            return s.translate(t.table)
        out.append(s[last:].translate(t.table))
        return "".join(out)


def reference_fixed_romanize(tables: FixedTables, s: str, lang: str | None) -> str:
    """The plain statement of :meth:`FixedTables.translate`: each character's text, capitalized where the rule
    says so. Only for strings where :meth:`FixedTables.is_fixed` holds."""
    out = []
    for i, c in enumerate(s):
        rom, caps = tables.romanization(c, lang)
        assert rom is not None, c
        nxt = s[i + 1] if i + 1 < len(s) else ""
        out.append(rom.capitalize() if caps and nxt.islower() else rom)
    return "".join(out)
