"""The packed rows load in the clients training teams use: DuckDB, pyarrow.dataset, HF datasets — one glob, one schema."""

from __future__ import annotations

import datasets
import duckdb
import numpy as np
import pyarrow.dataset as pads

from tokenmill.operators.shards import ShardSet


def expected_rows(out) -> np.ndarray:
    """Every packed row's input ids, in manifest order, as tokenmill's own reader returns them."""
    shards = ShardSet(out, source="parquet")
    return np.stack([shards.sample(i)["input_ids"].numpy() for i in range(shards.num_rows)])


def test_rows_and_plans_have_their_own_folders(small_set):
    out, manifest = small_set
    for shard in manifest["shards"]:
        assert shard["files"]["rows"]["path"].startswith("rows/") and shard["files"]["plan"]["path"].startswith("plan/")
    assert not list(out.glob("*.parquet"))  # nothing of two schemas under one glob
    assert not list((out / "plan").glob("*.parquet"))  # plans are Parquet named .plan: **/*.parquet is the rows only


def test_the_recursive_glob_and_data_dir_give_exactly_the_rows(small_set):
    """What users type first: read_parquet('OUT/shards/**/*.parquet') and load_dataset(data_dir=OUT/shards)."""
    out, manifest = small_set
    got = duckdb.sql(f"SELECT count(*), sum(num_tokens) FROM read_parquet('{out}/**/*.parquet')").fetchall()[0]
    assert got == (manifest["totals"]["rows"], manifest["totals"]["tokens"])
    ds = datasets.load_dataset("parquet", data_dir=str(out), split="train", cache_dir=str(out.parent / "hf-cache-dir"))
    assert ds.num_rows == manifest["totals"]["rows"]


def test_duckdb_reads_the_rows(small_set):
    out, manifest = small_set
    got = duckdb.sql(f"SELECT count(*), sum(num_tokens), min(len(input_ids)), max(len(input_ids)) FROM '{out}/rows/*.parquet'").fetchall()[0]
    C = manifest["config"]["pack"]["context_length"]
    assert got == (manifest["totals"]["rows"], manifest["totals"]["tokens"], C, C)


def test_pyarrow_dataset_reads_the_rows(small_set):
    out, manifest = small_set
    table = pads.dataset(out / "rows", format="parquet").to_table()
    assert table.num_rows == manifest["totals"]["rows"]
    got = np.stack(table.column("input_ids").to_numpy(zero_copy_only=False))
    assert sorted(map(bytes, got.astype(np.int64))) == sorted(map(bytes, expected_rows(out)))


def test_hf_datasets_loads_the_rows(small_set):
    out, manifest = small_set
    ds = datasets.load_dataset("parquet", data_files=str(out / "rows" / "*.parquet"), split="train", cache_dir=str(out.parent / "hf-cache"))
    assert ds.num_rows == manifest["totals"]["rows"]
    ds = ds.with_format("numpy")
    got = np.asarray(ds["input_ids"]).astype(np.int64)
    assert sorted(map(bytes, got)) == sorted(map(bytes, expected_rows(out)))
