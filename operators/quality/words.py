"""English word and sentence splitting as datatrove's quality filters see it, without spaCy.

datatrove 0.10.1 splits English text into words with a blank spaCy ``en`` pipeline (its tokenizer plus the rule-based
``sentencizer``) and drops whitespace tokens. The filters' measures (word counts, n-gram character fractions, stop
words, sentences per line) depend on exactly where that tokenizer cuts, so this module re-implements its algorithm
from spaCy's documented tokenizer design, in plain Python:

1. split on whitespace (``str.split``: the same Unicode whitespace spaCy splits on);
2. per chunk, unless the chunk is a *special case* (an English contraction such as ``don't`` → ``do`` ``n't``, or an
   abbreviation such as ``Mr.`` kept whole): repeatedly strip one prefix (opening punctuation, quotes, currency,
   symbols) and one suffix (closing punctuation, quotes, ``'s``, units and currency after a number, a final period
   after a lower-case letter or digit or after two capitals), stopping early when what is left is a special case;
3. keep what is left whole when it is a special case or looks like a URL / domain name, else cut it at *infixes*
   (ellipses, symbols, hyphens and ``:<>=/`` between letters, a period between a lower-case and an upper-case
   letter, a comma between letters, arithmetic between digits);
4. prefixes, the pieces, then the suffixes innermost first.

Character classes use Unicode properties (``\\p{Ll}``, ``\\p{So}``...) where spaCy lists script ranges, and the
special cases are generated from the English contraction and abbreviation families rather than spaCy's full table,
so a few rare forms (emoticons, ``DON'T`` in capitals, ``Somethin'``) split differently. ``benchmarks/quality.py``
measures word-level agreement with spaCy and the filters' decision agreement with datatrove on web-like text.

Sentences (C4's ``min_num_sentences``) follow the sentencizer: a new sentence starts at the first token after a
sentence-terminal punctuation token that is neither punctuation itself nor terminal.
"""

from __future__ import annotations

import string
import unicodedata

import regex

# ----------------------------------------------------------------------------------------------------------------------
# Character sets datatrove's filters use (as data: the exact sets are part of the measured behaviour).


def chars_in_ranges(spec: str) -> frozenset[str]:
    """``"21 2E-2F"`` → the characters U+0021, U+002E, U+002F (hex code points and inclusive ranges; the romanizer's
    uroman-bound characters are written so too)."""
    out: set[str] = set()
    for part in spec.split():
        lo, _, hi = part.partition("-")
        out.update(chr(c) for c in range(int(lo, 16), int(hi or lo, 16) + 1))
    return frozenset(out)


# Unicode sentence terminals as datatrove 0.10.1 lists them (TERMINAL_PUNCTUATION: a Unicode 15-era Sentence_Terminal
# with three extra characters). FineWeb's line-punctuation rule tests line endings against this set.
TERMINAL_PUNCTUATION = chars_in_ranges(
    "21 2E 3F 589 61D-61F 6D4 700-702 7F9 837 839 83D-83E 964-965 104A-104B 1362 1367-1368 166E 1735-1736 17D4-17D6 "
    "17D9-17DA 1803 1809 1944-1945 1AA8-1AAB 1B5A-1B5B 1B5E-1B5F 1B7D-1B7E 1C3B-1C3C 1C7E-1C7F 203C-203D 2047-2049 "
    "2E2E 2E3C 2E53-2E54 3002 A4FF A60E-A60F A6F3 A6F7 A876-A877 A8CE-A8CF A92F A9C8-A9C9 AA5D-AA5F AAF0-AAF1 ABEB "
    "FE52 FE56-FE57 FF01 FF0E FF1F FF61 10A56-10A57 10F55-10F59 10F86-10F89 11047-11048 110BE-110C1 11141-11143 "
    "111C5-111C6 111CD 111DE-111DF 11238-11239 1123B-1123C 112A9 1144B-1144C 115C2-115C3 115C9-115D7 11641-11642 "
    "1173C-1173E 11944 11946 11A42-11A43 11A9B-11A9C 11C41-11C42 11EF7-11EF8 11F43-11F44 16A6E-16A6F 16AF5 "
    "16B37-16B38 16B44 16E98 1BC9F 1DA88"
)

