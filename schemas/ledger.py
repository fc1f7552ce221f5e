"""DuckDB DDL of the run ledger (``OUTPUT/ledger.duckdb``), versioned like the Arrow schemas."""

LEDGER_VERSION = "ledger/v4"
# v2: stages.tokens (token counts had been written to stages.bytes by pack_shards and encode stages). A v1 ledger
# is upgraded in place when opened: the column is added, NULL for the runs before.
# v3: table encoders (which engine encoded, proven on how many documents); created when an older ledger is opened.
# v4: runs' columns read naturally in SQL: ``run`` (as every other table names it, so ``JOIN runs USING (run)``),
# ``started`` and ``finished`` (``end`` is a reserved word). Older ledgers are renamed in place when opened.
_V4 = [
    "ALTER TABLE IF EXISTS runs RENAME COLUMN id TO run",
    "ALTER TABLE IF EXISTS runs RENAME COLUMN start TO started",
    'ALTER TABLE IF EXISTS runs RENAME COLUMN "end" TO finished',
]
LEDGER_UPGRADES = {"ledger/v1": ["ALTER TABLE stages ADD COLUMN tokens BIGINT", *_V4], "ledger/v2": _V4, "ledger/v3": _V4}

LEDGER_TABLES: dict[str, str] = {
    "meta": "CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR)",
    "runs": """CREATE TABLE IF NOT EXISTS runs (
        run VARCHAR PRIMARY KEY, pipeline VARCHAR, config JSON, code_version VARCHAR,
        started TIMESTAMP, finished TIMESTAMP, status VARCHAR, error VARCHAR)""",
    "inputs": """CREATE TABLE IF NOT EXISTS inputs (
        run VARCHAR, uri VARCHAR, size BIGINT, mtime DOUBLE, fingerprint VARCHAR)""",
    # bytes: bytes the stage read from its input files (read stages) or wrote (stages that write files), else 0;
    # tokens: token ids the stage produced or packed, else 0.
    "stages": """CREATE TABLE IF NOT EXISTS stages (
        run VARCHAR, stage VARCHAR, rows_in BIGINT, rows_out BIGINT, rows_quarantined BIGINT,
        bytes BIGINT, seconds DOUBLE, tokens BIGINT)""",
    "quarantine_reasons": """CREATE TABLE IF NOT EXISTS quarantine_reasons (
        run VARCHAR, stage VARCHAR, reason VARCHAR, count BIGINT)""",
    "cache": """CREATE TABLE IF NOT EXISTS cache (
        run VARCHAR, stage VARCHAR, hits BIGINT, misses BIGINT)""",
    # What each source's reader saw next to what was written and quarantined (reconciled: a mismatch fails the run).
    "source_counts": """CREATE TABLE IF NOT EXISTS source_counts (
        run VARCHAR, stage VARCHAR, source VARCHAR, records_seen BIGINT, records_out BIGINT,
        records_quarantined BIGINT)""",
    # Which process runs a run: a run still 'running' whose process is gone was killed, and is marked 'aborted'.
    "run_process": """CREATE TABLE IF NOT EXISTS run_process (run VARCHAR, host VARCHAR, pid BIGINT)""",
    # The engine that encoded a stage (engine: hf, fastokens, sentencepiece; "fastokens+hf" when some partitions fell
    # back), the reference it was proven against, the parity set it passed at the start of the job, the documents the
    # workers checked again, partitions re-encoded by the reference after a mismatch, and why this engine.
    "encoders": """CREATE TABLE IF NOT EXISTS encoders (
        run VARCHAR, stage VARCHAR, engine VARCHAR, version VARCHAR, reference VARCHAR, parity_docs BIGINT,
        parity_tokens BIGINT, checked_docs BIGINT, fallbacks BIGINT, reason VARCHAR)""",
    # Documents quality filters dropped (OUT/filtered), per source and reason (<filter>:<rule>); created when an
    # older ledger is opened (a new table: no upgrade step).
    "filter_reasons": """CREATE TABLE IF NOT EXISTS filter_reasons (
        run VARCHAR, stage VARCHAR, source VARCHAR, reason VARCHAR, count BIGINT)""",
    # Edits a stage made inside kept documents, per source (kind: pii_email, pii_ip replacements; c4_lines_<rule>:
    # lines C4 removed); created when an older ledger is opened.
    "text_edits": """CREATE TABLE IF NOT EXISTS text_edits (
        run VARCHAR, stage VARCHAR, source VARCHAR, kind VARCHAR, count BIGINT)""",
    "artifacts": """CREATE TABLE IF NOT EXISTS artifacts (
        run VARCHAR, path VARCHAR, kind VARCHAR, sha256 VARCHAR, bytes BIGINT)""",
}
