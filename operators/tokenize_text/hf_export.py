"""Export a byte-level BPE (vocab + ordered merges from the tokenmill engine) as an HF ``tokenizer.json``.

The tokenizer is GPT-2's layout: a ``Split`` pre-tokenizer with the training regex (isolated pieces), then
``ByteLevel(use_regex=False)`` for the byte → symbol mapping, a BPE model over the byte symbols (no unknown
token: every byte has an id), and a ``ByteLevel`` decoder, so ``decode(encode(text)) == text``. The regex runs in
HF's own engine (Oniguruma), which supports the look-ahead of the right-to-left digit pattern.

Beside ``tokenizer.json`` the folder gets ``tokenizer_config.json`` and ``special_tokens_map.json``, so
``transformers.AutoTokenizer.from_pretrained(folder)`` knows the special tokens and can pad. The roles come from
the trained special tokens (:func:`special_token_roles`): GPT-2's single ``<|endoftext|>`` is BOS, EOS, PAD and UNK
at once, as in GPT-2's own files (UNK never occurs: every byte has an id). Metadata (``tokenmill.json``, format
``tokenmill byte-level tokenizer v1``) is written last and checked on load.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tokenmill.operators.core.atomic import write_text_atomic
from tokenmill.operators.encode.locate import open_tokenizer
from tokenmill.operators.tokenize_text.byte_level import pattern

FORMAT = "tokenmill byte-level tokenizer v1"
# Spellings of the special-token roles transformers knows, in the conventions tokenizers are trained with.
_ROLE_NAMES = {
    "bos_token": ("<s>", "<|begin_of_text|>", "<|startoftext|>", "[BOS]", "<bos>"),
    "eos_token": ("</s>", "<|end_of_text|>", "<|endoftext|>", "[EOS]", "<eos>"),
    "pad_token": ("<pad>", "<|pad|>", "[PAD]"),
    "unk_token": ("<unk>", "<|unk|>", "[UNK]"),
}
_DOCUMENT_END = "<|endoftext|>"  # GPT-2's one special token: it stands in for every role the vocabulary lacks


def special_token_roles(special_tokens: tuple[str, ...]) -> dict[str, str]:
    """``{bos_token, eos_token, pad_token, unk_token: token}`` for the trained ``special_tokens``.

    A role takes the first special token spelled as that role; roles left without one take ``<|endoftext|>``
    when it is among them (GPT-2's convention: ``bos = eos = unk = <|endoftext|>``; padding with it is what GPT-2
    users do, and padded positions are masked by the attention mask). A role with neither is left out.
    """
    roles: dict[str, str] = {}
    for role, names in _ROLE_NAMES.items():
        found = next((t for t in special_tokens if t in names), None)
        if found is None and _DOCUMENT_END in special_tokens:
            found = _DOCUMENT_END
        if found is not None:
            roles[role] = found
    return roles


def to_byte_level_tokenizer(
    vocab: dict[str, int], merges: list[tuple[str, str]], special_tokens: tuple[str, ...], *, digits_r2l: bool = False, marks: bool = False
):
    """A ``tokenizers.Tokenizer`` for a byte-level BPE trained on :class:`ByteLevelPreTokenizer` words."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers

    # A string re-created by a second pair keeps its first rank; HF wants each merge once.
    tok = Tokenizer(models.BPE(vocab=dict(vocab), merges=list(dict.fromkeys(merges)), fuse_unk=False))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(pattern(digits_r2l, marks)), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in special_tokens])
    return tok


def save_byte_level_tokenizer(
    vocab: dict[str, int],
    merges: list[tuple[str, str]],
    special_tokens: tuple[str, ...],
    out_dir: str | os.PathLike,
    *,
    digits_r2l: bool = False,
    marks: bool = False,
    meta: dict[str, Any] | None = None,
) -> Path:
    """Write ``out_dir/tokenizer.json``, ``tokenizer_config.json``, ``special_tokens_map.json`` (+ ``tokenmill.json``
    last) atomically; return the tokenizer.json path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tok = to_byte_level_tokenizer(vocab, merges, special_tokens, digits_r2l=digits_r2l, marks=marks)
    write_text_atomic(out / "tokenizer.json", tok.to_str(pretty=True))
    roles = special_token_roles(special_tokens)
    config: dict[str, Any] = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "padding_side": "right",  # no model_max_length: the tokenizer has none (the model using it sets one)
        "clean_up_tokenization_spaces": False,  # decode gives back the text exactly
        "add_prefix_space": False,
        **roles,
        "added_tokens_decoder": {
            str(tok.token_to_id(t)): {"content": t, "lstrip": False, "normalized": False, "rstrip": False, "single_word": False, "special": True}
            for t in special_tokens
        },
    }
    write_text_atomic(out / "tokenizer_config.json", json.dumps(config, indent=2, ensure_ascii=False))
    write_text_atomic(out / "special_tokens_map.json", json.dumps(roles, indent=2, ensure_ascii=False))
    info = {
        "format": FORMAT,
        "vocab_size": len(vocab),
        "merges": len(merges),
        "special_tokens": list(special_tokens),
        "digits_r2l": digits_r2l,
        "marks": marks,
        **(meta or {}),
    }
    write_text_atomic(out / "tokenmill.json", json.dumps(info, indent=2, default=str))
    return out / "tokenizer.json"


def load_byte_level_tokenizer(path: str | os.PathLike):
    """Load a folder written by :func:`save_byte_level_tokenizer`, checking its format."""

    folder = Path(path)
    meta = folder / "tokenmill.json"
    fmt = json.loads(meta.read_text()).get("format") if meta.is_file() else None
    if fmt != FORMAT:
        raise ValueError(f"{folder}: format {fmt!r} is not {FORMAT!r}; re-export it with this tokenmill version")
    return open_tokenizer(str(folder / "tokenizer.json"))
