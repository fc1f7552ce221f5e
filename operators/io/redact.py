"""Credentials never written: URLs that carry them are refused as inputs/outputs, and redacted wherever text that
may hold a URL is recorded (the ledger's run config and error, input URIs).

Credentials belong in the standard environment (``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE``)
or a credentials file, which tokenmill reads but never records. A URL such as ``s3://KEY:SECRET@bucket/x`` would
otherwise end up in the ledger, in logs and in error messages.
"""

from __future__ import annotations

import re
from typing import Any

from tokenmill.operators.core.config import ConfigError

REDACTED = "<redacted>"
# scheme://userinfo@ : the userinfo (user:password, or an access key alone) is what goes. An AWS secret may hold
# '/', so redaction takes everything up to the last '@' of the URL (over-redacting a key with '@' is harmless);
# refusal only a userinfo without '/' (a URL parser's view, so an object key holding '@' stays usable).
_USERINFO = re.compile(r"\b([A-Za-z][A-Za-z0-9+.-]*://)([^\s'\"<>]+)@")
_STRICT_USERINFO = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/\s@]+@")
# ... or an object-store URL whose first segment (a bucket name, which never holds ':') holds KEY:SECRET/WITH/SLASH@
_STORE_USERINFO = re.compile(r"^(s3|s3a|gs|gcs|az|abfs|abfss)://[^/\s]*:[^\s]*@", re.IGNORECASE)
# signed-URL and SAS query parameters that are credentials themselves
_SECRET_PARAMS = re.compile(
    r"(?i)([?&](?:X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token|X-Goog-Signature|"
    r"X-Goog-Credential|Signature|AWSAccessKeyId|sig|token|access_token|password|secret)=)[^&\s'\"#]+"
)


def redact(text: str) -> str:
    """``text`` with the credentials of every URL in it replaced by ``<redacted>``."""
    return _SECRET_PARAMS.sub(rf"\1{REDACTED}", _USERINFO.sub(rf"\1{REDACTED}@", text))


def redact_value(value: Any) -> Any:
    """:func:`redact` applied to every string inside ``value`` (dicts, lists and tuples are walked)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_value(v) for v in value]
    return value


def refuse_credentials(uri: str, what: str) -> None:
    """Raise :class:`ConfigError` when ``uri`` carries credentials (``scheme://user:secret@...`` or a signature).

    Args:
        uri: an input pattern or an output folder as the user gave it.
        what: how the user gave it, for the message (``--input``, ``--output``).
    """
    if _STRICT_USERINFO.match(uri) or _STORE_USERINFO.match(uri) or _SECRET_PARAMS.search(uri):
        raise ConfigError(
            f"{what} {redact(uri)}: credentials in a URL are refused (they would be recorded in the "
            f"ledger and logs); give the URL without them and set AWS_ACCESS_KEY_ID / "
            f"AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) in the environment instead"
        )
