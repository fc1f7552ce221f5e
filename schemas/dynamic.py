"""Schemas of dynamic batch-level BPE merging: the per-row output and the per-batch vocabulary.

``DynamicBPE`` returns one table per batch: the input columns, then the ``DYNAMIC_ROWS`` columns. The batch's
new tokens ride along in ``batch_vocab`` (a list of ``DYNAMIC_VOCAB_ENTRY`` structs) on the batch's first row
only (null on the others), so a single Ray ``map_batches`` output carries both tables; ``rows_table`` and
``vocab_table`` (operators/dynamic/dynamic_bpe.py) split it into ``dynamic_rows/v1`` and ``dynamic_vocab/v1``
for writing as Parquet. Dynamic ids are only meaningful together with the vocabulary of the same ``batch_id``.
"""

from __future__ import annotations

import pyarrow as pa

from tokenmill.schemas.core import SCHEMA_KEY

DYNAMIC_ROWS_NAME = "dynamic_rows/v1"
DYNAMIC_VOCAB_NAME = "dynamic_vocab/v1"

# One new token of a batch (the struct inside ``batch_vocab``; the vocab table has these columns + batch_id).
DYNAMIC_VOCAB_ENTRY = pa.struct(
    [
        pa.field("id", pa.int32(), nullable=False),  # >= base vocab size; base + merge rank, in merge order
        pa.field("left", pa.int32(), nullable=False),  # the merged pair (base or earlier new ids)
        pa.field("right", pa.int32(), nullable=False),
        pa.field("token", pa.string(), nullable=False),  # base vocab strings concatenated ("ĠofĠthe", "▁世界")
        pa.field("surface", pa.string(), nullable=False),  # text it stands for (partial UTF-8 -> U+FFFD)
        pa.field("base_ids", pa.list_(pa.int32()), nullable=False),  # full decomposition into base ids
        pa.field("merge_count", pa.int64(), nullable=False),  # pair frequency in the batch when merged
        pa.field("count", pa.int64(), nullable=False),  # occurrences in the batch's final dynamic_ids (0: absorbed)
    ]
)

DYNAMIC_ROWS = pa.schema(
    [
        pa.field("batch_id", pa.string(), nullable=False),  # 16 hex: hash of the batch's texts and settings
        pa.field("base_ids", pa.list_(pa.int32()), nullable=False),
        pa.field("dynamic_ids", pa.list_(pa.int32()), nullable=False),  # base ids keep their id; new ids >= base
        pa.field("base_length", pa.int32(), nullable=False),
        pa.field("dynamic_length", pa.int32(), nullable=False),
    ],
    metadata={SCHEMA_KEY: DYNAMIC_ROWS_NAME.encode()},
)

# ``DynamicBPE`` output = input columns + DYNAMIC_ROWS columns + this one.
BATCH_VOCAB_FIELD = pa.field("batch_vocab", pa.list_(DYNAMIC_VOCAB_ENTRY))

DYNAMIC_VOCAB = pa.schema(
    [pa.field("batch_id", pa.string(), nullable=False), *DYNAMIC_VOCAB_ENTRY],
    metadata={SCHEMA_KEY: DYNAMIC_VOCAB_NAME.encode()},
)
