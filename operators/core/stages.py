"""Counting per-batch stages: every row a stage takes in and hands on, per source, written as receipts.

A pipeline wraps each of its per-batch operators in :class:`CountedStage`; the wrapper writes one small JSON
receipt per batch (rows in and out per source) into the run's receipts folder. The driver sums the receipts and
reconciles them with what the readers saw and what was written (:mod:`operators.ledger.reconcile`), so a row lost
anywhere between reading and writing fails the run and names the stage that lost it. Receipt names derive from the
batch's content, so a retried task overwrites its own receipt instead of adding a second one. Inside a worker's
partition the receipts gather into one file per partition (:func:`receipt_bundle`), named after the partition.

Rows rejected by a stage are not dropped: they keep flowing, marked with the reject columns, until the quarantine
sink writes them out. A stage therefore hands on as many rows as it takes in, except the sink, whose output is the
kept rows (its quarantined rows are counted from the quarantine files it wrote).
"""

from __future__ import annotations

import collections
import contextlib
import contextvars
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from tokenmill.operators.core.atomic import tmp_path_for


def per_source(batch: pa.Table) -> dict[str, int]:
    """Rows of ``batch`` per value of its ``source`` column."""
    if batch.num_rows == 0:
        return {}
    # value_counts is a plain kernel: Table.group_by runs an exec plan whose thread-local state can fail with
    # "thread index N is out of range" when Ray calls it from its own threads.
    counts = pc.value_counts(batch["source"])
    return dict(zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist()))


def batch_key(stage: str, batch: pa.Table) -> str:
    """A name for one batch of one stage that a retried task reproduces."""
    digest = hashlib.blake2b(stage.encode(), digest_size=12)
    if batch.num_rows:
        for i in (0, batch.num_rows - 1):
            digest.update(f"\0{batch['source'][i].as_py()}\0{batch['location'][i].as_py()}".encode())
    digest.update(f"\0{batch.num_rows}".encode())
    return digest.hexdigest()


class CountedStage:
    """Run ``op`` on a batch, check its declared columns, count its rows and write a receipt of them per source.

    Args:
        op: a per-batch operator (``pa.Table -> pa.Table``); its ``NEEDS`` / ``ADDS`` attributes (column names, if
            it declares them) are checked on the first batch.
        stage: the ledger stage name.
        receipts_dir: the run's receipts folder (None: no receipts; ``rows_in``/``rows_out`` still count).
    """

    def __init__(self, op: Callable[[pa.Table], pa.Table], stage: str, receipts_dir: str | None) -> None:
        self.op = op
        self.stage = stage
        self.receipts_dir = receipts_dir
        self.rows_in = self.rows_out = 0
        self._checked = False

    def __call__(self, batch: pa.Table) -> pa.Table:
        if not self._checked:
            self._check("needs", getattr(self.op, "NEEDS", ()), batch)
        out = self.op(batch)
        if not self._checked:
            self._check("did not add", getattr(self.op, "ADDS", ()), out)
            self._checked = True
        self.rows_in += batch.num_rows
        self.rows_out += out.num_rows
        if self.receipts_dir is not None:
            # an operator may count more per source (the PII formatter's replacements): ``receipt_counts()`` gives
            # this batch's ``{name: {source: n}}``, summed with the rows by load_receipts
            extra = self.op.receipt_counts() if hasattr(self.op, "receipt_counts") else {}
            write_receipt(
                self.receipts_dir,
                f"{self.stage}-{batch_key(self.stage, batch)}",
                {**extra, "stage": self.stage, "in": per_source(batch), "out": per_source(out)},
            )
        return out

    def _check(self, what: str, columns: tuple[str, ...], table: pa.Table) -> None:
        missing = [c for c in columns if c not in table.column_names]
        if missing:
            raise ValueError(
                f"stage {self.stage} ({type(self.op).__name__}) {what} columns {missing}; it got "
                f"{table.column_names}: put it after the operator that adds them (operators/io/chain.py)"
            )


_BUNDLE: contextvars.ContextVar[tuple[str, dict[str, dict]] | None] = contextvars.ContextVar("tokenmill_receipt_bundle", default=None)


@contextlib.contextmanager
def receipt_bundle(receipts_dir: str | None, key: str) -> Iterator[None]:
    """Gather the receipts this thread writes to ``receipts_dir`` inside the block (one partition's: a receipt per
    read task and per block of each stage) and write them as one file, ``bundle-<key>.json``, when the block ends
    without an error; ``key`` names the partition, so a retried partition replaces its own bundle. One file instead
    of thousands: on a thousand small input files, creating a file per receipt was a third of a worker's time."""
    if receipts_dir is None:
        yield
        return
    bundle: dict[str, dict] = {}
    token = _BUNDLE.set((receipts_dir, bundle))
    try:
        yield
    finally:
        _BUNDLE.reset(token)
    if bundle:
        _write_json(Path(receipts_dir) / f"bundle-{key}.json", {"receipts": bundle})


def write_receipt(receipts_dir: str, name: str, payload: dict[str, Any]) -> None:
    """Write one receipt, ``<name>.json`` (or add it to the :func:`receipt_bundle` open for ``receipts_dir``)."""
    open_bundle = _BUNDLE.get()
    if open_bundle is not None and open_bundle[0] == receipts_dir:
        open_bundle[1][name] = payload
        return
    _write_json(Path(receipts_dir) / f"{name}.json", payload)


def _write_json(path: Path, payload: dict) -> None:
    """Write ``payload`` atomically (a temporary name renamed: a retried task replaces its own, a reader never sees
    half of one), without fsync: receipts live in the run's staging folder and only this run's driver reads them back;
    a crash that could lose one ends the run, whose staging the next run removes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_path_for(path)
    try:
        tmp.write_text(json.dumps(payload, sort_keys=True), encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def load_receipts(receipts_dir: str | Path) -> dict[str, dict[str, dict[str, int]]]:
    """Sum the receipts of a run: ``{stage: {"in"|"out"|"seen"|...: {source: rows}}}``."""
    totals: dict[str, dict[str, collections.Counter]] = collections.defaultdict(lambda: collections.defaultdict(collections.Counter))
    receipts: dict[str, dict] = {}  # by name: a receipt written twice (a retried task) counts once
    for path in sorted(Path(receipts_dir).glob("*.json")):
        data = json.loads(path.read_text())
        receipts.update(data["receipts"] if path.name.startswith("bundle-") else {path.stem: data})
    for receipt in receipts.values():
        for key, counts in receipt.items():
            if isinstance(counts, dict):
                totals[receipt["stage"]][key].update(counts)
    return {stage: {k: dict(v) for k, v in kinds.items()} for stage, kinds in totals.items()}
