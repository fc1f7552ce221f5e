"""pipelines/multilingual_tokenizer.py: tiny byte-level BPE and sentencepiece on a few UDHR files, with the report."""

from __future__ import annotations

import json

import pytest
from tokenizers import Tokenizer

from tokenmill.pipelines import multilingual_tokenizer

FILES = ("eng.txt", "rus.txt", "hin.txt", "cmn_hans.txt")


def _args(shared_data, out, *sets):
    udhr = shared_data / "text/udhr"
    args = [a for f in FILES for a in ("--input", str(udhr / f))]
    parallel = str(udhr / "[ecrh][nmui][gsn]*.txt")  # eng, cmn_hans, rus, hin (+ a few neighbours)
    return [
        *args,
        "--output",
        str(out),
        "--quiet",
        "--set",
        "ingest.lang_from=filename",
        "--set",
        f"parallel={parallel}",
        "--set",
        f"compare=[gpt2={shared_data / 'tokenizers/gpt2'}]",
        "--set",
        "fairness.charts=false",
        *[x for s in sets for x in ("--set", s)],
    ]


def test_multilingual_bpe(tmp_path, shared_data, ray_local):
    out = tmp_path / "out"
    assert multilingual_tokenizer.main(_args(shared_data, out, "vocab_size=1000", "digits_r2l=true")) == 0
    tok = Tokenizer.from_file(str(out / "tokenizer/tokenizer.json"))
    assert tok.get_vocab_size() == 1000
    meta = json.loads((out / "tokenizer/tokenmill.json").read_text())
    assert meta["format"] == "tokenmill byte-level tokenizer v1" and meta["digits_r2l"] is True
    # The default build is the fair one: marks kept, parity-aware merges measured on the (parallel) input itself.
    assert meta["marks"] is True and meta["parity_aware"] is True and meta["parity_dev"] == "input"
    for text in ("Everyone has the right to life.", "Все люди рождаются свободными", "人人生而自由 1234567"):
        assert tok.decode(tok.encode(text).ids) == text
    assert tok.encode("1234567").tokens[:1] == ["1"]
    from transformers import AutoTokenizer  # the folder is one transformers takes: special tokens, padding

    auto = AutoTokenizer.from_pretrained(str(out / "tokenizer"))
    batch = auto(["Everyone has the right to life.", "Все люди"], padding=True, return_tensors="pt")
    assert batch["input_ids"].shape[0] == 2 and batch["input_ids"][1, -1].item() == auto.pad_token_id
    assert batch["attention_mask"].sum().item() < batch["attention_mask"].numel()
    report = json.loads((out / "fairness.json").read_text())
    ours, gpt2 = report["tokenizers"]["tokenmill"], report["tokenizers"]["gpt2"]
    assert {"eng", "rus", "hin", "cmn"} <= set(ours["per_language"])
    # Trained with temperature sampling on these languages, ours is fairer on them than English-centric GPT-2.
    assert ours["per_language"]["hin"]["premium"] < gpt2["per_language"]["hin"]["premium"]
    assert (out / "fairness.html").is_file() and (out / "ledger.duckdb").is_file()


@pytest.mark.slow
def test_multilingual_sentencepiece(tmp_path, shared_data, ray_local):
    out = tmp_path / "out"
    assert multilingual_tokenizer.main(_args(shared_data, out, "engine=sentencepiece", "vocab_size=1500", "sp_model_type=bpe")) == 0
    assert (out / "tokenizer/spm.model").is_file()
    names = json.loads((out / "fairness.json").read_text())["tokenizers"]
    assert "sentencepiece-bpe" in names and "tokenmill" not in names  # the table names the trainer
    with pytest.raises(SystemExit):  # too small for the Han characters: a config error naming the fix
        multilingual_tokenizer.main(_args(shared_data, tmp_path / "o2", "engine=sentencepiece", "vocab_size=400"))


def test_bad_config(tmp_path, shared_data):
    with pytest.raises(SystemExit):
        multilingual_tokenizer.main(_args(shared_data, tmp_path, "vocab_size=10"))


def test_old_lang_from_key_names_the_new_one(tmp_path, shared_data, capsys):
    """``lang_from`` moved under ``ingest``: the old top-level key is an error that names ``ingest.lang_from``."""
    udhr = shared_data / "text/udhr"
    with pytest.raises(SystemExit) as exc:
        multilingual_tokenizer.main(["--input", str(udhr / "eng.txt"), "--output", str(tmp_path), "--quiet", "--set", "lang_from=filename"])
    assert exc.value.code == 2
    assert "lang_from was renamed: use ingest.lang_from" in capsys.readouterr().err
