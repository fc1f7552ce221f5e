"""sentencepiece BPE models get the fast engine through a derived tokenizer.json, only when it reproduces
sentencepiece: Mistral over all of UDHR, real code and hypothesis strings; a wrong derivation is refused by the parity
check and the workers' checks; models the derivation cannot express stay on sentencepiece with the reason."""

from __future__ import annotations

import functools
import io
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import sentencepiece as spm
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tokenmill.operators.encode import EncodeConfig, Encoder, EncoderConfig, EngineMismatch, load_engine
from tokenmill.operators.encode import encoder as encoder_module
from tokenmill.operators.encode.engines import FastokensEngine
from tokenmill.operators.encode.parity import compare
from tokenmill.operators.encode.spm_convert import derive_tokenizer_json, parse_model, reference_encode


def _corpus(shared_data: Path) -> list[str]:
    udhr = [p.read_text(encoding="utf-8") for p in sorted((shared_data / "text" / "udhr").glob("*.txt"))]
    return udhr + [p.read_text(encoding="utf-8") for p in sorted((shared_data / "code").rglob("*.py"))]


@pytest.fixture(scope="module")
def corpus(shared_data: Path) -> list[str]:
    return _corpus(shared_data)


@pytest.fixture(scope="module")
def mistral_path(shared_data: Path) -> Path:
    return shared_data / "tokenizers" / "mistral" / "tokenizer.model.v1"


@pytest.fixture(scope="module")
def mistral(mistral_path: Path):
    return load_engine(mistral_path, "auto")


def _without_merge(tokenizer_json: str, merge: tuple[str, str]) -> str:
    spec = json.loads(tokenizer_json)
    kept = [m for m in spec["model"]["merges"] if tuple(m) != merge]
    assert len(kept) == len(spec["model"]["merges"]) - 1
    spec["model"]["merges"] = kept
    return json.dumps(spec)


def _train(corpus: list[str], tmp_path: Path, name: str, **options) -> Path:
    """A real sentencepiece model trained on 40 UDHR languages and 20 Python files (a few seconds)."""
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus[:40] + corpus[-20:]), model_writer=model, vocab_size=1500, minloglevel=2, max_sentence_length=1 << 16, **options
    )
    path = tmp_path / f"{name}.model"
    path.write_bytes(model.getvalue())
    return path


def test_mistral_auto_uses_the_derived_fast_engine_and_it_matches_on_udhr_and_code(mistral, corpus):
    choice = mistral.choice
    assert choice["engine"] == "fastokens" and choice["reference"].startswith("sentencepiece"), choice
    assert "derived from the sentencepiece model reproduced sentencepiece" in choice["reason"] and choice["parity_docs"] >= 100
    assert mistral.encode_batch(["Hello world"]) == [[22557, 1526]]
    assert len(corpus) > 500
    result = compare(corpus, mistral.fast.encode_flat(corpus), mistral.reference.encode_flat(corpus))
    assert result.ok, result.first_mismatch
    assert result.tokens > 1_000_000
    with_bos = compare(corpus[:50], mistral.fast.encode_flat(corpus[:50], True), mistral.reference.encode_flat(corpus[:50], True))
    assert with_bos.ok and mistral.encode_batch(["x"], True)[0][0] == 1


# Whitespace runs, repeats and spelled control pieces: where merges of equal score compete.
_SPACEY = st.lists(st.sampled_from([" ", "  ", "\t", "\n", "▁", "a", "=", "ー", "1", "é", "e\u0301", "😀", "<s>", "</s>", "<unk>"]), max_size=60).map("".join)
_ANY = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=200)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(_ANY, _SPACEY), min_size=1, max_size=8))
def test_hypothesis_strings_match_sentencepiece(mistral, texts):
    result = compare(texts, mistral.fast.encode_flat(texts), mistral.reference.encode_flat(texts))
    assert result.ok, result.first_mismatch


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(_SPACEY, st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=40)))
def test_plain_python_reference_is_sentencepiece(mistral_path, text):
    """reference_encode (highest score first, leftmost on ties) is what sentencepiece does; the merge list follows it."""
    proto, sp = _opened(str(mistral_path))
    assert reference_encode(proto, text) == sp.encode(text)


