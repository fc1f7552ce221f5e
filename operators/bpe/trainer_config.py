"""Configuration of BPE training (DNABERT-2 defaults); the trained model is :class:`operators.bpe.model.BpeModel`."""

from __future__ import annotations

from dataclasses import dataclass

DNABERT2_SPECIALS = ("[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]")


@dataclass(frozen=True, kw_only=True, slots=True)
class BpeTrainerConfig:
    """How to train a BPE tokenizer; the defaults are DNABERT-2's."""

    vocab_size: int = 4096
    """Final vocabulary size, special tokens included (DNABERT-2: 4096)."""
    min_frequency: int = 2
    """Stop merging when the best pair occurs fewer times than this (DNABERT-2: 2)."""
    special_tokens: tuple[str, ...] = DNABERT2_SPECIALS
    """Tokens given ids 0, 1, ... in this order; merges never produce them. DNABERT-2: [UNK] [CLS] [SEP] [PAD] [MASK]."""
    initial_alphabet: str = "ACGT"
    """Characters that get an id even when the corpus lacks them; the corpus' own characters are always added."""
    max_token_length: int | None = None
    """Longest token, in characters, a merge may create; None for no limit."""
    workers: int = 1
    """1: train in this process. N > 1: split the corpus into N parts, one per Ray actor, with a coordinator (same
    merges)."""

    def __post_init__(self) -> None:
        if not self.special_tokens or any(not isinstance(t, str) or not t for t in self.special_tokens):
            raise ValueError(f"special_tokens: expected non-empty strings, got {self.special_tokens!r}")
        if len(set(self.special_tokens)) != len(self.special_tokens):
            raise ValueError(f"special_tokens: {self.special_tokens!r} has duplicates")
        floor = len(self.special_tokens) + len(set(self.initial_alphabet) - set(self.special_tokens))
        if isinstance(self.vocab_size, bool) or not isinstance(self.vocab_size, int) or self.vocab_size < floor:
            raise ValueError(
                f"vocab_size={self.vocab_size!r} is below the {len(self.special_tokens)} special tokens "
                f"plus the {len(set(self.initial_alphabet))}-character initial_alphabet; use at least {floor}"
            )
        if isinstance(self.min_frequency, bool) or not isinstance(self.min_frequency, int) or self.min_frequency < 0:
            raise ValueError(f"min_frequency={self.min_frequency!r}: expected an integer >= 0")
        if self.max_token_length is not None and (
            isinstance(self.max_token_length, bool) or not isinstance(self.max_token_length, int) or self.max_token_length < 1
        ):
            raise ValueError(f"max_token_length={self.max_token_length!r}: expected None or an integer >= 1")
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 1:
            raise ValueError(f"workers={self.workers!r}: expected an integer >= 1")
