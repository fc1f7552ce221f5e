"""Tokens two vocabularies share, matched on a canonical form (what FOCUS and OMP copy or use as anchors).

Vocabulary strings differ between conventions (``Ġthe``, ``▁the``, ``the`` / ``##ing``), so a token is compared by
its surface (:func:`~operators.transfer.decompose.tokenizer_surfaces`: ``" the"`` starts a word, ``"ing"``
continues one), as FOCUS's canonicalization does (``▁`` + text for a word start). Against a WordPiece base the
new surface is first normalized the way the base normalizes its input (all-MiniLM-L6-v2 lower-cases and strips
accents, so ``" The"`` is the base's ``the``), and a continuation that BERT would split off anyway (punctuation,
CJK) counts as a word start. Special tokens never match here: the pipelines copy them by role.
"""

from __future__ import annotations

import json
from pathlib import Path

from tokenmill.operators.encode.locate import open_tokenizer
from tokenmill.operators.transfer.decompose import _joins_word, tokenizer_surfaces


class CanonicalForms:
    """Canonical forms of surfaces as the base tokenizer sees them (``" " + text`` for a word start)."""

    def __init__(self, base_tokenizer_json: str | Path) -> None:

        tok = open_tokenizer(str(base_tokenizer_json))
        self._normalizer = tok.normalizer
        model = json.loads(Path(base_tokenizer_json).read_text(encoding="utf-8")).get("model") or {}
        self.wordpiece = model.get("type") == "WordPiece"

    def __call__(self, surface: str | None) -> str | None:
        if surface is None or not surface.strip():
            return None
        start = surface[:1].isspace()
        text = surface.lstrip()
        if self._normalizer is not None:
            text = self._normalizer.normalize_str(text)
        if not text:
            return None
        if self.wordpiece and not start and not _joins_word(text[0]):
            start = True  # BERT's pre-tokenizer puts punctuation and CJK in words of their own
        return (" " + text) if start else text


def shared_tokens(base_tokenizer_json: str | Path, new_tokenizer_json: str | Path) -> dict[int, int]:
    """``{new id: base id}`` for every non-special new token whose canonical form is a base token's.

    When several base ids share a form (rare), the lowest id wins, so the mapping is deterministic.
    """
    canon = CanonicalForms(base_tokenizer_json)
    base_surfaces, _ = tokenizer_surfaces(base_tokenizer_json)
    base_forms: dict[str, int] = {}
    for i, s in enumerate(base_surfaces):
        f = canon(s)
        if f is not None:
            base_forms.setdefault(f, i)
    new_surfaces, _ = tokenizer_surfaces(new_tokenizer_json)
    out = {}
    for i, s in enumerate(new_surfaces):
        f = canon(s)
        if f is not None and f in base_forms:
            out[i] = base_forms[f]
    return out
