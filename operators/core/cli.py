"""The command line every pipeline shares: --input (repeatable), --output, --config FILE.yaml, --set key=value."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from tokenmill.operators.core.config import ConfigError, UnknownKeyError, build_config, config_help, load_overrides

T = TypeVar("T")

HELP_HINT = " (--help lists every option)"


class Parser(argparse.ArgumentParser):
    """argparse whose errors are one line naming the fix (``prog: error: ...``), exit status 2.

    Usage errors (found while the command line is parsed, or an unknown config key) end with a hint that ``--help``
    lists every option; other errors reported through :meth:`error` (a bad input file found by the job) do not.
    """

    _parsing = False

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[no-untyped-def,override]  # argparse's signature
        self._parsing = True
        try:
            return super().parse_known_args(args, namespace)
        finally:
            self._parsing = False

    def error(self, message: str) -> NoReturn:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}{HELP_HINT if self._parsing else ''}\n")

    def usage_error(self, message: str) -> NoReturn:
        """A usage error found after parsing (an unknown config key): the message and the ``--help`` hint."""
        self.exit(2, f"{self.prog}: error: {message}{HELP_HINT}\n")


REMOTE_OUTPUT_JOBS = "ingest, pack_shards, dna_bpe and build_corpus"


def remote_or_local_output(value: str) -> str:
    """``--output`` of a job that can write to an object store: a URI (checked by its client), else a local folder."""
    return value if "://" in value else output_folder(value)


def output_folder(value: str) -> str:
    """``--output``: a folder that exists or can be created here; a file, an unwritable place or a URI (for jobs
    that write local folders only) is refused now, before any work starts."""
    if "://" in value:
        raise argparse.ArgumentTypeError(f"{value}: this job writes a local folder (object-store output: {REMOTE_OUTPUT_JOBS}); write here, then copy")
    path = Path(value).expanduser().absolute()
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{value} is a file; give a folder (created when missing)")
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not existing.is_dir():
        raise argparse.ArgumentTypeError(f"{value} cannot be created: {existing} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"{value} cannot be created or written: {existing} is not writable by this user; choose a folder you can write")
    return value


def make_parser(
    description: str,
    config_cls: type,
    *,
    inputs: bool = True,
    output: bool = True,
    config_required: bool = False,
    remote_output: bool = False,
    output_required: bool = True,
) -> argparse.ArgumentParser:
    """An argparse parser with the shared options; ``--help`` lists every config key with the job's real default.

    ``output_required=False``: ``--output`` may be left out (a job whose config file can name the output instead).
    """
    parser = Parser(
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="config keys (set them in --config FILE.yaml or with --set key=value):\n" + config_help(config_cls),
    )
    if inputs:
        parser.add_argument(
            "--input", action="append", default=[], metavar="PATH_OR_GLOB", help="input file, glob or fsspec URI; repeat for more (default: none)"
        )
    if output:
        parser.add_argument(
            "--output",
            required=output_required,
            metavar="DIR",
            default=None,
            type=remote_or_local_output if remote_output else output_folder,
            help="output directory, created when missing" + (" (or s3://bucket/prefix)" if remote_output else "") + (" (required)" if output_required else ""),
        )
    parser.add_argument(
        "--config",
        metavar="FILE.yaml",
        default=None,
        required=config_required,
        help="YAML file of config keys" + (" (required)" if config_required else " (default: none)"),
    )
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override one config key, e.g. --set vocab_size=4096; repeatable (default: none)"
    )
    parser.add_argument("--num-cpus", type=int, default=None, help="CPUs for the embedded Ray when RAY_ADDRESS is not set (default: all)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars, warnings only (default: off)")
    return parser


def parse_config(
    parser: argparse.ArgumentParser, config_cls: type[T], argv: list[str] | None = None, *, load: Callable[[str, dict[str, Any]], T] | None = None
) -> tuple[argparse.Namespace, T]:
    """Parse the command line and build the config; a config error exits with status 2 and the message.

    ``load(config_file, overrides)`` replaces the plain YAML loading for a config whose file needs more (a corpus
    YAML resolves paths against its own folder). ``--output`` sets the config's ``output`` key when it has one.
    """
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.quiet:
        quiet_libraries()
    try:
        sets = list(args.set)
        if getattr(args, "output", None) is not None and "output" in {f.name for f in dataclasses.fields(config_cls)}:  # type: ignore[arg-type]
            # A config with an output key (build_corpus): --output is that key; relative to here, not to the YAML.
            sets.append(f"output={args.output if '://' in args.output else Path(args.output).absolute()}")
        cfg = load(args.config, load_overrides(None, sets)) if load is not None else build_config(config_cls, load_overrides(args.config, sets))
    except UnknownKeyError as exc:
        _usage_error(parser, f"config: {exc}")
    except ConfigError as exc:  # a malformed file or a bad value: the message says where; --help is no help
        parser.exit(2, f"{parser.prog}: error: config: {exc}\n")
    return args, cfg


def _usage_error(parser: argparse.ArgumentParser, message: str) -> NoReturn:
    if isinstance(parser, Parser):
        parser.usage_error(message)
    parser.error(message)


def quiet_libraries() -> None:
    """``--quiet``: the libraries under tokenmill print errors only and no progress bars, so what is left is
    tokenmill's own warnings and the final summary (Ray's own quieting is in :func:`operators.core.runtime.init_ray`)."""
    os.environ["TQDM_DISABLE"] = "1"  # every tqdm bar (transformers' weight loading, sentence-transformers)
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    os.environ["TRANSFORMERS_VERBOSITY"] = "error"
    os.environ["TOKENMILL_QUIET"] = "1"  # read by init_ray, and by Ray workers through the runtime env
    # Imported before the flag was seen (tqdm reads TQDM_* when it is imported): tell them directly.
    if "transformers" in sys.modules:
        sys.modules["transformers"].utils.logging.set_verbosity_error()
        sys.modules["transformers"].utils.logging.disable_progress_bar()
    if "huggingface_hub" in sys.modules:
        sys.modules["huggingface_hub"].utils.disable_progress_bars()
    for name in ("ray", "ray.data", "sentence_transformers", "transformers", "numba"):
        logging.getLogger(name).setLevel(logging.ERROR)


def fail(message: str) -> NoReturn:
    """Print a user-facing error and exit with status 2."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


@contextlib.contextmanager
def fail_before_start(stage: contextlib.AbstractContextManager[T]) -> Iterator[T]:
    """Enter ``stage`` (e.g. :func:`operators.io.remote.stage_output`) for a job: a ``ConfigError`` it raises while
    entering, before the run starts, is :func:`fail` (``error: MESSAGE``, exit status 2); what the block raises
    passes through ``stage`` unchanged."""
    with contextlib.ExitStack() as stack:
        try:
            value = stack.enter_context(stage)
        except ConfigError as exc:
            fail(str(exc))
        yield value
