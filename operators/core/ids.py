"""Stable record ids: derived from (source, location) so that a rerun gives the same ids."""

from __future__ import annotations

import hashlib


def stable_id(source: str, location: str) -> str:
    """Return a 16-hex-digit id for a record at ``location`` inside ``source``.

    Args:
        source: the file or URI the record came from.
        location: where inside the source (byte offset, row group/row, FASTA record/offset...).
    """
    return hashlib.blake2b(f"{source}\x00{location}".encode(), digest_size=8).hexdigest()
