"""A few training steps against the real frozen all-MiniLM-L6-v2 reduce the loss on a tiny corpus."""

from __future__ import annotations

import dataclasses
import itertools

import pytest
import torch

from tokenmill.operators.transfer.decompose import begins_word, reads_both_ways
from tokenmill.operators.transfer.hypernet import HypernetConfig
from tokenmill.operators.transfer.hypernet_data import load_corpus
from tokenmill.operators.transfer.hypernet_train import HypernetTrainConfig, HypernetTrainer, contrastive_loss, relation_loss


@pytest.fixture(scope="module")
def base():
    from tokenmill.operators.transfer.base_model import load_base_model

    return load_base_model()


@pytest.fixture(scope="module")
def tiny_corpus(shared_data):
    return load_corpus(shared_data, split="train", max_chars=80, langs=("eng", "fra", "deu"))


def test_config_validation_names_the_field():
    with pytest.raises(ValueError, match="code_share"):
        HypernetTrainConfig(code_share=1.5)
    with pytest.raises(ValueError, match="save_dtype"):
        HypernetTrainConfig(save_dtype="int8")
    with pytest.raises(ValueError, match="contrast_temperature"):
        HypernetTrainConfig(contrast_temperature=0.0)
    with pytest.raises(ValueError, match="relation_weight"):
        HypernetTrainConfig(relation_weight=-1.0)
    with pytest.raises(ValueError, match="parallel"):
        HypernetTrainConfig(parallel=True, langs_per_batch=1)


def test_langs_per_batch_limits_a_batch_to_that_many_languages(base, tiny_corpus):
    cfg = HypernetTrainConfig(hypernet=HypernetConfig(d_model=32, n_layers=1, n_heads=2, ffn_dim=64), code_share=0.0, device="cpu")
    trainer = HypernetTrainer(cfg, base, tiny_corpus)
    chunks = {lang: set(c) for lang, c in tiny_corpus.udhr.items()}
    only = {lang: c - set().union(*(chunks[o] for o in chunks if o != lang)) for lang, c in chunks.items()}
    for _ in range(5):
        batch = set(trainer.draw_texts(24, langs_per_batch=1))
        assert any(batch <= c for c in chunks.values())
    mixed = set(trainer.draw_texts(60))
    assert all(mixed & only[lang] for lang in chunks)  # eng, fra and deu all drawn


def test_parallel_batches_take_the_same_place_in_every_language(base, tiny_corpus):
    cfg = HypernetTrainConfig(hypernet=HypernetConfig(d_model=32, n_layers=1, n_heads=2, ffn_dim=64), code_share=0.0, device="cpu")
    trainer = HypernetTrainer(cfg, base, tiny_corpus)
    where: dict[str, list[tuple[str, float]]] = {}  # a chunk's text may occur in several places
    for lang, cs in tiny_corpus.udhr.items():
        for i, c in enumerate(cs):
            where.setdefault(c, []).append((lang, i / len(cs)))
    step = max(1 / len(cs) for cs in tiny_corpus.udhr.values())
    batch = trainer.draw_texts(12, langs_per_batch=3, parallel=True)
    assert len(batch) == 12
    for group in (batch[k : k + 3] for k in range(0, 12, 3)):
        # some reading of the group has one chunk per language, all at the same relative place
        assert any(
            len({lang for lang, _ in pick}) == 3 and max(p for _, p in pick) - min(p for _, p in pick) < step
            for pick in itertools.product(*(where[c] for c in group))
        )


def test_relation_loss_reference():
    """KL of in-batch similarity distributions against a hand-written one: 0 for the same geometry (also when
    rotated or scaled), > 0 when the neighbours change."""
    torch.manual_seed(0)
    target = torch.randn(6, 8)
    rot, _ = torch.linalg.qr(torch.randn(8, 8))
    assert float(relation_loss(3.0 * target @ rot, target, 0.05)) == pytest.approx(0.0, abs=1e-5)
    new = torch.randn(6, 8)

    def probs(x):
        x = torch.nn.functional.normalize(x, dim=-1)
        sims = x @ x.T / 0.1
        return torch.stack([torch.cat([sims[i, :i], sims[i, i + 1 :]]).softmax(0) for i in range(len(x))])

    p, q = probs(target), probs(new)
    want = (p * (p.log() - q.log())).sum(1).mean()
    assert float(relation_loss(new, target, 0.1)) == pytest.approx(float(want), rel=1e-5)
    assert float(want) > 0.1
    assert float(relation_loss(new[:2], target[:2], 0.1)) == 0.0  # no neighbours to compare


def test_contrastive_loss_reference():
    """InfoNCE against a hand-written log-softmax: log(n) when all targets are alike, ~0 when well separated."""
    torch.manual_seed(0)
    target = torch.randn(5, 8)
    assert float(contrastive_loss(target, torch.ones(5, 8), 0.1)) == pytest.approx(float(torch.log(torch.tensor(5.0))), rel=1e-5)
    new = target + 0.01 * torch.randn(5, 8)
    cos = torch.nn.functional.cosine_similarity(new[:, None], target[None], dim=-1) / 0.05
    want = -torch.stack([cos[i].log_softmax(0)[i] for i in range(5)]).mean()
    got = contrastive_loss(new, target, 0.05)
    assert float(got) == pytest.approx(float(want), rel=1e-5) and float(got) < 0.5
    swapped = contrastive_loss(new[[1, 0, 2, 3, 4]], target, 0.05)
    assert float(swapped) > float(got) + 1.0