# The spaCy sentencizer's default punctuation: the sentence terminals above without those added in later Unicode
# versions (and a few Khmer and Arabic marks).
SENTENCE_PUNCT = TERMINAL_PUNCTUATION - chars_in_ranges(
    "61D-61E 837 839 83D-83E 17D4-17D6 17D9-17DA 1B7D-1B7E 2E53-2E54 10F55-10F59 10F86-10F89 11944 11946 11EF7-11EF8 11F43-11F44 16E98"
)

# Gopher quality's "symbol" characters: a word made only of these is not counted as a word. ASCII punctuation, the
# C0/C1 controls other than tab and newline, common CJK / typographic punctuation (and, as in datatrove, the
# full-width digit one and percent sign), plus every sentence terminal.
PUNCTUATION_SET = (
    frozenset(
        string.punctuation + "".join(map(chr, [*range(0, 9), *range(11, 32), *range(127, 160)])) + "«´»–—’“”„…∶━►、。〈〉《》「」【】！％（），．１：；？～"
    )
    | TERMINAL_PUNCTUATION
)

# ----------------------------------------------------------------------------------------------------------------------
# The tokenizer's rules.

_PUNCT = [
    "…",
    "……",
    ",",
    ":",
    ";",
    "!",
    "?",
    "¿",
    "؟",
    "¡",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    "<",
    ">",
    "_",
    "#",
    "*",
    "&",
    "。",
    "？",
    "！",
    "，",
    "、",
    "；",
    "：",
    "～",
    "·",
    "।",
    "،",
    "۔",
    "؛",
    "٪",
]
_QUOTES = [
    "'",
    '"',
    "”",
    "“",
    "`",
    "‘",
    "´",
    "’",
    "‚",
    ",",
    "„",
    "»",
    "«",
    "「",
    "」",
    "『",
    "』",
    "（",
    "）",
    "〔",
    "〕",
    "【",
    "】",
    "《",
    "》",
    "〈",
    "〉",
    "〈",
    "〉",
    "⟦",
    "⟧",
]
_CURRENCY = [
    "$",
    "£",
    "€",
    "¥",
    "฿",
    "US$",
    "C$",
    "A$",
    "₽",
    "﷼",
    "₴",
    "₠",
    "₡",
    "₢",
    "₣",
    "₤",
    "₥",
    "₦",
    "₧",
    "₨",
    "₩",
    "₪",
    "₫",
    "₭",
    "₮",
    "₯",
    "₰",
    "₱",
    "₲",
    "₳",
    "₵",
    "₶",
    "₷",
    "₸",
    "₹",
    "₺",
    "₻",
    "₼",
    "₾",
    "₿",
]
_UNITS = [
    "km",
    "km²",
    "km³",
    "m",
    "m²",
    "m³",
    "dm",
    "dm²",
    "dm³",
    "cm",
    "cm²",
    "cm³",
    "mm",
    "mm²",
    "mm³",
    "ha",
    "µm",
    "nm",
    "yd",
    "in",
    "ft",
    "kg",
    "g",
    "mg",
    "µg",
    "t",
    "lb",
    "oz",
    "m/s",
    "km/h",
    "kmh",
    "mph",
    "hPa",
    "Pa",
    "mbar",
    "mb",
    "MB",
    "kb",
    "KB",
    "gb",
    "GB",
    "tb",
    "TB",
    "T",
    "G",
    "M",
    "K",
    "%",
]
_HYPHENS = ["-", "–", "—", "--", "---", "——", "~"]
_ELLIPSES = [r"\.\.+", "…"]
_ICONS = [r"\p{So}"]


def _alt(items: list[str]) -> str:
    return "|".join(regex.escape(i) for i in items)


def _cls(chars: str) -> str:
    return "".join(regex.escape(c) for c in chars)


def _any_rule(rules: list[str]) -> regex.Pattern:
    """One pattern matching where any of ``rules`` does (set operations in classes, as ``&&``, need V1)."""
    return regex.compile("|".join(rules), flags=regex.V1)


