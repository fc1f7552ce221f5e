"""Real token data for the pack and shard tests: UDHR lines encoded with the real GPT-2 tokenizer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tokenizers import Tokenizer, decoders, models, pre_tokenizers

GPT2_VOCAB = 50257
UDHR_LANGS = ("eng", "rus", "arb", "hin", "cmn_hans", "jpn", "kor", "amh", "tha", "deu")


def gpt2_tokenizer(shared_data: Path) -> Tokenizer:
    """GPT-2 byte-level BPE from ``tokenizers/gpt2`` (encoder.json + vocab.bpe)."""
    folder = shared_data / "tokenizers" / "gpt2"
    tok = Tokenizer(models.BPE.from_file(str(folder / "encoder.json"), str(folder / "vocab.bpe")))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    return tok


def udhr_lines(shared_data: Path, langs: tuple[str, ...] = UDHR_LANGS) -> list[tuple[str, str]]:
    """Non-blank UDHR lines as ``(doc_id, text)``, ``doc_id = lang:line``."""
    out = []
    for lang in langs:
        path = shared_data / "text" / "udhr" / f"{lang}.txt"
        if not path.is_file():
            continue
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
            if line.strip():
                out.append((f"{lang}:{i}", line.strip()))
    return out


def udhr_token_docs(shared_data: Path, langs: tuple[str, ...] = UDHR_LANGS) -> list[tuple[str, np.ndarray]]:
    """UDHR lines tokenized with GPT-2: ``(doc_id, int64 ids)``."""
    lines = udhr_lines(shared_data, langs)
    encs = gpt2_tokenizer(shared_data).encode_batch([t for _, t in lines], add_special_tokens=False)
    return [(doc_id, np.array(e.ids, np.int64)) for (doc_id, _), e in zip(lines, encs)]
