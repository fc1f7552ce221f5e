"""pipelines/romanize.py on Ray: text kept, text_roman equal to uroman line by line."""

from __future__ import annotations

import pyarrow.parquet as pq
import uroman

from pipelines import romanize


def test_romanize_pipeline(tmp_path, shared_data, ray_local):
    out = tmp_path / "out"
    files = [shared_data / "text/udhr/rus.txt", shared_data / "text/udhr/hin.txt"]
    assert romanize.main([a for f in files for a in ("--input", str(f))] + [
        "--output", str(out), "--quiet", "--set", "ingest.lang_from=filename", "--set", "workers=1"]) == 0
    table = pq.read_table(out / "romanized").to_pylist()
    assert len(table) > 100
    ref = uroman.Uroman()
    for row in table[::15]:
        assert row["text_roman"] == ref.romanize_string(row["text"], lcode=row["lang"])
    assert any(r["lang"] == "rus" and r["text_roman"].isascii() for r in table)
