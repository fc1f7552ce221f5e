"""An embedding matrix for a whole new tokenizer: hypernetwork, FOCUS, OMP, FVT or random, specials from the base.

:func:`prepare_tokenizer` makes a new ``tokenizer.json`` usable by the BERT-style base: it finds (or adds) the
special tokens the model needs ([CLS], [SEP], [PAD], [UNK], [MASK], matched by name or common alias such as
``<s>``/``</s>``) and adds a ``[CLS] $A [SEP]`` post-processor when the tokenizer has none. Special tokens keep the
base model's own rows; every other id gets the chosen method's embedding:

* ``hypernet``: the ZeTT hypernetwork (through :class:`~operators.transfer.serve.HypernetEmbedder`); given target
  text, a surface without a leading space gets the blend of its two readings, as a continuation and as a word
  start, weighted by how often it begins a word there (:func:`~operators.transfer.decompose.word_start_shares`);
* ``fvt``: the FVT baseline of :mod:`operators.transfer.fvt` (mean of the base embeddings of the surface's base
  tokenization; that module's own decomposition);
* ``focus``: FOCUS (:mod:`operators.transfer.focus`; needs target text for its fastText model);
* ``omp``: OMP transplantation from a donor model that uses the new tokenizer (:mod:`operators.transfer.omp`);
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

from tokenmill.operators.encode.locate import open_tokenizer
from tokenmill.operators.transfer.base_model import BaseModel
from tokenmill.operators.transfer.decompose import SurfaceDecomposer, tokenizer_surfaces

log = logging.getLogger(__name__)

METHODS = ("hypernet", "focus", "omp", "fvt", "fvt_decomp", "random")
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
    from tokenizers import AddedToken, processors

    tok = open_tokenizer(str(path))
    tok.no_padding()
    tok.no_truncation()
    base_vocab = open_tokenizer(str(base_tokenizer_json)).get_vocab(with_added_tokens=True)
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
            single=f"{cls} $A {sep}", pair=f"{cls} $A {sep} $B:1 {sep}:1", special_tokens=[(cls, vocab[cls]), (sep, vocab[sep])]
        )
    special_map = {vocab[name]: base_vocab[ROLES[role][0]] for role, name in roles.items()}
    return tok, roles, special_map


def vocab_table(tokenizer_json: str | Path) -> pa.Table:
    """``id`` and ``surface`` (null for special tokens) of every id of a tokenizer: the serving stage's input."""
    surfaces, _ = tokenizer_surfaces(tokenizer_json)
    return pa.table({"id": pa.array(range(len(surfaces)), pa.int32()), "surface": pa.array(surfaces, pa.string())})


def transfer_inputs(tokenizer: str, method: str, inputs: list[str], donor_dir: str | None):
    """What the transfer pipeline reads: (the tokenizer.json, the method, target text, OMP's donor).

    ``tokenizer`` is a tokenizer.json or a folder holding one; a donor folder selects ``omp``. Raises ValueError
    (with the fix) when a file is missing or a method lacks its input.
    """
    from tokenmill.operators.transfer.focus import read_texts
    from tokenmill.operators.transfer.omp import load_donor

    path = Path(tokenizer) / "tokenizer.json" if Path(tokenizer).is_dir() else Path(tokenizer)
    if not path.is_file():
        raise ValueError(f"--tokenizer {tokenizer}: no tokenizer.json there")
    if donor_dir:
        if method not in ("hypernet", "omp"):
            raise ValueError(f"--donor is OMP's donor model; it does not go with method={method}")
        return path, "omp", None, load_donor(donor_dir)
    if method == "omp":
        raise ValueError("method=omp needs --donor DIR, a model that already uses the new tokenizer")
    if method == "focus":
        if not inputs:
            raise ValueError("method=focus needs --input FILE (target text for its fastText model)")
        return path, method, read_texts(inputs), None
    if method == "hypernet" and inputs:  # optional: where the new tokens begin words
        return path, method, read_texts(inputs), None
    return path, method, None, None


def random_embeddings(base: torch.Tensor, n: int, seed: int = 0) -> torch.Tensor:
    """``n`` rows drawn per dimension from N(mean, std) of ``base``."""
    g = torch.Generator().manual_seed(seed)
    b = base.detach().float().cpu()
    return torch.randn(n, b.shape[1], generator=g) * b.std(0) + b.mean(0)


