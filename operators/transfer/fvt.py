"""FVT embeddings (Fast Vocabulary Transfer): a new token's embedding is the mean of its base decomposition's.

Two uses: the new tokens of dynamic BPE (their decomposition into base ids is in the ``dynamic_vocab/v1`` table),
and a whole new tokenizer (each new token's surface is re-tokenized with the base tokenizer; a token whose
vocabulary string also exists in the base vocabulary keeps that row). This is the baseline embedding source;
the hypernetwork predicts better ones from the same decompositions.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch

from tokenmill.operators.dynamic.base_tokenizer import BaseTokenizer
from tokenmill.operators.transfer.extra import import_transfer

log = logging.getLogger(__name__)

# Names under which common checkpoints keep the input embedding matrix (tried in order when no key is given).
EMBEDDING_KEYS = (
    "embed_tokens.weight",
    "wte.weight",
    "word_embeddings.weight",
    "tok_embeddings.weight",
    "embeddings.weight",
    "shared.weight",
)


def load_embeddings(path: str | Path, key: str | None = None) -> torch.Tensor:
    """Load a 2-D embedding matrix from a safetensors file or a torch file (``torch.load(weights_only=True)``).

    Args:
        path: ``*.safetensors``, or anything ``torch.save`` wrote (a tensor, or a dict of tensors).
        key: the tensor's name in a multi-tensor file; without it a single tensor is used, else the first
            name ending in one of :data:`EMBEDDING_KEYS`.

    Raises:
        ValueError: no such file, no 2-D tensor under that name, or an ambiguous file without ``key``.
    """
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"embeddings {path}: no such file")
    if p.suffix == ".safetensors":
        load_file = import_transfer("safetensors.torch").load_file
        tensors: dict[str, torch.Tensor] | torch.Tensor = load_file(str(p))
    else:
        try:
            tensors = torch.load(str(p), map_location="cpu", weights_only=True)
        except Exception as exc:  # pickle errors come in many types; all mean "not a plain tensor file"
            raise ValueError(f"embeddings {path}: not a safetensors or torch tensor file ({exc})") from exc
    if isinstance(tensors, torch.Tensor):
        matrix = tensors
    elif isinstance(tensors, dict):
        matrix = _pick(tensors, key, str(path))
    else:
        raise ValueError(f"embeddings {path}: holds a {type(tensors).__name__}, expected a tensor or a dict of them")
    if matrix.ndim != 2:
        raise ValueError(f"embeddings {path}: expected a 2-D [vocab, dim] matrix, got shape {tuple(matrix.shape)}")
    return matrix


def _pick(tensors: dict, key: str | None, path: str) -> torch.Tensor:
    if key is not None:
        if key not in tensors:
            raise ValueError(f"embeddings {path}: no tensor {key!r}; has {sorted(tensors)[:20]}")
        return tensors[key]
    if len(tensors) == 1:
        return next(iter(tensors.values()))
    for suffix in EMBEDDING_KEYS:
        hits = sorted(k for k in tensors if k == suffix or k.endswith("." + suffix))
        if hits:
            return tensors[hits[0]]
    raise ValueError(f"embeddings {path}: several tensors and none named like an embedding; pass key= one of {sorted(tensors)[:20]}")


def fvt_embeddings(base: torch.Tensor, decompositions: Sequence[Sequence[int]]) -> torch.Tensor:
    """Mean of the base rows of every decomposition: a [len(decompositions), dim] tensor (base's dtype).

    Raises:
        ValueError: an empty decomposition, or an id outside the base matrix.
    """
    lengths = torch.tensor([len(d) for d in decompositions], dtype=torch.long)
    if len(lengths) and int(lengths.min()) == 0:
        raise ValueError(f"fvt_embeddings: decomposition {int(torch.argmin(lengths))} is empty")
    flat = torch.tensor([i for d in decompositions for i in d], dtype=torch.long)
    if len(flat) and (int(flat.min()) < 0 or int(flat.max()) >= base.shape[0]):
        raise ValueError(f"fvt_embeddings: ids must lie in [0, {base.shape[0]}); got {int(flat.min())}..{int(flat.max())}")
    owner = torch.repeat_interleave(torch.arange(len(lengths)), lengths)
    acc = torch.float64 if base.dtype == torch.float64 else torch.float32  # half precision would lose the mean
    total = torch.zeros(len(lengths), base.shape[1], dtype=acc)
    total.index_add_(0, owner, base.index_select(0, flat).to(acc))
    return (total / lengths.clamp(min=1).unsqueeze(1)).to(base.dtype)


def fvt_for_dynamic_vocab(base: torch.Tensor, vocab: pa.Table) -> tuple[torch.Tensor, torch.Tensor]:
    """FVT rows for the new tokens of a ``dynamic_vocab/v1`` table: (their ids, their embeddings)."""
    ids = torch.tensor(vocab.column("id").to_numpy().astype(np.int64))
    return ids, fvt_embeddings(base, vocab.column("base_ids").to_pylist())


def decompose_vocab(base_tokenizer: BaseTokenizer, new_tokenizer: BaseTokenizer) -> list[list[int] | None]:
    """Base ids of every new token: the same id string's id when the base vocabulary has it, else the base
    tokenization of the new token's surface (bytes that are not valid UTF-8 map to the base's single-byte
    tokens); None for specials and surfaces the base cannot express."""
    base_ids = {base_tokenizer.id_to_token(i): i for i in range(base_tokenizer.vocab_size)}
    byte_ids: dict[int, int] = {}
    for i, b in enumerate(base_tokenizer.token_bytes):
        if len(b) == 1 and b[0] not in byte_ids:
            byte_ids[b[0]] = i
    out: list[list[int] | None] = []
    for i in range(new_tokenizer.vocab_size):
        name, surface = new_tokenizer.id_to_token(i), new_tokenizer.token_bytes[i]
        if name in base_ids and (surface or base_tokenizer.special_ids[base_ids[name]]):
            out.append([base_ids[name]])
        elif not surface:
            out.append(None)
        else:
            try:
                out.append(base_tokenizer.encode_fragment(surface.decode("utf-8")) or None)
            except UnicodeDecodeError:
                out.append([byte_ids[c] for c in surface] if all(c in byte_ids for c in surface) else None)
    return out


def fvt_for_tokenizer(base: torch.Tensor, base_tokenizer: BaseTokenizer, new_tokenizer: BaseTokenizer) -> torch.Tensor:
    """A full [new vocab, dim] FVT embedding matrix; tokens without a decomposition get the mean base row."""
    parts = decompose_vocab(base_tokenizer, new_tokenizer)
    missing = [i for i, d in enumerate(parts) if d is None]
    out = fvt_embeddings(base, [d if d is not None else [0] for d in parts])
    if missing:
        out[torch.tensor(missing)] = base.float().mean(0).to(base.dtype)
    log.info("FVT for %r from %r: %d tokens, %d without a decomposition (mean row)", new_tokenizer, base_tokenizer, len(parts), len(missing))
    return out
