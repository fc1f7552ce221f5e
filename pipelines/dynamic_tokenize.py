"""Dynamic batch-level BPE merging (Retrofitting LMs with Dynamic Tokenization) over Ray map_batches.

    python pipelines/dynamic_tokenize.py --input '../shared/data/text/udhr/*.txt' --set ingest.lang_from=filename \\
        --tokenizer ../shared/data/tokenizers/gpt2 --output OUT --set batch_size=32 --set max_merges=1000 --set boundary=word

--input takes documents/v1 Parquet (from ingest.py) or raw files (ingested first). --tokenizer: an HF
tokenizer.json, a GPT-2 folder (encoder.json + vocab.bpe) or a sentencepiece .model. Writes OUT/dynamic_rows/
(base_ids, dynamic_ids, lengths per document; dynamic_rows/v1) and OUT/dynamic_vocab/ (per batch: new id, surface,
decomposition into base ids, count; dynamic_vocab/v1), OUT/ledger.duckdb, and prints the length reduction.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import duckdb

from tokenmill.operators.core.cli import make_parser, parse_config
from tokenmill.operators.core.runtime import actor_pool, ray_data, ray_workers
from tokenmill.operators.dynamic import DynamicBPE, DynamicBPEConfig, rows_table, vocab_table
from tokenmill.operators.dynamic.dynamic_bpe import Boundary
from tokenmill.operators.encode import tokenizer_arg
from tokenmill.operators.io import parquet_files
from tokenmill.pipelines._ingest import documents_input
from tokenmill.pipelines._inputs import DocumentBatchesConfig, check_inputs
from tokenmill.pipelines._report import job


@dataclass(frozen=True, kw_only=True, slots=True)
class DynamicTokenizeConfig(DocumentBatchesConfig):
    """Dynamic tokenization job."""

    batch_size: int = 32
    """Documents per merge batch (the paper: 32)."""
    max_merges: int | None = 1000
    """Merges per batch; none = until no valid pair is left."""
    boundary: str = "word"
    """Units merged tokens never cross: pretokens, word, word_hyphen or sentence."""
    min_count: int = 1
    """Stop when the most frequent pair occurs fewer times in the batch."""

    def __post_init__(self) -> None:
        DocumentBatchesConfig.__post_init__(self)  # batch_size, workers (slots: no zero-argument super())
        self.merge_config()  # max_merges / boundary / min_count errors surface as config errors

    def merge_config(self) -> DynamicBPEConfig:
        # boundary stays a plain str here (the config loader and its docs take it as one); DynamicBPEConfig checks it
        return DynamicBPEConfig(max_merges=self.max_merges, boundary=cast(Boundary, self.boundary), min_count=self.min_count)


def main(argv: list[str] | None = None) -> int:
    parser = make_parser(__doc__, DynamicTokenizeConfig)
    parser.add_argument("--tokenizer", required=True, metavar="PATH", type=tokenizer_arg, help="the base tokenizer (required)")
    args, cfg = parse_config(parser, DynamicTokenizeConfig, argv)
    output = Path(args.output).resolve()
    config = {"input": args.input, "tokenizer": args.tokenizer, **dataclasses.asdict(cfg)}
    with job(parser, args, "dynamic_tokenize", config, output / "ledger.duckdb") as run:
        ledger = run.ledger
        check_inputs(args.input, cfg.ingest.format)  # a bad --input fails here, before Ray starts
        run.start_ray()
        # 1. documents, 2. merge per batch in an actor pool (base tokenizer loads once per actor)
        docs = documents_input(args.input, cfg.ingest, output, ledger)
        t0 = time.perf_counter()
        ds = ray_data().read_parquet(docs).select_columns(["id", "lang", "text"])
        ds = ds.map_batches(
            DynamicBPE,
            fn_constructor_args=(args.tokenizer,),
            fn_constructor_kwargs=dataclasses.asdict(cfg.merge_config()),
            batch_size=cfg.batch_size,
            batch_format="pyarrow",
            compute=actor_pool(ray_workers(cfg.workers)),
        ).materialize()
        # 3. write the rows and the per-batch vocabularies
        for name, fn in (("dynamic_rows", rows_table), ("dynamic_vocab", vocab_table)):
            ds.map_batches(fn, batch_format="pyarrow", batch_size=None).drop_columns(["text"] if name == "dynamic_rows" else []).write_parquet(
                str(output / name), compression="zstd"
            )
        seconds = time.perf_counter() - t0
        con = duckdb.connect()
        # file lists as parameters, never paths in SQL text (an output folder may be named it's or g[1])
        sums = con.execute("SELECT count(*), sum(base_length), sum(dynamic_length) FROM read_parquet(?)", [parquet_files(output / "dynamic_rows")]).fetchone()
        vocab = con.execute("SELECT count(*) FROM read_parquet(?)", [parquet_files(output / "dynamic_vocab")]).fetchone()
        assert sums is not None and vocab is not None  # an aggregate without GROUP BY always returns one row
        (n, base, dyn), n_vocab = sums, vocab[0]
        ledger.add_stage("dynamic_merge", rows_in=n, rows_out=n, rows_quarantined=0, tokens=int(dyn or 0), seconds=seconds)
        ledger.add_artifact(output / "dynamic_rows", "dynamic_rows")
        ledger.add_artifact(output / "dynamic_vocab", "dynamic_vocab")
    reduction = 1 - dyn / base if base else 0.0
    print(
        f"{n} documents: {base} base tokens → {dyn} dynamic tokens ({reduction:.1%} shorter), {n_vocab} batch "
        f"vocabulary entries, {seconds:.1f} s\nrows: {output / 'dynamic_rows'}\nvocab: {output / 'dynamic_vocab'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
