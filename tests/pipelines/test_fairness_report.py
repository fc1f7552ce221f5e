"""pipelines/fairness_report.py: real tokenizers on a few UDHR files, JSON shape and HTML."""

from __future__ import annotations

import json

import pytest

from tokenmill.pipelines import fairness_report


def test_fairness_report_cli(tmp_path, shared_data):
    udhr, toks = shared_data / "text/udhr", shared_data / "tokenizers"
    out = tmp_path / "out"
    assert (
        fairness_report.main(
            [
                "--tokenizer",
                f"gpt2={toks / 'gpt2'}",
                "--tokenizer",
                f"mistral={toks / 'mistral/tokenizer.model.v1'}",
                "--parallel",
                str(udhr / "eng.txt"),
                "--parallel",
                str(udhr / "rus.txt"),
                "--parallel",
                str(udhr / "hun.txt"),
                "--output",
                str(out),
                "--quiet",
                "--set",
                "fairness.charts=false",
            ]
        )
        == 0
    )
    data = json.loads((out / "fairness.json").read_text())
    assert set(data["tokenizers"]) == {"gpt2", "mistral"}
    for t in data["tokenizers"].values():
        assert set(t["per_language"]) == {"eng", "rus", "hun"}
        assert t["max_premium"] >= t["median_premium"] > 0
        assert all({"premium", "bytes_per_token", "fertility"} <= set(r) for r in t["per_language"].values())
    assert (out / "fairness.html").is_file()


def test_fairness_report_bad_tokenizer(tmp_path, shared_data):
    with pytest.raises(SystemExit):
        fairness_report.main(["--tokenizer", "nope", "--parallel", str(shared_data / "text/udhr/eng.txt"), "--output", str(tmp_path)])


@pytest.mark.slow
def test_fairness_report_romanized(tmp_path, shared_data, ray_local):
    udhr, toks = shared_data / "text/udhr", shared_data / "tokenizers"
    out = tmp_path / "out"
    assert (
        fairness_report.main(
            [
                "--tokenizer",
                f"gpt2={toks / 'gpt2'}",
                "--parallel",
                str(udhr / "eng.txt"),
                "--parallel",
                str(udhr / "rus.txt"),
                "--parallel",
                str(udhr / "hin.txt"),
                "--output",
                str(out),
                "--quiet",
                "--set",
                "romanize=true",
                "--set",
                "workers=1",
                "--set",
                "fairness.charts=false",
            ]
        )
        == 0
    )
    per = json.loads((out / "fairness.json").read_text())["tokenizers"]["gpt2"]["per_language"]
    # Romanized Russian/Hindi are ASCII: GPT-2 pays far less than on Cyrillic/Devanagari (6.6x / 9.5x there, ~3x here).
    assert per["rus"]["premium"] < 4 and per["hin"]["premium"] < 4
