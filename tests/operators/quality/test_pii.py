"""PII formatter: e-mail and public IP addresses replaced (per-document cycling), counted per source."""

from __future__ import annotations

import dataclasses

import pyarrow as pa

from tokenmill.operators.core.ingest_config import IngestConfig
from tokenmill.operators.quality import PIIConfig, PIIFormatter, QualityConfig
from tokenmill.operators.quality.pii import replace_pii
from tokenmill.schemas import REJECT_COLUMNS

CFG = PIIConfig(enabled=True)


def test_emails():
    text = "Write to jane.doe+news@mail.example.co.uk or to bob@[192.168.0.1], not to @handle or a@b."
    assert replace_pii(text, CFG) == ("Write to email@example.com or to firstname.lastname@example.org, not to @handle or a@b.", 2, 0)
    # the cycle restarts in every document: the same input gives the same output wherever it is processed
    assert replace_pii("x@y.org", CFG)[0] == replace_pii("x@y.org", CFG)[0] == "email@example.com"


def test_ips_public_only():
    text = "dns 8.8.8.8, lan 192.168.1.20, loop 127.0.0.1, cgnat 100.64.0.1, web 1.1.1.1 and 01.02.03.04, v 300.1.1.1"
    out, n_email, n_ip = replace_pii(text, CFG)
    assert (n_email, n_ip) == (0, 2)
    assert out == ("dns 22.214.171.124, lan 192.168.1.20, loop 127.0.0.1, cgnat 100.64.0.1, web 126.96.36.199 and 01.02.03.04, v 300.1.1.1")
    all_ips = dataclasses.replace(CFG, only_public_ips=False, ip_replacement=("IP",))
    assert replace_pii("lan 192.168.1.20 loop 127.0.0.1", all_ips) == ("lan IP loop IP", 0, 2)
    assert replace_pii("a@b.com 8.8.8.8", dataclasses.replace(CFG, remove_emails=False, remove_ips=False)) == ("a@b.com 8.8.8.8", 0, 0)


def test_operator_counts_per_source_and_skips_rejected_rows():
    texts = ["mail me: a@b.com, c@d.org", "ping 8.8.8.8", "bad a@b.com"]
    n = len(texts)
    batch = pa.table(
        {
            "source": pa.array(["s1", "s2", "s2"]),
            "text": pa.array(texts),
            "n_bytes": pa.array([len(t) for t in texts], pa.int64()),
            **{c: pa.array([None, None, "broken"] if c == "_reject_reason" else [None] * n, pa.string()) for c in REJECT_COLUMNS},
        }
    )
    op = PIIFormatter(IngestConfig(quality=QualityConfig(pii=CFG)))
    out = op(batch)
    assert out["text"].to_pylist() == ["mail me: email@example.com, firstname.lastname@example.org", "ping 22.214.171.124", "bad a@b.com"]
    assert out["n_bytes"].to_pylist()[:2] == [len(t.encode()) for t in out["text"].to_pylist()[:2]]
    assert op.receipt_counts() == {"pii_email": {"s1": 2}, "pii_ip": {"s2": 1}}
    assert QualityConfig(pii=CFG).filters == ("pii",) and QualityConfig(preset="gopher", pii=CFG).filters[-1] == "pii"


def test_same_replacements_as_datatrove():
    import pytest

    pytest.importorskip("datatrove", reason="datatrove is in the bench extra")
    from datatrove.pipeline.formatters import PIIFormatter as Peer

    peer = Peer(email_replacement="<EMAIL>", ip_replacement="<IP>")
    ours = PIIConfig(enabled=True, email_replacement=("<EMAIL>",), ip_replacement=("<IP>",))
    texts = [
        "contact: first.last@sub.example.com; 203.0.113.9 is documentation, 8.8.4.4 is not",
        "x!#$%&'*+/=?^_`{|}~-@example.io, user@[10.0.0.1], 1.2.3.4.5, 999.1.1.1, 172.16.0.1, 9.9.9.9:53",
        "nobody@localhost a..b@c.com a.b@c-d.e-f.gh -@x.yz 255.255.255.255 0.0.0.0 11.22.33.44",
    ]
    for text in texts:
        assert replace_pii(text, ours)[0] == peer.format(text)
