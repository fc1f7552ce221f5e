"""Configuration of ingestion: how raw files become documents / DNA segments."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from tokenmill.operators.quality.config import QualityConfig


@dataclass(frozen=True, kw_only=True, slots=True)
class IngestConfig:
    """How to read, validate and cut raw inputs."""

    format: Literal["auto", "jsonl", "parquet", "text", "fasta", "warc", "wet"] = "auto"
    """Input format; ``auto`` tells it from the extension (.jsonl/.parquet/.txt/.fa/.warc, optionally .gz/.zst).
    ``warc`` (``wet`` is the same reader) reads web archives: the main text of each HTML response, the text of each
    WET conversion record, with url and date in ``meta``."""
    text_field: str = "text"
    """JSONL/Parquet field that holds the document text."""
    id_field: str | None = None
    """Optional JSONL/Parquet field kept in ``meta`` as the source's own id (our ids stay stable hashes)."""
    lang_field: str | None = None
    """JSONL/Parquet field with the language code, when ``lang_from=field``."""
    lang_from: Literal["none", "filename", "field", "detect"] = "none"
    """Where ``lang`` comes from: nothing, the file name (UDHR's ``rus.txt`` → ``rus``), ``lang_field``, or ``detect``
    (CLD2 language ID per document: ISO 639-3 ``lang``, ``lang_score`` in ``meta``)."""
    doc_per: Literal["line", "file"] = "line"
    """For text files: one document per line (blank lines separate records and are not counted), or one per file."""
    on_invalid_utf8: Literal["quarantine", "replace"] = "quarantine"
    """Invalid UTF-8: quarantine the record, or replace the bad bytes with U+FFFD."""
    normalization: Literal["NFC", "NFKC", "none"] = "NFC"
    """Unicode normalization applied to text."""
    strip_control: bool = True
    """Remove control characters (Unicode Cc) other than tab, newline and carriage return."""
    max_document_bytes: int = 16 << 20
    """Documents larger than this (UTF-8 bytes) are quarantined as too large."""
    split_bytes: int = 128 << 20
    """Uncompressed line files larger than this are read by several tasks, one per byte range."""
    batch_rows: int = 8192
    """Rows per Arrow block emitted by a reader (bounded memory, no tiny blocks)."""
    segment_length: int = 1000
    """DNA: segment length in bp (DNABERT-2 uses 1000)."""
    min_length: int = 50
    """DNA: shorter segments (record tails, pieces between N runs) are quarantined as too short."""
    n_policy: Literal["split", "keep"] = "split"
    """DNA: runs of N end a segment (``split``), or N stays in the sequence (``keep``)."""
    iupac_policy: Literal["split", "to_n", "quarantine"] = "split"
    """DNA: IUPAC ambiguity codes (R Y S W K M B D H V) split segments, become N, or quarantine the segment."""
    dedup: bool = False
    """Exact dedup by content hash: the first of each group in canonical input order is kept, the others quarantined."""
    detect_script: bool = True
    """Fill the documents' ``script`` column (dominant script of the letters); pack_shards skips it unless it writes
    OUT/documents."""
    quality: QualityConfig = field(default_factory=QualityConfig)
    """Quality filters for web text (``ingest.quality.preset=fineweb``: datatrove's FineWeb chain); dropped documents
    go to OUT/filtered with their rule, value and threshold. Off (``none``) by default."""

    def __post_init__(self) -> None:
        if isinstance(self.quality, dict):  # IngestConfig(**json.loads(...)) of a dataclasses.asdict: build_corpus' plan
            object.__setattr__(self, "quality", QualityConfig.from_dict(self.quality))
        if self.max_document_bytes <= 0:
            raise ValueError("max_document_bytes must be > 0")
        if self.split_bytes < 1 << 20:
            raise ValueError("split_bytes must be at least 1 MiB (1048576)")
        if self.batch_rows <= 0:
            raise ValueError("batch_rows must be > 0")
        if self.segment_length <= 0:
            raise ValueError("segment_length must be > 0")
        if not 0 < self.min_length <= self.segment_length:
            raise ValueError("min_length must be in 1..segment_length")
        if self.quality.min_lang_score is not None and self.lang_from != "detect":
            raise ValueError("quality.min_lang_score filters on the language ID's score: it needs lang_from=detect")
        if self.lang_from == "field" and not self.lang_field:
            raise ValueError("lang_from=field needs lang_field (the JSONL/Parquet field with the language code)")
