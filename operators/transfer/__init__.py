"""Embedding transfer for new tokens and new tokenizers: FVT (this folder's baseline), hypernetwork, export."""

from operators.transfer.fvt import (
    decompose_vocab,
    fvt_embeddings,
    fvt_for_dynamic_vocab,
    fvt_for_tokenizer,
    load_embeddings,
)

__all__ = ["decompose_vocab", "fvt_embeddings", "fvt_for_dynamic_vocab", "fvt_for_tokenizer", "load_embeddings"]
