"""Text tokenizer building blocks: byte-level pre-tokenization, language sampling, parity-aware BPE (reference and numba kernels), HF export,
the trainers (tokenmill byte-level BPE, sentencepiece)."""

from tokenmill.operators.tokenize_text.byte_level import (
    END_OF_TEXT,
    ByteLevelConfig,
    ByteLevelPreTokenizer,
    byte_alphabet,
    bytes_to_unicode,
    reference_words,
)
from tokenmill.operators.tokenize_text.hf_export import (
    FORMAT,
    load_byte_level_tokenizer,
    save_byte_level_tokenizer,
    to_byte_level_tokenizer,
)
from tokenmill.operators.tokenize_text.parity_bpe import train_parity_bpe
from tokenmill.operators.tokenize_text.parity_fast import train_parity_fast
from tokenmill.operators.tokenize_text.sampling import LanguageSamplingConfig, document_repeats, language_probabilities
from tokenmill.operators.tokenize_text.train import check_round_trip, sample_counts, train_byte_level_bpe, train_sentencepiece, train_tokenizer

__all__ = [
    "END_OF_TEXT",
    "FORMAT",
    "ByteLevelConfig",
    "ByteLevelPreTokenizer",
    "LanguageSamplingConfig",
    "byte_alphabet",
    "bytes_to_unicode",
    "check_round_trip",
    "document_repeats",
    "language_probabilities",
    "load_byte_level_tokenizer",
    "reference_words",
    "sample_counts",
    "save_byte_level_tokenizer",
    "to_byte_level_tokenizer",
    "train_byte_level_bpe",
    "train_parity_bpe",
    "train_parity_fast",
    "train_sentencepiece",
    "train_tokenizer",
]
