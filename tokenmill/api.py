"""The Python API for notebooks and scripts: each function runs one job and returns the run's summary (a dict).

    import tokenmill
    summary = tokenmill.pack_shards(input="raw/*.jsonl", tokenizer="gpt2/", output="OUT",
                                    shards={"pack": {"context_length": 2048}}, workers=4)
    summary["totals"]["tokens"], summary["shards"]

Each function builds the job's command line and calls the same ``main(argv)`` as ``tokenmill JOB`` and ``python
pipelines/JOB.py`` (so a config error or a lost record is caught exactly as there), then reads what the run wrote
(the shard manifest, the ledger) into the summary. Keyword settings are the job's config keys: nested sections as
dicts or dotted names (``**{"shards.pack.context_length": 2048}``), each passed as ``--set KEY=VALUE``. A job that
exits non-zero raises :class:`JobError` with its message. Under ``RAY_ADDRESS`` jobs run on that cluster; in a
process where Ray is already initialized they use that Ray; else each run starts and stops a local Ray.
"""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

__all__ = ["JobError", "dna_bpe", "ingest", "pack_shards", "run", "verify_shards"]


class JobError(RuntimeError):
    """A job exited with a non-zero status; ``status`` is the exit status, the message the job's error lines."""

    def __init__(self, job: str, status: int, message: str) -> None:
        super().__init__(f"{job} failed (exit status {status}): {message}" if message else f"{job} failed (exit status {status})")
        self.job, self.status = job, status


def run(
    job: str,
    *,
    input: str | Sequence[str] | None = None,
    output: str | Path | None = None,
    config: str | Path | None = None,
    quiet: bool = False,
    num_cpus: int | None = None,
    flags: Mapping[str, Any] | None = None,
    **settings: Any,
) -> dict[str, Any]:
    """Run any job (``"pack-shards"`` or ``"pack_shards"``) as ``tokenmill JOB`` would; return its summary.

    Args:
        job: the job's name (``tokenmill --help`` lists them).
        input: ``--input``: a path, glob or URI, or several.
        output: ``--output``.
        config: ``--config``: a YAML file of config keys.
        quiet: ``--quiet``: warnings and the final summary only.
        num_cpus: ``--num-cpus``: CPUs of a local Ray started for this run.
        flags: the job's other flags, ``{"tokenizer": PATH}`` → ``--tokenizer PATH`` (a list repeats the flag,
            ``True`` gives the bare flag).
        **settings: config keys (``--set``); sections as dicts or dotted names.

    Returns:
        ``job``, ``status`` (the exit status), ``output``; when the output folder holds a ledger: ``ledger``, ``run_id``,
        ``run_status``, ``stages`` (per stage: rows in / out / quarantined, bytes, tokens) and ``quarantine_reasons``.

    Raises:
        JobError: the job exited with a non-zero status (a usage or config error: status 2).
    """
    from tokenmill.cli import command, resolve

    module = resolve(job)
    if module is None:
        raise ValueError(f"unknown job {job!r}; tokenmill --help lists every job")
    argv = [
        *_flag("input", [input] if isinstance(input, (str, Path)) else list(input or [])),
        *_flag("output", output),
        *_flag("config", config),
        *_flag("num_cpus", num_cpus),
        *_flag("quiet", quiet),
    ]
    for name, value in (flags or {}).items():
        argv += _flag(name, value)
    argv += [arg for key, value in _flatten(settings) for arg in ("--set", f"{key}={_set_value(value)}")]
    ledger = Path(output) / "ledger.duckdb" if output is not None and "://" not in str(output) else None
    before = {_id(r) for r in _ledger_rows(ledger, "runs")} if ledger else set()
    status = _call(module, argv, f"tokenmill.{module}")
    summary: dict[str, Any] = {"job": command(module), "status": status, "output": str(output) if output is not None else None}
    if ledger is not None and ledger.is_file():
        summary |= _ledger_summary(ledger, before)
    return summary