@functools.cache
def _opened(path: str) -> tuple[object, spm.SentencePieceProcessor]:
    return parse_model(Path(path).read_bytes()), spm.SentencePieceProcessor(model_file=path)


def test_a_wrong_derivation_is_refused_and_the_reason_says_so(mistral_path, monkeypatch):
    """The derived merge list without '▁' + 't' (so ' the' splits): the parity check keeps sentencepiece."""
    real = encoder_module.derive_tokenizer_json
    monkeypatch.setattr(encoder_module, "derive_tokenizer_json", lambda blob: _without_merge(real(blob), ("▁", "t")))
    engine = load_engine(mistral_path, "auto")
    assert engine.fast is None and engine.choice["engine"] == "sentencepiece"
    reason = engine.choice["reason"]
    assert "derived from the sentencepiece model failed the parity set against sentencepiece" in reason and "ids differ" in reason
    assert engine.encode_batch(["the theory"]) == [spm.SentencePieceProcessor(model_file=str(mistral_path)).encode("the theory")]
    with pytest.raises(ValueError, match="does not reproduce sentencepiece"):
        load_engine(mistral_path, "fastokens")


def test_workers_check_against_sentencepiece(mistral_path, corpus):
    enc = Encoder(EncoderConfig(tokenizer=str(mistral_path), encode=EncodeConfig(check_docs=2)))
    assert enc.engine.fast is not None and enc.engine.reference.name == "sentencepiece"
    batch = pa.table({"text": corpus[:40]})
    good = enc(batch, first=True)
    enc.engine.fast = FastokensEngine(_without_merge(derive_tokenizer_json(mistral_path.read_bytes()), ("▁", "t")))
    with pytest.raises(EngineMismatch, match="differs from the reference"):
        enc(batch)
    enc.engine.use_reference("test")
    assert enc.engine.choice["engine"] == "sentencepiece"
    assert enc(batch).equals(good)


def test_trained_bpe_models(corpus, tmp_path):
    """Identity normalizers (spaces kept or squeezed, with and without byte fallback) get the fast engine and match;
    the default nmt_nfkc normalizer stays on sentencepiece (fastokens cannot load Precompiled); unigram is refused."""
    texts = corpus[::5]
    for name, options in {
        "identity-bytes": {"normalization_rule_name": "identity", "remove_extra_whitespaces": False, "byte_fallback": True},
        "identity-squeeze": {"normalization_rule_name": "identity"},
    }.items():
        engine = load_engine(_train(corpus, tmp_path, name, model_type="bpe", **options), "auto")
        assert engine.choice["engine"] == "fastokens", (name, engine.choice["reason"])
        result = compare(texts, engine.fast.encode_flat(texts), engine.reference.encode_flat(texts))
        assert result.ok, (name, result.first_mismatch)
        assert np.any(engine.reference.encode_flat(["\U00012000\U00012001 zz"])[0] == engine.unk_id) != options.get("byte_fallback", False)
    nfkc = load_engine(_train(corpus, tmp_path, "nfkc", model_type="bpe"), "auto")
    assert nfkc.choice["engine"] == "sentencepiece" and "Precompiled" in nfkc.choice["reason"]
    unigram = load_engine(_train(corpus, tmp_path, "unigram", model_type="unigram"), "auto")
    assert unigram.choice["engine"] == "sentencepiece" and "unigram model: only BPE" in unigram.choice["reason"]
    with pytest.raises(ValueError, match="no fast engine for this sentencepiece model: a sentencepiece unigram model"):
        load_engine(tmp_path / "unigram.model", "fastokens")


def test_not_a_model():
    with pytest.raises(ValueError, match="not a sentencepiece model"):
        derive_tokenizer_json(b"")
