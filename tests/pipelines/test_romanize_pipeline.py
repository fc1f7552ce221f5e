"""pipelines/romanize.py on Ray: text kept, text_roman equal to uroman line by line."""

from __future__ import annotations

import pyarrow.parquet as pq
import uroman

from tokenmill.pipelines import romanize


def test_romanize_pipeline(tmp_path, shared_data, ray_local):
    out = tmp_path / "out"
    files = [shared_data / "text/udhr/rus.txt", shared_data / "text/udhr/hin.txt"]
    assert (
        romanize.main(
            [a for f in files for a in ("--input", str(f))] + ["--output", str(out), "--quiet", "--set", "ingest.lang_from=filename", "--set", "workers=1"]
        )
        == 0
    )
    table = pq.read_table(out / "romanized").to_pylist()
    assert len(table) > 100
    ref = uroman.Uroman()
    for row in table[::15]:
        assert row["text_roman"] == ref.romanize_string(row["text"], lcode=row["lang"])
    assert any(r["lang"] == "rus" and r["text_roman"].isascii() for r in table)


def test_romanize_parallel_keeps_shape_and_order(ray_local):
    """The parallel corpus romanized in the shared actor pool: same languages, same line order, uroman's output."""
    from tokenmill.operators.romanize import RomanizerConfig
    from tokenmill.pipelines._romanize import romanize_parallel

    parallel = {"rus": ["Все люди рождаются свободными", "и равными"], "eng": ["All human beings"], "hin": ["सभी मनुष्य", "जन्म से स्वतंत्र", "हैं"]}
    out = romanize_parallel(parallel, RomanizerConfig(), workers=1)
    ref = uroman.Uroman()
    assert list(out) == list(parallel)
    assert out == {lg: [ref.romanize_string(ln, lcode=lg) for ln in lines] for lg, lines in parallel.items()}


def test_workers_means_the_same_in_every_job():
    """``workers`` is documented (and so shown by --help) with one meaning in every job that has it."""
    from tokenmill.operators.core.config import field_docs
    from tokenmill.operators.tokenize_text.multilingual_config import MultilingualConfig
    from tokenmill.pipelines.dynamic_tokenize import DynamicTokenizeConfig
    from tokenmill.pipelines.fairness_report import FairnessJobConfig

    for cls in (romanize.RomanizeJobConfig, MultilingualConfig, FairnessJobConfig, DynamicTokenizeConfig):
        assert field_docs(cls)["workers"] == "Ray workers (tasks/actors) at once: 0 = one per CPU of the cluster.", cls
