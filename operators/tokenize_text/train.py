"""Train a text tokenizer on sampled documents: byte-level BPE on the tokenmill engine (plain or parity-aware) or
sentencepiece (unigram / BPE with byte fallback); the trainers of ``pipelines/multilingual_tokenizer.py``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from operators.bpe import BpeTrainerConfig, train_bpe
from operators.core.config import ConfigError
from operators.tokenize_text.byte_level import END_OF_TEXT, ByteLevelConfig, ByteLevelPreTokenizer, byte_alphabet
from operators.tokenize_text.hf_export import save_byte_level_tokenizer
from operators.tokenize_text.parity_bpe import train_parity_bpe

if TYPE_CHECKING:
    from operators.tokenize_text.multilingual_config import MultilingualConfig


def train_tokenizer(cfg: MultilingualConfig, langs: list[str | None], texts: list[str], repeats: Sequence[int] | np.ndarray,
                    out: Path, parallel: Mapping[str, list[str]] | None = None) -> tuple[dict[str, Any], Path]:
    """Train the tokenizer ``cfg.engine`` names into ``out``; returns (training stats, the tokenizer file).

    Args:
        cfg: the job config (engine, vocabulary and engine options).
        langs: each document's language (parity-aware training groups by it; None counts as ``und``).
        texts: the documents' text.
        repeats: how many times each document counts (the language sample).
        out: folder for tokenizer.json (+ tokenmill.json) or spm.model.
        parallel: language → lines of the parallel corpus (parity-aware merges measure languages on it).
    """
    if cfg.engine == "sentencepiece":
        stats = train_sentencepiece(texts, repeats, out, vocab_size=cfg.vocab_size, model_type=cfg.sp_model_type,
                                    character_coverage=cfg.sp_character_coverage)
        return stats, out / "spm.model"
    stats = train_byte_level_bpe(texts, repeats, out, vocab_size=cfg.vocab_size, min_frequency=cfg.min_frequency,
                                 digits_r2l=cfg.digits_r2l, marks=cfg.marks, parity_aware=cfg.parity_aware,
                                 langs=langs, parallel=parallel, meta={"romanized": cfg.romanize})
    return stats, out / "tokenizer.json"


def train_byte_level_bpe(texts: list[str], repeats: Sequence[int] | np.ndarray, out: Path, *, vocab_size: int,
                         min_frequency: int = 2, digits_r2l: bool = False, marks: bool = False,
                         parity_aware: bool = False, langs: list[str | None] | None = None,
                         parallel: Mapping[str, list[str]] | None = None,
                         meta: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Byte-level BPE on the tokenmill engine (or parity-aware); writes out/tokenizer.json; returns the stats.

    The tokenizer is checked to decode its own encoding of a sample of ``texts`` back exactly.
    """
    pre = ByteLevelPreTokenizer(ByteLevelConfig(digits_r2l=digits_r2l, marks=marks))
    reps = np.asarray(repeats).tolist()
    t0 = time.perf_counter()
    if parity_aware:
        if langs is None:
            raise ValueError("langs: parity-aware training needs each document's language")
        by_lang: dict[str, list[int]] = {}
        for i, lang in enumerate(langs):
            by_lang.setdefault(lang or "und", []).append(i)
        train = {lg: pre.count([texts[i] for i in ix], [reps[i] for i in ix]) for lg, ix in by_lang.items()}
        dev = None if parallel is None else {lg: pre.count(parallel[lg]) for lg in train if lg in parallel}
        count_s = time.perf_counter() - t0
        vocab, merges, stats = train_parity_bpe(train, dev, vocab_size=vocab_size, special_tokens=(END_OF_TEXT,),
                                                initial_alphabet=byte_alphabet(), min_frequency=min_frequency)
        specials: tuple[str, ...] = (END_OF_TEXT,)
        distinct = sum(len(t) for t in train.values())
    else:
        counts = pre.count(texts, reps)
        count_s = time.perf_counter() - t0
        model = train_bpe(counts, BpeTrainerConfig(vocab_size=vocab_size, min_frequency=min_frequency,
                                                   special_tokens=(END_OF_TEXT,), initial_alphabet=byte_alphabet()))
        vocab, merges, stats, specials = model.vocab, model.merges, model.stats, model.special_tokens
        distinct = len(counts)
    stats = {**stats, "pretokenize_s": round(count_s, 3), "distinct_words": distinct}
    path = save_byte_level_tokenizer(vocab, merges, specials, out, digits_r2l=digits_r2l, marks=marks,
                                     meta={"engine": "tokenmill", "parity_aware": parity_aware, "stats": stats,
                                           **(meta or {})})
    check_round_trip(path, texts[:: max(1, len(texts) // 200)])
    return stats


def train_sentencepiece(texts: list[str], repeats: Sequence[int] | np.ndarray, out: Path, *, vocab_size: int,
                        model_type: str = "unigram", character_coverage: float = 0.9995) -> dict[str, Any]:
    """sentencepiece unigram/BPE with byte fallback; writes out/spm.model; returns the training stats.

    Raises:
        ConfigError: when ``vocab_size`` is below the characters sentencepiece must keep (the fix is in the message).
    """
    import sentencepiece as spm

    out.mkdir(parents=True, exist_ok=True)
    corpus = out / ".train.txt"
    with open(corpus, "w", encoding="utf-8") as f:
        for text, n in zip(texts, np.asarray(repeats).tolist()):
            for _ in range(n):
                f.write(text.replace("\n", " ") + "\n")
    t0 = time.perf_counter()
    # hard_vocab_limit=False: a small corpus (UDHR) may not support 32k unigram pieces; sentencepiece then stops.
    try:
        spm.SentencePieceTrainer.train(input=str(corpus), model_prefix=str(out / "spm"), vocab_size=vocab_size,
                                       model_type=model_type, character_coverage=character_coverage,
                                       byte_fallback=True, hard_vocab_limit=False, max_sentence_length=1 << 16,
                                       num_threads=2, minloglevel=2)
    except RuntimeError as exc:
        if "required_chars" in str(exc):
            raise ConfigError(f"vocab_size={vocab_size} is below the characters sentencepiece must keep "
                              f"({exc}); raise vocab_size or lower sp_character_coverage") from None
        raise
    finally:
        corpus.unlink()
    sp = spm.SentencePieceProcessor(model_file=str(out / "spm.model"))
    return {"engine": f"sentencepiece {model_type}", "vocab_size": sp.get_piece_size(),
            "seconds": {"total": round(time.perf_counter() - t0, 3)}}


def check_round_trip(path: Path, texts: list[str]) -> None:
    """Raise AssertionError unless the tokenizer at ``path`` decodes its encoding of each text back exactly."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(path))
    for text in texts:
        if tok.decode(tok.encode(text).ids) != text:
            raise AssertionError(f"{path}: decode(encode(x)) != x for {text[:60]!r}")
