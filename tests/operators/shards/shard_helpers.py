"""Helpers of the shard tests (a module of its own: every test folder has a ``conftest`` module)."""

from __future__ import annotations

from tests.operators.pack.real_tokens import GPT2_VOCAB


def write_set(out_dir, docs, *, vocab_size: int = GPT2_VOCAB, run_id: str = "test-run", **config):
    """Write ``docs`` ([(doc_id, ids)]) as a committed shard set; ``config``: ShardWriterConfig fields, with
    ``pack`` given as a dict of PackerConfig fields. Returns the manifest."""
    from tokenmill.operators.pack import PackerConfig
    from tokenmill.operators.shards import ShardWriter, ShardWriterConfig

    pack = PackerConfig(**config.pop("pack", {}))
    cfg = ShardWriterConfig(pack=pack, **config)
    with ShardWriter(out_dir, cfg, vocab_size=vocab_size, tokenizer_hash="sha256:gpt2-test", run_id=run_id) as writer:
        for doc_id, ids in docs:
            writer.add(doc_id, ids)
    return writer.manifest
