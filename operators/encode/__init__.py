"""Tokenizer engines as batch stages: encode a text column to token ids (HF tokenizers or sentencepiece)."""

from tokenmill.operators.encode.encoder import Encoder, EncoderConfig, limit_encode_threads, load_engine, tokenizer_arg
from tokenmill.operators.encode.locate import TokenizerConfig, TokenizerFiles, locate_tokenizer

__all__ = ["Encoder", "EncoderConfig", "TokenizerConfig", "TokenizerFiles", "limit_encode_threads", "load_engine", "locate_tokenizer", "tokenizer_arg"]
