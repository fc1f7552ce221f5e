"""Train a multilingual tokenizer (byte-level BPE on the tokenmill engine, or sentencepiece) with a fairness report.

    python pipelines/multilingual_tokenizer.py --input '../shared/data/text/udhr/*.txt' --set lang_from=filename \\
        --output OUT [--set romanize=true] [--set parity_aware=true] [--set digits_r2l=true]
        [--set engine=sentencepiece]

documents (with ``lang``) → optional romanization (uroman, Ray actor pool) → language sampling with temperature
α (p_lang ∝ n_lang^α, seeded) → training: ``engine=tokenmill``: byte-level BPE (GPT-2 regex, bytes as GPT-2
symbols, ``<|endoftext|>``; ``parity_aware=true``: each merge serves the language worst compressed on the
parallel corpus) exported as OUT/tokenizer/tokenizer.json; ``engine=sentencepiece``: unigram or BPE
(``sp_model_type``) as OUT/tokenizer/spm.model → fairness report on the parallel corpus (OUT/fairness.json,
OUT/fairness.html) beside GPT-2, Mistral and BERT. With ``romanize=true`` the parallel corpus is romanized too.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script, with or without pip install

import pyarrow as pa  # noqa: E402
import ray  # noqa: E402

from operators.bpe import BpeTrainerConfig, train_bpe  # noqa: E402
from operators.core.cli import make_parser, parse_config  # noqa: E402
from operators.core.config import ConfigError  # noqa: E402
from operators.core.ingest_config import IngestConfig  # noqa: E402
from operators.core.runtime import PROJECT_ROOT, cluster_cpus, ray_runtime  # noqa: E402
from operators.ledger import Ledger  # noqa: E402
from operators.report.fairness import FairnessConfig, fairness_report, load_parallel, summary_table  # noqa: E402
from operators.romanize import Romanizer, RomanizerConfig  # noqa: E402
from operators.tokenize_text import (  # noqa: E402
    END_OF_TEXT,
    ByteLevelConfig,
    ByteLevelPreTokenizer,
    LanguageSamplingConfig,
    byte_alphabet,
    document_repeats,
    save_byte_level_tokenizer,
    train_parity_bpe,
)
from pipelines._ingest import documents_input  # noqa: E402
from pipelines._inputs import check_inputs  # noqa: E402
from pipelines._report import run_guard  # noqa: E402
from pipelines.fairness_report import romanize_parallel  # noqa: E402

log = logging.getLogger("tokenmill.multilingual")
TOKENIZERS = PROJECT_ROOT.parent / "shared" / "data" / "tokenizers"
PEERS = (f"gpt2={TOKENIZERS / 'gpt2'}", f"mistral={TOKENIZERS / 'mistral' / 'tokenizer.model.v1'}",
         f"bert={TOKENIZERS / 'bert-base-uncased'}")


@dataclass(frozen=True, kw_only=True, slots=True)
class MultilingualConfig:
    """Multilingual tokenizer job."""

    engine: Literal["tokenmill", "sentencepiece"] = "tokenmill"
    """tokenmill: byte-level BPE on the tokenmill engine; sentencepiece: its trainer (see sp_model_type)."""
    sp_model_type: Literal["unigram", "bpe"] = "unigram"
    """sentencepiece model type when engine=sentencepiece."""
    vocab_size: int = 32000
    """Vocabulary size, special tokens included."""
    sp_character_coverage: float = 0.9995
    """sentencepiece: share of characters kept as pieces (the rest fall back to bytes)."""
    min_frequency: int = 2
    """tokenmill engine: stop when the best pair occurs fewer times."""
    digits_r2l: bool = False
    """tokenmill engine: group digit runs right to left in threes ("Tokenization counts")."""
    parity_aware: bool = False
    """tokenmill engine: each merge is the top pair of the language whose parallel text (``parallel``) currently
    takes the most tokens (parity-aware BPE), instead of the top pair overall."""
    marks: bool = False
    """tokenmill engine: keep combining marks inside letter runs (GPT-2's regex cuts Indic/Thaana/Myanmar words at
    every vowel sign)."""
    romanize: bool = False
    """Romanize documents (and the parallel corpus) with uroman before training."""
    romanizer: RomanizerConfig = field(default_factory=RomanizerConfig)
    """uroman options when romanize=true."""
    sampling: LanguageSamplingConfig = field(default_factory=LanguageSamplingConfig)
    """Language sampling (sampling.alpha=0.3, sampling.seed=0)."""
    lang_from: Literal["none", "filename", "field"] | None = None
    """Shortcut for ingest.lang_from (UDHR: filename)."""
    ingest: IngestConfig = field(default_factory=IngestConfig)
    """Ingestion options when --input names raw files."""
    parallel: str = str(PROJECT_ROOT.parent / "shared" / "data" / "text" / "udhr" / "*.txt")
    """Glob of the parallel corpus for the fairness report (files <lang>[_variant].txt); empty: no report."""
    compare: tuple[str, ...] = PEERS
    """NAME=PATH tokenizers scored beside ours."""
    fairness: FairnessConfig = field(default_factory=FairnessConfig)
    """Fairness scoring options."""
    workers: int = 0
    """Romanizer actors: 0 = one per cluster CPU (at most 8)."""

    def __post_init__(self) -> None:
        if self.vocab_size < 300:
            raise ValueError(f"vocab_size: must be >= 300 (256 bytes + specials + merges), got {self.vocab_size}")
        if not 0.0 < self.sp_character_coverage <= 1.0:
            raise ValueError("sp_character_coverage: must be in (0, 1]")
        if self.min_frequency < 0:
            raise ValueError("min_frequency: must be >= 0")
        if self.workers < 0:
            raise ValueError("workers: must be >= 0")
        if self.parity_aware and self.engine != "tokenmill":
            raise ValueError("parity_aware: needs engine=tokenmill")
        for spec in self.compare:
            if "=" not in spec:
                raise ValueError(f"compare: {spec!r} is not NAME=PATH")


def train_tokenmill(langs: list[str | None], texts: list[str], repeats, cfg: MultilingualConfig, out: Path,
                    parallel: dict[str, list[str]] | None = None) -> dict:
    """Byte-level BPE on the tokenmill engine (or parity-aware); writes out/tokenizer.json; returns the stats."""
    pre = ByteLevelPreTokenizer(ByteLevelConfig(digits_r2l=cfg.digits_r2l, marks=cfg.marks))
    t0 = time.perf_counter()
    if cfg.parity_aware:
        by_lang: dict[str, list[int]] = {}
        for i, lang in enumerate(langs):
            by_lang.setdefault(lang or "und", []).append(i)
        reps = repeats.tolist()
        train = {lg: pre.count([texts[i] for i in ix], [reps[i] for i in ix]) for lg, ix in by_lang.items()}
        dev = None if parallel is None else {lg: pre.count(parallel[lg]) for lg in train if lg in parallel}
        count_s = time.perf_counter() - t0
        vocab, merges, stats = train_parity_bpe(train, dev, vocab_size=cfg.vocab_size, special_tokens=(END_OF_TEXT,),
                                                initial_alphabet=byte_alphabet(), min_frequency=cfg.min_frequency)
        specials = (END_OF_TEXT,)
        distinct = sum(len(t) for t in train.values())
    else:
        counts = pre.count(texts, repeats.tolist())
        count_s = time.perf_counter() - t0
        model = train_bpe(counts, BpeTrainerConfig(vocab_size=cfg.vocab_size, min_frequency=cfg.min_frequency,
                                                   special_tokens=(END_OF_TEXT,), initial_alphabet=byte_alphabet()))
        vocab, merges, stats, specials = model.vocab, model.merges, model.stats, model.special_tokens
        distinct = len(counts)
    stats = {**stats, "pretokenize_s": round(count_s, 3), "distinct_words": distinct}
    save_byte_level_tokenizer(vocab, merges, specials, out, digits_r2l=cfg.digits_r2l, marks=cfg.marks,
                              meta={"engine": "tokenmill", "parity_aware": cfg.parity_aware, "stats": stats,
                                    "romanized": cfg.romanize})
    _check_round_trip(out / "tokenizer.json", texts[:: max(1, len(texts) // 200)])
    return stats


def train_sentencepiece(texts: list[str], repeats, cfg: MultilingualConfig, out: Path) -> dict:
    """sentencepiece unigram/BPE with byte fallback; writes out/spm.model; returns the training stats."""
    import sentencepiece as spm

    out.mkdir(parents=True, exist_ok=True)
    corpus = out / ".train.txt"
    with open(corpus, "w", encoding="utf-8") as f:
        for text, n in zip(texts, repeats.tolist()):
            for _ in range(n):
                f.write(text.replace("\n", " ") + "\n")
    t0 = time.perf_counter()
    # hard_vocab_limit=False: a small corpus (UDHR) may not support 32k unigram pieces; sentencepiece then stops.
    try:
        spm.SentencePieceTrainer.train(input=str(corpus), model_prefix=str(out / "spm"), vocab_size=cfg.vocab_size,
                                       model_type=cfg.sp_model_type, character_coverage=cfg.sp_character_coverage,
                                       byte_fallback=True, hard_vocab_limit=False, max_sentence_length=1 << 16,
                                       num_threads=2, minloglevel=2)
    except RuntimeError as exc:
        if "required_chars" in str(exc):
            raise ConfigError(f"vocab_size={cfg.vocab_size} is below the characters sentencepiece must keep "
                              f"({exc}); raise vocab_size or lower sp_character_coverage") from None
        raise
    finally:
        corpus.unlink()
    sp = spm.SentencePieceProcessor(model_file=str(out / "spm.model"))
    return {"engine": f"sentencepiece {cfg.sp_model_type}", "vocab_size": sp.get_piece_size(),
            "seconds": {"total": round(time.perf_counter() - t0, 3)}}


def _check_round_trip(path: Path, texts: list[str]) -> None:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(path))
    for text in texts:
        if tok.decode(tok.encode(text).ids) != text:
            raise AssertionError(f"{path}: decode(encode(x)) != x for {text[:60]!r}")


def main(argv: list[str] | None = None) -> int:
    parser = make_parser(__doc__, MultilingualConfig)
    args, cfg = parse_config(parser, MultilingualConfig, argv)
    output = Path(args.output).resolve()
    ingest_cfg = dataclasses.replace(cfg.ingest, lang_from=cfg.lang_from) if cfg.lang_from else cfg.ingest
    ledger = Ledger(output / "ledger.duckdb")
    ledger.start_run("multilingual_tokenizer", {"input": args.input, **dataclasses.asdict(cfg)})
    with run_guard(ledger, parser):
        if not args.input:
            raise ConfigError("--input: name the documents or raw files to train on")
        check_inputs(args.input, ingest_cfg.format)  # a bad --input fails here, before Ray starts
        with ray_runtime(args.num_cpus, quiet=args.quiet):
            docs = documents_input(args.input, ingest_cfg, output, ledger)
            t0 = time.perf_counter()
            ds = ray.data.read_parquet(docs).select_columns(["lang", "text"])
            column = "text"
            if cfg.romanize:
                workers = cfg.workers or cluster_cpus()
                ds = ds.map_batches(Romanizer, fn_constructor_kwargs={"config": cfg.romanizer}, batch_size=512,
                                    batch_format="pyarrow", concurrency=(1, workers))
                column = cfg.romanizer.output_column
            # The sample is drawn on the driver: per-language totals must be known before any document's repeats.
            table = pa.concat_tables(ray.get(ds.to_arrow_refs()))
            langs, texts = table.column("lang").to_pylist(), table.column(column).to_pylist()
            sizes = [len(t.encode("utf-8")) for t in texts]
            repeats = document_repeats(langs, sizes, cfg.sampling)
            ledger.add_stage("sample", rows_in=len(texts), rows_out=int(repeats.sum()), rows_quarantined=0,
                             seconds=time.perf_counter() - t0)
            parallel = None
            if cfg.parallel:  # loaded before training: parity-aware merges measure languages on it
                parallel = load_parallel(cfg.parallel)
                if cfg.romanize:
                    parallel = romanize_parallel(parallel, cfg.romanizer, cfg.workers)
            t1 = time.perf_counter()
            tok_dir = output / "tokenizer"
            if cfg.engine == "tokenmill":
                stats = train_tokenmill(langs, texts, repeats, cfg, tok_dir, parallel)
                ours = tok_dir / "tokenizer.json"
            else:
                stats = train_sentencepiece(texts, repeats, cfg, tok_dir)
                ours = tok_dir / "spm.model"
            ledger.add_stage("train", rows_in=int(repeats.sum()), rows_out=stats["vocab_size"], rows_quarantined=0,
                             seconds=time.perf_counter() - t1)
            ledger.add_artifact(ours, "tokenizer")
            log.info("trained %s: vocab %s in %.1f s", cfg.engine, stats["vocab_size"], time.perf_counter() - t1)
            report = None
            if parallel is not None:
                peers = dict(spec.split("=", 1) for spec in cfg.compare)
                report = fairness_report({"tokenmill": str(ours), **peers}, parallel, output, cfg.fairness,
                                         corpus=cfg.parallel + (" (romanized)" if cfg.romanize else ""))
                ledger.add_artifact(output / "fairness.json", "fairness_report")
    print(f"tokenizer ({cfg.engine}{', parity-aware' if cfg.parity_aware else ''}, vocab {stats['vocab_size']}, "
          f"{'romanized' if cfg.romanize else 'original script'}): {ours}")
    if report is not None:
        print(summary_table(report))
        print(f"fairness report: {output / 'fairness.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
