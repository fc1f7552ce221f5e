"""Random access to the packed rows of a committed shard set: the Megatron ``.bin``/``.idx`` with the pack plan, or
the Parquet rows, local or through the verified cache of a remote set; :meth:`ShardSet.sample` turns a row into
the training tensors the torch reader yields (see :mod:`operators.shards.reader`)."""

from __future__ import annotations

import bisect
from collections import OrderedDict
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from tokenmill.operators.core.uri import is_remote
from tokenmill.operators.pack.rows import materialize_rows
from tokenmill.operators.shards.config import PLAN_FORMAT, ROWS_FORMAT
from tokenmill.operators.shards.manifest import load_manifest, shard_file
from tokenmill.operators.shards.megatron import open_bin, read_index
from tokenmill.operators.shards.parquet import list_column, read_checked


class ShardSet:
    """Random access to the packed rows of a committed shard set (trusts only the manifest).

    A remote set (``s3://bucket/prefix``, configured by the standard ``AWS_*`` environment) is read through a
    local cache: each shard's files are fetched when first used and checked against the manifest's sha256
    (:func:`operators.shards.fetch.cached_file`); a prefix without ``manifest.json`` is no set (ValueError).

    Args:
        directory: the shard set's directory (holding ``manifest.json``), local or a remote URI.
        source: ``megatron`` (.bin + plan), ``parquet`` (rows), or ``auto`` (megatron when present).
    """

    def __init__(self, directory: str | Path, *, source: Literal["auto", "megatron", "parquet"] = "auto") -> None:
        self.directory: Path | str = str(directory) if is_remote(str(directory)) else Path(directory)
        self.manifest = load_manifest(self.directory)
        formats = self.manifest["formats"]
        if source == "auto":
            source = "megatron" if "megatron" in formats else "parquet"
        if source not in formats:
            raise ValueError(f"ShardSet: source {source!r} not in this set's formats {formats}")
        self.source = source
        self.context_length = int(self.manifest["context_length"])
        self.dtype = np.dtype(self.manifest["token_dtype"])
        self.pad_id = int(self.manifest["config"]["pack"]["pad_id"])
        self.shards = self.manifest["shards"]
        self.row_starts = np.concatenate([[0], np.cumsum([int(s["rows"]) for s in self.shards])]).astype(np.int64)
        self.num_rows = int(self.row_starts[-1])
        self._open: OrderedDict[int, dict[str, Any]] = OrderedDict()

    def __len__(self) -> int:
        return self.num_rows

    def __getstate__(self) -> dict[str, Any]:
        # DataLoader workers started by spawn get a pickled copy: send the manifest, not open memory maps.
        state = {k: getattr(self, k) for k in ("directory", "manifest", "source", "context_length", "dtype", "pad_id", "shards", "row_starts", "num_rows")}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._open = OrderedDict()

    def _shard(self, k: int) -> dict[str, Any]:
        if k in self._open:
            self._open.move_to_end(k)
            return self._open[k]
        # load_manifest refused paths outside the directory; shard_file checks again where the file is opened.
        if isinstance(self.directory, str):  # remote: verified local copies
            from tokenmill.operators.shards.fetch import cached_file

            files = {kind: cached_file(self.directory, f) for kind, f in self.shards[k]["files"].items()}
        else:
            files = {kind: shard_file(self.directory, f["path"]) for kind, f in self.shards[k]["files"].items()}
        if self.source == "megatron":
            index = read_index(files["idx"])
            plan = read_checked(files["plan"], PLAN_FORMAT)
            doc, seg_off = list_column(plan, "doc")
            data: dict[str, Any] = {
                "tokens": open_bin(files["bin"], index.dtype),
                "doc_pos": index.pointers // index.dtype.itemsize,
                "seg_off": seg_off,
                "doc": doc.astype(np.int64),
                "start": list_column(plan, "start")[0].astype(np.int64),
                "length": list_column(plan, "length")[0].astype(np.int64),
                "doc_id": list_column(plan, "doc_id")[0],
            }
        else:
            table = read_checked(files["rows"], ROWS_FORMAT)
            C = self.context_length
            data = {name: list_column(table, name) for name in ("cu_seqlens", "doc_ids", "doc_offsets")}
            for name in ("input_ids", "position_ids", "loss_mask"):
                data[name] = list_column(table, name)[0].reshape(-1, C)
        self._open[k] = data
        if len(self._open) > 4:  # memory maps are cheap, parquet shards are not: keep a few
            self._open.popitem(last=False)
        return data

    def row(self, i: int) -> dict[str, Any]:
        """Row ``i`` (global index) as numpy arrays plus ``doc_ids`` / ``doc_offsets`` of its segments."""
        if not 0 <= i < self.num_rows:
            raise IndexError(f"row {i} out of range [0, {self.num_rows})")
        k = bisect.bisect_right(self.row_starts, i) - 1
        r = i - int(self.row_starts[k])
        d = self._shard(k)
        if self.source == "megatron":
            a, b = int(d["seg_off"][r]), int(d["seg_off"][r + 1])
            batch = materialize_rows(
                tokens=d["tokens"],
                seg_src=d["doc_pos"][d["doc"][a:b]] + d["start"][a:b],
                seg_len=d["length"][a:b],
                seg_row=np.zeros(b - a, np.int64),
                num_rows=1,
                context_length=self.context_length,
                pad_id=self.pad_id,
            )
            return {
                "input_ids": batch.input_ids[0],
                "position_ids": batch.position_ids[0],
                "loss_mask": batch.loss_mask[0],
                "cu_seqlens": batch.cu_values,
                "doc_ids": list(d["doc_id"][a:b]),
                "doc_offsets": d["start"][a:b],
            }
        cu, cu_off = d["cu_seqlens"]
        ids, ids_off = d["doc_ids"]
        offs, offs_off = d["doc_offsets"]
        return {
            "input_ids": d["input_ids"][r],
            "position_ids": d["position_ids"][r],
            "loss_mask": d["loss_mask"][r],
            "cu_seqlens": cu[cu_off[r] : cu_off[r + 1]],
            "doc_ids": list(ids[ids_off[r] : ids_off[r + 1]]),
            "doc_offsets": offs[offs_off[r] : offs_off[r + 1]],
        }

    def sample(self, i: int, *, with_doc_info: bool = False) -> dict[str, Any]:
        """Row ``i`` as training tensors (see the module docstring)."""
        row = self.row(i)
        input_ids = torch.from_numpy(row["input_ids"].astype(np.int64))
        labels = input_ids.clone()
        labels[torch.from_numpy(row["loss_mask"] == 0)] = -100
        cu = torch.from_numpy(np.array(row["cu_seqlens"], dtype=np.int32))
        out = {
            "input_ids": input_ids,
            "labels": labels,
            "position_ids": torch.from_numpy(row["position_ids"].astype(np.int64)),
            "cu_seqlens": cu,
            "max_seqlen": int((cu[1:] - cu[:-1]).max()),
        }
        if with_doc_info:
            out["doc_ids"] = row["doc_ids"]
            out["doc_offsets"] = torch.from_numpy(np.array(row["doc_offsets"], np.int64))
        return out