# spaCy's letter classes cover Latin, Greek, the Russian / Ukrainian / Tatar / Macedonian Cyrillic letters and a list of
# scripts without case; letters outside them (Syriac, ordinal º, other Cyrillic) are not letters to its rules.
_UNCASED = (
    r"\p{Script=Ethiopic}\p{Script=Bengali}\p{Script=Hebrew}\u0620-\u064A\u066E-\u06D5\u06E5-\u06FF"
    r"\u0750-\u077F\u08A0-\u08BD\uFB50-\uFBB1\uFBD3-\uFD3D\uFD50-\uFDC7\uFDF0-\uFDFB\uFE70-\uFEFC"
    r"\p{Script=Sinhala}\p{Script=Devanagari}\p{Script=Kannada}\p{Script=Tamil}\p{Script=Telugu}"
    r"\p{Script=Hangul}\p{Script=Hiragana}\p{Script=Katakana}ー\p{Script=Han}"
)
_LOWER = r"\p{Ll}&&[\p{Script=Latin}\p{Script=Greek}ёа-яәөүҗңһіїєґѓѕјљњќѐѝ]"
_UPPER = r"\p{Lu}&&[\p{Script=Latin}\p{Script=Greek}ЁА-ЯӘӨҮҖҢҺІЇЄҐЃЅЈЉЊЌЀЍ]"
_LOWER = rf"[{_LOWER}]{_UNCASED}"
_UPPER = rf"[{_UPPER}]{_UNCASED}"
_ALPHA = rf"[\p{{L}}&&[\p{{Script=Latin}}\p{{Script=Greek}}ёа-яЁА-ЯәөүҗңһӘӨҮҖҢҺіїєґІЇЄҐѓѕјљњќѐѝЃЅЈЉЊЌЀЍ]]{_UNCASED}"
_QUOTE_CHARS = _cls("".join(_QUOTES))
_PUNCT_CHARS = _cls("".join(_PUNCT) + "|")

_PREFIX = regex.compile(
    "^(?:"
    + "|".join(
        [
            "§",
            "%",
            "=",
            "—",
            "–",
            r"\+(?![0-9])",
            _alt(_PUNCT),
            *_ELLIPSES,
            _alt(_QUOTES),
            _alt(_CURRENCY),
            *_ICONS,
        ]
    )
    + ")"
)

_SUFFIX = _any_rule(
    [
        f"(?:{p})$"
        for p in [
            _alt(_PUNCT),
            *_ELLIPSES,
            _alt(_QUOTES),
            *_ICONS,
            "'s",
            "'S",
            "’s",
            "’S",
            "—",
            "–",
            r"(?<=[0-9])\+",
            r"(?<=°[FfCcKk])\.",
            rf"(?<=[0-9])(?:{_alt(_CURRENCY)})",
            rf"(?<=[0-9])(?:{_alt(_UNITS)})",
            rf"(?<=[0-9{_LOWER}%²\-+{_PUNCT_CHARS}(){_QUOTE_CHARS}])\.",
            rf"(?<=[{_UPPER}][{_UPPER}])\.",
        ]
    ]
)

_INFIX = _any_rule(
    [
        *_ELLIPSES,
        *_ICONS,
        r"(?<=[0-9])[+\-*^](?=[0-9-])",
        rf"(?<=[{_LOWER}{_QUOTE_CHARS}])\.(?=[{_UPPER}{_QUOTE_CHARS}])",
        rf"(?<=[{_ALPHA}]),(?=[{_ALPHA}])",
        rf"(?<=[{_ALPHA}0-9])(?:{_alt(_HYPHENS)})(?=[{_ALPHA}])",
        rf"(?<=[{_ALPHA}0-9])[:<>=/](?=[{_ALPHA}])",
    ]
)

# A URL or a bare domain name (scheme, user info, host or public IPv4, port, path): kept as one token.
_URL = regex.compile(
    r"^(?:[\w+\-.]{2,}://)?(?:\S+(?::\S*)?@)?"
    r"(?:(?!(?:10|127)(?:\.\d{1,3}){3})(?!(?:169\.254|192\.168)(?:\.\d{1,3}){2})(?!172\.(?:1[6-9]|2\d|3[01])(?:\.\d{1,3}){2})"
    r"(?:[1-9]\d?|1\d\d|2[01]\d|22[0-3])(?:\.(?:1?\d{1,2}|2[0-4]\d|25[0-5])){2}(?:\.(?:[1-9]\d?|1\d\d|2[0-4]\d|25[0-4]))"
    r"|(?:(?:[A-Za-z0-9\u00a1-\uffff][A-Za-z0-9\u00a1-\uffff_-]{0,62})?[A-Za-z0-9\u00a1-\uffff]\.)+"
    rf"[{_LOWER}]{{2,63}})"
    r"(?::\d{2,5})?(?:[/?#]\S*)?$",
    flags=regex.V1,
)


