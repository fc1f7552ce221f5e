"""Helpers of the corpus-build tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa


def build_in_process(cfg: Any, cache: Path) -> tuple[Any, list[dict]]:
    """The tokenizer engine of the build config ``cfg`` and its planned partitions, each built into ``cache`` (created)
    in this process, without Ray."""
    from tokenmill.operators.corpus_build import PartitionBuilder
    from tokenmill.operators.corpus_build.partition import code_fingerprint
    from tokenmill.operators.corpus_build.plan import plan_partitions
    from tokenmill.operators.encode import load_engine

    engine = load_engine(cfg.tokenizer.path)
    partitions, _ = plan_partitions(cfg, engine.sha256, code_fingerprint())
    cache.mkdir()
    builder = PartitionBuilder(str(cache), cfg.tokenizer.path)
    for p in partitions:
        builder(pa.Table.from_pylist([p]))
    return engine, partitions
