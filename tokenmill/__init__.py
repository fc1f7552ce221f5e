"""tokenmill: raw corpora → tokenizers and packed training shards, on Ray and Arrow.

    import tokenmill
    summary = tokenmill.pack_shards(input="raw/*.jsonl", tokenizer="gpt2/", output="OUT")

The functions (:mod:`tokenmill.api`: ``pack_shards``, ``ingest``, ``dna_bpe``, ``verify_shards``, ``run``) load on
first use, so ``import tokenmill`` stays cheap (no Ray, no torch). The command line is ``tokenmill`` (:mod:`tokenmill.cli`).

The repository keeps the design card's top-level ``operators/``, ``schemas/`` and ``pipelines/``; ``tokenmill/``
holds links to them, so the same files import as ``tokenmill.operators...`` in the repo, under ``ray job submit
--working-dir .``, and from the installed wheel (which holds only the ``tokenmill`` package, nothing generic at
the top level of site-packages).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["JobError", "__version__", "dna_bpe", "ingest", "pack_shards", "run", "verify_shards"]

_API = frozenset(__all__) - {"__version__"}  # loaded from tokenmill.api on first use

if TYPE_CHECKING:
    from tokenmill.api import JobError, dna_bpe, ingest, pack_shards, run, verify_shards


def __getattr__(name: str) -> Any:
    if name in _API:
        from tokenmill import api

        return getattr(api, name)
    raise AttributeError(f"module 'tokenmill' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])
