"""FOCUS (Dobler & de Melo, EMNLP 2023): new-token embeddings as sparse combinations of shared tokens.

1. Tokens the new vocabulary shares with the base (:func:`~operators.transfer.overlap.shared_tokens`) copy the
   base row.
2. An auxiliary token-level fastText model (``fasttext-wheel``; CBOW, dim 100, 3 epochs, minCount 10, neg 10 —
   the published defaults) is trained on target text tokenized with the *new* tokenizer, one word per token.
3. Every other token's embedding is ``sum_j w_j e_j`` over the shared tokens ``j`` that have a fastText vector,
   with ``w = sparsemax(cos(aux_new, aux_j))``: a convex combination of a few similar shared tokens.
4. A new token without a fastText vector (seen fewer than minCount times) is drawn from N(mean, std) of the base
   matrix, per dimension, as the reference implementation does.
"""

from __future__ import annotations

import logging
import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from tokenmill.operators.transfer.extra import import_transfer

log = logging.getLogger(__name__)
_SPACE = re.compile(r"\s")


@dataclass(frozen=True, kw_only=True, slots=True)
class FocusConfig:
    """The auxiliary fastText model (defaults: the FOCUS reference implementation's)."""

    dim: int = 100
    """fastText vector size."""
    epochs: int = 3
    """fastText epochs over the tokenized target text."""
    min_count: int = 10
    """Tokens seen fewer times get no fastText vector (new ones: random rows; shared ones: not used as anchors)."""
    model: str = "cbow"
    """fastText model: cbow (FOCUS: closer to masked language modelling) or skipgram."""
    neg: int = 10
    """Negative samples."""
    threads: int = 1
    """fastText threads (1 keeps the result the same on every run; fastText-wheel 0.9.2 has a fixed seed)."""
    seed: int = 0
    """Seed of the random rows."""

    def __post_init__(self) -> None:
        for name in ("dim", "epochs", "min_count", "neg", "threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be >= 1, got {getattr(self, name)}")
        if self.model not in ("cbow", "skipgram"):
            raise ValueError(f"model: expected 'cbow' or 'skipgram', got {self.model!r}")


