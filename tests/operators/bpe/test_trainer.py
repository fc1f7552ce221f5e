"""The fast trainer equals the reference (hypothesis, ties and overlaps included) and HF's BpeTrainer on real DNA."""

from __future__ import annotations

import json
import random
from collections import Counter

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tokenmill.operators.bpe import BpeTrainerConfig, train_bpe
from tokenmill.operators.bpe.corpus import encode, to_seq_table
from tokenmill.operators.bpe.fast_trainer import Vocab, train_fast
from tokenmill.operators.bpe.kernel_constants import SEP
from tokenmill.operators.bpe.kernel_state import CorpusPart
from tokenmill.operators.bpe.reference import apply_merges, train_reference

SPECIALS = ("[UNK]", "[CLS]")


@st.composite
def corpora(draw, max_len: int = 40):
    """Small alphabets and repeated strings, so ties, overlaps (AAAA) and equal counts are common."""
    alphabet = draw(st.sampled_from(["A", "AB", "ABC", "ACGT", "AAB"]))
    seqs = draw(st.lists(st.text(alphabet=alphabet, min_size=1, max_size=max_len), min_size=1, max_size=10))
    seqs = seqs + draw(st.lists(st.sampled_from(seqs), max_size=3))  # the same string in several rows
    counts = draw(st.lists(st.integers(1, 4), min_size=len(seqs), max_size=len(seqs)))
    return list(zip(seqs, counts))


@st.composite
def train_args(draw):
    corpus = draw(corpora())
    n_chars = len({c for s, _ in corpus for c in s})
    return corpus, dict(
        vocab_size=draw(st.integers(len(SPECIALS) + n_chars, len(SPECIALS) + n_chars + 60)),
        min_frequency=draw(st.integers(0, 3)),
        special_tokens=SPECIALS,
        max_token_length=draw(st.sampled_from([None, None, 2, 3, 6])),
    )


def _fast(corpus, **kw):
    result = train_fast(to_seq_table(corpus), **kw)
    return result, result.merge_strings, result.vocab.str_to_id


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(args=train_args(), keep_min=st.sampled_from([None, 1, 2, 3, 100]), implicit_min=st.sampled_from([None, 2, 7]))
def test_fast_equals_reference(args, keep_min, implicit_min):
    corpus, kw = args
    result, merges, vocab = _fast(corpus, keep_min=keep_min, implicit_min=implicit_min, **kw)
    assert (merges, vocab) == train_reference(corpus, **kw)
    # The token array ends in the reference's segmentation: same number of tokens per row.
    id_to_str = result.vocab.id_to_str
    assert result.tokens_after == sum(len(apply_merges(s, merges)) for s, _ in corpus)
    assert all(len(id_to_str[i]) <= (kw["max_token_length"] or 10**9) for i in range(len(id_to_str)) if id_to_str[i] not in SPECIALS)


def test_non_ascii_alphabet_and_counts():
    corpus = [("αβγαβγ", 3), ("γγγα", 2), ("ACαβ", 1), ("αβ", 5)]
    kw = dict(vocab_size=40, min_frequency=1, special_tokens=SPECIALS)
    assert _fast(corpus, **kw)[1:] == train_reference(corpus, **kw)


def test_pruned_pairs_trigger_a_recount_and_stay_exact():
    # keep_min far above every count: the first merge's new pairs are all untracked, so the trainer must
    # recount at min_frequency before it can pick the second merge.
    rng = random.Random(7)
    corpus = [("".join(rng.choice("ACGT") for _ in range(300)), 1) for _ in range(20)]
    kw = dict(vocab_size=200, min_frequency=2, special_tokens=SPECIALS)
    assert _fast(corpus, keep_min=10**6, **kw)[1:] == train_reference(corpus, **kw)


def test_recreated_string_path_stays_exact(monkeypatch):
    """Real corpora (and hypothesis) practically never re-create a string, so pretend every merge does: the
    trainer then takes the re-created-string path at every step (part update for an existing token, then a
    full recount because a pruned pair may have grown) and must still give the reference's merges."""
    real_merge = Vocab.merge
    monkeypatch.setattr(Vocab, "merge", lambda self, a, b: (real_merge(self, a, b)[0], True))
    rng = random.Random(3)
    corpus = [("".join(rng.choice("ACG") for _ in range(rng.randint(5, 60))), rng.randint(1, 3)) for _ in range(15)]
    kw = dict(vocab_size=60, min_frequency=2, special_tokens=SPECIALS)
    for keep_min in (1, 3, 50):
        assert _fast(corpus, keep_min=keep_min, **kw)[1:] == train_reference(corpus, **kw)


