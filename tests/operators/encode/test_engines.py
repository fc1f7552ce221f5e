"""The fast engine is exact or it does not encode: parity of fastokens with HF tokenizers on every real tokenizer,
over all of UDHR, real code and hypothesis-generated strings; the reference engine wherever fastokens cannot load;
a fast engine that differs is caught by the workers' checks and the partition is re-encoded by the reference."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tokenmill.operators.encode import EncodeConfig, Encoder, EncoderConfig, EngineMismatch, adversarial_texts, load_engine
from tokenmill.operators.encode.engines import FastokensEngine, flat_from_lists, lists_from_flat
from tokenmill.operators.encode.parity import compare


def _texts(shared_data: Path) -> list[str]:
    udhr = [p.read_text(encoding="utf-8") for p in sorted((shared_data / "text" / "udhr").glob("*.txt"))]
    code = [p.read_text(encoding="utf-8") for p in sorted((shared_data / "code").rglob("*.py"))]
    return udhr + code


@pytest.fixture(scope="module")
def corpus(shared_data: Path) -> list[str]:
    texts = _texts(shared_data)
    assert len(texts) > 500  # ~380 UDHR languages and the flask + click sources
    return texts


@pytest.fixture(scope="module")
def gpt2(shared_data: Path):
    return load_engine(shared_data / "tokenizers" / "gpt2", "auto")


@pytest.fixture(scope="module")
def dna_tokenizer(shared_data: Path, tmp_path_factory) -> Path:
    from tokenmill.operators.bpe import BpeTrainerConfig, save_hf_tokenizer, train_bpe

    seq = "".join(line.strip() for line in (shared_data / "dna" / "lambda_phage.fa").read_text().splitlines() if not line.startswith(">"))
    segments = [seq[i : i + 1000] for i in range(0, len(seq), 1000)]
    return save_hf_tokenizer(train_bpe(segments, BpeTrainerConfig(vocab_size=600)), tmp_path_factory.mktemp("dna") / "tok")


def test_gpt2_auto_picks_fastokens_and_it_matches_hf_on_udhr_and_code(gpt2, corpus):
    assert gpt2.choice["engine"] == "fastokens" and gpt2.choice["parity_docs"] >= 80
    result = compare(corpus, gpt2.encode_flat(corpus), gpt2.reference.encode_flat(corpus))
    assert result.ok, result.first_mismatch
    assert result.docs == len(corpus) and result.tokens > 1_000_000


def test_dna_tokenizer_gets_fastokens_and_matches(dna_tokenizer, shared_data):
    engine = load_engine(dna_tokenizer, "auto")
    assert engine.choice["engine"] == "fastokens", engine.choice["reason"]
    genome = (shared_data / "dna" / "sarscov2_NC_045512.2.fasta").read_text().splitlines()[1:]
    texts = ["".join(genome)[i : i + 1000] for i in range(0, 29_000, 1000)]
    texts += [t.lower() for t in texts[:5]] + ["ACGTN" * 50, "acgtnRYKM", ""]  # soft-masked, IUPAC codes
    result = compare(texts, engine.encode_flat(texts), engine.reference.encode_flat(texts))
    assert result.ok, result.first_mismatch
    assert compare(texts, engine.encode_flat(texts, True), engine.reference.encode_flat(texts, True)).ok  # [CLS] ... [SEP]


def test_bert_falls_back_to_hf_and_says_why(shared_data, corpus):
    engine = load_engine(shared_data / "tokenizers" / "bert-base-uncased", "auto")
    assert engine.choice["engine"] == "hf" and "BertNormalizer" in engine.choice["reason"]
    assert engine.encode_batch(corpus[:3]) == engine.reference.encode_lists(corpus[:3])
    with pytest.raises(ValueError, match="encode.engine=fastokens"):
        load_engine(shared_data / "tokenizers" / "bert-base-uncased", "fastokens")


def test_sentencepiece_model_on_sentencepiece_when_asked(shared_data):
    """engine=sentencepiece encodes with sentencepiece (auto derives a fast engine: test_spm_convert.py)."""
    path = shared_data / "tokenizers" / "mistral" / "tokenizer.model.v1"
    engine = load_engine(path, "sentencepiece")
    assert engine.choice["engine"] == "sentencepiece" and engine.choice["reason"] == "asked for" and engine.fast is None
    assert engine.encode_batch(["Hello world"]) == [[22557, 1526]]
    with pytest.raises(ValueError, match="sentencepiece model"):
        load_engine(path, "hf")
    with pytest.raises(ValueError, match="encode.engine=sentencepiece"):
        load_engine(shared_data / "tokenizers" / "gpt2", "sentencepiece")


def test_adversarial_set_covers_scripts_specials_and_long_words():
    texts = adversarial_texts(["<|endoftext|>"])
    joined = "".join(texts)
    assert any(len(t) >= 5000 for t in texts) and "\u200d" in joined and "\x00" in joined and "\u0301" in joined
    assert sum("<|endoftext|>" in t for t in texts) >= 5
    for lo in (0x0E01, 0x1200, 0x4E00, 0xAC00, 0x0F40, 0x1000):  # Thai, Ethiopic, Han, Hangul, Tibetan, Myanmar
        assert any(lo <= ord(c) <= lo + 0x200 for c in joined)


def test_special_tokens_in_text_match(shared_data, tmp_path):
    """A tokenizer.json with added special tokens: text that spells them gets the same ids from both engines."""
    from tokenizers import AddedToken

    engine = load_engine(shared_data / "tokenizers" / "gpt2", "hf")
    tok = engine._tok
    tok.add_special_tokens([AddedToken("<|endoftext|>", special=True), AddedToken("<pad>", special=True)])
    tok.add_tokens(["tokenmill"])
    path = tmp_path / "tokenizer.json"
    tok.save(str(path))
    proven = load_engine(path, "auto")
    assert proven.choice["engine"] == "fastokens", proven.choice["reason"]
    texts = ["a<|endoftext|>b", "<pad><pad> tokenmill!", "<|endoftext|"]
    assert proven.encode_batch(texts) == proven.reference.encode_lists(texts)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=200), min_size=1, max_size=8))
def test_hypothesis_strings_match(gpt2, texts):
    result = compare(texts, gpt2.fast.encode_flat(texts), gpt2.reference.encode_flat(texts))
    assert result.ok, result.first_mismatch


def test_flat_round_trip():
    lists = [[1, 2, 3], [], [4294967295], [7]]
    flat, offsets = flat_from_lists(lists)
    assert flat.dtype == np.uint32 and offsets.tolist() == [0, 3, 3, 4, 5]
    assert lists_from_flat(flat, offsets) == lists


def _wrong_fast_engine(shared_data: Path) -> FastokensEngine:
    """A real fastokens engine that gives other ids: GPT-2 without its merge of 'Ġ' + 't' (so ' the' splits)."""
    engine = load_engine(shared_data / "tokenizers" / "gpt2", "hf")
    spec = json.loads(engine._tok.to_str())
    spec["model"]["merges"] = [m for m in spec["model"]["merges"] if m not in ("Ġ t", ["Ġ", "t"])]
    return FastokensEngine(json.dumps(spec))


def test_encoder_catches_a_differing_fast_engine(shared_data, corpus):
    enc = Encoder(EncoderConfig(tokenizer=str(shared_data / "tokenizers" / "gpt2"), encode=EncodeConfig(check_docs=2)))
    assert enc.engine.fast is not None
    batch = pa.table({"id": [str(i) for i in range(40)], "text": corpus[:40]})
    good = enc(batch, first=True)
    assert enc.checked_docs == 40  # the whole first batch (fewer documents than first_check_docs)
    enc.engine.fast = _wrong_fast_engine(shared_data)
    with pytest.raises(EngineMismatch, match="differs from the reference"):
        enc(batch)
    enc.engine.use_reference("test")
    assert enc(batch).equals(good)


def test_part_writer_reencodes_the_partition_with_the_reference(shared_data, corpus, tmp_path):
    """A mismatch inside a partition: the partition is written again by HF, the descriptor records the fallback and
    the shard bytes equal those of encode.engine=hf."""
    from tokenmill.operators.core.ingest_config import IngestConfig
    from tokenmill.operators.shards import ShardWriterConfig
    from tokenmill.operators.shards.part_writer import PartWriter, PartWriterConfig

    src = tmp_path / "docs.jsonl"
    src.write_text("".join(json.dumps({"id": str(i), "text": t}) + "\n" for i, t in enumerate(corpus[:300])))
    task = {
        "uri": str(src),
        "format": "jsonl",
        "compression": None,
        "start": 0,
        "end": src.stat().st_size,
        "size": src.stat().st_size,
        "row_group": None,
        "fingerprint": "x",
    }
    digests = {}
    for engine in ("hf", "auto"):
        out = tmp_path / engine
        writer = PartWriter(
            PartWriterConfig(
                shards_dir=str(out / "shards"),
                tokenizer=str(shared_data / "tokenizers" / "gpt2"),
                shard_cfg=ShardWriterConfig(),
                ingest=IngestConfig(),
                quarantine_dir=str(out / "q"),
                receipts_dir=str(out / "r"),
                documents_dir=None,
                run_id="r",
                encode_batch_size=64,
                encode=EncodeConfig(engine=engine),
            )
        )
        if engine == "auto":
            writer.encoder.engine.fast = _wrong_fast_engine(shared_data)
        part = writer.write(0, "p0", [task])
        if engine == "auto":
            assert part["encoder"]["engine"] == "hf" and "partition 0" in part["encoder"]["fallback"]
        else:
            assert part["encoder"] == {"engine": "hf", "version": part["encoder"]["version"], "checked_docs": 0, "fallback": None}
        digests[engine] = {p.name: p.read_bytes() for p in sorted((out / "shards").rglob("*")) if p.is_file()}
    assert digests["hf"] and digests["hf"] == digests["auto"]


def test_eos_auto_resolves_to_the_tokenizers_end_of_document_token(shared_data, dna_tokenizer):
    from tokenmill.operators.encode import resolve_eos_id
    from tokenmill.operators.pack import PackerConfig
    from tokenmill.operators.shards import ShardWriterConfig

    auto = ShardWriterConfig(pack=PackerConfig(eos_id="auto"))
    tokenizers = {"gpt2": 50256, "bert-base-uncased": 102, "mistral/tokenizer.model.v1": 2}
    for name, eos in tokenizers.items():
        assert resolve_eos_id(auto, load_engine(shared_data / "tokenizers" / name, "hf" if "model" not in name else "auto")).pack.eos_id == eos
    assert resolve_eos_id(auto, load_engine(dna_tokenizer, "hf")).pack.eos_id == 2  # DNABERT-2's [SEP]
    none = ShardWriterConfig(pack=PackerConfig(eos_id=None))
    assert resolve_eos_id(none, load_engine(shared_data / "tokenizers" / "gpt2", "hf")) is none
    from tokenizers import Tokenizer, models

    tok = Tokenizer(models.WordLevel({"a": 0, "[UNK]": 1}, unk_token="[UNK]"))
    path = dna_tokenizer.parent / "bare.json"  # a tokenizer.json with neither EOS nor SEP
    tok.save(str(path))
    with pytest.raises(ValueError, match="no EOS or SEP"):
        resolve_eos_id(auto, load_engine(path, "hf"))
