"""Romanization on Ray, wired once for every pipeline: a pool of :class:`Romanizer` actors over a dataset.

``romanize.py`` romanizes documents with :func:`romanize_dataset`; ``multilingual_tokenizer.py`` romanizes its
training documents the same way and its parallel corpus with :func:`romanize_parallel`, which
``fairness_report.py`` uses too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa

from tokenmill.operators.core.runtime import actor_pool, ray_data, ray_workers
from tokenmill.operators.romanize import Romanizer, RomanizerConfig

if TYPE_CHECKING:
    import ray.data


def romanize_dataset(ds: ray.data.Dataset, config: RomanizerConfig, workers: int = 0, batch_size: int = 512) -> ray.data.Dataset:
    """``ds`` with ``config.output_column`` added by a pool of Romanizer actors (uroman loads once per actor).

    Args:
        ds: rows with the romanizer's input column (and ``lang`` when it romanizes per language).
        config: the uroman options.
        workers: Ray workers (tasks/actors) at once: 0 = one per CPU of the cluster.
        batch_size: rows per ``Romanizer`` call.
    """
    return ds.map_batches(
        Romanizer, fn_constructor_kwargs={"config": config}, batch_size=batch_size, batch_format="pyarrow", compute=actor_pool(ray_workers(workers))
    )


def romanize_parallel(parallel: dict[str, list[str]], config: RomanizerConfig, workers: int = 0) -> dict[str, list[str]]:
    """Romanize every line of ``parallel`` (uroman with the language code) in a Ray actor pool; same shape out.

    Args:
        parallel: language → lines (as :func:`operators.report.fairness.load_parallel` returns them).
        config: the uroman options.
        workers: Ray workers (tasks/actors) at once: 0 = one per CPU of the cluster.
    """
    import ray

    workers = ray_workers(workers)
    langs = [lg for lg, lines in parallel.items() for _ in lines]
    texts = [ln for lines in parallel.values() for ln in lines]
    lines = ray_data().from_arrow(pa.table({"lang": langs, "text": texts, "row": list(range(len(texts)))}))
    ds = romanize_dataset(lines.repartition(max(1, 4 * workers)), config, workers)
    rows = pa.concat_tables(ray.get(ds.to_arrow_refs())).sort_by("row")
    out: dict[str, list[str]] = {lg: [] for lg in parallel}
    for lg, roman in zip(rows.column("lang").to_pylist(), rows.column(config.output_column).to_pylist()):
        out[lg].append(roman)
    return out
