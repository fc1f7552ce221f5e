"""Distributed training: identical merges for 1, 2 and 4 corpus parts, equal to the reference and the in-process trainer.

The coordinator protocol is checked on many corpora with local ``PartWorker`` objects (same messages, no
transport, so hypothesis stays fast); real Ray actors are checked on real DNA and a tie-heavy corpus.
"""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.operators.bpe.test_trainer import SPECIALS, train_args
from tokenmill.operators.bpe import BpeTrainerConfig, train_bpe
from tokenmill.operators.bpe.corpus import to_seq_table
from tokenmill.operators.bpe.distributed_trainer import PartWorker, coordinate, make_workers, train_distributed
from tokenmill.operators.bpe.fast_trainer import train_fast
from tokenmill.operators.bpe.reference import train_reference


def _local(corpus, n: int, **kw):
    workers = [PartWorker() for _ in range(n)]
    for w, part in zip(workers, to_seq_table(corpus).split(n)):
        w.load(part)

    def call(method, *args):
        return [getattr(w, method)(*args) for w in workers]

    return coordinate(call, **kw)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(args=train_args(), n=st.sampled_from([1, 2, 4]))
def test_coordinator_protocol_equals_reference(args, n):
    corpus, kw = args
    result = _local(corpus, n, **kw)
    assert (result.merge_strings, result.vocab.str_to_id) == train_reference(corpus, **kw)


@pytest.fixture(scope="module")
def actors(ray_local):
    """Four PartWorker actors shared by the Ray tests (starting actors dominates their run time)."""
    import ray

    workers = make_workers(4, cpus_per_worker=0)  # reserve no CPUs: later tests start actors of their own
    yield workers
    for w in workers:
        ray.kill(w)


def test_ray_actors_1_2_4_equal_in_process_on_real_dna(actors, small_genomes):
    segments = small_genomes["lambda"]
    kw = dict(vocab_size=300, min_frequency=2, special_tokens=("[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"), initial_alphabet="ACGT")
    expected = train_fast(to_seq_table(segments), **kw)
    for n in (1, 2, 4):
        got = train_distributed(segments, num_workers=n, actors=actors, **kw)
        assert got.merge_strings == expected.merge_strings, n
        assert got.vocab.str_to_id == expected.vocab.str_to_id
        assert got.tokens_after == expected.tokens_after
        assert set(got.seconds) == {"startup", "count", "merge"}


def test_ray_actors_on_ties_and_arrow_parts_equal_reference(actors):
    # Every pair ties at first; repeated rows and runs (overlapping pairs) split across actors.
    corpus = [("ACGTACGT", 2), ("AAAAAA", 3), ("ACGTACGT", 1), ("TTTT", 2), ("GA", 5), ("CAGT", 2)]
    kw = dict(vocab_size=40, min_frequency=1, special_tokens=SPECIALS)
    expected = train_reference(corpus, **kw)
    parts = [pa.table({"seq": [s for s, _ in part], "count": [c for _, c in part]}) for part in (corpus[:2], corpus[2:5], corpus[5:])]
    got = train_distributed(None, parts=parts, actors=actors, **kw)
    assert (got.merge_strings, got.vocab.str_to_id) == expected


def test_train_bpe_with_workers_goes_distributed(ray_local):
    corpus = [("ACGTACGT", 2), ("AAAAAA", 3), ("GA", 5)]
    kw = dict(vocab_size=20, min_frequency=1, special_tokens=SPECIALS)
    model = train_bpe(pa.table({"seq": [s for s, _ in corpus], "count": [c for _, c in corpus]}), BpeTrainerConfig(workers=2, initial_alphabet="", **kw))
    assert (model.merges, model.vocab) == train_reference(corpus, **kw)
    assert model.stats["workers"] == 2


def test_ray_dataset_input_in_process_and_distributed(ray_local):
    from tokenmill.operators.core.runtime import ray_data

    corpus = [("ACGTACGT", 1), ("AAAAAA", 1), ("GATTACA", 1), ("ACGTTT", 1)] * 3
    kw = dict(vocab_size=30, min_frequency=1, special_tokens=SPECIALS)
    expected = train_reference([(s, 3) for s, _ in corpus[:4]], **kw)
    ds = ray_data().from_items([{"seq": s} for s, _ in corpus], override_num_blocks=3)
    for workers in (1, 2):
        model = train_bpe(ds, BpeTrainerConfig(workers=workers, initial_alphabet="", **kw))
        assert (model.merges, model.vocab) == expected, workers
