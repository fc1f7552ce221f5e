"""``exact_weights``: every document counts at its language's sampling weight (``sampling.language_weights``)
instead of the whole repeats ``document_repeats`` draws, which leave out the documents drawn 0 times."""

from __future__ import annotations

import pytest

from tokenmill.operators.report.fairness import load_parallel
from tokenmill.operators.tokenize_text import document_repeats, sample_counts, train_tokenizer
from tokenmill.operators.tokenize_text.multilingual_config import MultilingualConfig
from tokenmill.operators.tokenize_text.sampling import WEIGHT_STEPS, LanguageSamplingConfig, language_probabilities, language_weights


@pytest.fixture(scope="module")
def udhr(shared_data) -> tuple[list[str | None], list[str]]:
    par = load_parallel([str(shared_data / "text/udhr" / f"{lg}.txt") for lg in ("eng", "rus", "hin", "amh")])
    langs: list[str | None] = [lg for lg, lines in par.items() for _ in lines]
    return langs, [ln for lines in par.values() for ln in lines]


def test_every_document_counts_at_its_languages_factor(udhr):
    langs, texts = udhr
    sampling = LanguageSamplingConfig(alpha=0.3)
    w = language_weights(langs, [len(t.encode()) for t in texts], sampling)
    assert len(w) == len(texts) and (w >= 1).all()
    size: dict[str | None, int] = {}
    for lg, t in zip(langs, texts):
        size[lg] = size.get(lg, 0) + len(t.encode())
    total = sum(size.values())
    probs = language_probabilities({str(k): v for k, v in size.items()}, sampling.alpha)
    for lg, n in size.items():
        mine = {int(x) for x, d in zip(w, langs) if d == lg}
        assert mine == {round(WEIGHT_STEPS * probs[str(lg)] * total / n)}  # one weight per language, the exact factor
        # the mixture: the language's share of the weighted bytes is p_lang (up to the rounding to 1/8 of a repeat)
        share = sum(int(x) * len(t.encode()) for x, t, d in zip(w, texts, langs) if d == lg) / sum(int(x) * len(t.encode()) for x, t in zip(w, texts))
        assert share == pytest.approx(probs[str(lg)], rel=0.1)


def test_a_language_far_over_its_share_keeps_weight_one():
    langs: list[str | None] = ["big"] * 50 + [f"s{i}" for i in range(30)] + [None]
    texts = ["x" * 1000] * 50 + ["y"] * 31
    w = language_weights(langs, [len(t.encode()) for t in texts], LanguageSamplingConfig(alpha=0.0))  # uniform: big's factor is about 1/31
    assert (w[:50] == 1).all() and (w[50:] > 1).all()  # under 1/8 of a repeat: 1, never 0


def test_parity_training_sees_the_documents_the_draw_leaves_out(tmp_path, udhr):
    langs, texts = udhr
    cfg = MultilingualConfig(vocab_size=400, exact_weights=False)
    repeats, copy = sample_counts(cfg, langs, texts)
    assert copy == 1 and (repeats == document_repeats(langs, [len(t.encode()) for t in texts], cfg.sampling)).all()
    assert (repeats == 0).any()  # the draw leaves documents out of this input
    drawn, _ = train_tokenizer(cfg, langs, texts, repeats, tmp_path / "drawn")
    exact_cfg = MultilingualConfig(vocab_size=400)  # exact_weights, the default
    weights, copy = sample_counts(exact_cfg, langs, texts)
    assert copy == WEIGHT_STEPS and (weights >= 1).all()
    exact, path = train_tokenizer(exact_cfg, langs, texts, weights, tmp_path / "exact")
    everything, _ = train_tokenizer(cfg, langs, texts, [1] * len(texts), tmp_path / "all")
    assert exact["distinct_words"] == everything["distinct_words"] > drawn["distinct_words"]
    assert exact["vocab_size"] == 400 and path.exists()
    # sentencepiece trains on repeated lines: whole repeats, drawn, whatever exact_weights says
    sp_counts, sp_copy = sample_counts(MultilingualConfig(engine="sentencepiece"), langs, texts)
    assert sp_copy == 1 and (sp_counts == repeats).all()
