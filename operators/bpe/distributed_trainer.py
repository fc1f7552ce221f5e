"""Distributed exact BPE training: the corpus split over N Ray actors, one coordinator, the reference's merges.

Each actor owns a part of the sequences, its token array, local pair counts and pair positions
(:class:`operators.bpe.kernel_state.CorpusPart`). The coordinator (the calling process) holds the global pair counts and
the candidate heap (:class:`operators.bpe.kernel_state.PairCounts`):

1. **alphabet**: every actor reports its part's characters; the coordinator fixes the ids (same ids as the
   in-process trainer).
2. **counting** (parallel): every actor encodes its part and counts its pairs; the coordinator sums the counts.
3. **merging**: per step the coordinator picks the best pair (same tie-break), broadcasts ``(a, b, new)``,
   every actor merges it in its part and returns only the count changes next to the merged occurrences, the
   coordinator adds them up. Counts are sums over parts, so the merges do not depend on N.

The merge phase costs one round trip per merge (4087 for DNABERT-2, ~1-3 ms each through Ray on one machine).
Merges cannot be batched exactly: the next best pair is often one the last merge created, whose count only the
parts know (bounding it from the old counts rarely settles the choice, since the merged tokens' neighbours
are frequent). So the round trip is kept small instead: a call carries four ints and returns two small int64
arrays (the changes of one step, at most 4 x vocab entries), and actors that do not hold the pair answer at
once. Ray Compiled Graphs were tried and were slower here (shared-memory channels polling on busy cores).
On one machine the in-process trainer is therefore faster; the actors pay off in the counting phase and when
a corpus does not fit one machine's memory.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Unpack

import numpy as np

from tokenmill.operators.bpe.corpus import SeqTable, encode, to_seq_table
from tokenmill.operators.bpe.fast_trainer import Best, TrainArgs, TrainResult, Vocab, check_vocab_fits, merge_loop, settle_stop_reason, train_fast
from tokenmill.operators.bpe.kernel_state import CorpusPart, PairCounts

log = logging.getLogger(__name__)


class PartWorker:
    """The actor body: one part of the corpus. Plain class, so it is testable without Ray."""

    def __init__(self) -> None:
        self.table: SeqTable | None = None
        self.part: CorpusPart | None = None
        # Load the compiled kernels now (numba cache), so the counting phase measures counting.
        train_fast(to_seq_table(["ACGTACGT"]), vocab_size=12, min_frequency=1, special_tokens=("[UNK]",))

    def load(self, data: Any) -> int:
        """Take this worker's sequences (anything ``train_bpe`` accepts, or a list of ObjectRefs of Arrow
        tables, which Ray does not resolve inside a list); returns the number of rows."""
        if isinstance(data, list) and data and type(data[0]).__name__ == "ObjectRef":
            import ray

            data = ray.get(data)
        self.table, self.part = to_seq_table(data), None
        return len(self.table)

    def _loaded(self) -> SeqTable:
        if self.table is None:
            raise RuntimeError("PartWorker: call load() first (and before count(), which consumes the table)")
        return self.table

    def _counted(self) -> CorpusPart:
        if self.part is None:
            raise RuntimeError("PartWorker: call count() before apply()")
        return self.part

    def alphabet(self) -> set[str]:
        return self._loaded().alphabet()

    def count(self, id_to_str: list[str], vocab_size: int, max_token_length: int | None) -> tuple[np.ndarray, np.ndarray, int, int]:
        """Encode the part and count its pairs: ``(keys, counts, sequences, characters)``."""
        vocab = {s: i for i, s in enumerate(id_to_str)}
        corpus = encode(self._loaded(), vocab, vocab_size)
        tlen = np.zeros(max(vocab_size, len(id_to_str)), np.int32)
        tlen[: len(id_to_str)] = [len(s) for s in id_to_str]
        # Local counts cannot decide pruning (a pair rare here may be frequent overall): track every pair.
        self.part = CorpusPart(corpus, tlen, vocab_size, max_token_length, keep_min=1)
        self.table = None  # the token array holds everything from now on
        keys, counts = self.part.items()
        return keys, counts, corpus.n_sequences, corpus.n_chars

    def apply(self, step: tuple[int, int, int, bool]) -> tuple[np.ndarray, np.ndarray]:
        """Merge one pair in the part; return the count changes ``(keys, deltas)``."""
        a, b, new, is_dup = step
        part = self._counted()
        n_out, _ = part.apply(a, b, new, is_dup)
        return part.deltas(n_out)

    def symbols(self) -> int:
        """Tokens in the part now; also frees the part (training is over)."""
        n = self.part.symbols() if self.part is not None else 0
        self.part = None
        return n


def dataset_parts(dataset: Any, n: int) -> list[list]:
    """Deal a Ray Dataset's blocks (ObjectRefs of Arrow tables) round-robin into ``n`` groups, so each actor
    pulls its own blocks from the object store and the driver never holds the corpus."""
    refs = dataset.to_arrow_refs()
    return [refs[i::n] for i in range(min(n, len(refs)))] or [[]]


def make_workers(n: int, cpus_per_worker: float = 1.0) -> list:
    """Start ``n`` PartWorker Ray actors (fewer CPUs each if the cluster is smaller) and wait until ready."""
    import ray

    from tokenmill.operators.core.runtime import init_ray

    if not ray.is_initialized():
        init_ray(quiet=True)
    total_cpus = float(ray.cluster_resources().get("CPU", 1.0))
    cpus = min(cpus_per_worker, total_cpus / n)
    if cpus < cpus_per_worker:
        log.warning("%d BPE workers x %.2g CPU do not fit %.3g CPUs; giving each %.2g", n, cpus_per_worker, total_cpus, cpus)
    # Any: ray types the handle of a class decorated this way as a union with the class itself
    actors: list[Any] = [ray.remote(num_cpus=cpus)(PartWorker).remote() for _ in range(n)]
    ray.get([a.__ray_ready__.remote() for a in actors])
    return actors


def train_distributed(
    data: Any,
    *,
    num_workers: int = 2,
    cpus_per_worker: float = 1.0,
    parts: list | None = None,
    actors: list | None = None,
    **train_args: Unpack[TrainArgs],
) -> TrainResult:
    """Train over Ray actors (Ray is started locally if it is not running).

    Args:
        data: the corpus (anything ``train_bpe`` accepts); split into ``num_workers`` parts of equal size.
            Ignored when ``parts`` is given.
        train_args: ``vocab_size``, ``min_frequency``, ``special_tokens`` and optionally ``initial_alphabet`` and
            ``max_token_length``, as :func:`count_phase` takes them.
        parts: one input per worker (Arrow tables, ObjectRefs of them, ...), loaded by the actors themselves,
            so a pipeline can hand over data that is already spread over the cluster.
        actors: PartWorker actors to use (from :func:`make_workers`; the caller keeps them); default: start
            ``len(parts)`` or ``num_workers`` and kill them at the end.

    ``result.seconds`` has ``startup`` (actors, loading parts, alphabet), ``count`` (the parallel counting
    phase: encode and count in the actors, sum in the coordinator) and ``merge``.
    """
    import ray

    t0 = time.perf_counter()
    n = len(parts) if parts is not None else num_workers
    own = actors is None
    actors = make_workers(n, cpus_per_worker) if actors is None else actors[:n]
    if len(actors) < n:
        raise ValueError(f"train_distributed: {n} parts but only {len(actors)} actors")
    try:
        inputs = parts if parts is not None else to_seq_table(data).split(n)
        ray.get([actor.load.remote(part) for actor, part in zip(actors, inputs)])

        def call(method: str, *args: Any) -> list:
            return ray.get([getattr(actor, method).remote(*args) for actor in actors])

        return coordinate(call, t_start=t0, **train_args)
    finally:
        if own:
            for actor in actors:
                ray.kill(actor)


def count_phase(
    call: Callable[..., list],
    *,
    vocab_size: int,
    min_frequency: int,
    special_tokens: tuple[str, ...],
    initial_alphabet: Any = (),
    max_token_length: int | None = None,
) -> tuple[Vocab, PairCounts, TrainResult, float]:
    """The distributed counting phase: alphabet, then every worker encodes its part and counts its pairs in
    parallel; the coordinator sums the counts.

    Returns ``(vocab, global pair counts, an empty TrainResult with the corpus sizes, counting seconds)``; the
    seconds cover the parallel counting and the sum, not the alphabet round.
    """
    alphabet = set(initial_alphabet)
    for part in call("alphabet"):
        alphabet |= part
    vocab = Vocab(special_tokens, alphabet, vocab_size)
    check_vocab_fits(vocab, vocab_size, len(set(special_tokens)))
    PairCounts(np.zeros(1, np.int64), np.ones(1, np.int64), 4, 1).best(np.zeros(0, np.int32), 0)  # load kernels
    t0 = time.perf_counter()
    counted = call("count", vocab.id_to_str, vocab_size, max_token_length)
    counts = PairCounts(np.concatenate([c[0] for c in counted]), np.concatenate([c[1] for c in counted]), vocab_size, min_frequency)
    seconds = time.perf_counter() - t0
    result = TrainResult(vocab, sequences=sum(c[2] for c in counted), characters=sum(c[3] for c in counted))
    return vocab, counts, result, seconds


def coordinate(call: Callable[..., list], *, t_start: float | None = None, **train_args: Unpack[TrainArgs]) -> TrainResult:
    """The coordinator: drive the workers through alphabet, counting and merging; return the merges.

    ``call(method, *args)`` runs ``PartWorker.method(*args)`` on every worker and returns the replies in
    worker order — Ray actor calls in :func:`train_distributed`, plain calls on local ``PartWorker`` objects
    in tests (same protocol, no transport).
    """
    t0 = time.perf_counter() if t_start is None else t_start
    _vocab, counts, result, count_s = count_phase(call, **train_args)
    t2 = time.perf_counter()

    def apply(a: int, b: int, new: int, is_dup: bool) -> Best:
        replies = call("apply", (a, b, new, is_dup))
        n_pushed = counts.add(np.concatenate([r[0] for r in replies]), np.concatenate([r[1] for r in replies]))
        counts.set_count(a, b, 0)  # fully merged in every part
        return counts.best(counts.pushed, n_pushed)

    merge_loop(result, counts.best(counts.pushed, 0), apply, train_args["vocab_size"], train_args["min_frequency"])
    t3 = time.perf_counter()
    result.tokens_after = sum(call("symbols"))
    settle_stop_reason(result)
    result.seconds = {"startup": t2 - t0 - count_s, "count": count_s, "merge": t3 - t2}
    log.info("distributed BPE: %d merges, startup %.2fs, count %.2fs, merge %.2fs", len(result.merges), t2 - t0 - count_s, count_s, t3 - t2)
    return result
