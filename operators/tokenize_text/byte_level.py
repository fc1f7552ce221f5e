"""GPT-2 style byte-level pre-tokenization for BPE training: regex split, bytes → printable symbols, counts.

Training on the tokenmill engine works on ``(word, count)`` pairs where no token crosses a word. Byte-level BPE
(GPT-2) makes those words by splitting text with the GPT-2 regex and writing each piece's UTF-8 bytes as 256
printable stand-in characters (``bytes_to_unicode``: printable Latin-1 bytes map to themselves, the others to
U+0100..U+0143), so every byte is a symbol, nothing is ever unknown, and the HF ``ByteLevel`` pre-tokenizer and
decoder reproduce the same pieces at encode time.

``digits_r2l`` groups runs of digits right to left in threes (``12345`` → ``12`` ``345``), as in Singh & Strouse
(2024) "Tokenization counts: the impact of tokenization on arithmetic in frontier LLMs"; GPT-2 keeps the whole run.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import regex

# The GPT-2 pattern as in openai/gpt-2 encoder.py and HF ByteLevel(use_regex=True).
GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
# Numbers in groups of at most three digits, aligned to the right end of the run.
R2L_PATTERN = (
    r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}{1,3}(?=(?:\p{N}{3})*(?!\p{N}))"""
    r"""| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
)
# With marks: a Tibetan syllable keeps the tsheg after it (U+0F0B, and the non-breaking U+0F0C). Tibetan writes no
# spaces: the tsheg ends every syllable as the space starts every English word, and as punctuation (Po) of its own it
# would be a token after every syllable (twice the pieces of the text, a premium no merge can remove).
TSHEG = "[\u0f0b\u0f0c]?"  # the characters themselves: Python regex and Oniguruma read them alike
END_OF_TEXT = "<|endoftext|>"


@lru_cache(maxsize=1)
def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte → symbol table (256 entries, each a single printable character)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table = {b: chr(b) for b in printable}
    n = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + n)
            n += 1
    return table


def byte_alphabet() -> str:
    """The 256 byte symbols, in byte order (the ``initial_alphabet`` of a byte-level BPE)."""
    table = bytes_to_unicode()
    return "".join(table[b] for b in range(256))


def pattern(digits_r2l: bool = False, marks: bool = False) -> str:
    """The pre-tokenization regex: GPT-2's, with right-to-left 3-digit number groups, and/or with combining marks
    kept inside letter runs."""
    p = R2L_PATTERN if digits_r2l else GPT2_PATTERN
    if marks:
        p = p.replace(r" ?\p{L}+", r" ?[\p{L}\p{M}]+" + TSHEG).replace(r"[^\s\p{L}\p{N}]+", r"[^\s\p{L}\p{M}\p{N}]+")
    return p


@dataclass(frozen=True, kw_only=True, slots=True)
class ByteLevelConfig:
    """How text is cut into byte-level words."""

    digits_r2l: bool = False
    """Group digit runs right to left in threes (``1234567`` → ``1`` ``234`` ``567``), not GPT-2's whole runs."""
    marks: bool = False
    """Keep combining marks (Unicode M: Devanagari vowel signs, Thaana fili, Myanmar and Thai vowels) inside letter
    runs, as later OpenAI patterns do. GPT-2's letter class (p{L}+) cuts a word at every mark, so no token of those
    scripts can span a mark: a large, avoidable premium. Also keeps the Tibetan tsheg (syllable separator, U+0F0B /
    U+0F0C) with the syllable before it instead of a piece of its own (:data:`TSHEG`)."""


class ByteLevelPreTokenizer:
    """Text → byte-level words (regex pieces with bytes as GPT-2 symbols), and word counts for BPE training."""

    def __init__(self, config: ByteLevelConfig | None = None) -> None:
        self.config = config or ByteLevelConfig()
        self._re = regex.compile(pattern(self.config.digits_r2l, self.config.marks))
        table = bytes_to_unicode()
        # A 256-entry translation of latin-1 decoded bytes: str.translate is the fast path for byte → symbol.
        self._trans = str.maketrans({chr(b): s for b, s in table.items()})

    def pieces(self, text: str) -> list[str]:
        """The regex pieces of ``text`` (unicode, before the byte mapping)."""
        return self._re.findall(text)

    def to_symbols(self, piece: str) -> str:
        """One piece's UTF-8 bytes as byte symbols."""
        return piece.encode("utf-8").decode("latin-1").translate(self._trans)

    def words(self, text: str) -> list[str]:
        """``text`` as byte-level words."""
        return [self.to_symbols(p) for p in self._re.findall(text)]

    def count(self, texts: Iterable[str], weights: Iterable[int] | None = None) -> Counter[str]:
        """Byte-level word counts of ``texts`` (each text counted ``weight`` times; default 1)."""
        pieces: Counter[str] = Counter()
        if weights is None:
            for t in texts:
                pieces.update(self._re.findall(t))
        else:
            for t, w in zip(texts, weights):
                if w > 0:
                    for p in self._re.findall(t):
                        pieces[p] += w
        # Map each distinct piece once (far fewer distinct pieces than occurrences).
        out: Counter[str] = Counter()
        for p, c in pieces.items():
            out[self.to_symbols(p)] += c
        return out


def reference_words(text: str, digits_r2l: bool = False, marks: bool = False) -> list[str]:
    """Plain reference of :meth:`ByteLevelPreTokenizer.words` (byte by byte through the table)."""
    table = bytes_to_unicode()
    return ["".join(table[b] for b in p.encode("utf-8")) for p in regex.findall(pattern(digits_r2l, marks), text)]
