"""The declarative corpus config of ``pipelines/build_corpus.py`` (YAML)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import yaml

from tokenmill.operators.core.config import ConfigError, build_config, merge_overrides
from tokenmill.operators.core.ingest_config import IngestConfig
from tokenmill.operators.encode.locate import TokenizerConfig
from tokenmill.operators.pack.config import PackerConfig
from tokenmill.operators.shards.config import ShardWriterConfig


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
    """Ingestion options, the same section as every job's (ingest.format, ingest.lang_from, ingest.doc_per, ...);
    ``ingest.quality`` is this source's quality filters (``{preset: fineweb}``): what they drop goes to the build's
    filtered.parquet, counted per source and rule."""

    RENAMED: ClassVar[dict[str, str]] = {f: f"ingest.{f}" for f in IngestConfig.__dataclass_fields__}

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
    tokenizer: TokenizerConfig
    """The tokenizer: {path: tokenizer.json | folder | .model}."""
    shards: ShardWriterConfig = field(default_factory=lambda: ShardWriterConfig(pack=PackerConfig(context_length=2048, eos_id="auto")))
    """Packed shards, the same section as pack_shards' and dna_bpe's (shards.pack.context_length, shards.pack.eos_id,
    shards.pack.pad_id, shards.formats, ...)."""
    dedup: bool = True
    """Exact dedup across all sources (the first in source order, file order, record order is kept)."""
    near_dedup: bool = False
    """MinHash LSH near-duplicate removal after exact dedup (signatures are cached with the partitions)."""
    near_dedup_threshold: float = 0.8
    """Estimated Jaccard similarity (word 5-grams) at or above which a later document is a near duplicate."""
    keep_builds: int = 3
    """Published builds to keep (older ones are deleted after a new one is published)."""
    workers: int = 0
    """Ray workers (tasks/actors) at once: 0 = one per CPU of the cluster."""

    RENAMED: ClassVar[dict[str, str]] = {"context_length": "shards.pack.context_length", "eos_id": "shards.pack.eos_id", "pad_id": "shards.pack.pad_id"}

    def __post_init__(self) -> None:
        if not self.output or not self.output.strip():
            raise ValueError("output: is required, e.g. output: /data/builds/web")
        if not self.sources:
            raise ValueError("sources: the corpus needs at least one source")
        names = [s.name for s in self.sources]
        if len(set(names)) != len(names):
            raise ValueError(f"sources: names must be unique, got {names}")
        if self.shards.pack.context_length < 8:
            raise ValueError("shards.pack.context_length must be >= 8")
        if self.workers < 0:
            raise ValueError("workers must be >= 0 (0 = one per CPU of the cluster)")
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
    raw = merge_overrides(raw, overrides or {})
    base = path.resolve().parent
    sources = []
    for i, src in enumerate(raw.get("sources") or []):
        if not isinstance(src, dict):
            raise ConfigError(f"sources[{i}]: expected a mapping with name and input")
        inputs = src.get("input") or []
        inputs = [inputs] if isinstance(inputs, str) else inputs
        sources.append({**src, "input": [_resolve(base, str(p)) for p in inputs]})
    raw["sources"] = sources
    output = raw.get("output")
    if output is None or not str(output).strip():
        # Never default to the config's own folder: builds, cache and ledger would land next to the sources.
        raise ConfigError(f"{path}: output: is required, e.g. output: /data/builds/web (the folder that gets cache/, builds/ and ledger.duckdb)")
    raw["output"] = _resolve(base, str(output).strip())
    tok = raw.get("tokenizer")
    if not isinstance(tok, dict) or not tok.get("path"):
        raise ConfigError(f"{path}: tokenizer: {{path: ...}} is required (a tokenizer.json, a folder holding one or GPT-2's files, or a sentencepiece .model)")
    raw["tokenizer"] = {**tok, "path": _resolve(base, str(tok["path"]))}
    return build_config(BuildConfig, raw)


def _resolve(base: Path, p: str) -> str:
    return p if "://" in p else os.path.normpath(base / p)
