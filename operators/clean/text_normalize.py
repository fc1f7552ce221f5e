"""Text normalization and validation: NFC, control characters, empty documents, dominant script, stable ids."""

from __future__ import annotations

import functools
import re
import unicodedata
from collections import Counter

import pyarrow as pa

from tokenmill.operators.core.ids import stable_id
from tokenmill.operators.core.ingest_config import IngestConfig
from tokenmill.operators.core.rows import excerpt
from tokenmill.schemas import DOCUMENTS, REJECT_COLUMNS

STAGE = "normalize"
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# Unicode character-name prefixes → ISO 15924-style script names (the name's first word is the script for most).
_NAME_TO_SCRIPT = {
    "CJK": "Han",
    "KANGXI": "Han",
    "IDEOGRAPHIC": "Han",
    "HIRAGANA": "Hiragana",
    "KATAKANA": "Katakana",
    "HANGUL": "Hangul",
    "CANADIAN": "Canadian_Aboriginal",
    "FULLWIDTH": "Latin",
    "OL": "Ol_Chiki",
    "NEW": "New_Tai_Lue",
    "OLD": "Old",
}
_SAMPLE_CHARS = 4000


@functools.lru_cache(maxsize=65536)
def _char_script(ch: str) -> str | None:
    if not ch.isalpha():
        return None
    try:
        first = unicodedata.name(ch).split(" ", 1)[0]
    except ValueError:
        return None
    return _NAME_TO_SCRIPT.get(first, first.title())


def dominant_script(text: str) -> str | None:
    """The most frequent script among the letters of ``text`` (first 4000 chars), e.g. Latin, Cyrillic, Han."""
    # Count characters first (in C), then scripts over the distinct ones: the same counts, in the same
    # first-seen order (so ties break the same way), at a fraction of the per-character Python work.
    counts: Counter[str] = Counter()
    for ch, n in Counter(text[:_SAMPLE_CHARS]).items():
        script = _char_script(ch)
        if script:
            counts[script] += n
    if not counts:
        return None
    top = counts.most_common(1)[0][0]
    if top in ("Hiragana", "Katakana") or (top == "Han" and (counts["Hiragana"] + counts["Katakana"]) > 0):
        return "Japanese" if counts["Hiragana"] + counts["Katakana"] else top
    return top


class TextNormalizer:
    """RAW_DOCUMENTS → DOCUMENTS columns (+ reject columns): normalize, validate, add id, script and n_bytes.

    Rows already rejected by the reader pass through untouched; empty documents (after cleaning) are rejected with
    reason ``empty``.
    """

    STAGE = STAGE
    NEEDS = ("source", "location", "text", "lang", "meta", *REJECT_COLUMNS)
    ADDS = ("id", "script", "n_bytes")

    def __init__(self, cfg: IngestConfig) -> None:
        self.cfg = cfg
        self.scripts = cfg.detect_script  # False leaves ``script`` null: jobs that only tokenize skip the per-letter work

    def __call__(self, batch: pa.Table) -> pa.Table:
        # Column-wise: lists of the batch's columns, one pass over the rows (no per-row dicts).
        n = batch.num_rows
        sources, locations = batch["source"].to_pylist(), batch["location"].to_pylist()
        raw_texts = batch["text"].to_pylist()
        rejects = {c: batch[c].to_pylist() for c in REJECT_COLUMNS}
        stage, reason, detail, excerpt_col = (rejects[c] for c in REJECT_COLUMNS)
        texts: list[str] = [""] * n
        scripts: list[str | None] = [None] * n
        n_bytes = [0] * n
        clean, detect = self._clean, self.scripts
        for i in range(n):
            if reason[i] is not None:
                continue
            raw = raw_texts[i]
            try:  # one record's failure is that record's quarantine row, never the run's end
                text = clean(raw)
                script = dominant_script(text) if detect else None
                size = len(text.encode("utf-8"))
            except Exception as exc:
                stage[i], reason[i], detail[i], excerpt_col[i] = STAGE, "operator_error", f"{type(exc).__name__}: {exc}"[:300], excerpt(raw)
                continue
            if not text.strip():
                stage[i], reason[i], detail[i], excerpt_col[i] = STAGE, "empty", "document is empty after cleaning", excerpt(raw)
                continue
            texts[i], scripts[i], n_bytes[i] = text, script, size
        out = {
            "id": [stable_id(s, loc) for s, loc in zip(sources, locations)],
            "source": sources,
            "location": locations,
            "text": texts,
            "lang": batch["lang"].to_pylist(),
            "script": scripts,
            "n_bytes": n_bytes,
            "meta": batch["meta"].to_pylist(),
            **rejects,
        }
        schema = pa.schema([*DOCUMENTS, *[pa.field(c, pa.string()) for c in REJECT_COLUMNS]], metadata=DOCUMENTS.metadata)
        return pa.Table.from_pydict({name: out[name] for name in schema.names}, schema=schema)

    def _clean(self, text: str) -> str:
        if self.cfg.strip_control:
            text = _CONTROL.sub("", text)
        if self.cfg.normalization != "none":
            text = unicodedata.normalize(self.cfg.normalization, text)
        return text
