"""Parallel UDHR paragraphs for the transfer benchmark's translation retrieval (operators/transfer/hypernet_data)."""

from __future__ import annotations

from pathlib import Path

from tokenmill.operators.transfer.hypernet_data import EVAL_LANGS, split_lines, translation_pairs, udhr_paragraphs

PIVOT = """Declaration
   Preamble
   Whereas one two three four.
   Article 1
   All are born free and equal.
   Article 2
   Everyone is entitled to all rights.
   Furthermore no distinction shall be made.
   Article 3
   Everyone has the right to life.
   Article 4
   No one shall be held in slavery.
"""

# Headings in another word ("Artikel", "Artikel premier"), one article split into a different number of
# paragraphs (article 2 has one paragraph, not two), blank lines between articles.
OTHER = """Erklärung
   Präambel
   Da die Anerkennung vier Wörter.

   Artikel premier
   Alle Menschen sind frei geboren.

   Artikel 2.
   Jeder hat Anspruch auf alle Rechte ohne Unterschied.

   Artikel 3
   Jeder hat das Recht auf Leben.
   Artikel 4
   Niemand darf in Sklaverei gehalten werden.
"""


def write(tmp_path: Path, name: str, text: str) -> None:
    folder = tmp_path / "text" / "udhr"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.txt").write_text(text, encoding="utf-8")


def test_paragraphs_are_keyed_by_article_and_position_and_headings_dropped(tmp_path):
    write(tmp_path, "deu", OTHER)
    paras = udhr_paragraphs(tmp_path / "text" / "udhr" / "deu.txt", eval_fraction=0.5)
    assert [(a, k) for a, k, _, _ in paras] == [(0, 0), (0, 1), (1, 0), (2, 0), (3, 0), (4, 0)]
    assert not any(t.startswith("Artikel") for *_, t in paras)
    # held_out follows split_lines' cut: the eval split's lines are exactly the held-out paragraphs and headings.
    held = {t for _, _, h, t in paras if h}
    eval_lines = split_lines(tmp_path / "text" / "udhr" / "deu.txt", "eval", 0.5)
    assert held == {ln for ln in eval_lines if not ln.startswith("Artikel")}


def test_a_query_retrieves_its_own_translation_and_misaligned_articles_are_skipped(tmp_path):
    write(tmp_path, "eng", PIVOT)
    write(tmp_path, "deu", OTHER)
    pivot, pairs = translation_pairs(("eng", "deu", "xyz"), data_root=tmp_path, eval_fraction=0.5, min_words=2)
    assert pivot[0] == "Preamble" and "Furthermore no distinction shall be made." in pivot
    assert set(pairs) == {"deu"}  # the pivot has no task; a language without a file is left out
    got = {q: pivot[i] for q, i in pairs["deu"]}
    # Articles 3 and 4 are held out and line up; article 2 (two paragraphs vs one) is skipped.
    assert got == {
        "Jeder hat das Recht auf Leben.": "Everyone has the right to life.",
        "Niemand darf in Sklaverei gehalten werden.": "No one shall be held in slavery.",
    }


def test_every_benchmark_language_has_held_out_translations_in_the_shared_data():
    pivot, pairs = translation_pairs(EVAL_LANGS)
    assert len(pivot) == 61  # the English declaration's paragraphs, headings excluded
    assert set(pairs) == set(EVAL_LANGS) - {"eng"}
    for lang, qs in pairs.items():
        assert len(qs) >= 10, lang
        # Parallel text: the held-out queries translate the declaration's last articles, in order.
        targets = [i for _, i in qs]
        assert targets == sorted(targets) and targets[-1] == len(pivot) - 1, lang
