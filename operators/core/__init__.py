"""Shared building blocks used by every pipeline: config loading, the Ray runtime, stable ids."""

from tokenmill.operators.core.config import ConfigError, build_config, config_help, load_overrides
from tokenmill.operators.core.ids import stable_id

__all__ = ["ConfigError", "build_config", "config_help", "load_overrides", "stable_id"]
