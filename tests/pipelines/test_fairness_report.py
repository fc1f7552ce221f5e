"""pipelines/fairness_report.py: real tokenizers on a few UDHR files, JSON shape and HTML."""

from __future__ import annotations

import json

import pytest

from tokenmill.pipelines import fairness_report


def _report(shared_data, out, tokenizers: dict[str, str], langs: tuple[str, ...], *settings: str) -> int:
    """fairness_report.main on UDHR files ``langs`` with the shared tokenizers ``tokenizers`` (name -> path under
    data/tokenizers), writing to ``out``, charts off, ``settings`` (``key=value``) set before that."""
    argv = [arg for name, path in tokenizers.items() for arg in ("--tokenizer", f"{name}={shared_data / 'tokenizers' / path}")]
    argv += [arg for lg in langs for arg in ("--parallel", str(shared_data / "text/udhr" / f"{lg}.txt"))]
    argv += ["--output", str(out), "--quiet"]
    return fairness_report.main(argv + [arg for kv in (*settings, "fairness.charts=false") for arg in ("--set", kv)])


def test_fairness_report_cli(tmp_path, shared_data):
    out = tmp_path / "out"
    assert _report(shared_data, out, {"gpt2": "gpt2", "mistral": "mistral/tokenizer.model.v1"}, ("eng", "rus", "hun")) == 0
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
    out = tmp_path / "out"
    assert _report(shared_data, out, {"gpt2": "gpt2"}, ("eng", "rus", "hin"), "romanize=true", "workers=1") == 0
    per = json.loads((out / "fairness.json").read_text())["tokenizers"]["gpt2"]["per_language"]
    # Romanized Russian/Hindi are ASCII: GPT-2 pays far less than on Cyrillic/Devanagari (6.6x / 9.5x there, ~3x here).
    assert per["rus"]["premium"] < 4 and per["hin"]["premium"] < 4


def test_frontier_curve(tmp_path, shared_data):
    """A real (small) sweep: hybrids with 0, 0.5 and 1 (plain) shares of global merges, trained on even lines of
    ten UDHR files (six Latin-script) and scored on the odd ones; the report draws the curve, embeds it and keeps
    the rows. (With four languages of four scripts the first half of the merges is the same set either way.)"""
    from tokenmill.operators.encode import load_engine
    from tokenmill.operators.report.fairness import load_parallel, score_languages
    from tokenmill.operators.tokenize_text import train_byte_level_bpe

    files = ("eng", "fra", "deu", "spa", "ita", "por_PT", "rus", "hin", "amh", "mya")
    par = load_parallel([str(shared_data / "text/udhr" / f"{lg}.txt") for lg in files])
    langs = [lg for lg, lines in par.items() for _ in lines[::2]]
    texts = [ln for lines in par.values() for ln in lines[::2]]
    held = {lg: lines[1::2] for lg, lines in par.items()}
    rows = []
    for g in (0.0, 0.5, 1.0):
        path = tmp_path / f"g{g}"
        train_byte_level_bpe(texts, [1] * len(texts), path, vocab_size=1000, marks=True, parity_aware=True, global_merges=g, langs=langs)
        s = score_languages(load_engine(str(path / "tokenizer.json")).encode_batch, held)
        row = {"bench": "fairness_frontier", "corpus": "orig", "tokenizer": f"tokenmill-g{g}", "global_merges": g, "global_schedule": "first"}
        row.update({k: s[k] for k in ("max_premium", "median_premium", "p90_premium", "bytes_per_token")}, eng_bpt=s["per_language"]["eng"]["bytes_per_token"])
        rows.append(row)
    for r in rows:
        r["eng_vs_plain"] = r["eng_bpt"] / rows[-1]["eng_bpt"]
    # The trade-off the curve shows: global merges buy English compression, parity-aware ones a lower max premium.
    assert rows[0]["eng_vs_plain"] < rows[1]["eng_vs_plain"] <= 1.0 + 1e-9
    assert rows[0]["max_premium"] < rows[1]["max_premium"] < rows[-1]["max_premium"]
    sweep = tmp_path / "frontier.jsonl"
    sweep.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out"
    argv = ["--tokenizer", f"g0={tmp_path / 'g0.0' / 'tokenizer.json'}", "--parallel", str(shared_data / "text/udhr/eng.txt")]
    assert fairness_report.main([*argv, "--parallel", str(shared_data / "text/udhr/rus.txt"), "--frontier", str(sweep), "--output", str(out), "--quiet"]) == 0
    assert (out / "frontier.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = (out / "fairness.html").read_text()
    assert '<img src="frontier.png"' in html and "frontier" in html
    assert [r["global_merges"] for r in json.loads((out / "fairness.json").read_text())["frontier"]] == [0.0, 0.5, 1.0]
    # a premium-cap row (its own series; the table names the cap)
    stats = train_byte_level_bpe(
        texts, [1] * len(texts), tmp_path / "cap", vocab_size=1000, marks=True, parity_aware=True, premium_cap=1.5, reference_in_global=False, langs=langs
    )
    share = stats["global"] / stats["merges"]
    sweep.write_text(
        sweep.read_text()
        + json.dumps({**rows[1], "tokenizer": "tokenmill-cap", "global_merges": share, "global_schedule": "cap-noref", "premium_cap": 1.5})
        + "\n"
    )
    assert fairness_report.main([*argv, "--frontier", str(sweep), "--output", str(tmp_path / "out2"), "--quiet"]) == 0
    html = (tmp_path / "out2" / "fairness.html").read_text()
    assert "<th>premium_cap</th>" in html and "cap-noref" in html and 0 < share < 1


def test_frontier_labels_cap_points_by_their_setting():
    from tokenmill.operators.report.frontier import setting_label

    assert setting_label({"premium_cap": 1.9, "reference_in_global": False, "global_floor": 0.9, "global_merges": 0.796}) == "cap 1.9 floor 0.9"
    assert setting_label({"premium_cap": 2.1, "reference_in_global": True, "global_floor": 0.0, "global_merges": 0.9}) == "cap 2.1+ref"
    assert setting_label({"premium_cap": 0.0, "global_merges": 0.5}) == "0.5"


def test_frontier_bad_file(tmp_path, shared_data):
    bad = tmp_path / "sweep.jsonl"
    bad.write_text('{"bench": "fairness_frontier", "corpus": "orig"}\n')
    with pytest.raises(SystemExit):
        fairness_report.main(
            [
                "--tokenizer",
                f"gpt2={shared_data / 'tokenizers/gpt2'}",
                "--parallel",
                str(shared_data / "text/udhr/eng.txt"),
                "--frontier",
                str(bad),
                "--output",
                str(tmp_path / "o"),
            ]
        )
