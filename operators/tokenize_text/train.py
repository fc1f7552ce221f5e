"""Train a text tokenizer on sampled documents: byte-level BPE on the tokenmill engine (plain or parity-aware) or
sentencepiece (unigram / BPE with byte fallback); the trainers of ``pipelines/multilingual_tokenizer.py``.

Parity-aware merges measure each language on a *dev set* of parallel text (``parity_dev``, see
:func:`resolve_dev`): by default the input itself when it is parallel (UDHR: the same declaration in every
file), else the ``parallel`` corpus of the fairness report, else each language's own training sample.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tokenmill.operators.bpe import BpeTrainerConfig, train_bpe
from tokenmill.operators.core.config import ConfigError
from tokenmill.operators.encode.locate import open_tokenizer
from tokenmill.operators.tokenize_text.byte_level import END_OF_TEXT, ByteLevelConfig, ByteLevelPreTokenizer, byte_alphabet
from tokenmill.operators.tokenize_text.hf_export import save_byte_level_tokenizer
from tokenmill.operators.tokenize_text.parity_fast import train_parity_fast
from tokenmill.operators.tokenize_text.sampling import WEIGHT_STEPS, document_repeats, language_weights

if TYPE_CHECKING:
    from tokenmill.operators.tokenize_text.multilingual_config import MultilingualConfig

log = logging.getLogger(__name__)

PARALLEL_LINE_SPREAD = 0.25
"""Input counts as parallel when at least :data:`PARALLEL_SHARE` of its languages (and at least two) have a number
of non-blank lines within this relative distance of the median language's (UDHR: 90 % within 70-115 lines)."""
PARALLEL_SHARE = 0.75


def sample_counts(cfg: MultilingualConfig, langs: Sequence[str | None], texts: Sequence[str]) -> tuple[np.ndarray, int]:
    """How many times each document counts in training, and the count of one copy: ``exact_weights`` on the tokenmill
    engine: :func:`operators.tokenize_text.sampling.language_weights` (every document, in 1/``WEIGHT_STEPS`` steps of
    a copy); else (sentencepiece trains on repeated lines) the whole repeats
    :func:`operators.tokenize_text.sampling.document_repeats` draws."""
    sizes = [len(t.encode("utf-8")) for t in texts]
    if cfg.exact_weights and cfg.engine == "tokenmill":
        return language_weights(langs, sizes, cfg.sampling), WEIGHT_STEPS
    return document_repeats(langs, sizes, cfg.sampling), 1


def lines_by_language(langs: list[str | None], texts: list[str]) -> dict[str, list[str]]:
    """The documents' non-blank lines (stripped) per language (None counts as ``und``), in document order."""
    out: dict[str, list[str]] = {}
    for lang, text in zip(langs, texts):
        lines = out.setdefault(lang or "und", [])
        lines.extend(ln for ln in (x.strip() for x in text.splitlines()) if ln)
    return {lang: lines for lang, lines in out.items() if lines}


def looks_parallel(lines: Mapping[str, list[str]]) -> bool:
    """Heuristic: the same text in every language has about the same number of lines in each (see
    :data:`PARALLEL_LINE_SPREAD`); a web crawl or a mix of sources does not."""
    if len(lines) < 2:
        return False
    median = statistics.median(len(v) for v in lines.values())
    near = sum(abs(len(v) - median) <= PARALLEL_LINE_SPREAD * median for v in lines.values())
    return near >= max(2, PARALLEL_SHARE * len(lines))


def resolve_dev(mode: str, langs: list[str | None], texts: list[str], parallel: Mapping[str, list[str]] | None) -> tuple[Mapping[str, list[str]] | None, str]:
    """The dev set of parity-aware training and where it came from (``input``, ``parallel`` or ``train``).

    ``mode``: ``input``: the input documents' lines per language (meant for parallel input); ``parallel``: the
    parallel corpus; ``train``: None, so each language's training sample is its own dev text (it balances the
    sample's token counts, not content); ``auto``: ``input`` when the input looks parallel
    (:func:`looks_parallel`), else ``parallel`` when that corpus shares a language with the input, else ``train``.

    Raises:
        ValueError: ``mode=parallel`` without a parallel corpus sharing a language with the input.
    """
    train_langs = {lang or "und" for lang in langs}
    shared = None if parallel is None else {lg: v for lg, v in parallel.items() if lg in train_langs}
    if mode == "auto":
        own = lines_by_language(langs, texts)
        if looks_parallel(own):
            return own, "input"
        mode = "parallel" if shared else "train"
        log.info("parity_dev=auto: the input does not look parallel; languages are measured on %s", mode)
    if mode == "input":
        return lines_by_language(langs, texts), "input"
    if mode == "parallel":
        if not shared:
            raise ValueError(
                "parity_dev=parallel: the parallel corpus (parallel=...) shares no language with the "
                "input; set parallel to a corpus of the input's languages or use parity_dev=auto"
            )
        if len(shared) < len(train_langs):
            log.warning("parity dev set: %d of %d languages have no parallel text and never choose a merge", len(train_langs) - len(shared), len(train_langs))
        return shared, "parallel"
    return None, "train"


