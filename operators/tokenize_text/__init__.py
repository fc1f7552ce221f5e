"""Text tokenizer building blocks: byte-level pre-tokenization, language sampling, parity-aware BPE, HF export."""

from operators.tokenize_text.byte_level import (
    END_OF_TEXT,
    ByteLevelConfig,
    ByteLevelPreTokenizer,
    byte_alphabet,
    bytes_to_unicode,
    reference_words,
)
from operators.tokenize_text.hf_export import (
    FORMAT,
    load_byte_level_tokenizer,
    save_byte_level_tokenizer,
    to_byte_level_tokenizer,
)
from operators.tokenize_text.parity_bpe import train_parity_bpe
from operators.tokenize_text.sampling import LanguageSamplingConfig, document_repeats, language_probabilities

__all__ = [
    "END_OF_TEXT",
    "FORMAT",
    "ByteLevelConfig",
    "ByteLevelPreTokenizer",
    "LanguageSamplingConfig",
    "byte_alphabet",
    "bytes_to_unicode",
    "document_repeats",
    "language_probabilities",
    "load_byte_level_tokenizer",
    "reference_words",
    "save_byte_level_tokenizer",
    "to_byte_level_tokenizer",
    "train_parity_bpe",
]
