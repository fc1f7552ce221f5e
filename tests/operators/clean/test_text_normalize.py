"""TextNormalizer: NFC, control characters, empty documents, scripts, and per-record isolation."""

from __future__ import annotations

import pyarrow as pa

from tokenmill.operators.clean import TextNormalizer
from tokenmill.operators.core.ingest_config import IngestConfig
from tokenmill.operators.core.rows import RowBuffer
from tokenmill.schemas import RAW_DOCUMENTS


def _raw(texts: list[str]) -> pa.Table:
    buf = RowBuffer(RAW_DOCUMENTS, 100)
    for i, t in enumerate(texts):
        buf.add(source="s.txt", location=f"byte={i}", text=t, lang=None)
    return buf.take()


def test_normalizes_and_rejects_empty():
    out = TextNormalizer(IngestConfig())(_raw(["Cafe\u0301\x07", "\x01\x02", "Привет мир"])).to_pylist()
    assert out[0]["text"] == "Café" and out[0]["script"] == "Latin" and out[0]["n_bytes"] == 5
    assert out[1]["_reject_reason"] == "empty" and out[1]["_reject_stage"] == "normalize"
    assert out[2]["script"] == "Cyrillic"
    assert len({r["id"] for r in out}) == 3


class _Fragile(TextNormalizer):
    """A normalizer that fails on one record, as a buggy operator or a pathological input would."""

    def _clean(self, text: str) -> str:
        if "boom" in text:
            raise OverflowError("pathological record")
        return super()._clean(text)


def test_one_failing_record_becomes_a_quarantine_row():
    out = _Fragile(IngestConfig())(_raw(["ok one", "boom here", "ok two"])).to_pylist()
    assert [r["_reject_reason"] for r in out] == [None, "operator_error", None]
    assert out[1]["_reject_detail"] == "OverflowError: pathological record"
    assert out[1]["_reject_excerpt"] == "boom here"


def _dominant_script_reference(text: str) -> str | None:
    """The per-character definition (what the distinct-character count must equal, ties included)."""
    from collections import Counter

    from tokenmill.operators.clean.text_normalize import _SAMPLE_CHARS, _char_script

    counts = Counter(s for s in map(_char_script, text[:_SAMPLE_CHARS]) if s)
    if not counts:
        return None
    top = counts.most_common(1)[0][0]
    kana = counts["Hiragana"] + counts["Katakana"]
    if top in ("Hiragana", "Katakana") or (top == "Han" and kana > 0):
        return "Japanese" if kana else top
    return top


def test_dominant_script_equals_the_reference_on_udhr_mixtures(shared_data):
    import random

    from tokenmill.operators.clean.text_normalize import dominant_script

    files = sorted((shared_data / "text/udhr").glob("*.txt"))
    lines = [l for f in files for l in f.read_text(errors="replace").splitlines() if l.strip()]
    rng = random.Random(0)
    for _ in range(3000):
        text = " ".join(rng.choice(lines) for _ in range(rng.randint(1, 3)))
        if rng.random() < 0.4:  # short snippets make ties between scripts common
            text = text[: rng.randint(1, 8)]
        assert dominant_script(text) == _dominant_script_reference(text), text
