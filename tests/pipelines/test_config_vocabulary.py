"""One config vocabulary: every key of every job (the config dataclasses `tokenmill config JOB` prints), checked for
synonyms (two words for one setting), settings outside their section (``encode_batch_size`` next to ``encode.*``) and
one word meaning different things in different jobs; old spellings keep working with a warning."""

from __future__ import annotations

import collections
import dataclasses
import re

import pytest

from tokenmill.operators.core.config import ConfigError, build_config, config_keys, field_docs
from tokenmill.pipelines import _config_docs

JOBS = _config_docs.job_configs()


def _keys() -> list[tuple[str, str, str]]:
    """(job, key, docstring) for every key of every job; a corpus source's keys without ``sources[].``."""
    return [(job, key.removeprefix("sources[]."), doc) for job, cls in JOBS.items() for key, _, _, doc in config_keys(cls)]


def test_every_job_with_a_config_is_checked():
    from tokenmill import cli

    with_config = {f"pipelines/{job}.py" for job in cli.JOBS if cli.config_class(job) is not None}
    assert with_config == set(JOBS) and len(JOBS) >= 11


def test_no_job_spells_a_setting_another_way():
    found = [
        f"{job}: {key} (tokenmill says {_config_docs.SYNONYMS[leaf]})" for job, key, _ in _keys() if (leaf := key.rsplit(".", 1)[-1]) in _config_docs.SYNONYMS
    ]
    assert found == []


def test_a_setting_of_a_section_lives_in_it():
    """A top-level ``encode_batch_size`` next to an ``encode.*`` section is a second home for an encode setting."""
    misplaced = []
    for job in JOBS:
        keys = [key for j, key, _ in _keys() if j == job]
        sections = {key.split(".")[0] for key in keys if "." in key}
        misplaced += [f"{job}: {key}" for key in keys if "." not in key and key.split("_")[0] in sections]
    assert misplaced == []


def test_a_word_several_jobs_use_means_one_thing():
    """A top-level key whose docstrings differ between jobs must be in the vocabulary, every docstring matching its
    one meaning; a new clash fails here until its meaning is written down (or one of the keys renamed)."""
    docs: dict[str, dict[str, str]] = collections.defaultdict(dict)
    for job, key, doc in _keys():
        if "." not in key:
            docs[key][job] = doc
    for key, by_job in sorted(docs.items()):
        if len(set(by_job.values())) < 2:
            continue
        assert key in _config_docs.VOCABULARY, f"{key} means different things: {by_job}; write its one meaning in VOCABULARY or rename it"
        pattern = _config_docs.VOCABULARY[key][1]
        assert [job for job, doc in by_job.items() if not re.search(pattern, doc)] == [], (key, by_job)


def test_workers_0_is_one_per_cpu_wherever_a_job_allows_it():
    for job, cls in JOBS.items():
        if "workers" not in {f.name for f in dataclasses.fields(cls)}:
            continue
        try:
            build_config(cls, {"workers": 0})
            allowed = True
        except ConfigError as exc:  # a corpus YAML's required keys are missing here: only an error about workers counts
            allowed = "workers" not in str(exc)
        assert allowed == ("0 = one per CPU of the cluster" in field_docs(cls)["workers"]), job


def test_every_old_spelling_points_at_a_key_the_job_has():
    for job, cls in JOBS.items():
        keys = {key for key, *_ in config_keys(cls)}
        for old, new in getattr(cls, "DEPRECATED", {}).items():
            assert new in keys and old not in keys, (job, old, new)


def test_an_old_spelling_still_works_with_a_warning():
    from tokenmill.pipelines.dna_bpe import DnaBpeConfig
    from tokenmill.pipelines.pack_shards import PackShardsConfig
    from tokenmill.pipelines.transfer_tokenizer import TransferConfig

    values = {"encode_batch_size": 16, "encode": {"engine": "hf"}}
    with pytest.warns(FutureWarning, match=r"encode_batch_size is deprecated: use encode\.batch_size"):
        dna = build_config(DnaBpeConfig, values)
    assert (dna.encode.batch_size, dna.encode.engine) == (16, "hf") and values == {"encode_batch_size": 16, "encode": {"engine": "hf"}}
    assert build_config(DnaBpeConfig, {}).encode.batch_size == 2048 and build_config(PackShardsConfig, {}).encode.batch_size == 1024
    with pytest.warns(FutureWarning, match="concurrency is deprecated: use workers"):
        assert build_config(TransferConfig, {"concurrency": 2}).workers == 2
    with pytest.warns(FutureWarning), pytest.raises(ConfigError, match="give only encode.batch_size"):
        build_config(PackShardsConfig, {"encode_batch_size": 16, "encode": {"batch_size": 8}})
