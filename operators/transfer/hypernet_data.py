"""Text for training and evaluating tokenizer transfer: UDHR (many languages) and Python code, split once.

The split is deterministic so training never sees what the benchmark evaluates on:

* UDHR is parallel (the same document in every language): the last ``eval_fraction`` of each file's lines are held
  out in *every* language, so no translation of a held-out sentence is trained on either.
* Code: a file is held out when crc32 of its path (relative to the data root) falls in the eval bucket.

Long lines are cut at whitespace into chunks of at most ``max_chars`` characters; code files are cut into runs of
whole lines of at most ``max_chars`` characters (indentation kept: code tokenizers see it).
"""

from __future__ import annotations

import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

UDHR_DIR = Path("text") / "udhr"
CODE_DIR = Path("code")
EVAL_LANGS = ("eng", "fra", "deu", "spa", "ita", "por_PT", "nld", "pol", "tur", "swe", "rus", "ell_monotonic")


@dataclass
class TransferCorpus:
    """Chunks of one split: ``udhr[lang]`` lists a language's chunks in document order; ``code`` all code chunks."""

    udhr: dict[str, list[str]] = field(default_factory=dict)
    code: list[str] = field(default_factory=list)

    def all_udhr(self) -> list[str]:
        return [c for chunks in self.udhr.values() for c in chunks]


def default_data_root() -> Path:
    """``../shared/data`` next to the project root."""
    return (Path(__file__).resolve().parents[2].parent / "shared" / "data").resolve()


def is_eval_code(rel_path: str, buckets: int = 8) -> bool:
    """Whether a code file (path relative to the data root, '/'-separated) is held out."""
    return zlib.crc32(rel_path.encode()) % buckets == 0


def split_line(line: str, max_chars: int) -> list[str]:
    """Cut one line at whitespace into pieces of at most ``max_chars`` (a longer word is cut hard)."""
    out, cur = [], ""
    for word in line.split():
        while len(word) > max_chars:
            if cur:
                out.append(cur)
                cur = ""
            out.append(word[:max_chars])
            word = word[max_chars:]
        if not word:
            continue
        if cur and len(cur) + 1 + len(word) > max_chars:
            out.append(cur)
            cur = word
        else:
            cur = f"{cur} {word}" if cur else word
    if cur:
        out.append(cur)
    return out


def code_chunks(text: str, max_chars: int) -> list[str]:
    """Runs of whole lines (blank lines dropped) of at most ``max_chars``; a longer line is cut hard."""
    out, cur = [], ""
    for line in text.splitlines():
        if not line.strip():
            continue
        while len(line) > max_chars:
            out.append(line[:max_chars])
            line = line[max_chars:]
        if cur and len(cur) + 1 + len(line) > max_chars:
            out.append(cur)
            cur = line
        else:
            cur = f"{cur}\n{line}" if cur else line
    if cur.strip():
        out.append(cur)
    return out


def udhr_lines(path: Path, eval_fraction: float) -> tuple[list[str], int]:
    """One UDHR file's non-empty lines (title dropped) and the index where its held-out ``eval`` part begins."""
    lines = [ln.strip() for ln in path.read_text(encoding="utf-8", errors="replace").splitlines()]
    lines = [ln for ln in lines[1:] if ln]  # line 0 is the title, identical in spirit across files
    return lines, round(len(lines) * (1.0 - eval_fraction))


def split_lines(path: Path, split: str, eval_fraction: float) -> list[str]:
    """The lines of one UDHR file that belong to ``split``: the last ``eval_fraction`` are ``eval``."""
    lines, cut = udhr_lines(path, eval_fraction)
    return lines[:cut] if split == "train" else lines[cut:]