def transfer_embeddings(
    method: str, tokenizer, base: BaseModel, special_map: dict[int, int], *, embedder=None, seed: int = 0, texts=None, donor=None
) -> torch.Tensor:
    """The [new vocab, dim] input-embedding matrix for ``tokenizer`` (a prepared ``tokenizers.Tokenizer``).

    Args:
        method: one of :data:`METHODS`.
        embedder: for ``hypernet``, a callable on a ``pa.Table`` with ``surface`` that adds ``embedding`` — a
            :class:`~operators.transfer.serve.HypernetEmbedder`, or a function running it on Ray.
        texts: target text (lines): for ``focus``, its fastText model's training text (required); for ``hypernet``,
            optional, where no-space surfaces begin words (the tokenizer's own training text is the natural one).
        donor: for ``omp``, (donor tokenizer.json, donor input embeddings), e.g. from
            :func:`~operators.transfer.omp.load_donor`.
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
            out = _matrix(embedder(table).column("embedding"), n, emb.shape[1])
            if texts:
                _blend_word_starts(out, table, tokenizer, texts, embedder)
        elif method == "focus":
            from tokenmill.operators.transfer.focus import FocusConfig, focus_for_tokenizer

            out, _ = focus_for_tokenizer(emb, base.tokenizer_json, tokenizer, texts or [], FocusConfig(seed=seed))
        elif method == "omp":
            out = _omp(emb, base.tokenizer_json, path, donor)
        elif method == "fvt":
            from tokenmill.operators.dynamic.base_tokenizer import load_base_tokenizer
            from tokenmill.operators.transfer.fvt import fvt_for_tokenizer

            out = fvt_for_tokenizer(emb, load_base_tokenizer(base.tokenizer_json), load_base_tokenizer(path)).float()
        elif method == "fvt_decomp":
            from tokenmill.operators.transfer.fvt import fvt_embeddings

            dec = SurfaceDecomposer(base.tokenizer_json)
            surf = table.column("surface").to_pylist()
            out = fvt_embeddings(emb, [dec(s) if s is not None else (dec.unk_id,) for s in surf]).float()
        else:
            out = random_embeddings(emb, n, seed)
    for new_id, base_id in special_map.items():
        out[new_id] = emb[base_id]
    return out


def _blend_word_starts(out: torch.Tensor, table: pa.Table, tokenizer, texts: list[str], embedder) -> None:
    """In place: each no-space surface's row becomes ``w * E(" " + surface) + (1 - w) * E(surface)``, ``w`` its
    share of word starts in ``texts`` (``E`` the embedder); rows of surfaces never seen beginning a word stay."""
    from tokenmill.operators.transfer.decompose import word_start_shares

    surfaces = table.column("surface").to_pylist()
    shares = {i: w for i, w in word_start_shares(tokenizer, surfaces, texts).items() if w > 0}
    if not shares:
        return
    ids = sorted(shares)
    starts = embedder(pa.table({"id": pa.array(ids, pa.int32()), "surface": pa.array([" " + surfaces[i] for i in ids], pa.string())}))
    idx = torch.as_tensor(ids)
    w = torch.as_tensor([shares[i] for i in ids], dtype=out.dtype).unsqueeze(1)
    out[idx] = w * _matrix(starts.column("embedding"), len(ids), out.shape[1]) + (1 - w) * out[idx]
    log.info("hypernet: %d of %d surfaces begin words in the target text (mean share %.3f); blended both readings", len(ids), len(surfaces), float(w.mean()))


def _omp(emb: torch.Tensor, base_json: Path, new_json: Path, donor) -> torch.Tensor:
    """OMP rows for the prepared tokenizer at ``new_json``; its ids past the donor's are added specials."""

    from tokenmill.operators.transfer.omp import omp_transplant
    from tokenmill.operators.transfer.overlap import shared_tokens

    if donor is None:
        raise ValueError("transfer_embeddings: method 'omp' needs a donor model (--donor DIR)")
    donor_json, donor_emb = donor
    new_vocab = open_tokenizer(str(new_json)).get_vocab(with_added_tokens=True)
    donor_vocab = open_tokenizer(str(donor_json)).get_vocab(with_added_tokens=True)
    wrong = [t for t, i in donor_vocab.items() if new_vocab.get(t) != i]
    if wrong or len(donor_vocab) != donor_emb.shape[0]:
        raise ValueError(
            f"omp: the donor must use the new tokenizer; {len(wrong)} of its {len(donor_vocab)} tokens "
            f"differ (e.g. {wrong[:3]}), donor embeddings have {donor_emb.shape[0]} rows"
        )
    n = max(new_vocab.values()) + 1
    padded = torch.cat([donor_emb, donor_emb.new_zeros(n - donor_emb.shape[0], donor_emb.shape[1])])
    out, _ = omp_transplant(emb, padded, shared_tokens(base_json, new_json))
    return out


def _matrix(col: pa.ChunkedArray, n: int, dim: int) -> torch.Tensor:
    """A fixed-size-list column -> [n, dim] float32 (null rows -> zeros; specials are overwritten anyway)."""
    arr = col.combine_chunks()
    values = arr.flatten().to_numpy(zero_copy_only=False)
    if arr.null_count:
        # Null fixed-size-list slots still occupy storage; fill() keeps offsets aligned.
        values = arr.fill_null(pa.scalar([0.0] * dim, arr.type)).flatten().to_numpy(zero_copy_only=False)
    return torch.from_numpy(np.ascontiguousarray(values, np.float32).reshape(n, dim).copy())