def _special_cases() -> dict[str, tuple[str, ...]]:
    """Contractions (split) and abbreviations (kept whole), in lower and capitalized spelling, with ' and ’."""
    cases: dict[str, tuple[str, ...]] = {}

    def add(pieces: tuple[str, ...]) -> None:
        for form in (pieces, (pieces[0][:1].upper() + pieces[0][1:], *pieces[1:])):
            cases["".join(form)] = form

    # verb + n't (+ 've): "don't" → do n't, "can't" → ca n't, "won't" → wo n't; also spelled without apostrophe
    nt_verbs = [
        "ai",
        "are",
        "ca",
        "could",
        "dare",
        "did",
        "do",
        "does",
        "had",
        "has",
        "have",
        "is",
        "may",
        "might",
        "must",
        "need",
        "ought",
        "sha",
        "should",
        "was",
        "were",
        "wo",
        "would",
    ]
    for verb in nt_verbs:
        for apo in ("'", "’", ""):
            add((verb, f"n{apo}t"))
            add((verb, f"n{apo}t", f"{apo}ve"))
    # pronouns and wh-words + 'll 'd 've 're 's ('s also splits off any word, as a suffix rule)
    bases = ["he", "how", "i", "it", "she", "that", "there", "these", "they", "this", "those", "we", "what", "when", "where", "who", "why", "you"]
    takes_re = set(["how", "there", "these", "they", "those", "we", "what", "when", "where", "who", "why", "you"])
    for base in bases:
        for apo in ("'", "’"):
            for suffix in ("ll", "d"):
                add((base, f"{apo}{suffix}"))
                add((base, f"{apo}{suffix}", f"{apo}ve"))
            add((base, f"{apo}ve"))
            if base in takes_re:
                add((base, f"{apo}re"))
    for word, pieces in {
        "im": ("i", "m"),
        "i'm": ("i", "'m"),
        "i’m": ("i", "’m"),
        "ive": ("i", "ve"),
        "id": ("i", "d"),
        "youre": ("you", "re"),
        "youve": ("you", "ve"),
        "youll": ("you", "ll"),
        "youd": ("you", "d"),
        "hes": ("he", "s"),
        "shes": ("she", "s"),
        "theyre": ("they", "re"),
        "theyve": ("they", "ve"),
        "theyll": ("they", "ll"),
        "theyd": ("they", "d"),
        "weve": ("we", "ve"),
        "wed": ("we", "d"),
        "thats": ("that", "s"),
        "theres": ("there", "s"),
        "whats": ("what", "s"),
        "whos": ("who", "s"),
        "wheres": ("where", "s"),
        "hows": ("how", "s"),
        "itll": ("it", "ll"),
        "itd": ("it", "d"),
        "hed": ("he", "d"),
        "couldve": ("could", "ve"),
        "wouldve": ("would", "ve"),
        "shouldve": ("should", "ve"),
        "mightve": ("might", "ve"),
        "mustve": ("must", "ve"),
        "cannot": ("can", "not"),
        "gonna": ("gon", "na"),
        "gotta": ("got", "ta"),
        "yall": ("y", "all"),
        "could've": ("could", "'ve"),
        "would've": ("would", "'ve"),
        "should've": ("should", "'ve"),
        "might've": ("might", "'ve"),
        "must've": ("must", "'ve"),
    }.items():
        add(pieces)
        cases[word] = pieces
    # abbreviations kept whole
    abbreviations = [
        "Adm.",
        "Ak.",
        "Ala.",
        "Apr.",
        "Ariz.",
        "Ark.",
        "Aug.",
        "Bros.",
        "Calif.",
        "Co.",
        "Colo.",
        "Conn.",
        "Corp.",
        "D.C.",
        "Dec.",
        "Del.",
        "Dr.",
        "E.G.",
        "E.g.",
        "Feb.",
        "Fla.",
        "Ga.",
        "Gen.",
        "Gov.",
        "I.E.",
        "I.e.",
        "Ia.",
        "Id.",
        "Ill.",
        "Inc.",
        "Ind.",
        "Jan.",
        "Jr.",
        "Jul.",
        "Jun.",
        "Kan.",
        "Kans.",
        "Ky.",
        "La.",
        "Ltd.",
        "Mar.",
        "Mass.",
        "Md.",
        "Messrs.",
        "Mich.",
        "Minn.",
        "Miss.",
        "Mo.",
        "Mont.",
        "Mr.",
        "Mrs.",
        "Ms.",
        "Mt.",
        "N.C.",
        "N.D.",
        "N.H.",
        "N.J.",
        "N.M.",
        "N.Y.",
        "Neb.",
        "Nebr.",
        "Nev.",
        "Nov.",
        "Oct.",
        "Okla.",
        "Ore.",
        "Pa.",
        "Ph.D.",
        "Prof.",
        "Rep.",
        "Rev.",
        "S.C.",
        "Sen.",
        "Sep.",
        "Sept.",
        "St.",
        "Tenn.",
        "Va.",
        "Wash.",
        "Wis.",
        "a.m.",
        "co.",
        "e.g.",
        "i.e.",
        "p.m.",
        "v.s.",
        "vs.",
        "U.S.",
        "U.K.",
        "w/o",
        "and/or",
        "o'clock",
        "ma'am",
        "'em",
        "'cause",
        "'bout",
    ]
    for abbr in abbreviations + [f"{c}." for c in "abcdefghijklmnopqrstuvwxyzäöü"]:
        cases[abbr] = (abbr,)
    # emoticons and other punctuation-only forms kept whole
    emoticons = [
        ":)",
        ":-)",
        ":))",
        ":-))",
        ":)))",
        ":-)))",
        ":(",
        ":-(",
        ":((",
        ":-((",
        ":(((",
        ":-(((",
        ":D",
        ":-D",
        ":P",
        ":p",
        ":-P",
        ":-p",
        ":/",
        ":-/",
        ":|",
        ":-|",
        ":o",
        ":O",
        ":-o",
        ":-O",
        ":0",
        ":-0",
        ":]",
        ":-]",
        "[:",
        "[-:",
        "(:",
        "(-:",
        "):",
        ")-:",
        ":>",
        ":->",
        ":}",
        ":-}",
        ":x",
        ":X",
        ":-x",
        ":-X",
        ":*",
        ":-*",
        ":3",
        ":-3",
        ":1",
        ";)",
        ";-)",
        "(;",
        ";D",
        ";-D",
        ";_;",
        ":'(",
        ":')",
        ":'-(",
        ":'-)",
        ":’(",
        ":’)",
        ":’-(",
        ":’-)",
        "=)",
        "=(",
        "=]",
        "=[",
        "[=",
        "]=",
        "(=",
        "=|",
        "=/",
        "=3",
        "=D",
        "8)",
        "8-)",
        "8D",
        "8-D",
        "(-8",
        "<3",
        "<33",
        "<333",
        "</3",
        "xD",
        "XD",
        "xDD",
        "XDD",
        "^_^",
        "^__^",
        "^___^",
        "-_-",
        "-__-",
        "o_O",
        "O_o",
        "o_0",
        "0_o",
        "o_o",
        "O_O",
        "0_0",
        "o.O",
        "O.o",
        "o.0",
        "0.o",
        "o.o",
        "O.O",
        "0.0",
        "v.v",
        "V.V",
        "v_v",
        "V_V",
        ">:(",
        ">:o",
        "<.<",
        ">.<",
        ">.>",
        "@_@",
        "(>_<)",
        "(*_*)",
        "(^_^)",
        "(-_-)",
        "(._.)",
        "._.",
        "''",
        "’’",
        "'",
        "’",
        "—",
        "C++",
    ]
    for emo in emoticons:
        cases[emo] = (emo,)
    cases["ima"], cases["Ima"] = ("i", "m", "a"), ("I", "m", "a")
    for apo in ("'", "’"):
        for piece in ("s", "S", "d", "ll", "re", "ve", "m"):
            cases[f"{apo}{piece}"] = (f"{apo}{piece}",)
    for hour in range(1, 13):
        for suffix in ("am", "pm", "a.m.", "p.m."):
            cases[f"{hour}{suffix}"] = (str(hour), suffix)
    return cases


