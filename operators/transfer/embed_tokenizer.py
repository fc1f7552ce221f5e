"""An embedding matrix for a whole new tokenizer: hypernetwork, FVT or random, specials copied from the base.

:func:`prepare_tokenizer` makes a new ``tokenizer.json`` usable by the BERT-style base: it finds (or adds) the
special tokens the model needs ([CLS], [SEP], [PAD], [UNK], [MASK], matched by name or common alias such as
``<s>``/``</s>``) and adds a ``[CLS] $A [SEP]`` post-processor when the tokenizer has none. Special tokens keep the
base model's own rows; every other id gets the chosen method's embedding:

* ``hypernet``: the ZeTT hypernetwork (through :class:`~operators.transfer.serve.HypernetEmbedder`);
* ``fvt``: the FVT baseline of :mod:`operators.transfer.fvt` (mean of the base embeddings of the surface's base
  tokenization; that module's own decomposition);
* ``fvt_decomp``: the same mean over *our* decomposition (the hypernetwork's input), to compare like with like;
* ``random``: normal draws with the base matrix's per-dimension mean and standard deviation.
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch

from operators.transfer.base_model import BaseModel
from operators.transfer.decompose import SurfaceDecomposer, tokenizer_surfaces

log = logging.getLogger(__name__)

METHODS = ("hypernet", "fvt", "fvt_decomp", "random")
ROLES = {
    "cls_token": ("[CLS]", "<s>", "<cls>", "<bos>", "[BOS]"),
    "sep_token": ("[SEP]", "</s>", "<sep>", "<eos>", "[EOS]"),
    "pad_token": ("[PAD]", "<pad>"),
    "unk_token": ("[UNK]", "<unk>"),
    "mask_token": ("[MASK]", "<mask>"),
}


def prepare_tokenizer(path: str | Path, base_tokenizer_json: str | Path):
    """Load a new tokenizer and give it the base model's specials.

    Returns:
        (``tokenizers.Tokenizer``, {role: token string}, {new special id: base id}).
    """
    from tokenizers import AddedToken, Tokenizer, processors

    tok = Tokenizer.from_file(str(path))
    tok.no_padding()
    tok.no_truncation()
    base_vocab = Tokenizer.from_file(str(base_tokenizer_json)).get_vocab(with_added_tokens=True)
    vocab = tok.get_vocab(with_added_tokens=True)
    roles: dict[str, str] = {}
    for role, names in ROLES.items():
        found = next((n for n in names if n in vocab), None)
        if found is None:
            found = names[0]
            tok.add_special_tokens([AddedToken(found, special=True, normalized=False)])
        roles[role] = found
    vocab = tok.get_vocab(with_added_tokens=True)
    if json.loads(tok.to_str()).get("post_processor") is None:
        cls, sep = roles["cls_token"], roles["sep_token"]
        tok.post_processor = processors.TemplateProcessing(
            single=f"{cls} $A {sep}", pair=f"{cls} $A {sep} $B:1 {sep}:1",
            special_tokens=[(cls, vocab[cls]), (sep, vocab[sep])])
    special_map = {vocab[name]: base_vocab[ROLES[role][0]] for role, name in roles.items()}
    return tok, roles, special_map


def vocab_table(tokenizer_json: str | Path) -> pa.Table:
    """``id`` and ``surface`` (null for special tokens) of every id of a tokenizer: the serving stage's input."""
    surfaces, _ = tokenizer_surfaces(tokenizer_json)
    return pa.table({"id": pa.array(range(len(surfaces)), pa.int32()), "surface": pa.array(surfaces, pa.string())})


def random_embeddings(base: torch.Tensor, n: int, seed: int = 0) -> torch.Tensor:
    """``n`` rows drawn per dimension from N(mean, std) of ``base``."""
    g = torch.Generator().manual_seed(seed)
    b = base.detach().float().cpu()
    return torch.randn(n, b.shape[1], generator=g) * b.std(0) + b.mean(0)


def transfer_embeddings(method: str, tokenizer, base: BaseModel, special_map: dict[int, int], *,
                        embedder=None, seed: int = 0) -> torch.Tensor:
    """The [new vocab, dim] input-embedding matrix for ``tokenizer`` (a prepared ``tokenizers.Tokenizer``).

    Args:
        method: one of :data:`METHODS`.
        embedder: for ``hypernet``, a callable on a ``pa.Table`` with ``surface`` that adds ``embedding`` — a
            :class:`~operators.transfer.serve.HypernetEmbedder`, or a function running it on Ray.
    """
    if method not in METHODS:
        raise ValueError(f"method: {method!r} is not one of {', '.join(METHODS)}")
    emb = base.input_embeddings.detach().float().cpu()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tokenizer.json"
        tokenizer.save(str(path))
        table = vocab_table(path)
        n = table.num_rows
        if method == "hypernet":
            if embedder is None:
                raise ValueError("transfer_embeddings: method 'hypernet' needs an embedder")
            col = embedder(table).column("embedding")
            out = _matrix(col, n, emb.shape[1])
        elif method == "fvt":
            from operators.dynamic.base_tokenizer import load_base_tokenizer
            from operators.transfer.fvt import fvt_for_tokenizer

            out = fvt_for_tokenizer(emb, load_base_tokenizer(base.tokenizer_json), load_base_tokenizer(path)).float()
        elif method == "fvt_decomp":
            from operators.transfer.fvt import fvt_embeddings

            dec = SurfaceDecomposer(base.tokenizer_json)
            surf = table.column("surface").to_pylist()
            out = fvt_embeddings(emb, [dec(s) if s is not None else (dec.unk_id,) for s in surf]).float()
        else:
            out = random_embeddings(emb, n, seed)
    for new_id, base_id in special_map.items():
        out[new_id] = emb[base_id]
    return out


def _matrix(col: pa.ChunkedArray, n: int, dim: int) -> torch.Tensor:
    """A fixed-size-list column -> [n, dim] float32 (null rows -> zeros; specials are overwritten anyway)."""
    arr = col.combine_chunks()
    values = arr.flatten().to_numpy(zero_copy_only=False)
    if arr.null_count:
        # Null fixed-size-list slots still occupy storage; fill() keeps offsets aligned.
        values = arr.fill_null(pa.scalar([0.0] * dim, arr.type)).flatten().to_numpy(zero_copy_only=False)
    return torch.from_numpy(np.ascontiguousarray(values, np.float32).reshape(n, dim).copy())
