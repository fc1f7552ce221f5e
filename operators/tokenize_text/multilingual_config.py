"""The config of ``pipelines/multilingual_tokenizer.py``: engine, vocabulary, romanization, sampling, the report."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal

from tokenmill.operators.core.ingest_config import IngestConfig
from tokenmill.operators.report.fairness import FairnessConfig
from tokenmill.operators.romanize import RomanizerConfig
from tokenmill.operators.tokenize_text.parity_bpe import ParityRule
from tokenmill.operators.tokenize_text.sampling import LanguageSamplingConfig


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
    min_frequency: int = 1
    """tokenmill engine: stop when the best pair occurs fewer times (a parity-aware language stops being chosen).
    Default 1: a script whose words are long and rare in the sample (UDHR's Myanmar, Tibetan) keeps merging pairs seen
    once while it is over the premium cap; on held-out UDHR (cap 1.8) that takes the worst premium from 2.65 to 2.42."""
    digits_r2l: bool = False
    """tokenmill engine: group digit runs right to left in threes ("Tokenization counts")."""
    parity_aware: bool = True
    """tokenmill engine: each merge is the top pair of the language whose dev text (``parity_dev``) currently takes
    the most tokens (parity-aware BPE), instead of the top pair overall (false). Ignored by sentencepiece."""
    global_merges: float = 0.0
    """tokenmill engine, parity_aware=true, premium_cap=0: share of the merges (0..1) chosen as the top pair overall
    instead of the worst language's (the hybrid of Foroutan et al. 2025); 0: all parity-aware, 1: plain BPE. The
    default uses premium_cap instead (no fixed share does as well on held-out UDHR; README, Fairness)."""
    global_schedule: Literal["first", "last", "interleave"] = "first"
    """Where the global merges go: first (the first global_merges x merges, then parity-aware), last (parity-aware
    first, the global ones at the end) or interleave (spread evenly among the parity-aware ones)."""
    premium_cap: float = 1.9
    """tokenmill engine, parity_aware=true, instead of a fixed share (needs global_merges=0): a merge is the worst
    language's top pair while its dev text takes more than premium_cap x the tokens of ``parity_reference``'s, else
    the top pair overall; 0: off (the fixed share global_merges). The reference language is never pushed down to
    the others' level, only the languages above the cap are served. Default 1.9 with reference_in_global=false and
    global_floor=0.9 (and exact_weights). Held-out UDHR, two folds (``benchmarks/multilingual.py``; A: train even
    lines, score odd; B: the reverse): A English 0.90x plain BPE's bytes/token, max premium 2.39, median 1.202; B
    English 0.90x (0.8956), max 2.64 (Dhivehi), median 1.185. No cap / floor / reference / min_frequency setting
    meets the targets (English >= 0.9x, max <= 2.5, median <= 1.2) on both folds; this is the two-fold rule's best
    trade-off, missing by 5.6 % (README, Fairness)."""
    parity_reference: str = "eng"
    """The premium cap's reference language (the median language when it has no dev text)."""
    reference_in_global: bool = False
    """Whether parity_reference's words count in the top pair overall (the global merges); false: the global merges
    serve the other languages and the reference gains only from the pairs it shares with them."""
    global_floor: float = 0.9
    """> 0: a language whose dev text takes fewer than global_floor x parity_reference's tokens (compressed well
    enough already) leaves the global merges' counts until it is back above; 0: every language counts."""
    exact_weights: bool = True
    """tokenmill engine: every document counts, weighted by its language's sampling factor (in steps of 1/8 of a
    copy; ``sampling.language_weights``); false: the whole repeats drawn per document (``sampling``; what sentencepiece
    always trains on), which leave out the documents drawn 0 times (held-out UDHR: about 10 % of a training half's
    bytes, a quarter or more of the text of the 10 % of languages that lose most) and vary with the seed. Counts are
    8x finer: min_frequency 1 still keeps every pair. On by default: the two-fold rule of
    ``benchmarks/multilingual.py`` picks it at cap 1.9 / floor 0.9 (margin -0.056 against -0.060 drawn; README,
    Fairness)."""
    parity_dev: Literal["auto", "input", "parallel", "train"] = "auto"
    """Dev text of parity-aware merges. auto: the input when it looks parallel (about as many lines in every
    language, as UDHR), else the ``parallel`` corpus when it shares languages with the input, else train; input:
    the input documents; parallel: the ``parallel`` corpus (languages without it never choose a merge); train:
    each language's training sample (balances sampled token counts, not content)."""
    marks: bool = True
    """tokenmill engine: keep combining marks inside letter runs (GPT-2's regex cuts Indic/Thaana/Myanmar words at
    every vowel sign) and the Tibetan tsheg (syllable separator) with its syllable; false: GPT-2's regex exactly."""
    romanize: bool = False
    """Romanize documents (and the parallel corpus) with uroman before training."""
    romanizer: RomanizerConfig = field(default_factory=RomanizerConfig)
    """uroman options when romanize=true."""
    sampling: LanguageSamplingConfig = field(default_factory=LanguageSamplingConfig)
    """Language sampling (sampling.alpha=0.3, sampling.seed=0)."""
    ingest: IngestConfig = field(default_factory=IngestConfig)
    """Ingestion options when --input names raw files (UDHR: --set ingest.lang_from=filename)."""
    parallel: str = ""
    """Glob of a parallel corpus (files <lang>[_variant].txt, e.g. UDHR) for the fairness report, also the parity dev
    text when the input is not parallel (``parity_dev``); empty (the default): no report."""
    compare: tuple[str, ...] = ()
    """NAME=PATH tokenizers scored beside ours in the fairness report (e.g. [gpt2=path/to/gpt2]); default: none."""
    fairness: FairnessConfig = field(default_factory=FairnessConfig)
    """Fairness scoring options."""
    workers: int = 0
    """Ray workers (tasks/actors) at once: 0 = one per CPU of the cluster."""

    RENAMED: ClassVar[dict[str, str]] = {"lang_from": "ingest.lang_from"}

    def __post_init__(self) -> None:
        if self.vocab_size < 300:
            raise ValueError(f"vocab_size: must be >= 300 (256 bytes + specials + merges), got {self.vocab_size}")
        if not 0.0 < self.sp_character_coverage <= 1.0:
            raise ValueError("sp_character_coverage: must be in (0, 1]")
        if self.min_frequency < 0:
            raise ValueError("min_frequency: must be >= 0")
        if not 0.0 <= self.global_merges <= 1.0:
            raise ValueError(f"global_merges: a share of the merges in [0, 1], got {self.global_merges}")
        if self.premium_cap != 0.0 and (self.premium_cap < 1.0 or self.global_merges > 0.0):
            raise ValueError(
                f"premium_cap: 0 (off) or >= 1 with global_merges=0, got {self.premium_cap} (global_merges={self.global_merges}); "
                "for a fixed share of global merges set premium_cap=0"
            )
        if not 0.0 <= self.global_floor <= max(self.premium_cap, 1.0):
            raise ValueError(f"global_floor: 0 (off) up to premium_cap (or 1), got {self.global_floor}")
        if self.workers < 0:
            raise ValueError("workers: must be >= 0")
        for spec in self.compare:
            if "=" not in spec:
                raise ValueError(f"compare: {spec!r} is not NAME=PATH")

    def parity_rule(self) -> ParityRule:
        """The merge-rule keywords of the parity-aware trainers (``train_parity_fast``, ``train_parity_bpe``)."""
        return ParityRule(
            global_merges=self.global_merges,
            global_schedule=self.global_schedule,
            premium_cap=self.premium_cap,
            reference_lang=self.parity_reference,
            reference_in_global=self.reference_in_global,
            global_floor=self.global_floor,
        )

    def peers(self) -> dict[str, str]:
        """``compare`` as ``{name: path}``."""
        return dict(spec.split("=", 1) for spec in self.compare)
