"""Shared decoding rules for text readers: UTF-8 policy and language from the file name."""

from __future__ import annotations

import json
import math
import re
from typing import Any

_LANG_RE = re.compile(r"^[a-z]{2,3}$")


def decode_utf8(raw: bytes, on_invalid: str) -> tuple[str | None, str | None]:
    """Decode ``raw`` as UTF-8; return (text, None) or (None, detail) when invalid and policy is quarantine."""
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        if on_invalid == "replace":
            return raw.decode("utf-8", "replace"), None
        return None, f"invalid UTF-8 at byte {exc.start} ({raw[exc.start:exc.start + 4]!r}); fix the encoding or set on_invalid_utf8=replace"


def lang_from_filename(uri: str) -> str | None:
    """Language code from a file name such as UDHR's ``rus.txt`` or ``deu_1901.txt`` (None if it is not one)."""
    stem = uri.rsplit("/", 1)[-1].split(".", 1)[0].split("_", 1)[0].lower()
    return stem if _LANG_RE.match(stem) else None


_SURROGATE = re.compile("[\ud800-\udfff]")


def unicode_problem(values: dict[str, str | None], on_invalid: str) -> tuple[dict[str, str | None], str | None]:
    """Check decoded strings for lone surrogates (JSON ``"\\ud800"`` decodes to one; UTF-8 cannot hold it).

    Returns (values, None) when clean or when the policy is ``replace`` (surrogates become U+FFFD), else
    (values, detail) naming the field.
    """
    for name, value in values.items():
        if value is not None and _SURROGATE.search(value):
            if on_invalid != "replace":
                return values, (f"field {name!r} holds a lone UTF-16 surrogate (e.g. \"\\ud800\"), which is not valid "
                                f"Unicode; fix the producer or set on_invalid_utf8=replace")
            values = {**values, name: _SURROGATE.sub("\ufffd", value)}
    return values, None


def meta_json(values: dict) -> str:
    """``values`` as strict JSON: ``NaN`` and ``Infinity`` (which Python writes, and ``1e999`` reads as) are not
    JSON, so they become ``null`` rather than make ``meta`` unreadable for every other JSON parser."""
    try:
        return json.dumps(values, ensure_ascii=False, sort_keys=True, allow_nan=False, default=str)
    except ValueError:
        return json.dumps(_finite(values), ensure_ascii=False, sort_keys=True, allow_nan=False, default=str)


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
