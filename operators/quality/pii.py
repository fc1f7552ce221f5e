"""PII formatter: replace e-mail addresses and public IP addresses in documents, and count the replacements.

What is replaced follows datatrove 0.10.1's ``PIIFormatter``: an e-mail address is the RFC 5322 "dot-atom" local
part, ``@``, and a domain (dot-separated labels of letters, digits and inner hyphens, or a bracketed IPv4 literal);
an IP address is four dotted decimal octets (0-255) that :mod:`ipaddress` accepts and calls global (private,
loopback, link-local, shared and reserved ranges are kept; so are addresses written with leading zeros). Replacements
cycle through ``email_replacement`` / ``ip_replacement``; datatrove carries the cycle from one document to the next
(so its output depends on the order documents arrive in), here it restarts in every document, so the output bytes
do not depend on how the corpus is split across workers.

The operator keeps every document (it never marks one); its per-source replacement counts go into the stage's count
receipts (``pii_email``, ``pii_ip``) and from there into the ledger's ``text_edits``.
"""

from __future__ import annotations

import ipaddress
import re
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from tokenmill.operators.quality.config import PIIConfig

if TYPE_CHECKING:
    from tokenmill.operators.core.ingest_config import IngestConfig

STAGE = "pii"

_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)"
_IP_LITERAL = rf"\[(?:{_OCTET}\.){{3}}(?:{_OCTET}|[A-Za-z0-9-]*[A-Za-z0-9]:)]"
EMAIL = re.compile(rf"\b{_ATOM}(?:\.{_ATOM})*@(?:(?:{_LABEL}\.)+{_LABEL}|{_IP_LITERAL})")
IPV4 = re.compile(rf"(?:{_OCTET}\.){{3}}{_OCTET}")


def is_public_ip(text: str) -> bool:
    """Whether ``text`` is an IP address :mod:`ipaddress` calls global (reachable on the public internet)."""
    try:
        return ipaddress.ip_address(text).is_global
    except ValueError:
        return False


def replace_pii(text: str, cfg: PIIConfig) -> tuple[str, int, int]:
    """(``text`` with e-mail and public IP addresses replaced, e-mails replaced, IPs replaced)."""
    n_email = n_ip = 0
    if cfg.remove_emails and "@" in text:

        def email(m: re.Match[str]) -> str:
            nonlocal n_email
            n_email += 1
            return cfg.email_replacement[(n_email - 1) % len(cfg.email_replacement)]

        text = EMAIL.sub(email, text)
    if cfg.remove_ips and "." in text:
        valid = is_public_ip if cfg.only_public_ips else _is_ip

        def ip(m: re.Match[str]) -> str:
            nonlocal n_ip
            if not valid(m.group(0)):
                return m.group(0)
            n_ip += 1
            return cfg.ip_replacement[(n_ip - 1) % len(cfg.ip_replacement)]

        text = IPV4.sub(ip, text)
    return text, n_email, n_ip


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


class PIIFormatter:
    """DOCUMENTS (+ reject and filter columns) → the same rows, addresses replaced in live documents."""

    STAGE = STAGE
    NEEDS = ("source", "text", "_reject_reason")
    ADDS = ()

    def __init__(self, cfg: IngestConfig) -> None:
        self.cfg = cfg.quality.pii
        self._receipt: dict[str, dict[str, int]] = {}

    def receipt_counts(self) -> dict[str, dict[str, int]]:
        """The last batch's replacements per source (``{"pii_email": {source: n}, "pii_ip": {...}}``), for its receipt."""
        return self._receipt

    def __call__(self, batch: pa.Table) -> pa.Table:
        self._receipt = {"pii_email": {}, "pii_ip": {}}
        if batch.num_rows == 0:
            return batch
        live = pc.is_null(batch["_reject_reason"])
        if "_filter_reason" in batch.column_names:
            live = pc.and_(live, pc.is_null(batch["_filter_reason"]))
        alive, texts, sources = live.to_pylist(), batch["text"].to_pylist(), batch["source"].to_pylist()
        changed = False
        n_bytes = batch["n_bytes"].to_pylist() if "n_bytes" in batch.column_names else None
        for i, text in enumerate(texts):
            if not alive[i]:
                continue
            new, n_email, n_ip = replace_pii(text, self.cfg)
            for key, n in (("pii_email", n_email), ("pii_ip", n_ip)):
                if n:
                    self._receipt[key][sources[i]] = self._receipt[key].get(sources[i], 0) + n
            if new != text:
                texts[i], changed = new, True
                if n_bytes is not None:
                    n_bytes[i] = len(new.encode("utf-8"))
        if changed:
            idx = batch.schema.get_field_index("text")
            batch = batch.set_column(idx, batch.schema.field(idx), pa.array(texts, batch.schema.field(idx).type))
            if n_bytes is not None:
                idx = batch.schema.get_field_index("n_bytes")
                batch = batch.set_column(idx, batch.schema.field(idx), pa.array(n_bytes, batch.schema.field(idx).type))
        return batch