def sparsemax(z: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Euclidean projection of ``z`` onto the probability simplex along ``dim`` (Martins & Astudillo 2016)."""
    z = z.transpose(dim, -1)
    srt, _ = torch.sort(z, dim=-1, descending=True)
    ks = torch.arange(1, z.shape[-1] + 1, dtype=z.dtype, device=z.device)
    cum = srt.cumsum(-1)
    support = (1 + ks * srt) > cum  # true for the first k(z) sorted entries
    k = support.sum(-1, keepdim=True)
    tau = (cum.gather(-1, k - 1) - 1) / k.to(z.dtype)
    return torch.clamp(z - tau, min=0).transpose(dim, -1)


def token_words(tokenizer) -> list[str]:
    """The fastText word of every id of a ``tokenizers.Tokenizer``: its vocabulary string, whitespace -> ``▁``."""
    return [_SPACE.sub("▁", tokenizer.id_to_token(i) or f"<id{i}>") for i in range(tokenizer.get_vocab_size())]


def train_fasttext(lines: Iterable[Sequence[str]], cfg: FocusConfig) -> dict[str, np.ndarray]:
    """Train the auxiliary fastText model on token lines; returns {word: vector} for its vocabulary."""
    fasttext = import_transfer("fasttext")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tokens.txt"
        with path.open("w", encoding="utf-8") as f:
            for line in lines:
                if line:
                    f.write(" ".join(line) + "\n")
        model = fasttext.train_unsupervised(
            str(path), model=cfg.model, dim=cfg.dim, epoch=cfg.epochs, minCount=cfg.min_count, neg=cfg.neg, thread=cfg.threads, verbose=0
        )
    return {w: model.get_word_vector(w) for w in model.get_words() if w != "</s>"}


def focus_combine(
    base: torch.Tensor, n: int, shared: dict[int, int], aux: dict[int, np.ndarray], *, seed: int = 0, chunk: int = 2048
) -> tuple[torch.Tensor, dict[str, float]]:
    """The FOCUS matrix from the shared-token map and auxiliary vectors.

    Args:
        base: [base vocab, dim] source embeddings.
        n: new vocabulary size.
        shared: {new id: base id} (copied rows; those with an auxiliary vector are the anchors).
        aux: {new id: auxiliary vector} for the ids the fastText model knows.

    Returns:
        ([n, dim] float32, counts of copied / combined / random rows, anchors, and the mean number of anchors
        a combined row uses).
    """
    src = base.detach().float().cpu()
    out = torch.empty(n, src.shape[1])
    g = torch.Generator().manual_seed(seed)
    out[:] = torch.randn(n, src.shape[1], generator=g) * src.std(0) + src.mean(0)
    for new_id, base_id in shared.items():
        out[new_id] = src[base_id]
    anchors = sorted(i for i in shared if i in aux)
    new = sorted(i for i in aux if i not in shared)
    support = 0
    if anchors and new:
        a_aux = torch.nn.functional.normalize(torch.from_numpy(np.stack([aux[i] for i in anchors])).float(), dim=1)
        a_src = src[torch.tensor([shared[i] for i in anchors])]
        for s in range(0, len(new), chunk):
            ids = new[s : s + chunk]
            q = torch.nn.functional.normalize(torch.from_numpy(np.stack([aux[i] for i in ids])).float(), dim=1)
            w = sparsemax(q @ a_aux.T)
            out[torch.tensor(ids)] = w @ a_src
            support += int((w > 0).sum())
    counts: dict[str, float] = {"copied": len(shared), "anchors": len(anchors), "combined": len(new) if anchors else 0}
    counts["mean_support"] = round(support / max(counts["combined"], 1), 1)
    counts["random"] = n - counts["copied"] - counts["combined"]
    return out, counts


def focus_for_tokenizer(
    base: torch.Tensor, base_tokenizer_json: str | Path, new_tokenizer, texts: Sequence[str], cfg: FocusConfig | None = None
) -> tuple[torch.Tensor, dict[str, float]]:
    """FOCUS embeddings for a whole new tokenizer, its fastText model trained on ``texts`` (target text).

    Args:
        base: the base model's input embeddings.
        base_tokenizer_json: the base model's tokenizer.json.
        new_tokenizer: the new ``tokenizers.Tokenizer``.
        texts: target-language text (e.g. what the new tokenizer was trained on).

    Returns:
        ([new vocab, dim] float32, the counts of :func:`focus_combine` and the fastText vocabulary size).
    """
    from tokenmill.operators.transfer.overlap import shared_tokens

    cfg = cfg or FocusConfig()
    if not texts:
        raise ValueError("focus: needs target text to train its fastText model (--input FILE ...)")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tokenizer.json"
        new_tokenizer.save(str(path))
        shared = shared_tokens(base_tokenizer_json, path)
    words = token_words(new_tokenizer)
    enc = new_tokenizer.encode_batch(list(texts), add_special_tokens=False)
    vectors = train_fasttext(([words[i] for i in e.ids] for e in enc), cfg)
    aux = {i: vectors[w] for i, w in enumerate(words) if w in vectors}
    out, counts = focus_combine(base, new_tokenizer.get_vocab_size(), shared, aux, seed=cfg.seed)
    counts["fasttext_vocab"] = len(vectors)
    log.info("FOCUS: %s (from %d texts)", counts, len(texts))
    return out, counts


def read_texts(paths: Sequence[str]) -> list[str]:
    """Non-empty lines of text files (paths or globs), in sorted file order."""
    import glob

    files = sorted({f for p in paths for f in (glob.glob(p) or [p])})
    missing = [f for f in files if not Path(f).is_file()]
    if missing:
        raise ValueError(f"--input: no such file {missing[0]}")
    return [ln for f in files for ln in Path(f).read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()]
