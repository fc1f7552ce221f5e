"""The config loader every pipeline uses: YAML + --set into frozen dataclasses, types, sections, renames, --help."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal

import pytest

from tokenmill.operators.core.config import ConfigError, build_config, config_help, load_overrides, merge_overrides
from tokenmill.operators.pack import PackerConfig
from tokenmill.operators.shards import ShardWriterConfig


@dataclass(frozen=True, kw_only=True, slots=True)
class Job:
    """A job whose packing section has its own defaults (as dna_bpe's [CLS]/[SEP]/[PAD])."""

    size: int = 8
    """A number."""
    mode: Literal["fast", "exact"] = "fast"
    """How."""
    names: tuple[str, ...] = ()
    """Some names."""
    ratio: float | None = None
    """Optional ratio."""
    shards: ShardWriterConfig = field(default_factory=lambda: ShardWriterConfig(pack=PackerConfig(context_length=4096, bos_id=1, eos_id=2, pad_id=3)))
    """Shards."""

    RENAMED: ClassVar[dict[str, str]] = {"context_length": "shards.pack.context_length"}

    def __post_init__(self) -> None:
        if self.size < 1:
            raise ValueError("size must be >= 1")


def test_set_values_are_coerced_to_the_field_types(tmp_path):
    cfg = build_config(Job, load_overrides(None, ["size=1_024", "mode=exact", "names=a,b", "ratio=0.5"]))
    assert (cfg.size, cfg.mode, cfg.names, cfg.ratio) == (1024, "exact", ("a", "b"), 0.5)
    assert build_config(Job, load_overrides(None, ["ratio=none"])).ratio is None
    yaml_file = tmp_path / "job.yaml"
    yaml_file.write_text("size: 3\nnames: [x]\n")
    cfg = build_config(Job, load_overrides(str(yaml_file), ["size=5"]))  # --set wins over the file
    assert (cfg.size, cfg.names) == (5, ("x",))


@pytest.mark.parametrize(
    "sets, message",
    [
        (["sizes=3"], "unknown config key(s) sizes"),
        (["size=three"], "size: expected an integer"),
        (["mode=slow"], "mode: 'slow' is not one of 'fast', 'exact'"),
        (["size=0"], "size must be >= 1"),
        (["shards.pack.pad=1"], "unknown config key(s) shards.pack.pad"),
        (["shards.formats=[tar]"], "formats must be a non-empty subset"),
        (["size"], "expected key=value"),
    ],
)
def test_bad_values_name_the_key(sets, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build_config(Job, load_overrides(None, sets))


def test_a_nested_override_keeps_the_jobs_own_section_defaults():
    """--set shards.pack.context_length=512 changes that key only: the job's bos/eos/pad ids stay (they used to
    fall back to PackerConfig's class defaults, silently changing the shards)."""
    cfg = build_config(Job, load_overrides(None, ["shards.pack.context_length=512"]))
    assert cfg.shards.pack == PackerConfig(context_length=512, bos_id=1, eos_id=2, pad_id=3)
    assert build_config(Job, {}).shards.pack.pad_id == 3


def test_an_old_spelling_names_the_new_key():
    with pytest.raises(ConfigError, match=r"context_length was renamed: use shards.pack.context_length"):
        build_config(Job, load_overrides(None, ["context_length=512"]))


def test_help_shows_the_jobs_real_defaults_and_allowed_values():
    text = config_help(Job)
    assert "shards.pack.pad_id (int, default: 3)" in text
    assert "shards.pack.bos_id (int | None, default: 1)" in text
    assert "shards.pack.context_length (int, default: 4096)" in text
    assert "mode (one of 'fast', 'exact', default: 'fast')" in text
    assert "size (int, default: 8)\n      A number." in text


def test_overrides_merge_into_sections_key_by_key():
    merged = merge_overrides({"shards": {"pack": {"context_length": 256, "pad_id": 3}}, "size": 1}, load_overrides(None, ["shards.pack.context_length=512"]))
    assert merged == {"shards": {"pack": {"context_length": "512", "pad_id": 3}}, "size": 1}


def test_a_missing_config_file_says_so(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_overrides(str(tmp_path / "nope.yaml"), [])
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="expected a YAML mapping"):
        load_overrides(str(tmp_path / "list.yaml"), [])
