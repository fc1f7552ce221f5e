"""Export a trained :class:`~operators.bpe.model.BpeModel` as a Hugging Face tokenizer folder (DNABERT-2 layout).

The folder holds ``tokenizer.json`` (BPE model, vocab, merges, ``[CLS] $A [SEP]`` post-processor),
``tokenizer_config.json`` and ``special_tokens_map.json`` — what ``tokenizers.Tokenizer.from_file`` and
``transformers.AutoTokenizer.from_pretrained`` load — plus ``tokenmill.json`` (format ``tokenmill tokenizer
v1``, training config and stats), written last and checked by :func:`load_hf_tokenizer`.

Why no pre-tokenizer: a DNA segment is one "word"; HF's BPE model applies the merges by rank over the whole
input (O(n log n)), which gives exactly the segmentation training produced (tested). A ``Fuse`` decoder
makes ``decode(encode(x)) == x`` for upper-case input.

The normalizer upper-cases (models whose alphabet is upper-case only, as DNA's; a text model keeps its case):
training sees upper-case segments (the segmenter upper-cases soft-masked bases and
records how many there were), so soft-masked input (``acgtacgt``, as in UCSC genomes) must encode to the same ids
as ``ACGTACGT`` in every client, not to ``[UNK]``. It maps the lower-case form of each letter of the alphabet to
the letter (a lower-case letter outside the alphabet is ``[UNK]`` either way); special tokens are not
normalized. Every file is written atomically (temp name, fsync, rename).
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from tokenmill.operators.bpe.model import BpeModel
from tokenmill.operators.core.atomic import write_text_atomic
from tokenmill.operators.encode.locate import open_tokenizer

FORMAT = "tokenmill tokenizer v1"
ROLES = {"unk_token": "[UNK]", "cls_token": "[CLS]", "sep_token": "[SEP]", "pad_token": "[PAD]", "mask_token": "[MASK]"}


def to_hf_tokenizer(model: BpeModel):
    """The trained model as a ``tokenizers.Tokenizer`` (BPE, special tokens, post-processor, Fuse decoder)."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, processors

    specials = set(model.special_tokens)
    unk = ROLES["unk_token"] if ROLES["unk_token"] in specials else None
    # A merge recorded twice (a string re-created by another pair keeps its first rank) is listed once.
    merges = list(dict.fromkeys(model.merges))
    tok = Tokenizer(models.BPE(vocab=dict(model.vocab), merges=merges, unk_token=unk, fuse_unk=False))
    if (normalizer := upper_case_normalizer(model)) is not None:
        tok.normalizer = normalizer
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in model.special_tokens])
    cls, sep = ROLES["cls_token"], ROLES["sep_token"]
    if cls in specials and sep in specials:
        tok.post_processor = processors.TemplateProcessing(
            single=f"{cls} $A {sep}", pair=f"{cls} $A {sep} $B:1 {sep}:1", special_tokens=[(cls, model.vocab[cls]), (sep, model.vocab[sep])]
        )
    tok.decoder = decoders.Fuse()
    return tok


def upper_case_normalizer(model: BpeModel):
    """A normalizer that upper-cases the letters of an upper-case alphabet (DNA's ACGTN: single-character,
    non-special tokens); None for an alphabet that has lower-case letters of its own (a text model keeps its case)."""
    from tokenizers import normalizers

    specials = set(model.special_tokens)
    alphabet = [t for t in model.vocab if len(t) == 1 and t not in specials]
    if any(t.islower() for t in alphabet):
        return None
    letters = sorted(t for t in alphabet if t.isupper() and t.lower() != t)
    return normalizers.Sequence([normalizers.Replace(letter.lower(), letter) for letter in letters])


def save_hf_tokenizer(model: BpeModel, out_dir: str | os.PathLike, *, model_max_length: int = 512) -> Path:
    """Write the tokenizer folder ``out_dir`` (created if needed) and return its path.

    Args:
        model: the trained model.
        out_dir: the folder; existing files of the same names are replaced atomically.
        model_max_length: ``tokenizer_config.json``'s maximum sequence length in tokens (512 fits a 1000-bp
            segment at ~5 bp/token with room to spare).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    specials = set(model.special_tokens)
    roles = {role: t for role, t in ROLES.items() if t in specials}
    write_text_atomic(out / "tokenizer.json", to_hf_tokenizer(model).to_str(pretty=True))
    config: dict[str, Any] = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": model_max_length,
        "padding_side": "right",
        "clean_up_tokenization_spaces": False,
        **roles,
        "added_tokens_decoder": {
            str(model.vocab[t]): {"content": t, "lstrip": False, "normalized": False, "rstrip": False, "single_word": False, "special": True}
            for t in model.special_tokens
        },
    }
    write_text_atomic(out / "tokenizer_config.json", json.dumps(config, indent=2))
    write_text_atomic(out / "special_tokens_map.json", json.dumps(roles, indent=2))
    meta = {
        "format": FORMAT,
        "vocab_size": model.vocab_size,
        "merges": len(model.merges),
        "special_tokens": list(model.special_tokens),
        "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(model.config).items()},
        "stats": model.stats,
    }
    write_text_atomic(out / "tokenmill.json", json.dumps(meta, indent=2, default=str))  # last: marks the folder done
    return out


def load_hf_tokenizer(path: str | os.PathLike):
    """Load a folder written by :func:`save_hf_tokenizer` as a ``tokenizers.Tokenizer``, checking its version.

    Raises:
        ValueError: when ``tokenmill.json`` is missing (an unfinished or foreign folder) or has another format.
    """

    folder = Path(path)
    meta_path = folder / "tokenmill.json"
    if not meta_path.is_file():
        raise ValueError(f"{folder}: no tokenmill.json; not a finished tokenmill tokenizer folder")
    fmt = json.loads(meta_path.read_text()).get("format")
    if fmt != FORMAT:
        raise ValueError(f"{folder}: format {fmt!r} is not {FORMAT!r}; re-export it with this tokenmill version")
    return open_tokenizer(str(folder / "tokenizer.json"))
