"""The Prepacking property: a causal transformer on packed rows, with a block-diagonal causal mask from cu_seqlens
and per-document position ids, gives every token the same logits as running its document alone."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from tokenmill.operators.pack import PackerConfig, pack_documents


class TinyCausalLM(nn.Module):
    """Two pre-norm transformer blocks, learned absolute positions, an untied head onto a small output space (the
    property does not depend on the head's width, and a 50k-wide head only makes the test slow)."""

    def __init__(self, vocab: int, dim: int = 32, heads: int = 4, layers: int = 2, max_pos: int = 512, out: int = 512) -> None:
        super().__init__()
        self.tok = nn.Embedding(vocab, dim)
        self.pos = nn.Embedding(max_pos, dim)
        self.blocks = nn.ModuleList(nn.TransformerEncoderLayer(dim, heads, 4 * dim, dropout=0.0, batch_first=True, norm_first=True) for _ in range(layers))
        self.head = nn.Linear(dim, out)

    def forward(self, ids: torch.Tensor, positions: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        """``allowed[i, j]``: token i may attend to token j."""
        x = self.tok(ids) + self.pos(positions)
        mask = torch.zeros(allowed.shape, dtype=x.dtype).masked_fill(~allowed, float("-inf"))
        for block in self.blocks:
            x = block(x, src_mask=mask)
        return self.head(x)


def block_causal(cu_seqlens: np.ndarray, n: int) -> torch.Tensor:
    """Block-diagonal causal mask: same segment and not in the future."""
    seg = torch.from_numpy(np.repeat(np.arange(len(cu_seqlens) - 1), np.diff(cu_seqlens)))
    idx = torch.arange(n)
    return (seg[:, None] == seg[None, :]) & (idx[None, :] <= idx[:, None])


def test_packed_logits_equal_unpacked(udhr_docs):
    torch.manual_seed(0)
    C = 256
    vocab = 50257
    # Ten languages' lines: short and long (split across rows) documents.
    docs = [d for i, d in enumerate(udhr_docs) if i % 23 == 0][:40]
    rows = list(pack_documents(docs, PackerConfig(context_length=C, buffer_docs=16, pad_id=50256)))
    assert any(len(r.doc_ids) > 2 for r in rows)  # really packed
    model = TinyCausalLM(vocab, max_pos=C).eval()
    by_id = dict(docs)
    max_diff = 0.0
    checked = 0
    with torch.no_grad():
        for row in rows:
            ids = torch.from_numpy(row.input_ids.astype(np.int64))[None]
            pos = torch.from_numpy(row.position_ids.astype(np.int64))[None]
            packed = model(ids, pos, block_causal(row.cu_seqlens, C))[0]
            for k, doc_id in enumerate(row.doc_ids):
                a, b = int(row.cu_seqlens[k]), int(row.cu_seqlens[k + 1])
                start = int(row.doc_offsets[k])
                alone_ids = torch.from_numpy(by_id[doc_id][start : start + (b - a)])[None]
                n = b - a
                alone = model(alone_ids, torch.arange(n)[None], torch.ones(n, n, dtype=torch.bool).tril())[0]
                max_diff = max(max_diff, float((packed[a:b] - alone).abs().max()))
                checked += n
    assert checked == sum(r.num_tokens for r in rows)
    assert max_diff < 1e-4, max_diff


def test_concat_and_chunk_breaks_the_property(udhr_docs):
    """Control: with one plain causal mask over the packed row, tokens after the first document change."""
    torch.manual_seed(0)
    C = 256
    docs = [d for i, d in enumerate(udhr_docs) if i % 23 == 0][:40]
    row = next(r for r in pack_documents(docs, PackerConfig(context_length=C, buffer_docs=16)) if len(r.doc_ids) > 2)
    model = TinyCausalLM(50257, max_pos=C).eval()
    with torch.no_grad():
        ids = torch.from_numpy(row.input_ids.astype(np.int64))[None]
        pos = torch.from_numpy(row.position_ids.astype(np.int64))[None]
        right = model(ids, pos, block_causal(row.cu_seqlens, C))[0]
        wrong = model(ids, pos, torch.ones(C, C, dtype=torch.bool).tril())[0]
    a = int(row.cu_seqlens[1])
    assert float((right[:a] - wrong[:a]).abs().max()) < 1e-4
    assert float((right[a:] - wrong[a:]).abs().max()) > 1e-3
