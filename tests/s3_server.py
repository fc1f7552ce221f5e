"""A real S3-compatible HTTP server for the object-storage tests: moto's ThreadedMotoServer on 127.0.0.1.

Tests talk to it exactly as users talk to S3 or MinIO: over HTTP, configured only by the standard AWS environment
(``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION``).
"""

from __future__ import annotations

import logging
import socket
import uuid
from collections.abc import Iterator

import pytest

ENV = {"AWS_ACCESS_KEY_ID": "tokenmill-test", "AWS_SECRET_ACCESS_KEY": "tokenmill-test-secret", "AWS_DEFAULT_REGION": "us-east-1"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3_server() -> Iterator[dict[str, str]]:
    """Start the server for a test module; yields the AWS environment that points at it."""
    moto_server = pytest.importorskip("moto.server", reason="moto[server] is in the test extra: pip install -e '.[test]'")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not a line per request
    port = _free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield {**ENV, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}
    finally:
        server.stop()


def use_server(env: dict[str, str], mp: pytest.MonkeyPatch) -> None:
    """Point this process at the server: the AWS environment, and no filesystem cached for an earlier server."""
    import s3fs

    for key, value in env.items():
        mp.setenv(key, value)
    s3fs.S3FileSystem.clear_instance_cache()


def new_bucket() -> str:
    """Create a bucket with a fresh name on the server this process points at; return ``s3://name``."""
    import fsspec

    name = f"tokenmill-{uuid.uuid4().hex[:12]}"
    fsspec.filesystem("s3").mkdir(name)
    return f"s3://{name}"


@pytest.fixture
def s3(s3_server: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A fresh bucket (``s3://...``) on the module's server, with this process's AWS environment pointing at it and
    tokenmill's local cache (shard copies, build state) in a fresh folder."""
    use_server(s3_server, monkeypatch)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
    return new_bucket()
