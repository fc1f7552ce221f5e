"""Known answers for the pure-Python reference trainer (the oracle of the fast and distributed trainers)."""

from __future__ import annotations

from tokenmill.operators.bpe.reference import build_initial_vocab, train_reference


def test_initial_vocab_is_specials_then_sorted_alphabet():
    assert build_initial_vocab(["[UNK]", "[CLS]"], "TGCA") == ["[UNK]", "[CLS]", "A", "C", "G", "T"]
    # An alphabet character that is a special keeps the special's id.
    assert build_initial_vocab(["A"], "BA") == ["A", "B"]


def test_minbpe_wikipedia_example():
    # "aaabdaaabac" (Wikipedia's BPE example). (a, a) occurs 4 times (overlaps count) -> aa a b d aa a b a c.
    # Then (aa, a) and (a, b) both occur twice: (a, b) has the smaller ids (0, 1) < (4, 0) -> aa ab d aa ab a c.
    # Then (aa, ab) twice; every other pair once < min_frequency.
    merges, vocab = train_reference({"aaabdaaabac": 1}, vocab_size=100, min_frequency=2, special_tokens=())
    assert merges == [("a", "a"), ("a", "b"), ("aa", "ab")]
    assert [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])] == ["a", "b", "c", "d", "aa", "ab", "aaab"]


def test_overlapping_pairs_count_and_merge_left_to_right():
    # "AAA" holds (A, A) twice; merging gives "AA A", so the next pair is (AA, A) with count 1.
    merges, vocab = train_reference({"AAA": 3}, vocab_size=10, min_frequency=1, special_tokens=("[UNK]",))
    assert merges == [("A", "A"), ("AA", "A")]
    assert vocab == {"[UNK]": 0, "A": 1, "AA": 2, "AAA": 3}


def test_ties_go_to_the_smallest_ids():
    # (A, C), (C, G), (G, T) all occur twice: the pair of the oldest tokens, (A, C), wins; then (G, T) beats
    # (AC, G) because G (id 3) < AC (id 5).
    merges, _ = train_reference({"ACGT": 2}, vocab_size=20, min_frequency=1, special_tokens=())
    assert merges[:2] == [("A", "C"), ("G", "T")]
    assert merges[2] == ("AC", "GT")


def test_counts_weight_pairs_and_min_frequency_stops():
    merges, _ = train_reference([("AC", 5), ("GT", 1)], vocab_size=20, min_frequency=2, special_tokens=())
    assert merges == [("A", "C")]  # (G, T) occurs once < min_frequency


def test_pairs_never_span_sequences():
    merges, _ = train_reference({"A": 10, "C": 10}, vocab_size=20, min_frequency=1, special_tokens=())
    assert merges == []


def test_max_token_length_blocks_longer_tokens():
    merges, vocab = train_reference({"AAAAAAAA": 1}, vocab_size=20, min_frequency=1, special_tokens=(), max_token_length=2)
    assert merges == [("A", "A")]
    assert max(len(t) for t in vocab) == 2


def test_vocab_size_counts_specials():
    merges, vocab = train_reference({"ACGTACGT": 4}, vocab_size=7, min_frequency=1, special_tokens=("[UNK]", "[CLS]"))
    assert len(vocab) == 7 and len(merges) == 1