def pack_shards(
    input: str | Sequence[str],
    tokenizer: str | Path,
    output: str | Path,
    *,
    config: str | Path | None = None,
    quiet: bool = False,
    num_cpus: int | None = None,
    **settings: Any,
) -> dict[str, Any]:
    """Encode and pack ``input`` (raw files or ingested documents) into training shards: ``tokenmill pack-shards``.

    Args:
        input: raw files (any format ingest reads), globs or URIs, or documents/v1 Parquet; one or several.
        tokenizer: tokenizer.json, a folder with one (or GPT-2's encoder.json + vocab.bpe), or a sentencepiece .model.
        output: the output folder (or ``s3://bucket/prefix``).
        config: a YAML file of config keys (``tokenmill config pack-shards`` prints them all).
        quiet: warnings and the final summary only.
        num_cpus: CPUs of a local Ray started for this run.
        **settings: config keys, e.g. ``workers=4``, ``shards={"pack": {"context_length": 2048}}``.

    Returns:
        :func:`run`'s summary plus ``shards`` (the shard set folder), ``manifest`` (its path) and ``totals`` (rows,
        documents, tokens, shards, utilization, ...) for a local output.
    """
    summary = run("pack_shards", input=input, output=output, config=config, quiet=quiet, num_cpus=num_cpus, flags={"tokenizer": tokenizer}, **settings)
    return summary | _shards(Path(output) / "shards", str(output))


# duplicates: its keyword parameters are pack_shards' (config, quiet, num_cpus, **settings): each public function
# spells its signature out, so help() and editors show it.
def ingest(
    input: str | Sequence[str],
    output: str | Path,
    *,
    config: str | Path | None = None,
    quiet: bool = False,
    num_cpus: int | None = None,
    **settings: Any,
) -> dict[str, Any]:
    """Ingest raw corpora into documents/v1 (text) and dna_segments/v1 (FASTA) Parquet: ``tokenmill ingest``.

    Args:
        input: files, globs or URIs (JSONL[.gz|.zst], Parquet, text, FASTA); one or several.
        output: the output folder (or ``s3://bucket/prefix``).
        config: a YAML file of config keys (``tokenmill config ingest``).
        quiet: warnings and the final summary only.
        num_cpus: CPUs of a local Ray started for this run.
        **settings: config keys, e.g. ``ingest={"lang_from": "filename", "dedup": True}``.

    Returns:
        :func:`run`'s summary plus the folders written (``documents``, ``dna_segments``, ``quarantine``; None when
        absent) for a local output.
    """
    summary = run("ingest", input=input, output=output, config=config, quiet=quiet, num_cpus=num_cpus, **settings)
    if "://" not in str(output):
        summary |= {name: str(Path(output) / name) if (Path(output) / name).is_dir() else None for name in ("documents", "dna_segments", "quarantine")}
    return summary


def dna_bpe(
    input: str | Sequence[str],
    output: str | Path,
    *,
    eval: str | Sequence[str] | None = None,
    config: str | Path | None = None,
    quiet: bool = False,
    num_cpus: int | None = None,
    **settings: Any,
) -> dict[str, Any]:
    """Train a DNABERT-2 style BPE tokenizer on FASTA, encode and pack the segments: ``tokenmill dna-bpe``.

    Args:
        input: FASTA files, globs or URIs; one or several.
        output: the output folder (or ``s3://bucket/prefix``).
        eval: held-out FASTA to report bp/token on.
        config: a YAML file of config keys (``tokenmill config dna-bpe``).
        quiet: warnings and the final summary only.
        num_cpus: CPUs of a local Ray started for this run.
        **settings: config keys, e.g. ``vocab_size=4096``.

    Returns:
        :func:`run`'s summary plus ``tokenizer`` (the tokenizer.json path), ``shards``, ``manifest``, ``totals`` and
        ``report`` (OUT/report.json) for a local output.
    """
    evals = [eval] if isinstance(eval, (str, Path)) else list(eval or [])
    summary = run("dna_bpe", input=input, output=output, config=config, quiet=quiet, num_cpus=num_cpus, flags={"eval": evals}, **settings)
    out = Path(output)
    if "://" not in str(output):
        summary["tokenizer"] = str(out / "tokenizer" / "tokenizer.json")
        report = out / "report.json"
        summary["report"] = json.loads(report.read_text(encoding="utf-8")) if report.is_file() else None
    return summary | _shards(out / "shards", str(output))


def verify_shards(input: str | Path, *, checksums: bool = True) -> dict[str, Any]:
    """Verify a shard set (a folder or ``s3://bucket/prefix``): ``tokenmill verify-shards``.

    Returns:
        ``ok``, ``problem`` (the first one found, or None), ``warnings`` and ``totals`` (shards, rows, documents,
        tokens, utilization). A set that fails verification is a result (``ok`` False), not an exception.

    Raises:
        JobError: a usage error (status 2).
    """
    with tempfile.TemporaryDirectory(prefix="tokenmill-verify-") as tmp:
        argv = ["--input", str(input), "--output", tmp, *([] if checksums else ["--no-checksums"])]
        status = _call("verify_shards", argv, "tokenmill.verify_shards", ok=(0, 1))
        outcome = json.loads((Path(tmp) / "verify.json").read_text(encoding="utf-8"))
    return {"job": "verify-shards", "status": status, **outcome}


