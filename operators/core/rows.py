"""Row accumulation into Arrow blocks, with rejected rows marked for the quarantine sink."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pyarrow.compute as pc

from tokenmill.schemas import REJECT_COLUMNS

EXCERPT_BYTES = 200


def excerpt(raw: bytes | str | None) -> str | None:
    """At most 200 bytes of a record, invalid UTF-8 escaped as ``\\xNN`` (kept readable, never replaced)."""
    if raw is None:
        return None
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else bytes(raw)
    text = data[:EXCERPT_BYTES].decode("utf-8", "backslashreplace")
    while len(text.encode("utf-8", "surrogatepass")) > EXCERPT_BYTES:
        text = text[:-1]
    return text


def split_marked(batch: pa.Table, columns: tuple[str, ...] | list[str], mark: str, who: str, hint: str = "") -> tuple[pa.Table, pa.Table]:
    """``batch`` as (the rows whose ``mark`` column is set, the others): how the quarantine and filtered sinks take
    the rows a stage marked off the chain.

    Raises:
        ValueError: ``batch`` lacks some of ``columns`` (naming ``who``, then ``hint``).
    """
    missing = [c for c in columns if c not in batch.column_names]
    if missing:
        raise ValueError(f"{who}: input lacks columns {missing}{hint}")
    marked = pc.is_valid(batch[mark])
    return batch.filter(marked), batch.filter(pc.invert(marked))


class Seen:
    """What a reader saw in its input (records, or whole-file/row-group rejections), counted where it reads the
    input and never from what it emits, so that a record lost between reading and writing shows as a mismatch."""

    __slots__ = ("n",)

    def __init__(self) -> None:
        self.n = 0


class RowBuffer:
    """Collect rows column-wise and hand them out as Arrow tables of at most ``batch_rows`` rows."""

    def __init__(self, schema: pa.Schema, batch_rows: int) -> None:
        self.schema = schema
        self.batch_rows = batch_rows
        self._cols: dict[str, list] = {name: [] for name in schema.names}
        self._n = 0

    def add(self, **values) -> None:
        """Append one row; columns not given are null."""
        cols = self._cols
        assert values.keys() <= cols.keys(), f"RowBuffer: no columns {sorted(set(values) - cols.keys())} in {self.schema.names}"
        for name, col in cols.items():
            col.append(values.get(name))
        self._n += 1

    def reject(self, *, stage: str, reason: str, detail: str, raw: bytes | str | None, **values) -> None:
        """Append a row marked for quarantine with a reason code, a human detail and an excerpt."""
        marks = dict(zip(REJECT_COLUMNS, (stage, reason, detail, excerpt(raw))))
        self.add(**values, **marks)

    @property
    def full(self) -> bool:
        return self._n >= self.batch_rows

    def __len__(self) -> int:
        return self._n

    def take(self) -> pa.Table:
        """Return the buffered rows as a table and start a new buffer."""
        table = pa.Table.from_pydict(self._cols, schema=self.schema)
        self._cols = {name: [] for name in self.schema.names}
        self._n = 0
        return table

    def rest(self) -> Iterator[pa.Table]:
        """The rows still buffered as one last table, if there are any (a reader's ``yield from buf.rest()``)."""
        if self._n:
            yield self.take()
