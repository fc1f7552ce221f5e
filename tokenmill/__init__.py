"""tokenmill: raw corpora → tokenizers and packed training shards, on Ray and Arrow.

The repository keeps the design card's top-level ``operators/``, ``schemas/`` and ``pipelines/``; ``tokenmill/``
holds links to them, so the same files import as ``tokenmill.operators...`` in the repo, under ``ray job submit
--working-dir .``, and from the installed wheel (which holds only the ``tokenmill`` package, nothing generic at
the top level of site-packages).
"""

__version__ = "0.1.0"
