"""Dynamic BPE: known answers, fast == reference, exact round trip, boundaries, output tables."""

from __future__ import annotations

import functools

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.operators.dynamic.conftest import LANGS
from tokenmill.operators.dynamic import (
    BOUNDARIES,
    DynamicBPE,
    DynamicBPEConfig,
    ReferenceDynamicBPE,
    decompositions,
    expand_ids,
    rows_table,
    unit_starts,
    vocab_table,
)
from tokenmill.operators.dynamic.reference import reference_unit_starts
from tokenmill.schemas.core import check_schema, schema_name
from tokenmill.schemas.dynamic import DYNAMIC_ROWS, DYNAMIC_VOCAB


@functools.cache
def _ops(tok, boundary: str, max_merges: int | None, min_count: int = 1) -> tuple[DynamicBPE, ReferenceDynamicBPE]:
    kw = dict(max_merges=max_merges, boundary=boundary, min_count=min_count)
    return DynamicBPE(tok, **kw), ReferenceDynamicBPE(tok, **kw)


def _assert_same(tok, texts: list[str], boundary: str, max_merges: int | None, min_count: int = 1) -> pa.Table:
    fast, ref = _ops(tok, boundary, max_merges, min_count)
    batch = pa.table({"text": texts})
    out = fast(batch)
    expected = ref(batch)
    assert out.schema == expected.schema
    for name in out.column_names:
        assert out.column(name).equals(expected.column(name)), f"column {name} differs ({boundary}, {max_merges})"
    return out


def test_known_answer_merges_and_tie_break(tokenizers):
    gpt2 = tokenizers["gpt2"]
    out = DynamicBPE(gpt2, max_merges=None, boundary="word")(pa.table({"text": ["zqzq zqzq zqzqzq", "zqzq!"]}))
    vocab = vocab_table(out).drop_columns(["batch_id"]).to_pylist()
    # (z,q) x7; (zq,zq) x3; (Ġz,q) x2; then three pairs x1, taken in (left id, right id) order.
    assert [(v["id"], v["left"], v["right"], v["surface"], v["merge_count"], v["count"]) for v in vocab] == [
        (50257, 89, 80, "zq", 7, 0),
        (50258, 50257, 50257, "zqzq", 3, 1),
        (50259, 1976, 80, " zq", 2, 0),
        (50260, 50258, 0, "zqzq!", 1, 1),
        (50261, 50259, 50257, " zqzq", 1, 1),
        (50262, 50259, 50258, " zqzqzq", 1, 1),
    ]
    assert vocab[5]["token"] == "Ġzqzqzq" and vocab[5]["base_ids"] == [1976, 80, 89, 80, 89, 80]
    assert out.column("dynamic_ids").to_pylist() == [[50258, 50261, 50262], [50260]]
    assert out.column("base_length").to_pylist() == [14, 5]
    assert out.column("dynamic_length").to_pylist() == [3, 1]
    # word_hyphen keeps "!" apart; max_merges caps the vocabulary.
    hy = DynamicBPE(gpt2, max_merges=2, boundary="word_hyphen")(pa.table({"text": ["zqzq zqzq zqzqzq", "zqzq!"]}))
    assert hy.column("dynamic_ids").to_pylist()[1] == [50258, 0]
    assert len(vocab_table(hy)) == 2


def test_whitespace_rule_and_sentence_mode(tokenizers):
    gpt2 = tokenizers["gpt2"]
    texts = ["a  b  c  d", "x\n\ny\n\nz", "a  b  c  d"]
    for boundary in BOUNDARIES:
        out = _assert_same(gpt2, texts, boundary, None)
        for surface in vocab_table(out).column("surface").to_pylist():
            assert surface.isspace() or not any(c.isspace() for c in surface[1:]), (boundary, surface)
    # In sentence mode, pairs across pre-tokens that whitespace does not separate do merge.
    out = _assert_same(gpt2, ["don't don't", "(1948) (1948)"], "sentence", None)
    assert {"don't", "(1948)"} <= {s.strip() for s in vocab_table(out).column("surface").to_pylist()}


@pytest.mark.parametrize("name", ["gpt2", "mistral", "bert"])
@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_fast_equals_reference_on_udhr(tokenizers, udhr, name, boundary):
    tok = tokenizers[name]
    batches = [udhr(lang)[5:13] for lang in LANGS[:6]]  # one language per batch, 8 lines
    batches.append([udhr(lang)[20 + i] for i, lang in enumerate(LANGS)])  # mixed languages and scripts
    for texts in batches:
        for max_merges in (0, 3, 40):
            _assert_same(tok, texts, boundary, max_merges)
    for texts in ([udhr(lang)[2] for lang in LANGS[:4]], [udhr("cmn_hans")[3], udhr("tha")[3]]):
        _assert_same(tok, texts, boundary, None)
        _assert_same(tok, texts, boundary, None, min_count=2)


