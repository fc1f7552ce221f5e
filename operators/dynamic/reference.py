"""The paper's dynamic BPE written plainly: recount every pair of the whole batch after every merge.

This is the readable definition that :class:`~operators.dynamic.dynamic_bpe.DynamicBPE` must reproduce exactly
(same merges, same ids, same output table); it is quadratic and meant for tests and the benchmark.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from tokenmill.operators.dynamic.base_tokenizer import EncodedBatch
from tokenmill.operators.dynamic.boundaries import is_punct
from tokenmill.operators.dynamic.dynamic_bpe import DynamicBPE, MergeResult


def _boundary_at(text: str, p: int, boundary: str) -> bool:
    """Is character ``p`` of ``text`` a unit boundary? (Only asked for ``word`` and ``word_hyphen``.)"""
    if text[p].isspace() and (p == 0 or not text[p - 1].isspace()):
        return True
    return boundary == "word_hyphen" and p > 0 and is_punct(text[p]) != is_punct(text[p - 1])


def reference_unit_starts(enc: EncodedBatch, texts: Sequence[str], boundary: str) -> list[bool]:
    """Token by token: does token ``i`` start a new merge unit? (Plain version of ``boundaries.unit_starts``.)"""
    starts = []
    for r, text in enumerate(texts):
        lo, hi = int(enc.row_splits[r]), int(enc.row_splits[r + 1])
        for i in range(lo, hi):
            if i == lo or enc.special[i] or enc.special[i - 1]:
                starts.append(True)
            elif boundary == "sentence":
                starts.append(False)
            elif boundary == "pretokens" and enc.pretoken_ids is not None:
                starts.append(bool(enc.pretoken_ids[i] != enc.pretoken_ids[i - 1]))
            else:
                assert enc.offsets is not None  # the word modes encode with offsets
                end_prev, start = int(enc.offsets[i - 1][1]), int(enc.offsets[i][0])
                positions = range(end_prev, min(start, len(text) - 1) + 1) if start >= end_prev else range(0)
                starts.append(any(_boundary_at(text, p, boundary) for p in positions))
    return starts


class ReferenceDynamicBPE(DynamicBPE):
    """Same interface and output as :class:`DynamicBPE`; ``merge`` is the plain algorithm."""

    @property
    def needs_offsets(self) -> bool:
        """Always the library's (or ``_surface_offsets``') character offsets for the word modes."""
        return self._word_mode

    def merge(self, enc: EncodedBatch, texts: Sequence[str]) -> MergeResult:
        base = self.base_vocab_size
        surface = {}  # id -> surface text, for the whitespace rule

        def text_of(i: int) -> str:
            if i not in surface:
                surface[i] = self.tokenizer.token_text(i)
            return surface[i]

        def valid(a: int, b: int) -> bool:
            s = text_of(a) + text_of(b)
            return s.isspace() or not any(c.isspace() for c in s[1:])

        # Each row is a list of tokens and a parallel list of unit labels.
        starts = reference_unit_starts(enc, texts, self.boundary)
        seqs, labels, unit = [], [], -1
        for r in range(enc.num_rows):
            seq, lab = [], []
            for i in range(int(enc.row_splits[r]), int(enc.row_splits[r + 1])):
                unit += starts[i]
                seq.append(int(enc.ids[i]))
                lab.append(unit)
            seqs.append(seq)
            labels.append(lab)

        left: list[int] = []
        right: list[int] = []
        counts: list[int] = []
        removed: list[int] = []
        limit = self.config.max_merges
        while limit is None or len(left) < limit:
            pairs: Counter = Counter()
            for seq, lab in zip(seqs, labels):
                for i in range(len(seq) - 1):
                    if lab[i] == lab[i + 1] and valid(seq[i], seq[i + 1]):
                        pairs[(seq[i], seq[i + 1])] += 1
            if not pairs:
                break
            # Highest count; ties -> smallest left id, then smallest right id.
            (a, b), count = max(pairs.items(), key=lambda kv: (kv[1], -kv[0][0], -kv[0][1]))
            if count < self.config.min_count:
                break
            new = base + len(left)
            surface[new] = text_of(a) + text_of(b)
            before = sum(map(len, seqs))
            for k, (seq, lab) in enumerate(zip(seqs, labels)):
                out, out_lab, i = [], [], 0
                while i < len(seq):
                    if i + 1 < len(seq) and seq[i] == a and seq[i + 1] == b and lab[i] == lab[i + 1]:
                        out.append(new)
                        i += 2
                    else:
                        out.append(seq[i])
                        i += 1
                    out_lab.append(lab[i - 1])
                seqs[k], labels[k] = out, out_lab
            left.append(a)
            right.append(b)
            counts.append(count)
            removed.append(before - sum(map(len, seqs)))

        splits = np.zeros(len(seqs) + 1, np.int64)
        np.cumsum([len(s) for s in seqs], out=splits[1:])
        flat = np.array([t for s in seqs for t in s], np.int32)
        return MergeResult(
            flat,
            splits,
            np.array(left, np.int32),
            np.array(right, np.int32),
            np.array(counts, np.int64),
            np.array(removed, np.int64),
        )
