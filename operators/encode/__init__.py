"""The one room for tokenizers: locate, open, hash and encode, with engines proven exact before they encode."""

from tokenmill.operators.encode.encoder import Encoder, EncoderConfig, EngineMismatch, limit_encode_threads, load_engine, resolve_eos_id, tokenizer_arg
from tokenmill.operators.encode.engines import ENGINES, EncodeConfig
from tokenmill.operators.encode.locate import TokenizerConfig, TokenizerFiles, locate_tokenizer
from tokenmill.operators.encode.parity import ParityResult, adversarial_texts
from tokenmill.operators.encode.spm_convert import derive_tokenizer_json

__all__ = [
    "ENGINES",
    "EncodeConfig",
    "Encoder",
    "EncoderConfig",
    "EngineMismatch",
    "ParityResult",
    "TokenizerConfig",
    "TokenizerFiles",
    "adversarial_texts",
    "derive_tokenizer_json",
    "limit_encode_threads",
    "load_engine",
    "locate_tokenizer",
    "resolve_eos_id",
    "tokenizer_arg",
]
