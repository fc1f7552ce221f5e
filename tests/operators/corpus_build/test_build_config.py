"""The corpus YAML speaks the same vocabulary as every job: shards.pack.*, sources[].ingest.*, a typed tokenizer."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tokenmill.operators.core.config import ConfigError, load_overrides
from tokenmill.operators.corpus_build import load_build_config

TOKENIZER = {"path": "tok/tokenizer.json"}


def write(tmp_path: Path, cfg: dict) -> Path:
    path = tmp_path / "corpus.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def base(**extra) -> dict:
    return {
        "output": "out",
        "tokenizer": TOKENIZER,
        "sources": [{"name": "web", "input": ["raw/*.jsonl"], "ingest": {"format": "jsonl", "lang_from": "field", "lang_field": "lang"}}],
        **extra,
    }


def test_sections_and_relative_paths(tmp_path):
    cfg = load_build_config(write(tmp_path, base(shards={"pack": {"context_length": 1024, "eos_id": 2}})))
    assert cfg.output == str(tmp_path / "out") and cfg.tokenizer.path == str(tmp_path / "tok/tokenizer.json")
    assert cfg.sources[0].input == (str(tmp_path / "raw/*.jsonl"),)
    assert (cfg.sources[0].ingest.format, cfg.sources[0].ingest.lang_from) == ("jsonl", "field")
    assert (cfg.shards.pack.context_length, cfg.shards.pack.eos_id, cfg.shards.pack.pad_id) == (1024, 2, 0)


def test_set_changes_one_key_of_a_yaml_section(tmp_path):
    path = write(tmp_path, base(shards={"pack": {"context_length": 1024, "eos_id": 2}}))
    cfg = load_build_config(path, load_overrides(None, ["shards.pack.context_length=512"]))
    assert (cfg.shards.pack.context_length, cfg.shards.pack.eos_id) == (512, 2)
    assert load_build_config(write(tmp_path, base())).shards.pack.context_length == 2048  # the build's default


@pytest.mark.parametrize(
    "old, value, new", [("context_length", 4096, "shards.pack.context_length"), ("eos_id", 2, "shards.pack.eos_id"), ("pad_id", 0, "shards.pack.pad_id")]
)
def test_old_top_level_spellings_name_the_new_key(tmp_path, old, value, new):
    with pytest.raises(ConfigError, match=rf"{old} was renamed: use {new}"):
        load_build_config(write(tmp_path, base(**{old: value})))


def test_flat_ingest_keys_on_a_source_name_the_new_key(tmp_path):
    cfg = base()
    cfg["sources"] = [{"name": "udhr", "input": ["*.txt"], "format": "text", "lang_from": "filename"}]
    with pytest.raises(ConfigError, match=r"sources\[0\]\.format was renamed: use sources\[0\]\.ingest\.format"):
        load_build_config(write(tmp_path, cfg))


@pytest.mark.parametrize("tokenizer", [None, {}, {"path": ""}, "tok.json"])
def test_the_tokenizer_section_is_required_and_typed(tmp_path, tokenizer):
    cfg = base()
    cfg["tokenizer"] = tokenizer
    with pytest.raises(ConfigError, match=r"tokenizer: \{path: \.\.\.\} is required"):
        load_build_config(write(tmp_path, cfg))
    cfg["tokenizer"] = {"path": "t.json", "kind": "hf"}
    with pytest.raises(ConfigError, match=r"unknown config key\(s\) tokenizer\.kind"):
        load_build_config(write(tmp_path, cfg))
