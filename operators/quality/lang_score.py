"""Language-score filter: drop documents the language ID is not sure enough about (or in the wrong language).

It reads what :class:`operators.clean.langid.LanguageIdentifier` wrote (``ingest.lang_from=detect``): ``lang`` and
``meta.lang_score``, the share of the text CLD2 assigned to that language (0..1). A document is dropped as
``lang_score:below_threshold`` when its score is under ``quality.min_lang_score`` or it has no language, and as
``lang_score:language`` when ``quality.languages`` is set and its language is not one of them. datatrove's
``LanguageFilter`` does the same with fastText's probability; CLD2's byte share is the confidence tokenmill has.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from tokenmill.operators.quality.marks import FILTER_COLUMNS, Drop, with_filter_columns

if TYPE_CHECKING:
    from tokenmill.operators.core.ingest_config import IngestConfig

STAGE = "lang_score"


def check_lang(lang: str | None, meta: str | None, min_score: float, languages: tuple[str, ...]) -> Drop | None:
    """Why a document with this ``lang`` and ``meta`` is dropped, or None."""
    # imported here: operators.clean imports the ingest config, which imports this package's config
    from tokenmill.operators.clean.langid import same_language

    score = None
    if meta:
        fields = json.loads(meta)
        if isinstance(fields, dict) and isinstance(fields.get("lang_score"), (int, float)):
            score = float(fields["lang_score"])
    if lang is None or score is None or score < min_score:
        return Drop("below_threshold", score, min_score)
    if languages and not any(same_language(lang, want) or lang == want for want in languages):
        return Drop("language", score, min_score)
    return None


class LanguageScoreFilter:
    """DOCUMENTS (+ reject columns) → the same rows, documents under the language score marked ``lang_score:<rule>``."""

    STAGE = STAGE
    NEEDS = ("lang", "meta", "_reject_reason")
    ADDS = FILTER_COLUMNS

    def __init__(self, cfg: IngestConfig) -> None:
        if cfg.quality.min_lang_score is None:
            raise ValueError("LanguageScoreFilter needs ingest.quality.min_lang_score")
        self.min_score = cfg.quality.min_lang_score
        self.languages = cfg.quality.languages
        self.counts: dict[str, int] = {}

    def __call__(self, batch: pa.Table) -> pa.Table:
        batch = with_filter_columns(batch)
        if batch.num_rows == 0:
            return batch
        live = pc.and_(pc.is_null(batch["_reject_reason"]), pc.is_null(batch["_filter_reason"])).to_pylist()
        langs, metas = batch["lang"].to_pylist(), batch["meta"].to_pylist()
        columns = {name: batch[name].to_pylist() for name in FILTER_COLUMNS}
        for i in range(batch.num_rows):
            if not live[i]:
                continue
            drop = check_lang(langs[i], metas[i], self.min_score, self.languages)
            if drop is None:
                self.counts["kept"] = self.counts.get("kept", 0) + 1
                continue
            reason = f"{STAGE}:{drop.rule}"
            columns["_filter_reason"][i] = reason
            columns["_filter_value"][i] = drop.value
            columns["_filter_threshold"][i] = drop.threshold
            self.counts[reason] = self.counts.get(reason, 0) + 1
        for name, values in columns.items():
            idx = batch.schema.get_field_index(name)
            batch = batch.set_column(idx, batch.schema.field(idx), pa.array(values, batch.schema.field(idx).type))
        return batch
