"""FOCUS: sparsemax against pure references, a toy vocabulary worked by hand, and the real fastText path."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tokenmill.operators.transfer.focus import FocusConfig, focus_combine, focus_for_tokenizer, sparsemax, token_words, train_fasttext


def sparsemax_reference(z: list[float]) -> list[float]:
    """Sparsemax by its definition (Martins & Astudillo 2016, Alg. 1), in plain Python."""
    srt = sorted(z, reverse=True)
    k, cum = 0, 0.0
    for j, v in enumerate(srt, 1):
        if 1 + j * v > cum + v:
            k = j
        cum += v
    tau = (sum(srt[:k]) - 1) / k
    return [max(v - tau, 0.0) for v in z]


def simplex_projection_bisection(z: list[float]) -> list[float]:
    """The same projection found a second way: bisection on tau so that sum(max(z - tau, 0)) = 1."""
    lo, hi = min(z) - 1.0, max(z)
    for _ in range(200):
        mid = (lo + hi) / 2
        if sum(max(v - mid, 0.0) for v in z) > 1:
            lo = mid
        else:
            hi = mid
    return [max(v - (lo + hi) / 2, 0.0) for v in z]


def test_sparsemax_known_answers():
    torch.testing.assert_close(sparsemax(torch.tensor([1.0, 0.0])), torch.tensor([1.0, 0.0]))
    torch.testing.assert_close(sparsemax(torch.tensor([0.5, 0.5])), torch.tensor([0.5, 0.5]))
    torch.testing.assert_close(sparsemax(torch.tensor([0.3, 0.1, -0.2])), torch.tensor([17 / 30, 11 / 30, 2 / 30]))


@pytest.mark.parametrize("seed", range(20))
def test_sparsemax_matches_both_references(seed):
    rng = np.random.default_rng(seed)
    z = rng.normal(scale=rng.choice([0.05, 0.5, 3.0]), size=(4, int(rng.integers(1, 40)))).astype(np.float64)
    got = sparsemax(torch.from_numpy(z)).numpy()
    for row, g in zip(z, got):
        np.testing.assert_allclose(g, sparsemax_reference(list(row)), atol=1e-12)
        np.testing.assert_allclose(g, simplex_projection_bisection(list(row)), atol=1e-9)
    # Along another dimension too.
    np.testing.assert_allclose(sparsemax(torch.from_numpy(z.T.copy()), dim=0).numpy().T, got, atol=1e-12)


def test_focus_toy_vocabulary_by_hand():
    base = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, 0.0]])
    shared = {0: 0, 1: 1, 2: 3}  # new ids 0-2 are base tokens 0, 1, 3
    s = 1 / math.sqrt(2)
    aux = {
        0: np.array([1.0, 0.0]),
        1: np.array([0.0, 1.0]),
        2: np.array([s, s]),
        3: np.array([2.0, 0.0]),  # cos to anchors (1, 0, .7071) -> sparsemax (.64645, 0, .35355)
        4: np.array([0.0, 0.5]),
    }  # cos (0, 1, .7071) -> (0, .64645, .35355)
    out, counts = focus_combine(base, 6, shared, aux, seed=0)  # id 5 has no auxiliary vector: random
    w, r = 1 - s / 2, s / 2  # by hand: tau = (1 + s - 1) / 2, weights 1 - tau and s - tau
    torch.testing.assert_close(out[:3], base[[0, 1, 3]])
    torch.testing.assert_close(out[3], w * base[0] + r * base[3])
    torch.testing.assert_close(out[4], w * base[1] + r * base[3])
    torch.testing.assert_close(out[3], torch.tensor([1 - s / 2 + s, 0.0]))
    assert counts == {"copied": 3, "anchors": 3, "combined": 2, "random": 1, "mean_support": 2.0}
    assert torch.isfinite(out[5]).all() and not any(torch.equal(out[5], b) for b in base)


def test_anchors_need_an_auxiliary_vector():
    base = torch.eye(3)
    out, counts = focus_combine(base, 3, {0: 0, 1: 1}, {0: np.array([1.0, 0.0]), 2: np.array([1.0, 0.1])})
    torch.testing.assert_close(out[2], base[0])  # only anchor 0 has a vector, so it takes all the weight
    assert counts["anchors"] == 1


@pytest.fixture(scope="module")
def base():
    from tokenmill.operators.transfer.base_model import load_base_model

    return load_base_model()


def test_the_base_tokenizer_itself_is_copied_exactly(base):
    """A "new" tokenizer equal to the base one: every non-special token is shared, so FOCUS is the identity."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(base.tokenizer_json))
    texts = ["All human beings are born free and equal in dignity and rights."] * 20
    out, _ = focus_for_tokenizer(base.input_embeddings, base.tokenizer_json, tok, texts)
    vocab = tok.get_vocab()
    for word in ("the", "##ing", "human", ",", "rights"):
        torch.testing.assert_close(out[vocab[word]], base.input_embeddings[vocab[word]].detach())


def test_focus_with_fasttext_on_real_text(base, shared_data, tmp_path):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    from tokenmill.operators.transfer.focus import read_texts
    from tokenmill.operators.transfer.overlap import shared_tokens

    files = [str(shared_data / "text" / "udhr" / f"{lang}.txt") for lang in ("eng", "fra")]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer, tok.decoder = pre_tokenizers.Metaspace(), decoders.Metaspace()
    tok.train(files, trainers.BpeTrainer(vocab_size=600, special_tokens=["<unk>", "<s>", "</s>"]))
    tok.save(str(tmp_path / "tokenizer.json"))
    texts = read_texts(files)
    cfg = FocusConfig(min_count=3)
    out, counts = focus_for_tokenizer(base.input_embeddings, base.tokenizer_json, tok, texts, cfg)
    assert counts["copied"] + counts["combined"] + counts["random"] == 600 and counts["fasttext_vocab"] > 300
    emb = base.input_embeddings.detach()
    shared = shared_tokens(base.tokenizer_json, tmp_path / "tokenizer.json")
    vocab = tok.get_vocab()
    base_vocab = Tokenizer.from_file(str(base.tokenizer_json)).get_vocab()
    assert shared[vocab["▁Article"]] == base_vocab["article"]  # an uncased base: "Article" is its "article"
    assert shared[vocab["▁Déclaration"]] == base_vocab["declaration"]  # ... and strips accents
    for new_id, base_id in shared.items():
        torch.testing.assert_close(out[new_id], emb[base_id])
    # The combined rows, recomputed from their definition (fastText with one thread is deterministic).
    words = token_words(tok)
    vectors = train_fasttext(([words[i] for i in e.ids] for e in tok.encode_batch(texts, add_special_tokens=False)), cfg)
    anchors = [i for i in sorted(shared) if words[i] in vectors]
    new = [i for i in range(len(words)) if i not in shared and words[i] in vectors]
    assert len(anchors) > 100 and len(new) > 20
    a = torch.nn.functional.normalize(torch.tensor(np.stack([vectors[words[i]] for i in anchors])), dim=1)
    for i in new[:10]:
        q = torch.nn.functional.normalize(torch.tensor(vectors[words[i]]), dim=0)
        w = torch.tensor(sparsemax_reference((a @ q).tolist()))
        assert abs(float(w.sum()) - 1) < 1e-5 and 0 < int((w > 0).sum()) < len(anchors)  # convex, some weights 0
        torch.testing.assert_close(out[i], w @ emb[[shared[j] for j in anchors]], atol=1e-5, rtol=1e-4)