def _call(module: str, argv: list[str], prog: str, ok: tuple[int, ...] = (0,)) -> int:
    """Run ``module``'s ``main(argv)`` as :mod:`tokenmill.cli` does; a status not in ``ok`` raises :class:`JobError`."""
    from tokenmill.cli import run_job

    with _tee_stderr() as err:
        try:
            status = run_job(module, argv, prog=prog)
        except SystemExit as exc:  # argparse and the jobs' error paths exit; here that is a status
            status = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    if status not in ok:
        lines = [line for line in err.getvalue().splitlines() if line.strip()]
        errors = [line for line in lines if "error" in line.lower()] or lines
        raise JobError(module, status, " ".join(errors[-2:]))
    return status


class _Tee(io.TextIOBase):
    """Writes to ``stream`` and, until :meth:`detach_copy`, to a buffer (handlers created meanwhile keep it)."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self.stream, self.copy = stream, io.StringIO()
        self.copying = True

    def write(self, text: str) -> int:
        if self.copying:
            self.copy.write(text)
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return self.stream.isatty()

    def getvalue(self) -> str:
        return self.copy.getvalue()


@contextlib.contextmanager
def _tee_stderr() -> Iterator[_Tee]:
    import sys

    tee = _Tee(sys.stderr)
    try:
        with contextlib.redirect_stderr(tee):  # type: ignore[type-var]  # a TextIOBase is a text stream
            yield tee
    finally:
        tee.copying = False  # a logging handler made during the run may still hold it: forward only


def _flag(name: str, value: Any) -> list[str]:
    """``--name VALUE`` (a list repeats it, True is the bare flag, None/False/[] nothing)."""
    opt = "--" + name.replace("_", "-")
    if value is None or value is False:
        return []
    if value is True:
        return [opt]
    if isinstance(value, (list, tuple)):
        return [arg for v in value for arg in (opt, str(v))]
    return [opt, str(value)]


def _flatten(settings: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in settings.items():
        if isinstance(value, Mapping):
            yield from _flatten(value, f"{prefix}{key}.")
        else:
            yield prefix + key, value


def _set_value(value: Any) -> str:
    """A ``--set`` value: strings as they are, everything else as one line of YAML (``true``, ``null``, ``[a, b]``)."""
    if isinstance(value, (str, Path)):
        return str(value)
    from tokenmill.operators.core.config import yaml_scalar

    return yaml_scalar(value)


def _shards(folder: Path, output: str) -> dict[str, Any]:
    """The shard set's folder, manifest path and totals (nothing for a remote output or a set not written)."""
    manifest = folder / "manifest.json"
    if "://" in output or not manifest.is_file():
        return {}
    data = json.loads(manifest.read_text(encoding="utf-8"))
    return {"shards": str(folder), "manifest": str(manifest), "totals": data.get("totals", {})}


def _ledger_rows(path: Path | None, table: str) -> list[dict[str, Any]]:
    """Every row of ``table`` in the ledger at ``path`` as dicts (none when the ledger or table is absent)."""
    if path is None or not path.is_file():
        return []
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        if table not in tables:
            return []
        cur = con.execute(f'SELECT * FROM "{table}"')
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]
    finally:
        con.close()


def _id(row: Mapping[str, Any]) -> Any:
    """The id of a ``runs`` row (column ``run``; ``id`` in ledgers before ledger/v4)."""
    return row["run"] if "run" in row else row.get("id")


def _run_of(row: Mapping[str, Any]) -> Any:
    """The run id of a ledger row (child tables name it ``run`` or ``run_id``)."""
    return row.get("run_id", row.get("run"))


def _ledger_summary(path: Path, before: set[Any]) -> dict[str, Any]:
    """The run this call added to the ledger: its id and status, per-stage counts and quarantine reasons."""
    new = [r for r in _ledger_rows(path, "runs") if _id(r) not in before]
    if len(new) != 1:
        return {"ledger": str(path)}
    run_id = _id(new[0])
    stages = {
        r["stage"]: {k: r.get(k) for k in ("rows_in", "rows_out", "rows_quarantined", "bytes", "tokens")}
        for r in _ledger_rows(path, "stages")
        if _run_of(r) == run_id
    }
    reasons = [{k: r.get(k) for k in ("stage", "reason", "count")} for r in _ledger_rows(path, "quarantine_reasons") if _run_of(r) == run_id]
    return {"ledger": str(path), "run_id": run_id, "run_status": new[0].get("status"), "stages": stages, "quarantine_reasons": reasons}