def test_unit_starts_vectorized_equals_plain(tokenizers, udhr):
    texts = [udhr(lang)[i] for lang in LANGS for i in (0, 7)] + ["", "  lead and trail  ", "well-known, (a)b"]
    for tok in tokenizers.values():
        for boundary in BOUNDARIES:
            enc = tok.encode_batch(texts)
            assert unit_starts(enc, texts, boundary).tolist() == reference_unit_starts(enc, texts, boundary)


_PIECES = [*list("abab  xy-,.!\n\té世界ሰው"), "ab", " ab", "  ", "\u3000"]
_TEXT = st.lists(st.sampled_from(_PIECES), max_size=24).map("".join)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    texts=st.lists(_TEXT, min_size=1, max_size=6),
    name=st.sampled_from(["gpt2", "mistral", "bert"]),
    boundary=st.sampled_from(BOUNDARIES),
    max_merges=st.sampled_from([0, 1, 2, 5, None]),
    min_count=st.sampled_from([1, 2]),
)
def test_fast_equals_reference_property(tokenizers, texts, name, boundary, max_merges, min_count):
    out = _assert_same(tokenizers[name], texts, boundary, max_merges, min_count)
    _check_round_trip(tokenizers[name], out)


def _check_round_trip(tok, out: pa.Table) -> None:
    base_vocab = tok.vocab_size
    vocab = vocab_table(out)
    parts = decompositions(vocab)
    for row in rows_table(out).to_pylist():
        assert expand_ids(row["dynamic_ids"], parts, base_vocab) == row["base_ids"]
        assert row["dynamic_length"] == len(row["dynamic_ids"]) <= row["base_length"] == len(row["base_ids"])
    # New ids are numbered in merge order; each one is its pair's expansion and counted exactly.
    ids = vocab.column("id").to_pylist()
    assert ids == list(range(base_vocab, base_vocab + len(ids)))
    flat = [i for row in out.column("dynamic_ids").to_pylist() for i in row]
    for v in vocab.to_pylist():
        assert v["left"] < v["id"] and v["right"] < v["id"]
        assert v["base_ids"] == parts.get(v["left"], [v["left"]]) + parts.get(v["right"], [v["right"]])
        assert v["count"] == flat.count(v["id"])
        assert v["surface"] == b"".join(tok.token_bytes[i] for i in v["base_ids"]).decode("utf-8", "replace")


@pytest.mark.parametrize("name", ["gpt2", "mistral", "bert"])
def test_round_trip_and_boundaries_on_mixed_batch(tokenizers, udhr, name):
    tok = tokenizers[name]
    texts = [udhr(lang)[30 + i] for i, lang in enumerate(LANGS * 3)][:32]
    for boundary in BOUNDARIES:
        for max_merges in (100, None):
            op = DynamicBPE(tok, max_merges=max_merges, boundary=boundary)
            out = op(pa.table({"text": texts}))
            _check_round_trip(tok, out)
            vocab = decompositions(vocab_table(out))
            for text, row in zip(texts, out.column("dynamic_ids").to_pylist()):
                assert op.decode(row, vocab) == tok.decode(tok.encode(text))
            # No new token crosses a unit: its base tokens all lie inside one unit.
            enc = tok.encode_batch(texts)
            unit = np.cumsum(unit_starts(enc, texts, boundary))
            pos = 0
            for i in out.column("dynamic_ids").combine_chunks().flatten().to_pylist():
                n = len(vocab.get(i, [i]))
                assert unit[pos] == unit[pos + n - 1]
                pos += n
            assert pos == len(enc.ids)


def test_merging_shortens_non_latin_text_a_lot(tokenizers, udhr):
    texts = udhr("hin")[1:33]
    out = DynamicBPE(tokenizers["gpt2"], max_merges=1000, boundary="word")(pa.table({"text": texts}))
    base = sum(out.column("base_length").to_pylist())
    dyn = sum(out.column("dynamic_length").to_pylist())
    assert dyn < 0.3 * base  # byte-level Devanagari is heavily over-segmented


