"""pipelines/dynamic_tokenize.py on Ray: rows + per-batch vocabularies written, merges undo exactly."""

from __future__ import annotations

import pyarrow.parquet as pq

from tokenmill.operators.dynamic import decompositions, expand_ids
from tokenmill.pipelines import dynamic_tokenize


def test_dynamic_tokenize_pipeline(tmp_path, shared_data, ray_local, capsys):
    out = tmp_path / "out"
    args = [
        "--input",
        str(shared_data / "text/udhr/amh.txt"),
        "--input",
        str(shared_data / "text/udhr/deu.txt"),
        "--tokenizer",
        str(shared_data / "tokenizers/mistral/tokenizer.model.v1"),
        "--output",
        str(out),
        "--quiet",
        "--set",
        "batch_size=32",
        "--set",
        "max_merges=200",
        "--set",
        "boundary=word",
    ]
    assert dynamic_tokenize.main(args) == 0
    assert "shorter" in capsys.readouterr().out
    rows = pq.read_table(out / "dynamic_rows")
    vocab = pq.read_table(out / "dynamic_vocab")
    assert rows.num_rows > 100 and vocab.num_rows > 0
    assert sum(rows["dynamic_length"].to_pylist()) < 0.8 * sum(rows["base_length"].to_pylist())
    assert max(vocab.group_by("batch_id").aggregate([("id", "count")])["id_count"].to_pylist()) <= 200
    for row in rows.slice(0, 60).to_pylist():
        assert expand_ids(row["dynamic_ids"], decompositions(vocab, row["batch_id"]), 32000) == row["base_ids"]
