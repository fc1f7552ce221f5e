"""Tokenizer engines as batch stages: encode a text column to token ids (HF tokenizers or sentencepiece)."""

from operators.encode.encoder import Encoder, EncoderConfig, load_engine

__all__ = ["Encoder", "EncoderConfig", "load_engine"]
