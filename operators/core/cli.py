"""The command line every pipeline shares: --input (repeatable), --output, --config FILE.yaml, --set key=value."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any, Callable, TypeVar

from operators.core.config import ConfigError, build_config, config_help, load_overrides

T = TypeVar("T")


def make_parser(description: str, config_cls: type, *, inputs: bool = True, output: bool = True,
                config_required: bool = False) -> argparse.ArgumentParser:
    """An argparse parser with the shared options; ``--help`` lists every config key with the job's real default."""
    parser = argparse.ArgumentParser(
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="config keys (set them in --config FILE.yaml or with --set key=value):\n" + config_help(config_cls),
    )
    if inputs:
        parser.add_argument("--input", action="append", default=[], metavar="PATH_OR_GLOB",
                            help="input file, glob or fsspec URI; repeat for more (default: none)")
    if output:
        parser.add_argument("--output", required=True, metavar="DIR", help="output directory (required)")
    parser.add_argument("--config", metavar="FILE.yaml", default=None, required=config_required,
                        help="YAML file of config keys" + (" (required)" if config_required else " (default: none)"))
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override one config key, e.g. --set vocab_size=4096; repeatable (default: none)")
    parser.add_argument("--num-cpus", type=int, default=None,
                        help="CPUs for the embedded Ray when RAY_ADDRESS is not set (default: all)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars, warnings only (default: off)")
    return parser


def parse_config(parser: argparse.ArgumentParser, config_cls: type[T], argv: list[str] | None = None, *,
                 load: Callable[[str, dict[str, Any]], T] | None = None) -> tuple[argparse.Namespace, T]:
    """Parse the command line and build the config; a config error exits with status 2 and the message.

    ``load(config_file, overrides)`` replaces the plain YAML loading for a config whose file needs more (a corpus
    YAML resolves paths against its own folder).
    """
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        if load is not None:
            cfg = load(args.config, load_overrides(None, args.set))
        else:
            cfg = build_config(config_cls, load_overrides(args.config, args.set))
    except ConfigError as exc:
        parser.error(f"config: {exc}")
    return args, cfg


def fail(message: str) -> None:
    """Print a user-facing error and exit with status 2."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)