SPECIAL_CASES: dict[str, tuple[str, ...]] = _special_cases()
_MERGE_SPAN = 6  # the most rule tokens one special case spans (``(>_<)``)
_CACHE_LIMIT = 1 << 18


class WordSplitter:
    """Split English text into spaCy-compatible word tokens (whitespace dropped), caching each distinct chunk."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[str, ...]] = {}

    def words(self, text: str) -> list[str]:
        """The word tokens of ``text`` in order (punctuation tokens included, as datatrove counts them)."""
        cache = self._cache
        if len(cache) > _CACHE_LIMIT:
            cache.clear()
        out: list[str] = []
        for chunk in text.split():
            pieces = cache.get(chunk)
            if pieces is None:
                pieces = cache[chunk] = split_chunk(chunk)
            if len(pieces) == 1:
                out.append(pieces[0])
            else:
                out.extend(pieces)
        return out

    def count_sentences(self, line: str) -> int:
        """Sentences in one line (no newlines in it) as the spaCy sentencizer counts them; 0 for an empty line."""
        count = 0
        seen_terminal = False
        for token in self._tokens_with_space(line):
            if count == 0:
                count = 1
            is_terminal = token in SENTENCE_PUNCT
            if seen_terminal and not is_terminal and not _is_punct(token):
                count += 1
                seen_terminal = False
            elif is_terminal:
                seen_terminal = True
        return count

    def _tokens_with_space(self, line: str) -> list[str]:
        """Tokens including the whitespace tokens spaCy makes of whitespace other than one plain space."""
        out: list[str] = []
        for part in _WS_RUN.split(line):
            if not part:
                continue
            if part.isspace():
                if part != " ":
                    out.append(part[1:] if part[0] == " " else part)
                continue
            out.extend(self.words(part))
        return out


_WS_RUN = regex.compile(r"(\s+)")


def _is_punct(token: str) -> bool:
    return all(unicodedata.category(ch)[0] == "P" for ch in token)


def split_chunk(chunk: str) -> tuple[str, ...]:
    """The tokens of one whitespace-free chunk (the reference algorithm; :class:`WordSplitter` caches it)."""
    special = SPECIAL_CASES.get(chunk)
    if special is not None:
        return special
    if chunk.isalpha():  # no affix or infix rule can apply to letters only
        return (chunk,)
    tokens = _split_rules(chunk)
    return _merge_specials(tokens) if len(tokens) > 1 else tokens


def _merge_specials(tokens: tuple[str, ...]) -> tuple[str, ...]:
    """Runs of rule tokens that spell a special case containing punctuation (``t`` ``.`` → ``t.``, ``)`` ``:`` →
    ``):``) become that special case's tokens: spaCy's second, matcher-based pass. Longest match first."""
    out: list[str] = []
    i, n = 0, len(tokens)
    while i < n:
        for j in range(min(n, i + _MERGE_SPAN), i + 1, -1):
            pieces = SPECIAL_CASES.get("".join(tokens[i:j]))
            if pieces is not None:
                out.extend(pieces)
                i = j
                break
        else:
            out.append(tokens[i])
            i += 1
    return tuple(out)


def _split_rules(chunk: str) -> tuple[str, ...]:
    prefixes: list[str] = []
    suffixes: list[str] = []
    rest = chunk
    last = -1
    while rest and len(rest) != last:
        if rest in SPECIAL_CASES:
            break
        last = len(rest)
        m = _PREFIX.match(rest)
        pre = m.end() if m else 0
        if pre and rest[pre:] in SPECIAL_CASES:
            prefixes.append(rest[:pre])
            rest = rest[pre:]
            break
        m = _SUFFIX.search(rest[pre:])
        suf = m.end() - m.start() if m else 0
        if suf and rest[:-suf] and rest[:-suf] in SPECIAL_CASES:
            suffixes.append(rest[-suf:])
            rest = rest[:-suf]
            break
        if pre and suf and pre + suf <= len(rest):
            prefixes.append(rest[:pre])
            suffixes.append(rest[-suf:])
            rest = rest[pre:-suf]
        elif pre:
            prefixes.append(rest[:pre])
            rest = rest[pre:]
        elif suf:
            suffixes.append(rest[-suf:])
            rest = rest[:-suf]
    tokens = prefixes
    if rest:
        if rest in SPECIAL_CASES:
            tokens.extend(SPECIAL_CASES[rest])
        elif _URL.match(rest):
            tokens.append(rest)
        else:
            tokens.extend(_split_infixes(rest))
    tokens.extend(reversed(suffixes))
    return tuple(tokens)


def _split_infixes(rest: str) -> list[str]:
    out: list[str] = []
    start = 0
    for m in _INFIX.finditer(rest):
        a, b = m.span()
        if a == 0:  # an infix at the very start does not split
            continue
        if a != start:
            out.append(rest[start:a])
        if a != b:
            out.append(rest[a:b])
        start = b
    if rest[start:]:
        out.append(rest[start:])
    return out


_SHARED: WordSplitter | None = None


def shared_splitter() -> WordSplitter:
    """The process' one splitter: the filters of a chain share its chunk cache (each splits the same documents)."""
    global _SHARED
    if _SHARED is None:
        _SHARED = WordSplitter()
    return _SHARED
