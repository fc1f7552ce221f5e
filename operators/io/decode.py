"""Shared decoding rules for text readers: UTF-8 policy and language from the file name."""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Iterable
from typing import Any

_LANG_RE = re.compile(r"^[a-z]{2,3}$")
log = logging.getLogger(__name__)


def decode_utf8(raw: bytes, on_invalid: str) -> tuple[str | None, str | None]:
    """Decode ``raw`` as UTF-8; return (text, None) or (None, detail) when invalid and policy is quarantine."""
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        if on_invalid == "replace":
            return raw.decode("utf-8", "replace"), None
        return None, f"invalid UTF-8 at byte {exc.start} ({raw[exc.start : exc.start + 4]!r}); fix the encoding or set on_invalid_utf8=replace"


def lang_from_filename(uri: str) -> str | None:
    """Language code from a file name such as UDHR's ``rus.txt`` or ``deu_1901.txt`` (None if it is not one)."""
    stem = uri.rsplit("/", 1)[-1].split(".", 1)[0].split("_", 1)[0].lower()
    return stem if _LANG_RE.match(stem) else None


def file_lang(task: dict, lang_from: str) -> str | None:
    """The language of every document of ``task``'s file under ``lang_from=filename`` (None otherwise).

    A file whose name holds no language code (``007.txt``) is never silently left without one: the reader of its
    first task (byte 0, row group 0) logs a warning naming it (the driver names them all before Ray starts, where
    the job checks its inputs).
    """
    if lang_from != "filename":
        return None
    lang = lang_from_filename(task["uri"])
    if lang is None and not task.get("start") and not task.get("row_group"):
        log.warning(
            "ingest.lang_from=filename: no language code in the file name %s; its documents get lang=NULL "
            "(name it <lang>[_variant].<ext>, e.g. eng.txt, or use lang_from=detect)",
            task["uri"],
        )
    return lang


def files_without_lang(uris: Iterable[str], what: str = "input files") -> list[str]:
    """The ``uris`` whose file names hold no language code (``007.txt``, ``notes.txt``), named in one warning with
    their count: under ``ingest.lang_from=filename`` their documents get no ``lang``. The driver calls it on the
    resolved inputs before Ray starts (the readers warn again per file, in the workers)."""
    uris = list(uris)
    unnamed = [u for u in uris if lang_from_filename(u) is None]
    if unnamed:
        shown = ", ".join(unnamed[:10]) + (f" and {len(unnamed) - 10} more" if len(unnamed) > 10 else "")
        log.warning(
            "ingest.lang_from=filename: %d of %d %s have no language code in their name, their documents get "
            "lang=NULL: %s (name them <lang>[_variant].<ext>, e.g. eng.txt, deu_1901.txt, or use "
            "lang_from=detect)",
            len(unnamed),
            len(uris),
            what,
            shown,
        )
    return unnamed


_SURROGATE = re.compile("[\ud800-\udfff]")


def unicode_problem(values: dict[str, str | None], on_invalid: str) -> tuple[dict[str, str | None], str | None]:
    """Check decoded strings for lone surrogates (JSON ``"\\ud800"`` decodes to one; UTF-8 cannot hold it).

    Returns (values, None) when clean or when the policy is ``replace`` (surrogates become U+FFFD), else
    (values, detail) naming the field.
    """
    for name, value in values.items():
        if value is not None and _SURROGATE.search(value):
            if on_invalid != "replace":
                return values, (
                    f'field {name!r} holds a lone UTF-16 surrogate (e.g. "\\ud800"), which is not valid '
                    f"Unicode; fix the producer or set on_invalid_utf8=replace"
                )
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
