"""The declarative corpus config of ``pipelines/build_corpus.py`` (YAML)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from operators.core.config import ConfigError, build_config
from operators.core.ingest_config import IngestConfig

_SOURCE_KEYS = {"name", "input", "weight"}


@dataclass(frozen=True, kw_only=True, slots=True)
class SourceConfig:
    """One named source of the corpus."""

    name: str
    """Source name (used in reports, the ledger and lineage)."""
    input: tuple[str, ...]
    """Files, globs or fsspec URIs (relative paths are relative to the config file)."""
    weight: float = 1.0
    """Mixture weight: 0.5 keeps a deterministic half of the documents (by id hash), 2.0 repeats each twice."""
    ingest: IngestConfig = field(default_factory=IngestConfig)
    """Ingestion options; in YAML they sit on the source itself (format, lang_from, doc_per, text_field, ...)."""

    def __post_init__(self) -> None:
        if not self.name or "/" in self.name:
            raise ValueError(f"sources: name {self.name!r} must be non-empty and contain no '/'")
        if not self.input:
            raise ValueError(f"sources[{self.name}].input: give at least one path or glob")
        if not 0 < self.weight <= 100:
            raise ValueError(f"sources[{self.name}].weight must be in (0, 100], got {self.weight}")


@dataclass(frozen=True, kw_only=True, slots=True)
class BuildConfig:
    """A corpus build."""

    output: str
    """Output folder: cache/, builds/<id>/, builds/CURRENT, ledger.duckdb."""
    sources: tuple[SourceConfig, ...]
    """The corpus sources."""
    tokenizer: dict[str, Any]
    """{path: tokenizer.json | folder | .model}."""
    context_length: int = 2048
    """Packed row length in tokens."""
    dedup: bool = True
    """Exact dedup across all sources (the first in source order, file order, record order is kept)."""
    near_dedup: bool = False
    """MinHash LSH near-duplicate removal after exact dedup (signatures are cached with the partitions)."""
    near_dedup_threshold: float = 0.8
    """Estimated Jaccard similarity (word 5-grams) at or above which a later document is a near duplicate."""
    keep_builds: int = 3
    """Published builds to keep (older ones are deleted after a new one is published)."""
    eos_id: int | None = None
    """Token appended to every document in the shards (None: none)."""
    pad_id: int = 0
    """Padding token of packed rows."""
    workers: int = 0
    """Ray tasks building partitions at once: 0 = one per cluster CPU."""

    def __post_init__(self) -> None:
        if not self.output or not self.output.strip():
            raise ValueError("output: is required, e.g. output: /data/builds/web")
        if not self.sources:
            raise ValueError("sources: the corpus needs at least one source")
        names = [s.name for s in self.sources]
        if len(set(names)) != len(names):
            raise ValueError(f"sources: names must be unique, got {names}")
        if "path" not in self.tokenizer:
            raise ValueError("tokenizer: give {path: ...} (a tokenizer.json, a folder or a sentencepiece .model)")
        if self.context_length < 8:
            raise ValueError("context_length must be >= 8")
        if not 0 < self.near_dedup_threshold <= 1:
            raise ValueError("near_dedup_threshold must be in (0, 1]")
        if self.keep_builds < 1:
            raise ValueError("keep_builds must be >= 1")


def load_build_config(path: str | Path, overrides: dict[str, Any] | None = None) -> BuildConfig:
    """Load the corpus YAML at ``path``; relative paths in it are resolved against the file's folder."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"--config {path}: no such file; pass the corpus YAML (see README: build_corpus)")
    raw = yaml.safe_load(path.read_text()) or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a YAML mapping")
    raw.update(overrides or {})
    base = path.resolve().parent
    sources = []
    for i, src in enumerate(raw.get("sources") or []):
        if not isinstance(src, dict):
            raise ConfigError(f"sources[{i}]: expected a mapping with name and input")
        inputs = src.get("input") or []
        inputs = [inputs] if isinstance(inputs, str) else inputs
        sources.append({**{k: v for k, v in src.items() if k in _SOURCE_KEYS},
                        "input": [_resolve(base, p) for p in inputs],
                        "ingest": {k: v for k, v in src.items() if k not in _SOURCE_KEYS}})
    raw["sources"] = sources
    output = raw.get("output")
    if output is None or not str(output).strip():
        # Never default to the config's own folder: builds, cache and ledger would land next to the sources.
        raise ConfigError(f"{path}: output: is required, e.g. output: /data/builds/web (the folder that gets "
                          "cache/, builds/ and ledger.duckdb)")
    raw["output"] = _resolve(base, str(output).strip())
    tok = dict(raw.get("tokenizer") or {})
    if "path" in tok:
        tok["path"] = _resolve(base, tok["path"])
    raw["tokenizer"] = tok
    return build_config(BuildConfig, raw)


def _resolve(base: Path, p: str) -> str:
    return p if "://" in p else os.path.normpath(base / p)
