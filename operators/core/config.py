"""Config loading: YAML files and ``--set key=value`` overrides into frozen dataclasses.

Every pipeline config is a ``@dataclass(frozen=True, kw_only=True, slots=True)`` whose fields carry a docstring
on the line below them. This module turns plain mappings (from YAML) and string overrides (from the command
line) into such a dataclass, coercing strings to the annotated type and rejecting unknown keys and wrong types
with a message that names the key. Nested dataclass fields are addressed with dotted keys (``ingest.segment_length``).
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import inspect
import itertools
import textwrap
import types
import typing
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration problem; the message names the key and how to fix it."""


class UnknownKeyError(ConfigError):
    """A key the config does not have (a typo, a renamed key): a usage error, so the CLI adds its ``--help`` hint."""


def read_yaml(path: str | Path, what: str = "--config") -> Any:
    """Parse the YAML file at ``path``.

    Raises:
        ConfigError: no such file, or malformed YAML; the message names the file, line and column and the problem in
            one line (never PyYAML's traceback).
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{what} {path}: no such file; pass the path of a YAML mapping")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{what} {path}{_yaml_where(exc)}: malformed YAML: {_yaml_problem(exc)}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{what} {path}: not a UTF-8 text file ({exc.reason} at byte {exc.start})") from None


def _yaml_where(exc: yaml.YAMLError) -> str:
    # Where the construct that failed starts (an unclosed ``[`` at line 1) beats where parsing gave up (end of file).
    mark = getattr(exc, "context_mark", None) or getattr(exc, "problem_mark", None)
    return f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""


def _yaml_problem(exc: yaml.YAMLError) -> str:
    context, problem = getattr(exc, "context", None), getattr(exc, "problem", None)
    text = ", ".join(str(p) for p in (context, problem) if p) or str(exc).splitlines()[0]
    mark = getattr(exc, "problem_mark", None)
    if context and mark is not None:
        text += f" (line {mark.line + 1})"
    return " ".join(text.split())


def load_overrides(config_file: str | None, sets: list[str] | None) -> dict[str, Any]:
    """Merge a YAML config file and ``key=value`` overrides into one nested mapping.

    Args:
        config_file: path of a YAML mapping, or None.
        sets: strings ``key=value``; dotted keys address nested sections; values stay strings here and are
            coerced to the field type by :func:`build_config` (YAML syntax such as ``[a, b]`` is accepted).
    """
    merged: dict[str, Any] = {}
    if config_file:
        data = read_yaml(config_file) or {}
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


def merge_overrides(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``overrides`` applied key by key, descending into sections (``--set shards.pack.pad_id=3``
    changes one key of a YAML ``shards:`` section, not the whole section)."""
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge_overrides(merged[key], value)
        else:
            merged[key] = value
    return merged


class _StrValue(str):
    """A value that came from the command line as text and may be parsed (``--set``)."""


