"""Reference packer: the packing contract of ``operators.pack.config`` in plain Python lists.

Small and slow on purpose; :class:`operators.pack.packer.Packer` is tested equal to it on many inputs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tokenmill.operators.pack.config import PackedRow, PackerConfig, PackStats


class ReferencePacker:
    """Streaming best-fit-decreasing packer over a bounded buffer (pure Python).

    Args:
        config: the packing config.

    Usage: ``rows = packer.add(doc_id, ids)`` for every document, then ``rows += packer.flush()``.
    """

    def __init__(self, config: PackerConfig) -> None:
        self.config = config
        self.stats = PackStats()
        self._docs: dict[int, tuple[str, list[int]]] = {}  # doc key -> (doc id, stored tokens)
        self._buffer: list[tuple[int, int, int, int]] = []  # (arrival, doc key, start, length)
        self._arrivals = 0
        self._adding = -1  # the document whose pieces are being enqueued (kept even if none is pending yet)

    def add(self, doc_id: str, ids: Sequence[int] | np.ndarray) -> list[PackedRow]:
        """Add one document; return the rows a completed round emitted (often none)."""
        cfg, st = self.config, self.stats
        tokens = [int(t) for t in ids]
        st.docs_in += 1
        st.tokens_in += len(tokens)
        if cfg.bos_id is not None:
            tokens = [cfg.bos_id, *tokens]
        if isinstance(cfg.eos_id, int):  # "auto" is resolved before packing (Packer refuses it)
            tokens = [*tokens, cfg.eos_id]
        if not tokens:
            st.docs_empty += 1
            return []
        pieces = [(0, len(tokens))]
        if len(tokens) > cfg.context_length:
            if cfg.long_docs == "drop":
                st.docs_dropped_long += 1
                st.tokens_dropped += len(tokens)
                return []
            if cfg.long_docs == "truncate":
                st.docs_truncated += 1
                st.tokens_truncated += len(tokens) - cfg.context_length
                tokens = tokens[: cfg.context_length]
                pieces = [(0, len(tokens))]
            else:
                st.docs_split += 1
                pieces = [(s, min(cfg.context_length, len(tokens) - s)) for s in range(0, len(tokens), cfg.context_length)]
        key = st.docs_kept
        st.docs_kept += 1
        self._docs[key] = (doc_id, tokens)
        self._adding = key
        rows: list[PackedRow] = []
        for start, length in pieces:
            st.pieces += 1
            self._buffer.append((self._arrivals, key, start, length))
            self._arrivals += 1
            if len(self._buffer) == cfg.buffer_docs:
                rows += self._round(final=False)
        return rows

    def flush(self) -> list[PackedRow]:
        """Pack everything still buffered (the end of the stream)."""
        return self._round(final=True) if self._buffer else []

    def _round(self, *, final: bool) -> list[PackedRow]:
        cfg = self.config
        C = cfg.context_length
        self.stats.rounds += 1
        bins: list[list[tuple[int, int, int, int]]] = []
        room: list[int] = []

        def place(j: int, piece: tuple[int, int, int, int]) -> None:
            if j == len(bins):
                bins.append([])
                room.append(C)
            bins[j].append(piece)
            room[j] -= piece[3]

        for arrival, key, start, length in sorted(self._buffer, key=lambda p: (-p[3], p[0], p[2])):
            while True:
                best = -1
                for j, r in enumerate(room):
                    if r >= length and (best < 0 or r < room[best]):
                        best = j
                roomiest = max(range(len(room)), key=lambda j: (room[j], -j), default=-1)
                if best < 0 and cfg.split_to_fill and roomiest >= 0 and room[roomiest] >= cfg.split_to_fill:
                    take = room[roomiest]  # cut the piece: its head fills the roomiest row
                    self.stats.fill_splits += 1
                    place(roomiest, (arrival, key, start, take))
                    start, length = start + take, length - take
                    continue
                place(best if best >= 0 else len(bins), (arrival, key, start, length))
                break
        carried: set[int] = set()
        if not final:
            budget = cfg.carry_budget
            for j in sorted(range(len(bins)), key=lambda j: (C - room[j], j)):
                if room[j] == 0 or len(bins[j]) > budget:
                    break
                budget -= len(bins[j])
                carried.add(j)
        self._buffer = sorted((p for j in sorted(carried) for p in bins[j]), key=lambda p: (p[0], p[2]))
        rows = [self._make_row(b) for j, b in enumerate(bins) if j not in carried]
        self._forget_done_docs()
        return rows

    def _make_row(self, segments: list[tuple[int, int, int, int]]) -> PackedRow:
        cfg, st = self.config, self.stats
        input_ids: list[int] = []
        positions: list[int] = []
        loss: list[int] = []
        cu = [0]
        doc_ids: list[str] = []
        offsets: list[int] = []
        for _, key, start, length in segments:
            doc_id, tokens = self._docs[key]
            input_ids += tokens[start : start + length]
            positions += list(range(length))
            loss += [0] + [1] * (length - 1)
            cu.append(cu[-1] + length)
            doc_ids.append(doc_id)
            offsets.append(start)
        used = cu[-1]
        pad = cfg.context_length - used
        if pad:
            input_ids += [cfg.pad_id] * pad
            positions += list(range(pad))
            loss += [0] * pad
            cu.append(cfg.context_length)
        st.rows += 1
        st.tokens += used
        st.pad_tokens += pad
        return PackedRow(
            input_ids=np.array(input_ids, dtype=np.int64),
            position_ids=np.array(positions, dtype=np.int32),
            cu_seqlens=np.array(cu, dtype=np.int32),
            loss_mask=np.array(loss, dtype=np.uint8),
            doc_ids=doc_ids,
            doc_offsets=np.array(offsets, dtype=np.int64),
            num_tokens=used,
        )

    def _forget_done_docs(self) -> None:
        # Keep only documents that still have a piece waiting, so memory stays bounded by the buffer.
        pending = {p[1] for p in self._buffer} | {self._adding}
        self._docs = {k: v for k, v in self._docs.items() if k in pending}