def test_output_tables_schema_and_parquet(tokenizers, udhr, tmp_path):
    op = DynamicBPE(tokenizers["mistral"], max_merges=50, boundary="word")
    batch = pa.table({"id": [f"r{i}" for i in range(5)], "text": udhr("deu")[1:6]})
    out = op(batch)
    assert out.column_names[:2] == ["id", "text"]
    assert schema_name(out.schema) == "dynamic_rows/v1"
    check_schema(out.schema, DYNAMIC_ROWS)
    vocab_lists = out.column("batch_vocab").to_pylist()
    assert len(vocab_lists[0]) == 50 and vocab_lists[1:] == [None] * 4
    assert len(set(out.column("batch_id").to_pylist())) == 1
    rows, vocab = rows_table(out), vocab_table(out)
    assert "batch_vocab" not in rows.column_names and vocab.schema == DYNAMIC_VOCAB
    pq.write_table(rows, tmp_path / "rows.parquet")
    pq.write_table(vocab, tmp_path / "vocab.parquet")
    rows_back, vocab_back = pq.read_table(tmp_path / "rows.parquet"), pq.read_table(tmp_path / "vocab.parquet")
    check_schema(rows_back.schema, DYNAMIC_ROWS)
    check_schema(vocab_back.schema, DYNAMIC_VOCAB)
    assert vocab_back.equals(vocab)
    # Two batches in one table: vocab rows keep their batch id; expand_ids needs one batch.
    two = pa.concat_tables([out, op(pa.table({"id": ["x"], "text": udhr("fra")[3:4]}))])
    both = vocab_table(two)
    assert len(set(both.column("batch_id").to_pylist())) == 2
    with pytest.raises(ValueError, match="several batches"):
        expand_ids([1], both, op.base_vocab_size)
    assert op.counters["batches"] == 2 and op.counters["rows"] == 6 and op.counters["merges"] == len(both)


def test_edge_cases_and_errors(tokenizers):
    op = DynamicBPE(tokenizers["gpt2"], max_merges=10)
    empty = op(pa.table({"text": pa.array([], pa.string())}))
    assert empty.num_rows == 0 and len(vocab_table(empty)) == 0
    out = op(pa.table({"text": ["", None, "same same"]}))
    assert out.column("base_ids").to_pylist()[:2] == [[], []]
    assert op.counters["null_texts"] == 1
    zero = DynamicBPE(tokenizers["gpt2"], max_merges=0)(pa.table({"text": ["a b a b"]}))
    assert zero.column("dynamic_ids").to_pylist() == zero.column("base_ids").to_pylist()
    with pytest.raises(ValueError, match=r"DynamicBPE: missing input column\(s\) \['text'\]"):
        DynamicBPE(tokenizers["gpt2"])(pa.table({"body": ["x"]}))
    for bad, field in (
        ({"max_merges": -1}, "max_merges"),
        ({"boundary": "words"}, "boundary"),
        ({"min_count": 0}, "min_count"),
        ({"text_column": ""}, "text_column"),
    ):
        with pytest.raises(ValueError, match=field):
            DynamicBPEConfig(**bad)


@pytest.mark.slow
def test_callable_in_ray_map_batches(ray_local, shared_data, udhr):
    from tokenmill.operators.core.runtime import ray_data

    texts = [line for lang in ("eng", "rus", "hin") for line in udhr(lang)[1:23]]
    ds = ray_data().from_items([{"text": t} for t in texts], override_num_blocks=1)
    out = ds.map_batches(
        DynamicBPE,
        fn_constructor_args=(str(shared_data / "tokenizers" / "gpt2"),),
        fn_constructor_kwargs={"max_merges": 200, "boundary": "word"},
        batch_size=32,
        batch_format="pyarrow",
        concurrency=1,
    ).materialize()
    rows = pa.concat_tables([rows_table(t) for t in _blocks(out.map_batches(rows_table, batch_format="pyarrow"))])
    vocab = pa.concat_tables(list(_blocks(out.map_batches(vocab_table, batch_format="pyarrow"))))
    assert rows.num_rows == len(texts) and sorted(rows.column("text").to_pylist()) == sorted(texts)
    batch_ids = set(rows.column("batch_id").to_pylist())
    assert len(batch_ids) == 3 and set(vocab.column("batch_id").to_pylist()) == batch_ids
    for row in rows.to_pylist():
        parts = decompositions(vocab, row["batch_id"])
        assert expand_ids(row["dynamic_ids"], parts, 50257) == row["base_ids"]


def _blocks(ds):
    import ray

    return [ray.get(ref) for ref in ds.to_arrow_refs()]
