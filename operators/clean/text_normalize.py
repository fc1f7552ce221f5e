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
_NAME_TO_SCRIPT = {"CJK": "Han", "KANGXI": "Han", "IDEOGRAPHIC": "Han", "HIRAGANA": "Hiragana",
                   "KATAKANA": "Katakana", "HANGUL": "Hangul", "CANADIAN": "Canadian_Aboriginal",
                   "FULLWIDTH": "Latin", "OL": "Ol_Chiki", "NEW": "New_Tai_Lue", "OLD": "Old"}
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
        cols = batch.to_pydict()
        n = batch.num_rows
        out: dict[str, list] = {name: [] for name in (*DOCUMENTS.names, *REJECT_COLUMNS)}
        for i in range(n):
            row = {k: cols[k][i] for k in self.NEEDS}
            text = row["text"]
            script = None
            if row["_reject_reason"] is None:
                try:  # one record's failure is that record's quarantine row, never the run's end
                    text = self._clean(text)
                    script = dominant_script(text) if self.scripts else None
                    text.encode("utf-8")
                except Exception as exc:  # noqa: BLE001 - per-record isolation, the reason keeps the type
                    row.update(_reject_stage=STAGE, _reject_reason="operator_error",
                               _reject_detail=f"{type(exc).__name__}: {exc}"[:300], _reject_excerpt=excerpt(row["text"]))
                else:
                    if not text.strip():
                        row.update(_reject_stage=STAGE, _reject_reason="empty",
                                   _reject_detail="document is empty after cleaning",
                                   _reject_excerpt=excerpt(row["text"]))
            rejected = row["_reject_reason"] is not None
            out["id"].append(stable_id(row["source"], row["location"]))
            out["source"].append(row["source"])
            out["location"].append(row["location"])
            out["text"].append("" if rejected else text)
            out["lang"].append(row["lang"])
            out["script"].append(None if rejected else script)
            out["n_bytes"].append(0 if rejected else len(text.encode("utf-8")))
            out["meta"].append(row["meta"])
            for c in REJECT_COLUMNS:
                out[c].append(row[c])
        schema = pa.schema([*DOCUMENTS, *[pa.field(c, pa.string()) for c in REJECT_COLUMNS]], metadata=DOCUMENTS.metadata)
        return pa.Table.from_pydict(out, schema=schema)

    def _clean(self, text: str) -> str:
        if self.cfg.strip_control:
            text = _CONTROL.sub("", text)
        if self.cfg.normalization != "none":
            text = unicodedata.normalize(self.cfg.normalization, text)
        return text
