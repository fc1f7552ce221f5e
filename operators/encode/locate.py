"""The one rule for finding and opening a tokenizer on disk, shared by every pipeline.

``--tokenizer X`` means the same thing to ``pack_shards``, ``dynamic_tokenize``, the reports and the builds. ``X``
is one of:

- a ``tokenizer.json`` file (any ``*.json``), or a folder holding ``tokenizer.json`` (it wins over anything else
  in the folder);
- a GPT-2 folder: ``encoder.json`` + ``vocab.bpe`` (OpenAI's names) or ``vocab.json`` + ``merges.txt`` (HF's),
  read as byte-level BPE;
- a sentencepiece model file, ``*.model`` or a versioned ``*.model.vN`` (Mistral's ``tokenizer.model.v1``), or a
  folder holding exactly one (more than one is an error naming them: which one is meant is not ours to guess).

Errors are ``ValueError`` saying what was wrong with which path: a path that does not exist, a folder that holds
none of these (with what it does hold), a file that cannot be parsed (naming it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

Kind = Literal["hf", "gpt2", "sentencepiece"]

# The two spellings of a GPT-2 byte-level BPE: (vocabulary, merges).
GPT2_FILES = (("encoder.json", "vocab.bpe"), ("vocab.json", "merges.txt"))
_SENTENCEPIECE = re.compile(r"\.model(\.v\d+)?$")
_EXPECTED = (
    "a tokenizer.json, a folder holding one, a GPT-2 folder (encoder.json + vocab.bpe, or vocab.json + "
    "merges.txt), or a sentencepiece .model file (or a folder holding exactly one)"
)


@dataclass(frozen=True, kw_only=True, slots=True)
class TokenizerConfig:
    """The tokenizer section of a config (``tokenizer: {path: ...}`` in a corpus YAML)."""

    path: str
    """tokenizer.json, a folder holding one (or GPT-2's encoder.json + vocab.bpe / vocab.json + merges.txt), or a
    sentencepiece .model (relative paths are relative to the YAML file)."""

    def __post_init__(self) -> None:
        if not isinstance(self.path, str) or not self.path.strip():
            raise ValueError(f"tokenizer.path: give {_EXPECTED}")


@dataclass(frozen=True, slots=True)
class TokenizerFiles:
    """Where a tokenizer's files are, and in which format."""

    kind: Kind
    """``"hf"`` (tokenizer.json), ``"gpt2"`` (vocabulary + merges) or ``"sentencepiece"``."""
    files: tuple[Path, ...]
    """hf: (tokenizer.json,); gpt2: (vocabulary, merges); sentencepiece: (model,). Their bytes are the content hash."""
    path: Path
    """The path as given (a file or a folder)."""


def is_sentencepiece_name(name: str) -> bool:
    """Whether a file name is a sentencepiece model's: ``*.model`` or ``*.model.vN``."""
    return _SENTENCEPIECE.search(name) is not None


def locate_tokenizer(path: str | Path) -> TokenizerFiles:
    """Find the tokenizer at ``path`` by the rules of the module docstring (nothing is parsed yet).

    Raises:
        ValueError: ``path`` does not exist, holds no tokenizer, holds several sentencepiece models, or is a file
            of no tokenizer format.
    """
    p = Path(path)
    if not p.exists():
        raise ValueError(f"tokenizer: {p} does not exist; pass {_EXPECTED}")
    if p.is_file():
        if p.suffix == ".json" and p.name not in {"encoder.json", "vocab.json"}:
            return TokenizerFiles("hf", (p,), p)
        if is_sentencepiece_name(p.name):
            return TokenizerFiles("sentencepiece", (p,), p)
        if any(p.name in pair for pair in GPT2_FILES):
            raise ValueError(f"tokenizer: {p} is one file of a GPT-2 tokenizer; pass its folder {p.parent}")
        raise ValueError(f"tokenizer: {p} is not a tokenizer file (expected *.json or a sentencepiece *.model); pass {_EXPECTED}")
    if (p / "tokenizer.json").is_file():
        return TokenizerFiles("hf", (p / "tokenizer.json",), p)
    for vocab, merges in GPT2_FILES:
        if (p / vocab).is_file() and (p / merges).is_file():
            return TokenizerFiles("gpt2", (p / vocab, p / merges), p)
    models = sorted(q for q in p.iterdir() if q.is_file() and is_sentencepiece_name(q.name))
    if len(models) > 1:
        raise ValueError(f"tokenizer: {p} holds {len(models)} sentencepiece models ({', '.join(q.name for q in models)}); pass the one you mean")
    if models:
        return TokenizerFiles("sentencepiece", (models[0],), p)
    found = sorted(q.name for q in p.iterdir())
    raise ValueError(
        f"tokenizer: {p} holds no tokenizer: expected tokenizer.json, encoder.json + vocab.bpe, "
        f"vocab.json + merges.txt, or one sentencepiece .model in the folder; found {found}"
    )


def open_hf_tokenizer(located: TokenizerFiles) -> Any:
    """A ``tokenizers.Tokenizer`` for an ``hf`` or ``gpt2`` tokenizer (GPT-2: byte-level pre-tokenizer and decoder).

    Raises:
        ValueError: naming the file that cannot be parsed.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    if located.kind == "hf":
        try:
            return Tokenizer.from_file(str(located.files[0]))
        except Exception as exc:  # tokenizers raises a bare Exception with serde's message
            raise ValueError(
                f"cannot parse tokenizer.json at {located.files[0]}: {exc} (a truncated or hand-edited file? re-export it with tokenizers' Tokenizer.save)"
            ) from None
    if located.kind != "gpt2":
        raise ValueError(f"tokenizer: {located.path} is a {located.kind} model, not a tokenizers one")
    vocab, merges = located.files
    try:
        tok = Tokenizer(models.BPE.from_file(str(vocab), str(merges)))
    except Exception as exc:
        raise ValueError(f"cannot parse GPT-2 tokenizer files {vocab} + {merges.name}: {exc}") from None
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    return tok


def open_tokenizer(path: str | Path) -> Any:
    """A ``tokenizers.Tokenizer`` for a tokenizer.json, a folder holding one or a GPT-2 folder: the one way every
    module opens an HF tokenizer (encoding goes through :func:`operators.encode.load_engine`).

    Raises:
        ValueError: nothing loadable at ``path`` (naming it), or a sentencepiece model.
    """
    return open_hf_tokenizer(locate_tokenizer(path))


def open_sentencepiece(located: TokenizerFiles) -> tuple[Any, bytes]:
    """A ``sentencepiece.SentencePieceProcessor`` and the model's bytes (its protobuf).

    Raises:
        ValueError: naming the file that cannot be parsed.
    """
    import sentencepiece as spm

    if located.kind != "sentencepiece":
        raise ValueError(f"tokenizer: {located.path} is a {located.kind} tokenizer, not a sentencepiece model")
    blob = located.files[0].read_bytes()
    try:
        return spm.SentencePieceProcessor(model_proto=blob), blob
    except (RuntimeError, OSError) as exc:
        raise ValueError(f"cannot parse sentencepiece model at {located.files[0]}: {exc} (a truncated copy? copy the .model file again)") from None
