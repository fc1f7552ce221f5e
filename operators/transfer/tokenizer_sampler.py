"""ZeTT's tokenizer sampling: a unigram vocabulary from a text buffer's frequent substrings, with noisy scores.

Minixhofer et al. train the hypernetwork on a new tokenizer every batch so it never fits one vocabulary. We do as
they do: count every substring (up to ``max_piece_chars``) of the pre-tokens in a buffer of recent training text,
weighted by the pre-token's frequency; per sample, add Gumbel noise to the log counts, keep the top ``k`` (``k``
log-uniform in ``[min_vocab, max_vocab]``) plus every single character, and build a ``tokenizers`` Unigram model
with those scores. Two pre-tokenizer styles are drawn, because the tokenizers we transfer to use both:

* ``metaspace``: split on whitespace, ``▁`` marks a word start (sentencepiece, the UDHR BPE);
* ``bytelevel``: GPT-2's split: a word keeps its leading space, runs of whitespace and punctuation are their own
  pre-tokens (byte-level BPE, the code BPE); newlines and indentation become tokens.

Text is lower-cased and accent-stripped like the original BERT normalizer does, since the original model never
sees case. A sampled tokenizer returns tokens as *surfaces* (see :mod:`operators.transfer.decompose`).
"""

from __future__ import annotations

import logging
import math
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from tokenizers import Tokenizer

log = logging.getLogger(__name__)

STYLES = ("metaspace", "bytelevel")
GPT2_SPLIT = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


@dataclass(frozen=True, slots=True)
class SampledTokenizer:
    """One sampled tokenizer: call :meth:`encode` on a batch of texts."""

    tokenizer: Tokenizer
    """a ``tokenizers.Tokenizer`` (Unigram)."""
    style: str
    vocab_size: int

    def encode(self, texts: Sequence[str]) -> tuple[list[list[str]], list[list[tuple[int, int]]]]:
        """Surfaces and character offsets (into each original text) of every token of every text."""
        encs = self.tokenizer.encode_batch(list(texts), add_special_tokens=False)
        marker = "▁" if self.style == "metaspace" else None
        surfaces = [[t.replace(marker, " ") if marker else t for t in e.tokens] for e in encs]
        return surfaces, [list(e.offsets) for e in encs]


def _normalizer():
    from tokenizers import normalizers

    return normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=True, lowercase=True)


def _pre_tokenizer(style: str):
    from tokenizers import Regex, pre_tokenizers

    if style == "metaspace":
        return pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    return pre_tokenizers.Split(Regex(GPT2_SPLIT), behavior="isolated")


class TokenizerSampler:
    """Samples unigram tokenizers from substring statistics of a text buffer.

    Args:
        min_vocab: smallest sampled vocabulary (single characters come on top).
        max_vocab: largest sampled vocabulary.
        max_piece_chars: longest piece considered.
        noise: scale of the Gumbel noise added to the log counts (0: the top-k by frequency, deterministic).
        seed: random seed.
    """

    def __init__(self, *, min_vocab: int = 2048, max_vocab: int = 32768, max_piece_chars: int = 12, noise: float = 1.0, seed: int = 0) -> None:
        if not 1 <= min_vocab <= max_vocab:
            raise ValueError(f"min_vocab/max_vocab: need 1 <= min_vocab <= max_vocab, got {min_vocab}, {max_vocab}")
        if max_piece_chars < 1:
            raise ValueError(f"max_piece_chars: must be >= 1, got {max_piece_chars}")
        if noise < 0:
            raise ValueError(f"noise: must be >= 0, got {noise}")
        self.min_vocab, self.max_vocab, self.max_piece_chars, self.noise = min_vocab, max_vocab, max_piece_chars, noise
        self.rng = random.Random(seed)
        self.np_rng = np.random.default_rng(seed)
        self._norm = _normalizer()
        self._pre = {s: _pre_tokenizer(s) for s in STYLES}
        self._stats: dict[str, tuple[list[str], np.ndarray, list[str]]] = {}

    def fit(self, texts: Sequence[str]) -> None:
        """Recount substrings over a new text buffer (for both styles)."""
        for style in STYLES:
            words: Counter[str] = Counter()
            for text in texts:
                norm = self._norm.normalize_str(text)
                words.update(w for w, _ in self._pre[style].pre_tokenize_str(norm))
            counts = substring_counts(words, self.max_piece_chars)
            chars = sorted({c for w in words for c in w})
            pieces = [p for p in counts if len(p) > 1]
            freq = np.array([counts[p] for p in pieces], np.float64)
            self._stats[style] = (pieces, freq, chars)
        log.debug("tokenizer sampler: fitted on %d texts", len(texts))

    @property
    def fitted(self) -> bool:
        """Whether :meth:`fit` has counted a text buffer (so :meth:`sample` can draw)."""
        return bool(self._stats)

    def sample(self, style: str | None = None) -> SampledTokenizer:
        """A fresh tokenizer (call :meth:`fit` first)."""
        from tokenizers import Tokenizer, models

        if not self._stats:
            raise ValueError("TokenizerSampler.sample: call fit(texts) first")
        style = style or self.rng.choice(STYLES)
        pieces, freq, chars = self._stats[style]
        k = round(math.exp(self.rng.uniform(math.log(self.min_vocab), math.log(self.max_vocab))))
        k = min(k, len(pieces))
        logp = np.log(freq) - math.log(freq.sum() + 1.0)
        noisy = logp + self.noise * self.np_rng.gumbel(size=len(pieces)) if self.noise else logp
        top = np.argpartition(-noisy, k - 1)[:k] if k else np.array([], np.int64)
        # Single characters always: the tokenizer must cover every character of the buffer. They score low so
        # longer pieces win wherever they apply.
        floor = float(logp.min()) - 10.0 if len(logp) else -20.0
        vocab = [("<unk>", floor - 10.0)] + [(c, floor) for c in chars]
        vocab += [(pieces[i], float(noisy[i])) for i in top]
        tok = Tokenizer(models.Unigram(vocab, unk_id=0, byte_fallback=False))
        tok.normalizer = self._norm
        tok.pre_tokenizer = self._pre[style]
        return SampledTokenizer(tokenizer=tok, style=style, vocab_size=len(vocab))


def substring_counts(words: Counter[str] | dict[str, int], max_chars: int) -> Counter[str]:
    """Every substring of every word up to ``max_chars`` characters, counted with the word's frequency."""
    counts: Counter[str] = Counter()
    for w, c in words.items():
        n = len(w)
        for i in range(n):
            for j in range(i + 1, min(n, i + max_chars) + 1):
                counts[w[i:j]] += c
    return counts
