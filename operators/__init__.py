"""tokenmill operators: reusable pipeline stages (one operator per file).

Kinds: ``io``, ``clean``, ``romanize``, ``bpe``, ``dynamic``, ``transfer``, ``pack``, ``shards``, ``ledger``,
``report``; ``core`` holds the small shared pieces (config loading, Ray runtime, ids).
"""
