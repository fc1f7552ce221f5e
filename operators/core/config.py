"""Config loading: YAML files and ``--set key=value`` overrides into frozen dataclasses.

Every pipeline config is a ``@dataclass(frozen=True, kw_only=True, slots=True)`` whose fields carry a docstring
on the line below them. This module turns plain mappings (from YAML) and string overrides (from the command
line) into such a dataclass, coercing strings to the annotated type and rejecting unknown keys and wrong types
with a message that names the key. Nested dataclass fields are addressed with dotted keys (``ingest.segment_length``).
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import textwrap
import types
import typing
from pathlib import Path
from typing import Any, Literal, Mapping, TypeVar

import yaml

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration problem; the message names the key and how to fix it."""


def load_overrides(config_file: str | None, sets: list[str] | None) -> dict[str, Any]:
    """Merge a YAML config file and ``key=value`` overrides into one nested mapping.

    Args:
        config_file: path of a YAML mapping, or None.
        sets: strings ``key=value``; dotted keys address nested sections; values stay strings here and are
            coerced to the field type by :func:`build_config` (YAML syntax such as ``[a, b]`` is accepted).
    """
    merged: dict[str, Any] = {}
    if config_file:
        path = Path(config_file)
        if not path.is_file():
            raise ConfigError(f"--config {config_file}: no such file; pass the path of a YAML mapping")
        data = yaml.safe_load(path.read_text()) or {}
        if not isinstance(data, dict):
            raise ConfigError(f"--config {config_file}: expected a YAML mapping of key: value, got {type(data).__name__}")
        merged.update(data)
    for item in sets or []:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected key=value, e.g. --set vocab_size=4096")
        key, value = item.split("=", 1)
        node = merged
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {item!r}: {part!r} is not a section")
        node[parts[-1]] = _StrValue(value)
    return merged


class _StrValue(str):
    """A value that came from the command line as text and may be parsed (``--set``)."""


def build_config(cls: type[T], values: Mapping[str, Any] | None, *, prefix: str = "") -> T:
    """Build the dataclass ``cls`` from ``values``, coercing command-line strings and checking types.

    Raises:
        ConfigError: on an unknown key, a wrong type or a value the dataclass' own validation rejects.
    """
    values = dict(values or {})
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]  # cls is a dataclass
    unknown = sorted(set(values) - set(fields))
    if unknown:
        known = ", ".join(prefix + k for k in fields)
        raise ConfigError(f"unknown config key(s) {', '.join(prefix + u for u in unknown)}; known keys: {known}")
    kwargs = {}
    for name, value in values.items():
        kwargs[name] = _coerce(hints[name], value, prefix + name)
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{prefix}{exc}" if prefix and not str(exc).startswith(prefix) else str(exc)) from exc


def _coerce(tp: Any, value: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a section (mapping), got {value!r}")
        return build_config(typing.cast(type, tp), value, prefix=key + ".")
    if origin in (typing.Union, types.UnionType):
        if value is None or (isinstance(value, _StrValue) and value.strip().lower() in ("none", "null", "")):
            if type(None) in args:
                return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(arg, value, key)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{key}: invalid value {value!r}")
    if origin is Literal:
        raw = str(value) if isinstance(value, _StrValue) else value
        if raw not in args:
            raise ConfigError(f"{key}: {raw!r} is not one of {', '.join(repr(a) for a in args)}")
        return raw
    if isinstance(value, _StrValue):
        value = _parse_text(tp, value, key)
    if origin in (tuple, list):
        if isinstance(value, str) or not isinstance(value, (list, tuple)):
            value = [value]
        item_tp = args[0] if args else Any
        items = [_coerce(item_tp, v, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return dict(value)
    if tp is Any:
        return value
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is bool and not isinstance(value, bool):
        raise ConfigError(f"{key}: expected true/false, got {value!r}")
    if tp is int and isinstance(value, bool):
        raise ConfigError(f"{key}: expected an integer, got {value!r}")
    if isinstance(tp, type) and not isinstance(value, tp):
        raise ConfigError(f"{key}: expected {tp.__name__}, got {type(value).__name__} {value!r}")
    return value


def _parse_text(tp: Any, text: str, key: str) -> Any:
    """Parse a command-line string for a field of type ``tp``."""
    s = str(text).strip()
    if tp is str:
        return s
    if tp is bool:
        low = s.lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{key}: expected true/false, got {s!r}")
    if tp is int:
        try:
            return int(s.replace("_", ""))
        except ValueError:
            raise ConfigError(f"{key}: expected an integer, got {s!r}") from None
    if tp is float:
        try:
            return float(s)
        except ValueError:
            raise ConfigError(f"{key}: expected a number, got {s!r}") from None
    if typing.get_origin(tp) in (tuple, list, dict):
        parsed = yaml.safe_load(s) if s else []
        if typing.get_origin(tp) in (tuple, list) and isinstance(parsed, str):
            parsed = [p.strip() for p in parsed.split(",") if p.strip()]
        return parsed
    return s


def field_docs(cls: type) -> dict[str, str]:
    """Return the docstring written under each field of dataclass ``cls`` (parsed from its source)."""
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        return {}
    docs: dict[str, str] = {}
    body = ast.parse(source).body[0].body  # type: ignore[attr-defined]
    for node, nxt in zip(body, body[1:]):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            if isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant) and isinstance(nxt.value.value, str):
                docs[node.target.id] = " ".join(nxt.value.value.split())
    return docs


def config_help(cls: type, prefix: str = "") -> str:
    """Render every config key of ``cls`` with its type, default and docstring (for ``--help``)."""
    lines = []
    docs = field_docs(cls)
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            lines.append(config_help(typing.cast(type, tp), prefix + f.name + "."))
            continue
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            default = f.default_factory()  # type: ignore[misc]
        else:
            default = "(required)"
        tname = getattr(tp, "__name__", None) or str(tp).replace("typing.", "")
        lines.append(f"  {prefix}{f.name} ({tname}, default: {default!r})\n      {docs.get(f.name, '')}")
    return "\n".join(lines)
