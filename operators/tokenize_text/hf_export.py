"""Export a byte-level BPE (vocab + ordered merges from the tokenmill engine) as an HF ``tokenizer.json``.

The tokenizer is GPT-2's layout: a ``Split`` pre-tokenizer with the training regex (isolated pieces), then
``ByteLevel(use_regex=False)`` for the byte → symbol mapping, a BPE model over the byte symbols (no unknown
token: every byte has an id), and a ``ByteLevel`` decoder, so ``decode(encode(text)) == text``. The regex runs in
HF's own engine (Oniguruma), which supports the look-ahead of the right-to-left digit pattern. Metadata
(``tokenmill.json``, format ``tokenmill byte-level tokenizer v1``) is written last and checked on load.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from operators.core.atomic import write_text_atomic
from operators.tokenize_text.byte_level import pattern

FORMAT = "tokenmill byte-level tokenizer v1"


def to_byte_level_tokenizer(vocab: dict[str, int], merges: list[tuple[str, str]], special_tokens: tuple[str, ...],
                            *, digits_r2l: bool = False, marks: bool = False):
    """A ``tokenizers.Tokenizer`` for a byte-level BPE trained on :class:`ByteLevelPreTokenizer` words."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers

    # A string re-created by a second pair keeps its first rank; HF wants each merge once.
    tok = Tokenizer(models.BPE(vocab=dict(vocab), merges=list(dict.fromkeys(merges)), fuse_unk=False))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(pattern(digits_r2l, marks)), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in special_tokens])
    return tok


def save_byte_level_tokenizer(vocab: dict[str, int], merges: list[tuple[str, str]], special_tokens: tuple[str, ...],
                              out_dir: str | os.PathLike, *, digits_r2l: bool = False, marks: bool = False,
                              meta: dict[str, Any] | None = None) -> Path:
    """Write ``out_dir/tokenizer.json`` (+ ``tokenmill.json`` last) atomically; return the tokenizer.json path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tok = to_byte_level_tokenizer(vocab, merges, special_tokens, digits_r2l=digits_r2l, marks=marks)
    write_text_atomic(out / "tokenizer.json", tok.to_str(pretty=True))
    info = {"format": FORMAT, "vocab_size": len(vocab), "merges": len(merges), "special_tokens": list(special_tokens),
            "digits_r2l": digits_r2l, "marks": marks, **(meta or {})}
    write_text_atomic(out / "tokenmill.json", json.dumps(info, indent=2, default=str))
    return out / "tokenizer.json"


def load_byte_level_tokenizer(path: str | os.PathLike):
    """Load a folder written by :func:`save_byte_level_tokenizer`, checking its format."""
    from tokenizers import Tokenizer

    folder = Path(path)
    meta = folder / "tokenmill.json"
    fmt = json.loads(meta.read_text()).get("format") if meta.is_file() else None
    if fmt != FORMAT:
        raise ValueError(f"{folder}: format {fmt!r} is not {FORMAT!r}; re-export it with this tokenmill version")
    return Tokenizer.from_file(str(folder / "tokenizer.json"))
