"""Embedding transfer for new tokens and new tokenizers: FVT, FOCUS, OMP, the ZeTT hypernetwork, serving, export."""

from tokenmill.operators.transfer.base_model import load_base_model
from tokenmill.operators.transfer.checkpoint_readme import write_checkpoint_readme
from tokenmill.operators.transfer.decompose import SurfaceDecomposer, tokenizer_surfaces
from tokenmill.operators.transfer.embed_tokenizer import prepare_tokenizer, transfer_embeddings, vocab_table
from tokenmill.operators.transfer.focus import FocusConfig, focus_combine, focus_for_tokenizer, sparsemax
from tokenmill.operators.transfer.fvt import (
    decompose_vocab,
    fvt_embeddings,
    fvt_for_dynamic_vocab,
    fvt_for_tokenizer,
    load_embeddings,
)
from tokenmill.operators.transfer.hypernet import (
    HypernetConfig,
    Hypernetwork,
    load_hypernet,
    pad_decompositions,
    resolve_checkpoint,
    save_hypernet,
)
from tokenmill.operators.transfer.hypernet_data import load_corpus
from tokenmill.operators.transfer.hypernet_train import HypernetTrainConfig, HypernetTrainer
from tokenmill.operators.transfer.model_export import check_transferred_model, export_transferred_model
from tokenmill.operators.transfer.omp import load_donor, omp, omp_transplant
from tokenmill.operators.transfer.overlap import shared_tokens
from tokenmill.operators.transfer.serve import HypernetEmbedder, HypernetServeConfig, LRUCache
from tokenmill.operators.transfer.tokenizer_sampler import TokenizerSampler

__all__ = [
    "FocusConfig",
    "HypernetConfig",
    "HypernetEmbedder",
    "HypernetServeConfig",
    "HypernetTrainConfig",
    "HypernetTrainer",
    "Hypernetwork",
    "LRUCache",
    "SurfaceDecomposer",
    "TokenizerSampler",
    "check_transferred_model",
    "decompose_vocab",
    "export_transferred_model",
    "focus_combine",
    "focus_for_tokenizer",
    "fvt_embeddings",
    "fvt_for_dynamic_vocab",
    "fvt_for_tokenizer",
    "load_base_model",
    "load_corpus",
    "load_donor",
    "load_embeddings",
    "load_hypernet",
    "omp",
    "omp_transplant",
    "pad_decompositions",
    "prepare_tokenizer",
    "resolve_checkpoint",
    "save_hypernet",
    "shared_tokens",
    "sparsemax",
    "tokenizer_surfaces",
    "transfer_embeddings",
    "vocab_table",
    "write_checkpoint_readme",
]
