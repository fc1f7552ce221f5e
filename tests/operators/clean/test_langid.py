"""operators/clean/langid.py: CLD2 language ID on real UDHR text, whose languages the file names give."""

from __future__ import annotations

import json

import pyarrow as pa
import pycld2
import pytest

from tokenmill.operators.clean.langid import CLD2_TO_ISO639_3, LanguageIdentifier, detect_language, same_language
from tokenmill.operators.core.ingest_config import IngestConfig
from tokenmill.operators.io.decode import lang_from_filename
from tokenmill.schemas import REJECT_COLUMNS

# Twenty languages in twelve scripts, with macrolanguage cases (arb → ara, cmn → zho, pes → fas, swh → swa, ...).
FILES = (
    "eng",
    "fra",
    "deu",
    "rus",
    "spa",
    "arb",
    "cmn_hans",
    "hin",
    "jpn",
    "kor",
    "swh",
    "pes_1",
    "tur",
    "ell_monotonic",
    "heb",
    "tha",
    "amh",
    "vie",
    "uzn_latn",
    "nob",
)


def _batch(texts: list[str | None], metas: list[str | None] | None = None, reasons: list[str | None] | None = None) -> pa.Table:
    n = len(texts)
    cols: dict[str, pa.Array] = {
        "id": pa.array([f"d{i}" for i in range(n)]),
        "source": pa.array(["s"] * n),
        "location": pa.array([str(i) for i in range(n)]),
        "text": pa.array([t or "" for t in texts]),
        "lang": pa.nulls(n, pa.string()),
        "script": pa.nulls(n, pa.string()),
        "n_bytes": pa.array([len((t or "").encode()) for t in texts], pa.int64()),
        "meta": pa.array(metas or [None] * n, pa.string()),
    }
    for c in REJECT_COLUMNS:
        cols[c] = pa.array(reasons if c == "_reject_reason" and reasons else [None] * n, pa.string())
    return pa.table(cols)


@pytest.mark.parametrize("name", FILES)
def test_udhr_file_language(shared_data, name):
    """Each whole file is its language; its long lines (>= 60 chars) are too, nearly always."""
    text = (shared_data / "text/udhr" / f"{name}.txt").read_text(encoding="utf-8")
    expected = lang_from_filename(f"{name}.txt")
    assert expected is not None
    lang, score = detect_language(text)
    assert same_language(lang, expected), (name, lang)
    assert score is not None and 0.5 < score <= 1.0
    lines = [line.strip() for line in text.splitlines() if len(line.strip()) >= 60]
    right = sum(same_language(detect_language(line)[0], expected) for line in lines)
    assert lines and right / len(lines) >= 0.95, (name, right, len(lines))


def test_operator_on_udhr_batch(shared_data):
    udhr = shared_data / "text/udhr"
    texts, expected = [], []
    for name in FILES:
        lines = [line.strip() for line in (udhr / f"{name}.txt").read_text(encoding="utf-8").splitlines() if len(line.strip()) >= 60]
        texts += lines[:5]
        expected += [lang_from_filename(f"{name}.txt")] * len(lines[:5])
    out = LanguageIdentifier(IngestConfig(lang_from="detect"))(_batch(texts))
    assert out.schema == _batch(texts).schema and out.num_rows == len(texts)
    langs = out["lang"].to_pylist()
    assert sum(same_language(got, want) for got, want in zip(langs, expected)) >= 0.97 * len(texts)
    scores = [json.loads(m)["lang_score"] for m in out["meta"].to_pylist()]
    assert all((s is None) == (lang is None) for s, lang in zip(scores, langs))  # CLD2 may name no language
    assert all(0.0 < s <= 1.0 for s in scores if s is not None)
    scripts = dict(zip(expected, out["script"].to_pylist()))
    assert scripts["rus"] == "Cyrillic" and scripts["hin"] == "Devanagari" and scripts["eng"] == "Latin"


def test_meta_keeps_other_fields_rejected_rows_and_unknown_text():
    text = "Everyone has the right to education. Education shall be free, at least in the elementary stages."
    batch = _batch(
        [text, text, "12345 67890", "Todos los seres humanos nacen libres e iguales en dignidad."],
        metas=['{"src_id": "a-1", "url": "https://example.org/é"}', None, None, None],
        reasons=[None, "too_large", None, None],
    )
    op = LanguageIdentifier(IngestConfig(lang_from="detect"))
    out = op(batch).to_pylist()
    assert out[0]["lang"] == "eng"
    meta = json.loads(out[0]["meta"])
    assert meta["src_id"] == "a-1" and meta["url"] == "https://example.org/é" and 0.9 <= meta["lang_score"] <= 1.0
    assert out[1]["lang"] is None and out[1]["meta"] is None and out[1]["script"] is None  # rejected: untouched
    assert out[2]["lang"] is None and json.loads(out[2]["meta"]) == {"lang_score": None}  # digits: no language
    assert out[3]["lang"] == "spa"
    assert (op.detected, op.undetected) == (2, 1)


def test_other_lang_from_passes_batches_through():
    batch = _batch(["Everyone has the right to life, liberty and security of person."])
    for lang_from in ("none", "filename"):
        assert LanguageIdentifier(IngestConfig(lang_from=lang_from))(batch).equals(batch)


def test_text_cld2_refuses_is_still_identified():
    """CLD2 calls C0/C1 controls and noncharacters invalid UTF-8: they are dropped for detection, the text is kept."""
    text = "\x01\x85 Toda persona tiene derecho a la vida, a la libertad y a la seguridad de su persona.\ufdd0"
    with pytest.raises(pycld2.error):
        pycld2.detect(text)
    assert detect_language(text)[0] == "spa"
    assert _batch([text])["text"].to_pylist() == LanguageIdentifier(IngestConfig(lang_from="detect"))(_batch([text]))["text"].to_pylist()


def test_every_cld2_language_has_an_iso_639_3_code():
    codes = {code for name, code in pycld2.LANGUAGES if name in pycld2.DETECTED_LANGUAGES} - {"zzp"}  # Pig Latin
    assert codes == set(CLD2_TO_ISO639_3)
    assert all(len(v) == 3 and v.isascii() and v.islower() for v in CLD2_TO_ISO639_3.values())


def test_same_language_knows_macrolanguages():
    assert same_language("ara", "arb") and same_language("zho", "cmn") and same_language("eng", "eng")
    assert not same_language("zho", "jpn") and not same_language(None, "eng") and not same_language("ara", "fas")
