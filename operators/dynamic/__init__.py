"""Dynamic batch-level BPE merging on top of any base tokenizer (Feher, Vulić, Minixhofer 2024)."""

from tokenmill.operators.dynamic.base_tokenizer import BaseTokenizer, EncodedBatch, load_base_tokenizer
from tokenmill.operators.dynamic.boundaries import BOUNDARIES, unit_starts
from tokenmill.operators.dynamic.dynamic_bpe import (
    DynamicBPE,
    DynamicBPEConfig,
    MergeResult,
    decompositions,
    expand_ids,
    rows_table,
    vocab_table,
)
from tokenmill.operators.dynamic.reference import ReferenceDynamicBPE
from tokenmill.operators.dynamic.seqlen import MergeCurve, merges_to_seqlen

__all__ = [
    "BOUNDARIES",
    "BaseTokenizer",
    "DynamicBPE",
    "DynamicBPEConfig",
    "EncodedBatch",
    "MergeCurve",
    "MergeResult",
    "ReferenceDynamicBPE",
    "decompositions",
    "expand_ids",
    "load_base_tokenizer",
    "merges_to_seqlen",
    "rows_table",
    "unit_starts",
    "vocab_table",
]