def build_config(cls: type[T], values: Mapping[str, Any] | None, *, prefix: str = "", base: Any = None) -> T:
    """Build the dataclass ``cls`` from ``values``, coercing command-line strings and checking types.

    Keys not in ``values`` keep their value in ``base`` (a ``cls`` instance: the default of the enclosing
    config's field, so that ``--set shards.pack.context_length=512`` keeps the job's own pad/bos/eos ids), or the
    class defaults when ``base`` is None. A key listed in the class' ``RENAMED`` mapping (old → new dotted key) is
    an error that names the new key; one listed in its ``DEPRECATED`` mapping (old → new dotted key, for spellings
    users may still have in YAML files) is read as the new key, with a ``FutureWarning`` naming it.

    Raises:
        ConfigError: on an unknown or renamed key, a wrong type or a value the dataclass' own validation rejects.
    """
    values = _deprecated_keys(cls, dict(values or {}), prefix)
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]  # cls is a dataclass
    check_keys(cls, values, prefix=prefix)
    if base is None:
        base = default_instance(cls)
    kwargs = {}
    for name, value in values.items():
        default = getattr(base, name) if base is not None else _field_default(fields[name])
        kwargs[name] = _coerce(hints[name], value, prefix + name, default)
    try:
        return dataclasses.replace(base, **kwargs) if base is not None else cls(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{prefix}{exc}" if prefix and not str(exc).startswith(prefix) else str(exc)) from exc


def _deprecated_keys(cls: type, values: dict[str, Any], prefix: str) -> dict[str, Any]:
    """``values`` with each key of ``cls.DEPRECATED`` (old → new dotted key) moved to its new place, warning once each.

    Raises:
        ConfigError: both spellings given, or the new key's section is not a mapping.
    """
    deprecated: Mapping[str, str] = getattr(cls, "DEPRECATED", {})
    for old in sorted(set(values) & set(deprecated)):
        new = deprecated[old]
        warnings.warn(f"config key {prefix}{old} is deprecated: use {prefix}{new} (the same setting)", FutureWarning, stacklevel=3)
        *sections, leaf = new.split(".")
        node = values
        for section in sections:
            inner = node.get(section, {})
            if not isinstance(inner, Mapping):
                raise ConfigError(f"{prefix}{old} is {prefix}{new} now: give it inside {prefix}{section}")
            node[section] = node = dict(inner)  # a copy: the caller's mapping is left as it was
        if leaf in node:
            raise ConfigError(f"{prefix}{old} and {prefix}{new} are the same setting: give only {prefix}{new}")
        node[leaf] = values.pop(old)
    return values


def check_keys(cls: type, values: Mapping[str, Any], *, prefix: str = "") -> None:
    """Refuse keys of ``values`` that ``cls`` does not have, each with the closest known key ("did you mean").

    Only this level is checked (nested sections are checked when they are built). A loader that checks required
    keys itself calls this first, so a typo'd key (``tokeniser:``) is reported as the typo, not as the missing key.

    Raises:
        UnknownKeyError: a renamed key (naming its new name) or an unknown one.
    """
    fields = [f.name for f in dataclasses.fields(cls) if f.init]  # type: ignore[arg-type]  # cls is a dataclass
    renamed: Mapping[str, str] = getattr(cls, "RENAMED", {})
    for old in sorted(set(values) & set(renamed)):
        raise UnknownKeyError(f"{prefix}{old} was renamed: use {prefix}{renamed[old]} (that key in the YAML, or --set {prefix}{renamed[old]}=VALUE)")
    unknown = sorted(set(values) - set(fields), key=str)
    if not unknown:
        return
    nested = [key for key, *_ in config_keys(cls)]  # dotted keys below this level: ``pad_id`` -> ``shards.pack.pad_id``
    said, lost = [], False
    for key in unknown:
        guess = suggest(str(key), fields, nested)
        said.append(f"{prefix}{key} (did you mean {prefix}{guess}?)" if guess else f"{prefix}{key}")
        lost = lost or guess is None
    known = f"; known keys: {', '.join(prefix + k for k in fields)}" if lost else ""
    raise UnknownKeyError(f"unknown config key(s) {', '.join(said)}{known}")


def suggest(key: str, names: list[str], dotted: list[str] | None = None) -> str | None:
    """The known name closest to the unknown ``key``, or None: a close spelling among ``names`` (difflib), else a
    dotted key of ``dotted`` that ends in ``key`` (a nested key given at the top level) or is spelled like it."""
    if close := difflib.get_close_matches(key, names, n=1, cutoff=0.6):
        return close[0]
    dotted = [d for d in dotted or [] if "." in d and "[]" not in d]
    if ends := [d for d in dotted if d.rsplit(".", 1)[1] == key]:
        return ends[0]
    last = {d.rsplit(".", 1)[1]: d for d in reversed(dotted)}  # the first dotted key of each name wins
    close = difflib.get_close_matches(key, list(last), n=1, cutoff=0.75) or difflib.get_close_matches(key, dotted, n=1, cutoff=0.75)
    return (last.get(close[0]) or close[0]) if close else None


def default_instance(cls: type[T]) -> T | None:
    """``cls()`` when every field has a default, else None (a config with required keys)."""
    try:
        return cls()
    except (TypeError, ValueError):
        return None


def _coerce(tp: Any, value: Any, key: str, default: Any = None) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a section (mapping), got {value!r}")
        base = default if isinstance(default, typing.cast(type, tp)) else None
        return build_config(typing.cast(type, tp), value, prefix=key + ".", base=base)
    if origin in (typing.Union, types.UnionType):
        if (value is None or (isinstance(value, _StrValue) and value.strip().lower() in ("none", "null", ""))) and type(None) in args:
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
        try:
            parsed = yaml.safe_load(s) if s else []
        except yaml.YAMLError as exc:
            raise ConfigError(f"{key}: malformed value {s!r}: {_yaml_problem(exc)}") from None
        if typing.get_origin(tp) in (tuple, list) and isinstance(parsed, str):
            parsed = [p.strip() for p in parsed.split(",") if p.strip()]
        return parsed
    return s


def field_docs(cls: type) -> dict[str, str]:
    """Return the docstring written under each field of dataclass ``cls`` (parsed from its source), its dataclass
    bases' included (a field the class writes again takes the class' docstring)."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if dataclasses.is_dataclass(klass):
            docs |= _own_field_docs(klass)
    return docs


def _own_field_docs(cls: type) -> dict[str, str]:
    """The docstrings under the fields that ``cls``'s own source writes."""
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        return {}
    docs: dict[str, str] = {}
    body = ast.parse(source).body[0].body  # type: ignore[attr-defined]
    for node, nxt in itertools.pairwise(body):
        is_field = isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
        if is_field and isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant) and isinstance(nxt.value.value, str):
            docs[node.target.id] = " ".join(nxt.value.value.split())
    return docs


