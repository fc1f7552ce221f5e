"""DNA segment partitions (SEGMENTS_FORMAT) encode one slice ahead of the packer, in a thread: the tokens and shard
bytes do not depend on the encoder's threads, and a fast engine that starts to differ half-way through a partition
(with a slice encoded ahead) is caught, the partition is written again by the reference engine, with the bytes of
encode.engine=hf."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tokenmill.operators.core.ingest_config import IngestConfig
from tokenmill.operators.encode import EncodeConfig
from tokenmill.operators.pack import PackerConfig
from tokenmill.operators.shards import ShardWriterConfig
from tokenmill.operators.shards.part_writer import SEGMENTS_FORMAT, PartWriter, PartWriterConfig

BATCH = 8  # segments per slice: ~45 slices per partition


@pytest.fixture(scope="module")
def dna(shared_data: Path, tmp_path_factory) -> tuple[Path, list[str], Path]:
    """(segment folder, its files, tokenizer.json): lambda phage in 1000-bp segments over two files, shuffled."""
    from tokenmill.operators.bpe import BpeTrainerConfig, save_hf_tokenizer, train_bpe

    seq = "".join(line.strip() for line in (shared_data / "dna" / "lambda_phage.fa").read_text().splitlines() if not line.startswith(">"))
    rows = [
        {"id": f"s{off}", "source": "/data/lambda.fa", "record": f"rec{off // 20_000}", "offset": off, "seq": seq[off : off + 1000]}
        for off in range(0, len(seq), 1000)
    ]
    table = pa.Table.from_pylist(rows)
    table = table.take(np.random.default_rng(0).permutation(table.num_rows))
    folder = tmp_path_factory.mktemp("segments")
    half = table.num_rows // 2
    pq.write_table(table.slice(0, half), folder / "a.parquet", row_group_size=7)
    pq.write_table(table.slice(half), folder / "b.parquet", row_group_size=7)
    tok = save_hf_tokenizer(train_bpe([table.select(["seq"])], BpeTrainerConfig(vocab_size=400)), folder.parent / "tok")
    return folder, sorted(str(p) for p in folder.glob("*.parquet")), tok / "tokenizer.json"


def _write(dna, out: Path, *, threads: int, engine: str = "auto", differ_from_call: int | None = None) -> tuple[dict, dict[str, bytes]]:
    _, files, tok = dna
    writer = PartWriter(
        PartWriterConfig(
            shards_dir=str(out / "shards"),
            tokenizer=str(tok),
            shard_cfg=ShardWriterConfig(pack=PackerConfig(context_length=512, bos_id=1, eos_id=2, pad_id=3, split_to_fill=64), shard_tokens=6000),
            ingest=IngestConfig(format="fasta"),
            quarantine_dir=None,
            receipts_dir=None,
            documents_dir=None,
            run_id="r",
            encode_batch_size=BATCH,
            tokens_dir=str(out / "tokens"),
            encode=EncodeConfig(engine=engine),  # type: ignore[arg-type]
        ),
        encode_threads=threads,
    )
    if differ_from_call is not None:
        writer.encoder.engine.fast = _DiffersLater(writer.encoder.engine.fast, differ_from_call)  # type: ignore[assignment]
    keys = [["/data/lambda.fa", f"rec{r}"] for r in range(3)]
    part = writer.write(0, "p0", [{"format": SEGMENTS_FORMAT, "files": files, "keys": keys}])
    return part, {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


class _DiffersLater:
    """The real fast engine, but from its ``n``-th call on the last id of every document is off by one."""

    def __init__(self, fast, n: int) -> None:
        self.fast, self.n, self.calls = fast, n, 0
        self.name, self.version = fast.name, fast.version

    def encode_flat(self, texts: list[str], add_special_tokens: bool = False) -> tuple[np.ndarray, np.ndarray]:
        self.calls += 1
        ids, offsets = self.fast.encode_flat(texts, add_special_tokens)
        if self.calls >= self.n:
            ids = ids.copy()
            ids[offsets[1:] - 1] += 1
        return ids, offsets


@pytest.mark.parametrize("threads", [2, 3])
def test_encoder_threads_write_the_same_bytes(dna, tmp_path, threads):
    base_part, base = _write(dna, tmp_path / "t1", threads=1)
    part, files = _write(dna, tmp_path / f"t{threads}", threads=threads)
    assert part["documents_per_source"] == base_part["documents_per_source"] == {"/data/lambda.fa": 49}
    assert part["encoder"] == base_part["encoder"] and part["encoder"]["engine"] == "fastokens"
    assert any(name.startswith("tokens/") for name in files) and any(name.endswith(".bin") for name in files)
    assert files == base


def test_a_mismatch_half_way_rewrites_the_partition_with_the_reference(dna, tmp_path):
    _, hf = _write(dna, tmp_path / "hf", threads=1, engine="hf")
    part, files = _write(dna, tmp_path / "auto", threads=3, differ_from_call=4)  # the 4th slice of 7 differs
    assert part["encoder"]["engine"] == "hf" and "partition 0" in part["encoder"]["fallback"]
    assert files == hf
