"""``train_bpe``: the one entry point pipelines call — input normalization, trainer choice (in-process or
distributed), the :class:`BpeModel` with its stats and warnings."""

from __future__ import annotations

import logging
import time
from typing import Any

from tokenmill.operators.bpe.corpus import to_seq_table
from tokenmill.operators.bpe.fast_trainer import TrainArgs, TrainResult, train_fast
from tokenmill.operators.bpe.model import BpeModel
from tokenmill.operators.bpe.trainer_config import BpeTrainerConfig

log = logging.getLogger(__name__)

ENGINE = "tokenmill bpe v1"
_EMPTY = "train_bpe: the corpus is empty after cleaning (no non-empty sequence with a count > 0); check the input paths and the ingestion filters"


def train_bpe(data: Any, config: BpeTrainerConfig | None = None, *, cpus_per_worker: float = 1.0) -> BpeModel:
    """Train a BPE tokenizer on sequences with counts.

    Args:
        data: an iterable of strings (identical strings are counted), ``(string, count)`` pairs, a mapping
            ``string -> count``, Arrow tables/record batches with a ``seq`` column and an optional ``count``
            column (e.g. DNA segments from ingestion), or a Ray Dataset of such rows (with ``workers > 1`` each
            actor pulls its own blocks). Each sequence is one word: no token spans two.
        config: :class:`BpeTrainerConfig` (DNABERT-2 defaults). ``config.workers > 1`` trains over that many Ray
            actors (same merges).
        cpus_per_worker: Ray CPUs reserved per actor when ``workers > 1``.

    Returns:
        The trained :class:`BpeModel`; ``model.stats["warnings"]`` says when the corpus was too small for the
        requested vocabulary (training then stops early with the vocabulary it reached).

    Raises:
        ValueError: the corpus is empty after cleaning, a column is missing, or ``vocab_size`` is below the
            alphabet plus the special tokens.
    """
    config = config or BpeTrainerConfig()
    t0 = time.perf_counter()
    kwargs = TrainArgs(
        vocab_size=config.vocab_size,
        min_frequency=config.min_frequency,
        special_tokens=tuple(config.special_tokens),
        initial_alphabet=config.initial_alphabet,
        max_token_length=config.max_token_length,
    )
    if hasattr(data, "to_arrow_refs"):  # a Ray Dataset
        if config.workers > 1:  # each actor pulls its own blocks
            from tokenmill.operators.bpe.distributed_trainer import dataset_parts, train_distributed

            parts = dataset_parts(data, config.workers)
            result = train_distributed(None, parts=parts, cpus_per_worker=cpus_per_worker, **kwargs)
            if result.sequences == 0:
                raise ValueError(_EMPTY)
            return model_from_result(result, config, time.perf_counter() - t0)
        import ray

        data = ray.get(data.to_arrow_refs())
    table = to_seq_table(data)
    if len(table) == 0:
        raise ValueError(_EMPTY)
    if config.workers > 1:
        from tokenmill.operators.bpe.distributed_trainer import train_distributed

        result = train_distributed(table, num_workers=config.workers, cpus_per_worker=cpus_per_worker, **kwargs)
    else:
        result = train_fast(table, **kwargs)
    return model_from_result(result, config, time.perf_counter() - t0)


def model_from_result(result: TrainResult, config: BpeTrainerConfig, total_s: float) -> BpeModel:
    """Package a trainer's result as a :class:`BpeModel` with stats and the too-small-corpus warning."""
    vocab = result.vocab
    warnings = []
    if result.stop_reason != "vocab_size":
        why = (
            f"no pair left occurs min_frequency={config.min_frequency} times"
            + (f" within max_token_length={config.max_token_length}" if config.max_token_length else "")
            if result.stop_reason == "min_frequency"
            else "every sequence is a single token"
        )
        warnings.append(f"corpus too small for vocab_size={config.vocab_size}: stopped at {len(vocab)} tokens after {len(result.merges)} merges ({why})")
        log.warning(warnings[-1])
    stats = {
        "engine": ENGINE,
        "vocab_size": len(vocab),
        "requested_vocab_size": config.vocab_size,
        "merges": len(result.merges),
        "stop_reason": result.stop_reason,
        "last_merge_count": result.merge_counts[-1] if result.merge_counts else None,
        "sequences": result.sequences,
        "characters": result.characters,
        "tokens": result.tokens_after,
        "bp_per_token": result.characters / result.tokens_after if result.tokens_after else None,
        "workers": config.workers,
        "seconds": {**{k: round(v, 4) for k, v in result.seconds.items()}, "total": round(total_s, 4)},
        "warnings": warnings,
    }
    return BpeModel(vocab=dict(vocab.str_to_id), merges=result.merge_strings, special_tokens=tuple(config.special_tokens), config=config, stats=stats)