def _recount(part: CorpusPart) -> Counter:
    """Brute-force weighted pair counts of a corpus part's current token array."""
    tok, tlen = part.tok, part.tlen
    counts: Counter = Counter()
    i = 0
    while i < len(tok) - 1:
        x = int(tok[i])
        if x < 0:
            i += 1
            continue
        j = i + int(tlen[x])
        if tok[j] >= 0:
            w = part.wval[np.searchsorted(part.wpos, i, "right") - 1]
            counts[(x, int(tok[j]))] += int(w)
        i = j
    return counts


@settings(max_examples=60, deadline=None)
@given(corpus=corpora(max_len=60), seed=st.integers(0, 10**6), implicit_min=st.sampled_from([2, 10**9]))
def test_part_counts_stay_exact_under_any_merge_sequence(corpus, seed, implicit_min):
    """White box: force arbitrary merges, including ones that map to an already existing id (the re-created
    string path, which real corpora almost never reach); local counts must always equal a recount."""
    rng = random.Random(seed)
    table = to_seq_table(corpus)
    vocab = Vocab(("[UNK]",), table.alphabet(), 64)
    part = CorpusPart(encode(table, vocab.str_to_id, 64), vocab.tlen, 64, None, keep_min=1, implicit_min=implicit_min)
    next_id = len(vocab)
    by_len: dict[int, list[int]] = {}
    for _ in range(25):
        live = _recount(part)
        if not live or next_id >= 64:
            break
        a, b = rng.choice(sorted(live))
        length = int(part.tlen[a] + part.tlen[b])
        reuse = [t for t in by_len.get(length, []) if t not in (a, b)]
        if reuse and rng.random() < 0.4:
            new, is_dup = rng.choice(reuse), True
        else:
            new, is_dup = next_id, False
            next_id += 1
            by_len.setdefault(length, []).append(new)
        part.apply(a, b, new, is_dup)
        keys, counts = part.items()
        tracked = {(int(k >> 32), int(k & 0xFFFFFFFF)): int(c) for k, c in zip(keys, counts)}
        assert tracked == dict(_recount(part))
        assert (a, b) not in _recount(part)  # every occurrence was merged


def test_real_dna_equals_hf_bpe_trainer(small_genomes):
    """Known answer from the peer itself: HF tokenizers' BpeTrainer on real genomes gives the same merges."""
    from tokenizers import Tokenizer, models, trainers

    segments = small_genomes["lambda"] + small_genomes["sarscov2"]
    specials = ["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"]
    hf = Tokenizer(models.BPE(unk_token="[UNK]"))
    hf.train_from_iterator(segments, trainers.BpeTrainer(vocab_size=1024, min_frequency=2, special_tokens=specials, show_progress=False))
    model = json.loads(hf.to_str())["model"]
    hf_merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    ours = train_bpe(segments, BpeTrainerConfig(vocab_size=1024, min_frequency=2))
    assert ours.merges == hf_merges
    assert ours.vocab == model["vocab"]
    assert ours.stats["vocab_size"] == 1024 and ours.stats["stop_reason"] == "vocab_size"
    # bp/token of the training corpus, from the token array, equals re-segmenting every segment.
    assert ours.stats["tokens"] == sum(len(ours.segment(s)) for s in segments)


def test_token_array_layout_has_separators_between_sequences():
    table = to_seq_table([("ACG", 1), ("T", 2)])
    vocab = Vocab(("[UNK]",), "ACGT", 16)
    enc = encode(table, vocab.str_to_id, 16)
    # sorted by count (T first), a SEP before, between and after
    assert enc.tok.tolist() == [SEP, 4, SEP, 1, 2, 3, SEP]
    assert enc.wpos.tolist() == [0, 3] and enc.wval.tolist() == [2, 1]
