"""Tokenizer transplantation by Orthogonal Matching Pursuit (Goddard & Neto 2025; mergekit-tokensurgeon
``--approximation-method omp``).

It needs a *donor*: a model that already uses the new tokenizer. Tokens the new vocabulary shares with the base
(:func:`~operators.transfer.overlap.shared_tokens`) are the anchors and keep the base row. Every other token's
donor embedding is written as a sparse combination of ``k`` (64) anchors' donor embeddings, chosen greedily by
OMP (pick the anchor most correlated with the residual, re-fit all coefficients by least squares, repeat), and the
same coefficients are applied to those anchors' *base* embeddings. The donor and base spaces need not be aligned:
only the coefficients cross over, so an orthogonal change of basis of the donor leaves the result unchanged.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

log = logging.getLogger(__name__)


def omp(targets: torch.Tensor, atoms: torch.Tensor, k: int, *, eps: float = 1e-10) -> tuple[torch.Tensor, torch.Tensor]:
    """Batched OMP: for each row of ``targets`` [B, D], ``k`` rows of ``atoms`` [N, D] and their coefficients.

    Returns:
        (indices [B, k] long, coefficients [B, k]) minimising ``|target - coef @ atoms[idx]|`` on that support.
    """
    if not 1 <= k <= atoms.shape[0]:
        raise ValueError(f"k: must be in [1, {atoms.shape[0]}] (the number of anchors), got {k}")
    y = targets.double()
    a = atoms.double()
    B, D = y.shape
    idx = torch.zeros(B, k, dtype=torch.long)
    q = torch.zeros(B, k, D, dtype=torch.float64)  # orthonormal basis of the chosen atoms, one row each
    taken = torch.zeros(B, a.shape[0], dtype=torch.bool)
    res = y.clone()
    rows = torch.arange(B)
    for t in range(k):
        corr = torch.abs_(res @ a.T).masked_fill_(taken, -1.0)
        pick = corr.argmax(1)
        idx[:, t] = pick
        taken[rows, pick] = True
        v = a[pick].unsqueeze(1)  # [B, 1, D]
        for _ in range(2):  # Gram-Schmidt twice keeps the basis orthogonal in floating point
            v = v - torch.bmm(torch.bmm(v, q[:, :t].transpose(1, 2)), q[:, :t])
        v = v / v.norm(dim=2, keepdim=True).clamp(min=eps)
        q[:, t] = v[:, 0]
        res = res - v[:, 0] * (v[:, 0] * res).sum(1, keepdim=True)
    chosen = a[idx]  # [B, k, D]
    coef = torch.linalg.lstsq(chosen.transpose(1, 2), y.unsqueeze(-1)).solution.squeeze(-1)
    return idx, coef.to(targets.dtype)


def omp_transplant(base: torch.Tensor, donor: torch.Tensor, shared: dict[int, int], *, k: int = 64, chunk: int = 256) -> tuple[torch.Tensor, dict[str, float]]:
    """Embeddings for the donor's vocabulary in the base model's space.

    Args:
        base: [base vocab, dim] base input embeddings.
        donor: [new vocab, donor dim] donor input embeddings (row i = new token i).
        shared: {new id: base id}, the anchors.
        k: anchors per new token (capped at the number of anchors).

    Returns:
        ([new vocab, dim] float32, stats: anchors, approximated tokens, mean relative donor residual).
    """
    if not shared:
        raise ValueError("omp: the donor's vocabulary shares no token with the base model's; nothing to anchor on")
    src, don = base.detach().float().cpu(), donor.detach().float().cpu()
    n = don.shape[0]
    out = torch.zeros(n, src.shape[1])
    new_ids = torch.tensor(sorted(shared))
    out[new_ids] = src[torch.tensor([shared[i] for i in sorted(shared)])]
    rest = [i for i in range(n) if i not in shared]
    anchors_donor, anchors_base = don[new_ids], src[torch.tensor([shared[i] for i in sorted(shared)])]
    k = min(k, len(shared))
    rel = []
    for s in range(0, len(rest), chunk):
        ids = torch.tensor(rest[s : s + chunk])
        idx, coef = omp(don[ids], anchors_donor, k)
        out[ids] = torch.einsum("bk,bkd->bd", coef, anchors_base[idx])
        approx = torch.einsum("bk,bkd->bd", coef, anchors_donor[idx])
        rel.append((approx - don[ids]).norm(dim=1) / don[ids].norm(dim=1).clamp(min=1e-12))
    stats = {"anchors": len(shared), "approximated": len(rest), "k": k, "donor_rel_residual": round(float(torch.cat(rel).mean()), 4) if rel else 0.0}
    log.info("OMP transplant: %s", stats)
    return out, stats


def load_donor(folder: str | Path) -> tuple[Path, torch.Tensor]:
    """A donor model folder: (its tokenizer.json, its input embedding matrix from model.safetensors)."""
    from tokenmill.operators.transfer.fvt import load_embeddings

    folder = Path(folder)
    tok, weights = folder / "tokenizer.json", folder / "model.safetensors"
    if not tok.is_file() or not weights.is_file():
        raise ValueError(f"--donor {folder}: expected tokenizer.json and model.safetensors in the folder")
    return tok, load_embeddings(weights).float()