def config_keys(cls: type, prefix: str = "", instance: Any = None) -> Iterator[tuple[str, str, str, str]]:
    """Every config key of ``cls``: (dotted key, type, the job's real default, docstring), for ``--help`` and README.

    Defaults come from ``instance`` (the enclosing config's default for a nested section), so a job that sets
    its own packing ids shows those, not the section class' defaults. ``Literal`` keys list their allowed values;
    a list of sections (a build's ``sources``) is followed by one entry's keys as ``sources[].KEY``.
    """
    if instance is None:
        instance = default_instance(cls)
    docs = field_docs(cls)
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        value = getattr(instance, f.name) if instance is not None else _field_default(f)
        if dataclasses.is_dataclass(tp):
            yield from config_keys(typing.cast(type, tp), prefix + f.name + ".", value if dataclasses.is_dataclass(value) else None)
            continue
        default = "(required)" if value is dataclasses.MISSING else repr(value)
        item = typing.get_args(tp)[0] if typing.get_origin(tp) in (tuple, list) and typing.get_args(tp) else None
        if dataclasses.is_dataclass(item):
            yield prefix + f.name, "list of sections", default, docs.get(f.name, "")
            yield from config_keys(typing.cast(type, item), f"{prefix}{f.name}[].", None)
            continue
        yield prefix + f.name, _type_name(tp), default, docs.get(f.name, "")


def config_help(cls: type) -> str:
    """Every config key of ``cls`` with its type, the job's real default and its docstring (``--help``)."""
    return "\n".join(f"  {key} ({tname}, default: {default})\n      {doc}" for key, tname, default, doc in config_keys(cls))


def config_table(cls: type) -> str:
    """The README table of ``cls``' config keys: the same rows as ``--help``."""
    rows = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for key, tname, default, doc in config_keys(cls):
        rows.append(f"| `{key}` | {_cell(tname)} | `{_cell(default)}` | {_cell(doc)} |")
    return "\n".join(rows)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _field_default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def _type_name(tp: Any) -> str:
    """``int``, ``str | None``, ``one of 'a', 'b'`` (a Literal lists its values)."""
    if typing.get_origin(tp) is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in typing.get_args(tp))
    if tp is type(None):
        return "None"
    if typing.get_origin(tp) is not None:
        return str(tp).replace("typing.", "")
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def config_yaml(cls: type, *, header: str = "", width: int = 100) -> str:
    """A commented YAML of every key of ``cls`` with the job's real default (``tokenmill config JOB``).

    Each key is preceded by its docstring as a comment (its type where that says more: ``one of ...``); required keys
    are left empty and marked ``(required)``. Loaded back (``build_config(cls, yaml.safe_load(text))``) it gives the
    defaults, so a user edits only the lines they need.
    """
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    lines += _yaml_lines(cls, default_instance(cls), 0, width)
    return "\n".join(lines) + "\n"


def _yaml_lines(cls: type, instance: Any, indent: int, width: int) -> list[str]:
    docs, hints, pad = field_docs(cls), typing.get_type_hints(cls), " " * indent
    lines: list[str] = []
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        tp = hints[f.name]
        value = getattr(instance, f.name) if instance is not None else _field_default(f)
        item = typing.get_args(tp)[0] if typing.get_origin(tp) in (tuple, list) and typing.get_args(tp) else None
        note = "(required) " if value is dataclasses.MISSING else ""
        if dataclasses.is_dataclass(tp):
            lines += _comment(note + docs.get(f.name, ""), pad, width)
            lines.append(f"{pad}{f.name}:")
            lines += _yaml_lines(typing.cast(type, tp), value if dataclasses.is_dataclass(value) else None, indent + 2, width)
        elif dataclasses.is_dataclass(item):  # a list of sections (a build's sources): one entry to copy
            lines += _comment(f"{note}{docs.get(f.name, '')} A list; each entry has these keys:", pad, width)
            lines.append(f"{pad}{f.name}:")
            lines.append(f"{pad}  -")
            lines += _yaml_lines(typing.cast(type, item), None, indent + 4, width)
        else:
            kind = f" ({_type_name(tp)})" if typing.get_origin(tp) is Literal else ""
            lines += _comment(note + docs.get(f.name, "") + kind, pad, width)
            lines.append(f"{pad}{f.name}:" + ("" if value is dataclasses.MISSING else f" {yaml_scalar(value)}"))
    return lines


def _comment(text: str, pad: str, width: int) -> list[str]:
    text = " ".join(text.split())
    return [f"{pad}# {line}" for line in textwrap.wrap(text, max(40, width - len(pad) - 2))] if text else []


def yaml_scalar(value: Any) -> str:
    """``value`` as one line of YAML in flow style (tuples as lists, paths as strings)."""

    def plain(v: Any) -> Any:
        if isinstance(v, (tuple, list)):
            return [plain(x) for x in v]
        if isinstance(v, Mapping):
            return {str(k): plain(x) for k, x in v.items()}
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            return plain(dataclasses.asdict(v))
        if isinstance(v, Path):
            return str(v)
        return v

    text = yaml.safe_dump(plain(value), default_flow_style=True, width=1 << 30, allow_unicode=True, sort_keys=False)
    return text.removesuffix("\n").removesuffix("\n...").strip()
