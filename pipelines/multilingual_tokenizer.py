"""Train a multilingual tokenizer (byte-level BPE on the tokenmill engine, or sentencepiece) with a fairness report.

    python pipelines/multilingual_tokenizer.py --input '../shared/data/text/udhr/*.txt' --set ingest.lang_from=filename \\
        --output OUT [--set romanize=true] [--set parity_aware=false] [--set digits_r2l=true]
        [--set engine=sentencepiece]

documents (with ``lang``) → optional romanization (uroman, Ray actor pool) → language sampling with temperature α
(p_lang ∝ n_lang^α; every document counts at its language's weight, ``exact_weights``) → training:
``engine=tokenmill``: byte-level BPE (GPT-2 regex with combining marks kept in words, bytes as GPT-2 symbols,
``<|endoftext|>``), by default parity-aware: each merge serves the language worst compressed on the dev text — the
input itself when it is parallel (UDHR), else the parallel corpus (``parity_dev``) — exported as
OUT/tokenizer/tokenizer.json; ``engine=sentencepiece``: unigram or BPE (``sp_model_type``) as
OUT/tokenizer/spm.model → fairness report on the parallel corpus (OUT/fairness.json, OUT/fairness.html) beside the
``compare`` tokenizers, only when ``parallel`` names a parallel corpus (nothing is scored by default). With
``romanize=true`` the parallel corpus is romanized too.
Config keys: operators/tokenize_text/multilingual_config.py (``--help`` lists them); trainers: operators/tokenize_text/train.py.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import pyarrow as pa
import ray

from tokenmill.operators.core.cli import make_parser
from tokenmill.operators.core.config import ConfigError
from tokenmill.operators.core.runtime import ray_data
from tokenmill.operators.report.fairness import fairness_report, load_parallel, summary_table
from tokenmill.operators.tokenize_text import sample_counts, train_tokenizer
from tokenmill.operators.tokenize_text.multilingual_config import MultilingualConfig
from tokenmill.pipelines._ingest import documents_input
from tokenmill.pipelines._inputs import check_inputs
from tokenmill.pipelines._report import documents_job
from tokenmill.pipelines._romanize import romanize_dataset, romanize_parallel

log = logging.getLogger("tokenmill.multilingual")


def main(argv: list[str] | None = None) -> int:
    parser = make_parser(__doc__, MultilingualConfig)
    with documents_job(parser, MultilingualConfig, "multilingual_tokenizer", argv) as (run, args, cfg, output):
        ledger = run.ledger
        if not args.input:
            raise ConfigError("--input: name the documents or raw files to train on")
        # A bad --input, --set parallel or compare fails here, before Ray starts.
        check_inputs(args.input, cfg.ingest.format, job="multilingual_tokenizer", lang_from=cfg.ingest.lang_from)
        parallel = check_report_inputs(cfg)
        run.start_ray()
        docs = documents_input(args.input, cfg.ingest, output, ledger)
        t0 = time.perf_counter()
        ds = ray_data().read_parquet(docs).select_columns(["lang", "text"])
        if cfg.romanize:
            ds = romanize_dataset(ds, cfg.romanizer, cfg.workers)
        column = cfg.romanizer.output_column if cfg.romanize else "text"
        # The sample is taken on the driver: per-language totals must be known before any document's weight.
        table = pa.concat_tables(ray.get(ds.to_arrow_refs()))
        langs, texts = table.column("lang").to_pylist(), table.column(column).to_pylist()
        repeats, copy = sample_counts(cfg, langs, texts)  # exact_weights: every document, at its language's weight
        sample_size = round(int(repeats.sum()) / copy)  # in documents (a weight of `copy` is one copy)
        ledger.add_stage("sample", rows_in=len(texts), rows_out=sample_size, rows_quarantined=0, seconds=time.perf_counter() - t0)
        if parallel is not None and cfg.romanize:  # loaded before training: parity-aware merges measure languages on it
            parallel = romanize_parallel(parallel, cfg.romanizer, cfg.workers)
        t1 = time.perf_counter()
        stats, ours = train_tokenizer(cfg, langs, texts, repeats, output / "tokenizer", parallel)
        ledger.add_stage("train", rows_in=sample_size, rows_out=stats["vocab_size"], rows_quarantined=0, seconds=time.perf_counter() - t1)
        ledger.add_artifact(ours, "tokenizer")
        log.info("trained %s: vocab %s in %.1f s", cfg.engine, stats["vocab_size"], time.perf_counter() - t1)
        report = None
        if parallel is not None:
            # The table names the trainer: a sentencepiece model is not the tokenmill engine's.
            name = "tokenmill" if cfg.engine == "tokenmill" else f"sentencepiece-{cfg.sp_model_type}"
            report = fairness_report(
                {name: str(ours), **cfg.peers()}, parallel, output, cfg.fairness, corpus=cfg.parallel + (" (romanized)" if cfg.romanize else "")
            )
            ledger.add_artifact(output / "fairness.json", "fairness_report")
    parity = f", parity-aware on {stats['dev']} text" if "dev" in stats else ""
    print(f"tokenizer ({cfg.engine}{parity}, vocab {stats['vocab_size']}, {'romanized' if cfg.romanize else 'original script'}): {ours}")
    if report is not None:
        print(summary_table(report))
        print(f"fairness report: {output / 'fairness.html'}")
    return 0


def check_report_inputs(cfg: MultilingualConfig) -> dict[str, list[str]] | None:
    """The parallel corpus of the fairness report (None: no ``parallel``, no report), read now, with the
    ``compare`` tokenizers checked: nothing defaults to a corpus or tokenizer the user did not name.

    Raises:
        ConfigError: ``compare`` without ``parallel``, a ``compare`` path that does not exist, or a ``parallel`` glob
            with no <lang>.txt file.
    """
    if not cfg.parallel:
        if cfg.compare:
            raise ConfigError("compare: the tokenizers are scored on the parallel corpus; set parallel too (e.g. --set parallel='udhr/*.txt'), or drop compare")
        return None
    for name, path in cfg.peers().items():
        if not Path(path).exists():
            raise ConfigError(f"compare: {name}={path} does not exist; give NAME=PATH of a tokenizer.json, a GPT-2 folder or a sentencepiece .model")
    try:
        return load_parallel(cfg.parallel)
    except ValueError as exc:
        raise ConfigError(f"{exc}; set parallel to a glob of files named <lang>[_variant].txt, or parallel= for no fairness report") from None


if __name__ == "__main__":
    sys.exit(main())
