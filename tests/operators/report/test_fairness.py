"""Fairness report: known-answer premiums/fertility on a toy corpus, and GPT-2/BERT on real UDHR files."""

from __future__ import annotations

import json

import pytest

from tokenmill.operators.report.fairness import (
    FairnessConfig,
    fairness_report,
    load_fairness,
    load_parallel,
    score_languages,
    summary_table,
)


def _chars(lines: list[str]) -> list[list[int]]:
    return [[ord(c) for c in ln] for ln in lines]


def test_load_parallel_takes_the_language_from_the_file_name(tmp_path):
    # The same rule as ingest's lang_from=filename: the stem before the first '_'; no code in the name, skipped.
    (tmp_path / "deu_1901.txt").write_text("Alle Menschen\n")
    (tmp_path / "eng.txt").write_text("All human beings\n")
    (tmp_path / "007.txt").write_text("Tudo nguê\n")
    assert load_parallel(str(tmp_path / "*.txt")) == {"deu": ["Alle Menschen"], "eng": ["All human beings"]}


def test_known_answer_premium_fertility_unknown():
    parallel = {"eng": ["ab cd", "ef"], "fra": ["abc def", "ghij"], "cmn": ["人人生而自由"]}
    s = score_languages(_chars, parallel, unk_id=ord("c"), scripts={"eng": "Latin", "fra": "Latin", "cmn": "Han"})
    per = s["per_language"]
    assert per["eng"]["tokens"] == 7 and per["eng"]["premium"] == 1.0
    assert per["fra"]["tokens"] == 11 and per["fra"]["premium"] == pytest.approx(11 / 7)
    assert per["eng"]["fertility"] == pytest.approx(7 / 3)  # 3 whitespace words
    assert per["cmn"]["fertility"] is None  # Han: no spaces between words
    assert per["cmn"]["bytes"] == 18 and per["cmn"]["bytes_per_token"] == 3.0
    assert per["fra"]["unk_rate"] == pytest.approx(1 / 11)
    assert s["max_premium"] == pytest.approx(11 / 7) and s["worst_language"] == "fra"
    assert s["median_premium"] == 1.0
    assert s["per_script"]["Latin"]["languages"] == 2
    partial = score_languages(_chars, {"eng": ["ab", "cd", "ef"], "fra": ["abcd", "ef", "gh"], "xx": ["abcdefghijk"]}, min_line_ratio=0.5)
    assert partial["per_language"]["xx"]["partial"] and partial["partial_languages"] == ["xx"]
    assert partial["max_premium"] == 8 / 6  # xx (premium 11/6) is a partial translation: not in the summary
    with pytest.raises(ValueError, match="reference_lang"):
        score_languages(_chars, {"fra": ["x"]})


def test_load_parallel_skips_blank_lines(shared_data):
    par = load_parallel(str(shared_data / "text/udhr/eng.txt"))
    assert list(par) == ["eng"]
    assert par["eng"][0] == "Universal Declaration of Human Rights"
    assert all(ln and ln == ln.strip() for ln in par["eng"])
    with pytest.raises(ValueError, match="no file"):
        load_parallel(str(shared_data / "text/udhr/nothing_*.txt"))


def test_real_tokenizers_side_by_side(tmp_path, shared_data):
    udhr = shared_data / "text/udhr"
    par = load_parallel([str(udhr / f) for f in ("eng.txt", "rus.txt", "hin.txt", "cmn_hans.txt", "amh.txt")])
    toks = shared_data / "tokenizers"
    report = fairness_report(
        {"gpt2": str(toks / "gpt2"), "bert": str(toks / "bert-base-uncased"), "mistral": str(toks / "mistral/tokenizer.model.v1")},
        par,
        tmp_path,
        FairnessConfig(),
        corpus="udhr",
    )
    data = load_fairness(tmp_path / "fairness.json")
    assert set(data["tokenizers"]) == {"gpt2", "bert", "mistral"}
    for t in data["tokenizers"].values():
        assert {"max_premium", "median_premium", "p90_premium", "per_language", "per_script"} <= set(t)
        assert t["per_language"]["eng"]["premium"] == 1.0
        for row in t["per_language"].values():
            assert {"premium", "bytes_per_token", "fertility", "chars_per_token", "unk_rate", "tokens"} <= set(row)
        assert t["max_premium"] >= t["p90_premium"] >= t["median_premium"] > 0
    g = data["tokenizers"]["gpt2"]["per_language"]
    # GPT-2's byte-level BPE is English-centric: Hindi and Amharic cost many times more tokens (Petrov et al.).
    assert g["hin"]["premium"] > 3 and g["amh"]["premium"] > 3 and g["rus"]["premium"] > 2
    assert g["eng"]["unk_rate"] == 0.0 and g["cmn"]["fertility"] is None and g["rus"]["fertility"] > 1
    assert g["eng"]["bytes_per_token"] > 3.5
    assert data["tokenizers"]["bert"]["per_language"]["amh"]["unk_rate"] > 0.05  # BERT has no Ethiopic pieces
    assert data["tokenizers"]["mistral"]["unk_rate"] == 0.0  # byte fallback
    html = (tmp_path / "fairness.html").read_text()
    assert "premium_sorted.png" in html and "<h2>Per script</h2>" in html
    assert (tmp_path / "premium_sorted.png").stat().st_size > 1000
    assert (tmp_path / "premium_by_script.png").stat().st_size > 1000
    assert report["tokenizers"]["gpt2"]["max_premium"] == json.loads((tmp_path / "fairness.json").read_text())["tokenizers"]["gpt2"]["max_premium"]
    assert "gpt2" in summary_table(report)


def test_config_validation():
    with pytest.raises(ValueError, match="batch_lines"):
        FairnessConfig(batch_lines=0)
