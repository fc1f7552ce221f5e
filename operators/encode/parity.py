"""The parity check that lets a fast engine encode: the same ids as the reference engine, document by document.

A candidate engine is used only after it reproduces the reference (HF tokenizers) on

- a fixed adversarial set (:func:`adversarial_texts`): text in ~40 scripts, emoji with ZWJ and skin-tone
  sequences and flags, combining marks (stacked, detached, Zalgo-like), every kind of whitespace run, very long
  words and digit runs, text that spells the tokenizer's own special and added tokens, control characters,
  private-use and noncharacter code points, byte-order marks and bidi controls;
- documents of the job's own input (workers check the first batch of every partition and a few documents of every
  later batch; see :class:`operators.encode.encoder.Encoder`).

The set is generated here, not read from a data folder, so every user's job runs the same check.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# (name, first code point, last code point) of script blocks: letters of the block, cut into words.
_SCRIPTS = (
    ("latin", 0x41, 0x7A),
    ("latin-ext", 0xC0, 0x24F),
    ("ipa", 0x250, 0x2AF),
    ("greek", 0x391, 0x3C9),
    ("cyrillic", 0x400, 0x4FF),
    ("armenian", 0x531, 0x586),
    ("hebrew", 0x5D0, 0x5EA),
    ("arabic", 0x620, 0x64A),
    ("syriac", 0x710, 0x72F),
    ("thaana", 0x780, 0x7A5),
    ("nko", 0x7CA, 0x7EA),
    ("devanagari", 0x905, 0x939),
    ("bengali", 0x985, 0x9B9),
    ("gurmukhi", 0xA05, 0xA39),
    ("gujarati", 0xA85, 0xAB9),
    ("oriya", 0xB05, 0xB39),
    ("tamil", 0xB85, 0xBB9),
    ("telugu", 0xC05, 0xC39),
    ("kannada", 0xC85, 0xCB9),
    ("malayalam", 0xD05, 0xD3A),
    ("sinhala", 0xD85, 0xDC6),
    ("thai", 0xE01, 0xE30),
    ("lao", 0xE81, 0xEB0),
    ("tibetan", 0xF40, 0xF6C),
    ("myanmar", 0x1000, 0x102A),
    ("georgian", 0x10D0, 0x10FA),
    ("hangul-jamo", 0x1100, 0x1112),
    ("ethiopic", 0x1200, 0x1248),
    ("cherokee", 0x13A0, 0x13F4),
    ("canadian", 0x1401, 0x1676),
    ("ogham", 0x1681, 0x169A),
    ("runic", 0x16A0, 0x16EA),
    ("khmer", 0x1780, 0x17B3),
    ("mongolian", 0x1820, 0x1877),
    ("hiragana", 0x3041, 0x3096),
    ("katakana", 0x30A1, 0x30FA),
    ("bopomofo", 0x3105, 0x312F),
    ("cjk", 0x4E00, 0x4FFF),
    ("hangul", 0xAC00, 0xAE00),
    ("vai", 0xA500, 0xA60B),
    ("fullwidth", 0xFF21, 0xFF5A),
    ("math-alnum", 0x1D400, 0x1D4FF),
    ("gothic", 0x10330, 0x1034A),
    ("cuneiform", 0x12000, 0x12100),
    ("cjk-ext-b", 0x20000, 0x20100),
)
_EMOJI = ("👍🏽 👨‍👩‍👧‍👦 🏳️‍🌈 🇩🇪🇯🇵 🧑🏿‍🚀 ❤️‍🔥 1️⃣ #️⃣ 🫶🏼 😀😃😄😁 🤷‍♀️", "emoji😀in😀words 😀😀😀😀😀😀😀😀😀😀😀😀😀😀 ☺︎ ☺️ ✌🏻✌🏼✌🏽✌🏾✌🏿 🏴󠁧󠁢󠁳󠁣󠁴󠁿")
_MARKS = (
    "e\u0301 é cafe\u0301 a\u0300\u0301\u0302\u0303\u0304 \u0301leading mark",
    "Z\u0351\u0352\u0357\u0358\u035b\u0340\u0341a\u0316\u0317\u0318\u0319l\u031a\u031b\u031cg\u0300\u0301o",
    "क्षत्रिय ज्ञान श्री ক্ষ ஸ்ரீ ไม่ใช่ ສະບາຍດີ ཀྵ ြ္ 각 각 ﻻ ﷺ ﷽",
    "\u0300\u0301\u0302 only marks \u20dd\u20de circle \u0332u\u0332n\u0332d\u0332e\u0332r\u0332",
)
_SPACE = (
    "a  b   c    d\t\te\t \tf\n\ng\r\nh\ri",
    "   leading and trailing   ",
    "\n\n\n\n",
    "\t",
    " ",
    "x\u00a0y\u2002z\u2003w\u2009v\u200au\u3000t\u202fs\u205fr",
    "line\u2028sep\u2029para\u0085nel\u000bvt\u000cff",
    "zero\u200bwidth\u200cjoin\u200dnon\ufeffbom",
    " " * 300 + "x" + "\n" * 100 + "y" + "\t" * 50,
)
_LONG = (
    "a" * 5000,
    "ab" * 3000,
    "9" * 4000,
    "1234567890" * 300,
    "x" + "ー" * 2000,
    "الله" * 500,
    "supercalifragilisticexpialidocious" * 100,
    "https://example.com/" + "path/" * 400 + "?q=" + "%20" * 300,
    "-" * 1000 + "=" * 1000 + "." * 500,
    "😀" * 1000,
    "A" * 3000 + "a" * 3000,
)
_CONTROL = (
    "".join(chr(c) for c in range(0, 32)) + "\x7f",
    "nul\x00inside\x00text",
    "\x1b[31mred\x1b[0m esc",
    "\u202eevil\u202c \u2066isolate\u2069 \u200erlm\u200f",
    "\ue000\ue001\uf8ff private \U000f0000 \U0010fffd",
    "\ufffe\uffff\ufdd0 nonchars \ufffd replacement",
    "\ufeffbom at start",
    "\U0001d11e\U0001f9ff\U0001fa70",
)
_CODE = (
    "def f(x):\n    return {'a': [1, 2, 3]}  # comment\n\n\nclass A:\n\tpass\n",
    "if (a && b || !c) { x += 1; } else { y <<= 2; } /* c */ // end",
    "SELECT * FROM t WHERE a = 'b''c' AND d IS NOT NULL;",
    '<html><body class="x">&amp; &lt;&gt; &#x1F600;</body></html>',
    "I'm you're we've they'll she'd it's 'quoted' \"dq\" ``tex'' ’curly’ “curly”",
    "$$\\frac{a}{b}$$ ∑∫∂√∞≠≤≥ ±×÷ ℃ № ™ ©®",
    "1,234,567.89 -0.5e-10 0xFF 1_000 3/4 ½ ¾ ١٢٣ ४५६ ๑๒๓ 一二三",
    "CamelCaseWord snake_case_word kebab-case-word ALLCAPS",
)


def _script_text(name: str, lo: int, hi: int) -> str:
    """Deterministic words of a script block, with punctuation, digits and an embedded Latin word."""
    chars = [chr(c) for c in range(lo, hi + 1) if chr(c).isprintable()]
    words = [" ".join("".join(chars[(i * 7 + j * 3) % len(chars)] for j in range(2 + (i % 6))) for i in range(12))]
    return f"{name}: {words[0]}. {''.join(chars[:40])} 123, ok! {words[0][::-1]}?"


def adversarial_texts(special_tokens: list[str] | tuple[str, ...] = ()) -> list[str]:
    """The fixed adversarial documents, plus text that spells ``special_tokens`` (the tokenizer's added tokens)."""
    texts = [_script_text(*s) for s in _SCRIPTS]
    texts += [*_EMOJI, *_MARKS, *_SPACE, *_LONG, *_CONTROL, *_CODE, ""]
    specials = [t for t in special_tokens if t]
    for tok in specials:
        texts += [tok, f"text {tok} text", f"{tok}{tok}x{tok}", f" {tok} ", tok[:-1], tok.lower(), tok.upper()]
    if specials:
        texts.append(" ".join(specials) + "".join(specials))
    texts.append("\n".join(texts[:20]))  # a long mixed document
    return texts


@dataclass(frozen=True, slots=True)
class ParityResult:
    """What a parity check compared and where it first differed."""

    docs: int
    tokens: int
    mismatches: int
    first_mismatch: str | None
    """A short description of the first differing document (its start, and the two id sequences' first difference)."""

    @property
    def ok(self) -> bool:
        return self.mismatches == 0


def compare(texts: list[str], candidate: tuple[np.ndarray, np.ndarray], reference: tuple[np.ndarray, np.ndarray]) -> ParityResult:
    """Compare two engines' flat outputs for ``texts`` document by document."""
    (cv, co), (rv, ro) = candidate, reference
    if len(co) != len(texts) + 1 or len(ro) != len(texts) + 1:
        raise AssertionError("engine returned offsets of the wrong length")
    if np.array_equal(co, ro) and np.array_equal(cv, rv):
        return ParityResult(len(texts), int(ro[-1]), 0, None)
    bad = [i for i in range(len(texts)) if not np.array_equal(cv[co[i] : co[i + 1]], rv[ro[i] : ro[i + 1]])]
    i = bad[0]
    c, r = cv[co[i] : co[i + 1]].tolist(), rv[ro[i] : ro[i + 1]].tolist()
    at = next((k for k in range(min(len(c), len(r))) if c[k] != r[k]), min(len(c), len(r)))
    first = f"document {i} {texts[i][:40]!r}: ids differ at token {at}: {c[at : at + 4]} vs reference {r[at : at + 4]}"
    return ParityResult(len(texts), int(ro[-1]), len(bad), first)


__all__ = ["ParityResult", "adversarial_texts", "compare"]