def udhr_paragraphs(path: Path, eval_fraction: float = 0.2) -> list[tuple[int, int, bool, str]]:
    """A UDHR file's paragraphs as ``(article, k, held_out, text)``: the k-th paragraph (from 0) of article
    ``article`` (0 is the preamble), and whether its line is in the ``eval`` split (the split of ``split_lines``).

    Article headings ("Article 1", "Artículo 2", "Статья 3", "Article premier", ...) are the lines of at most
    three words whose first word is the commonest first word of such short lines; they are not paragraphs. A file
    whose headings cannot be found this way yields articles 0 only.
    """
    lines, cut = udhr_lines(path, eval_fraction)
    firsts = Counter(ln.split()[0].casefold() for ln in lines if len(ln.split()) <= 3)
    head = firsts.most_common(1)[0][0] if firsts else None
    out: list[tuple[int, int, bool, str]] = []
    article, k = 0, 0
    for i, ln in enumerate(lines):
        if len(ln.split()) <= 3 and ln.split()[0].casefold() == head:
            article, k = article + 1, 0
            continue
        out.append((article, k, i >= cut, ln))
        k += 1
    return out


def translation_pairs(
    langs: tuple[str, ...] = EVAL_LANGS, pivot: str = "eng", data_root: str | Path | None = None, *, eval_fraction: float = 0.2, min_words: int = 4
) -> tuple[list[str], dict[str, list[tuple[str, int]]]]:
    """Parallel UDHR paragraphs for translation retrieval: ``(pivot paragraphs, {lang: [(query, index)]})``.

    The pivot's paragraphs are every paragraph of its file (headings excluded); a query is a held-out paragraph
    (``eval`` split, never trained on) of ``lang`` and ``index`` is the pivot paragraph it translates: the same
    article and the same position in it, for articles that have as many paragraphs in both files (others are
    skipped, as their paragraphs do not line up). The pivot itself and languages without a file are left out.
    """
    root = Path(data_root) if data_root is not None else default_data_root()
    pivot_paras = udhr_paragraphs(root / UDHR_DIR / f"{pivot}.txt", eval_fraction)
    index = {(a, k): i for i, (a, k, _, _) in enumerate(pivot_paras)}
    sizes = Counter(a for a, _, _, _ in pivot_paras)
    out: dict[str, list[tuple[str, int]]] = {}
    for lang in langs:
        f = root / UDHR_DIR / f"{lang}.txt"
        if lang == pivot or not f.is_file():
            continue
        paras = udhr_paragraphs(f, eval_fraction)
        own = Counter(a for a, _, _, _ in paras)
        out[lang] = [(text, index[(a, k)]) for a, k, held, text in paras if held and a > 0 and own[a] == sizes[a] and len(text.split()) >= min_words]
    return [t for _, _, _, t in pivot_paras], out


def load_corpus(
    data_root: str | Path | None = None, *, split: str = "train", max_chars: int = 160, eval_fraction: float = 0.2, langs: tuple[str, ...] | None = None
) -> TransferCorpus:
    """Chunks of the ``train`` or ``eval`` split.

    Args:
        data_root: the shared data folder (default ``../shared/data`` beside the project).
        split: ``"train"`` or ``"eval"``.
        max_chars: longest chunk.
        eval_fraction: share of each UDHR file's lines (its end) held out.
        langs: UDHR file stems to read (default: all).

    Raises:
        ValueError: a bad split, or no UDHR files under the data root.
    """
    if split not in ("train", "eval"):
        raise ValueError(f"split: expected 'train' or 'eval', got {split!r}")
    if not 0.0 < eval_fraction < 1.0:
        raise ValueError(f"eval_fraction: must be in (0, 1), got {eval_fraction}")
    root = Path(data_root) if data_root is not None else default_data_root()
    files = sorted((root / UDHR_DIR).glob("*.txt"))
    if langs is not None:
        files = [f for f in files if f.stem in set(langs)]
    if not files:
        raise ValueError(f"data root {root}: no UDHR files under {UDHR_DIR} (langs={langs})")
    corpus = TransferCorpus()
    for f in files:
        kept = split_lines(f, split, eval_fraction)
        chunks = [c for ln in kept for c in split_line(ln, max_chars)]
        if chunks:
            corpus.udhr[f.stem] = chunks
    for f in sorted((root / CODE_DIR).rglob("*.py")):
        rel = f.relative_to(root).as_posix()
        if is_eval_code(rel) == (split == "eval"):
            corpus.code.extend(code_chunks(f.read_text(encoding="utf-8", errors="replace"), max_chars))
    return corpus