def train_tokenizer(
    cfg: MultilingualConfig,
    langs: list[str | None],
    texts: list[str],
    repeats: Sequence[int] | np.ndarray,
    out: Path,
    parallel: Mapping[str, list[str]] | None = None,
) -> tuple[dict[str, Any], Path]:
    """Train the tokenizer ``cfg.engine`` names into ``out``; returns (training stats, the tokenizer file).

    Args:
        cfg: the job config (engine, vocabulary and engine options).
        langs: each document's language (parity-aware training groups by it; None counts as ``und``).
        texts: the documents' text.
        repeats: how many times each document counts (the language sample: :func:`sample_counts`).
        out: folder for tokenizer.json (+ tokenmill.json) or spm.model.
        parallel: language → lines of the parallel corpus (a parity dev set, see :func:`resolve_dev`).
    """
    if cfg.engine == "sentencepiece":
        stats = train_sentencepiece(texts, repeats, out, vocab_size=cfg.vocab_size, model_type=cfg.sp_model_type, character_coverage=cfg.sp_character_coverage)
        return stats, out / "spm.model"
    dev, source = resolve_dev(cfg.parity_dev, langs, texts, parallel) if cfg.parity_aware else (None, "")
    stats = train_byte_level_bpe(
        texts,
        repeats,
        out,
        vocab_size=cfg.vocab_size,
        min_frequency=cfg.min_frequency,
        digits_r2l=cfg.digits_r2l,
        marks=cfg.marks,
        parity_aware=cfg.parity_aware,
        langs=langs,
        parallel=dev,
        meta={"romanized": cfg.romanize, "parity_dev": source},
        **cfg.parity_rule(),
    )
    if cfg.parity_aware:
        stats["dev"] = source
    return stats, out / "tokenizer.json"


def train_byte_level_bpe(
    texts: list[str],
    repeats: Sequence[int] | np.ndarray,
    out: Path,
    *,
    vocab_size: int,
    min_frequency: int = 2,
    digits_r2l: bool = False,
    marks: bool = False,
    parity_aware: bool = False,
    langs: list[str | None] | None = None,
    parallel: Mapping[str, list[str]] | None = None,
    meta: Mapping[str, Any] | None = None,
    **rule: Any,
) -> dict[str, Any]:
    """Byte-level BPE on the tokenmill engine (or parity-aware); writes out/tokenizer.json; returns the stats.

    Parity-aware training measures languages on ``parallel`` (language → lines; None: each language's training
    sample) with the fast trainer :func:`operators.tokenize_text.parity_fast.train_parity_fast`; ``rule``: its
    keyword options of the merge rule (``global_merges``, ``global_schedule``, ``premium_cap``, ``reference_lang``,
    ``reference_in_global``, ``global_floor``; :meth:`MultilingualConfig.parity_rule`). The tokenizer is
    checked to decode its own encoding of a sample of ``texts`` back exactly.
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
        vocab, merges, stats = train_parity_fast(
            train,
            dev,
            vocab_size=vocab_size,
            special_tokens=(END_OF_TEXT,),
            initial_alphabet=byte_alphabet(),
            min_frequency=min_frequency,
            **rule,
        )
        specials: tuple[str, ...] = (END_OF_TEXT,)
        distinct = sum(len(t) for t in train.values())
    else:
        counts = pre.count(texts, reps)
        count_s = time.perf_counter() - t0
        model = train_bpe(
            counts, BpeTrainerConfig(vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=(END_OF_TEXT,), initial_alphabet=byte_alphabet())
        )
        vocab, merges, stats, specials = model.vocab, model.merges, model.stats, model.special_tokens
        distinct = len(counts)
    stats = {**stats, "pretokenize_s": round(count_s, 3), "distinct_words": distinct}
    path = save_byte_level_tokenizer(
        vocab,
        merges,
        specials,
        out,
        digits_r2l=digits_r2l,
        marks=marks,
        meta={"engine": "tokenmill", "parity_aware": parity_aware, "stats": stats, **(meta or {})},
    )
    check_round_trip(path, texts[:: max(1, len(texts) // 200)])
    return stats


def train_sentencepiece(
    texts: list[str], repeats: Sequence[int] | np.ndarray, out: Path, *, vocab_size: int, model_type: str = "unigram", character_coverage: float = 0.9995
) -> dict[str, Any]:
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
        spm.SentencePieceTrainer.train(
            input=str(corpus),
            model_prefix=str(out / "spm"),
            vocab_size=vocab_size,
            model_type=model_type,
            character_coverage=character_coverage,
            byte_fallback=True,
            hard_vocab_limit=False,
            max_sentence_length=1 << 16,
            num_threads=2,
            minloglevel=2,
        )
    except RuntimeError as exc:
        if "required_chars" in str(exc):
            raise ConfigError(
                f"vocab_size={vocab_size} is below the characters sentencepiece must keep ({exc}); raise vocab_size or lower sp_character_coverage"
            ) from None
        raise
    finally:
        corpus.unlink()
    sp = spm.SentencePieceProcessor(model_file=str(out / "spm.model"))
    return {"engine": f"sentencepiece {model_type}", "vocab_size": sp.get_piece_size(), "seconds": {"total": round(time.perf_counter() - t0, 3)}}


def check_round_trip(path: Path, texts: list[str]) -> None:
    """Raise AssertionError unless the tokenizer at ``path`` decodes its encoding of each text back exactly."""

    tok = open_tokenizer(str(path))
    for text in texts:
        if tok.decode(tok.encode(text).ids) != text:
            raise AssertionError(f"{path}: decode(encode(x)) != x for {text[:60]!r}")