def test_corpus_split_is_disjoint(shared_data):
    train = load_corpus(shared_data, split="train", langs=("eng",))
    held = load_corpus(shared_data, split="eval", langs=("eng",))
    assert train.udhr["eng"] and held.udhr["eng"] and not set(train.udhr["eng"]) & set(held.udhr["eng"])
    assert train.code and held.code and not set(train.code) & set(held.code)
    assert all(len(c) <= 160 for c in train.udhr["eng"] + train.code)


def test_training_steps_reduce_the_loss(base, tiny_corpus):
    """Repeated steps on one batch with one sampled tokenizer: the loss (from the FVT start) must go down."""
    cfg = HypernetTrainConfig(
        hypernet=HypernetConfig(d_model=64, n_layers=1, n_heads=4, ffn_dim=128),
        batch_size=4,
        max_tokens=24,
        lr=3e-3,
        warmup_steps=0,
        buffer_size=64,
        seed=0,
        device="cpu",
    )
    trainer = HypernetTrainer(cfg, base, tiny_corpus)
    texts = trainer.draw_texts(4)
    trainer.sampler.fit(trainer.draw_texts(64))
    tok = trainer.sampler.sample("metaspace")
    with torch.no_grad():
        before = trainer.losses(texts, tok)
    # The untrained network is FVT: exact on tokens that are one original token.
    assert float(before["aux"]) == pytest.approx(0.0, abs=1e-6)
    for _ in range(6):
        out = trainer.losses(texts, tok)
        trainer.opt.zero_grad()
        out["loss"].backward()
        trainer.opt.step()
    with torch.no_grad():
        after = trainer.losses(texts, tok)
    assert float(after["loss"]) < float(before["loss"]) - 0.01
    assert float(after["sent"]) < float(before["sent"])


def test_contrast_weight_enters_the_total(base, tiny_corpus):
    """With contrast_weight the total is the old total plus weight x the (non-negative) InfoNCE term."""
    kw = dict(hypernet=HypernetConfig(d_model=32, n_layers=1, n_heads=2, ffn_dim=64), batch_size=4, max_tokens=16, buffer_size=32, device="cpu")
    plain = HypernetTrainer(HypernetTrainConfig(**kw), base, tiny_corpus)
    texts = plain.draw_texts(4)
    plain.sampler.fit(plain.draw_texts(32))
    tok = plain.sampler.sample("metaspace")
    weighted = HypernetTrainer(HypernetTrainConfig(contrast_weight=0.5, **kw), base, tiny_corpus)
    weighted.model.load_state_dict(plain.model.state_dict())
    with torch.no_grad():
        a, b = plain.losses(texts, tok), weighted.losses(texts, tok)
    assert float(a["contrast"]) > 0.0
    assert float(b["loss"]) == pytest.approx(float(a["loss"]) + 0.5 * float(a["contrast"]), rel=1e-5)
    related = HypernetTrainer(HypernetTrainConfig(relation_weight=2.0, **kw), base, tiny_corpus)
    related.model.load_state_dict(plain.model.state_dict())
    with torch.no_grad():
        c = related.losses(texts, tok)
    assert float(a["relation"]) > 0.0
    assert float(c["loss"]) == pytest.approx(float(a["loss"]) + 2.0 * float(a["relation"]), rel=1e-5)


def test_word_starts_reads_tokens_after_punctuation_as_words(base, tiny_corpus):
    """With word_starts, a GPT-2-style token that follows punctuation is decomposed as a word start: the sentence
    loss moves on a text with "(self"-like words and not on one without any."""
    kw = dict(hypernet=HypernetConfig(d_model=32, n_layers=1, n_heads=2, ffn_dim=64), batch_size=2, max_tokens=32, buffer_size=32, device="cpu")
    plain = HypernetTrainer(HypernetTrainConfig(**kw), base, tiny_corpus)
    plain.sampler.fit(plain.draw_texts(32))
    tok = plain.sampler.sample("bytelevel")
    marked = HypernetTrainer(HypernetTrainConfig(word_starts=True, **kw), base, tiny_corpus)
    marked.model.load_state_dict(plain.model.state_dict())
    punct = ["freedom(of)thought,conscience;religion", "everyone(has)the.right"]
    spaced = [" freedom of thought", " everyone has the right"]  # a text's first token begins a word too
    surfaces, offsets = tok.encode(punct)
    assert any(reads_both_ways(s) and begins_word(t, a) for row, offs, t in zip(surfaces, offsets, punct) for s, (a, _) in zip(row, offs) if a > 0)
    with torch.no_grad():
        assert float(marked.losses(punct, tok)["sent"]) != pytest.approx(float(plain.losses(punct, tok)["sent"]))
        assert float(marked.losses(spaced, tok)["sent"]) == pytest.approx(float(plain.losses(spaced, tok)["sent"]))


def test_train_loop_checkpoints(base, tiny_corpus):
    cfg = HypernetTrainConfig(
        hypernet=HypernetConfig(d_model=32, n_layers=1, n_heads=2, ffn_dim=64), steps=2, batch_size=2, max_tokens=16, buffer_size=16, save_every=1, device="cpu"
    )
    trainer = HypernetTrainer(cfg, base, tiny_corpus)
    seen = []
    summary = trainer.train(lambda tr, s: seen.append(dict(s)), show_progress=False)
    assert summary["steps"] == 2 and len(seen) == 3  # after step 1, step 2, and the final one
    assert dataclasses.asdict(trainer.model.config)["embed_dim"] == base.dim
