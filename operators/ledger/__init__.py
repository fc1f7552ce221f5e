"""The DuckDB run ledger."""

from tokenmill.operators.ledger.ledger import Ledger, code_version, file_sha256

__all__ = ["Ledger", "code_version", "file_sha256"]
