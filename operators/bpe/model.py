"""The trained BPE model: vocabulary, ordered merges, the config it was trained with and how training went."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tokenmill.operators.bpe.trainer_config import BpeTrainerConfig


@dataclass(frozen=True, slots=True)
class BpeModel:
    """A trained BPE tokenizer: vocabulary, ordered merges and how training went.

    ``stats`` keys: ``vocab_size`` (achieved), ``requested_vocab_size``, ``merges``, ``stop_reason``
    ("vocab_size", "min_frequency" or "no_pairs"), ``last_merge_count``, ``sequences``, ``characters``,
    ``tokens`` (training corpus length in tokens after training), ``bp_per_token``, ``workers``, ``seconds``
    (``count``, ``merge``, ``total``) and ``warnings`` (e.g. the corpus was too small for the vocabulary).
    """

    vocab: dict[str, int]
    """token string -> id; ids 0..n-1 with specials first."""
    merges: list[tuple[str, str]]
    """merged pairs in rank order."""
    special_tokens: tuple[str, ...]
    config: BpeTrainerConfig
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def id_to_token(self) -> list[str]:
        """Token strings indexed by id."""
        out = [""] * len(self.vocab)
        for tok, i in self.vocab.items():
            out[i] = tok
        return out

    def segment(self, sequence: str) -> list[str]:
        """Split ``sequence`` the way training did: apply the merges in rank order (pure Python, for checks).

        Characters outside the vocabulary stay single characters (the HF export maps them to the unknown token).
        """
        from tokenmill.operators.bpe.reference import apply_merges

        return apply_merges(sequence, self.merges)
