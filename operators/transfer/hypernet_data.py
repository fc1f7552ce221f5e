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


def split_lines(path: Path, split: str, eval_fraction: float) -> list[str]:
    """The non-empty lines (title dropped) of one UDHR file that belong to ``split``: the last ``eval_fraction``
    are ``eval``."""
    lines = [ln.strip() for ln in path.read_text(encoding="utf-8", errors="replace").splitlines()]
    lines = [ln for ln in lines[1:] if ln]  # line 0 is the title, identical in spirit across files
    cut = int(round(len(lines) * (1.0 - eval_fraction)))
    return lines[:cut] if split == "train" else lines[cut:]


def heldout_paragraphs(langs: tuple[str, ...] = EVAL_LANGS, data_root: str | Path | None = None, *,
                       eval_fraction: float = 0.2, min_words: int = 8) -> dict[str, list[str]]:
    """Whole held-out UDHR paragraphs (lines of the ``eval`` split, never trained on) of at least ``min_words``."""
    root = Path(data_root) if data_root is not None else default_data_root()
    out = {}
    for lang in langs:
        f = root / UDHR_DIR / f"{lang}.txt"
        if f.is_file():
            out[lang] = [ln for ln in split_lines(f, "eval", eval_fraction) if len(ln.split()) >= min_words]
    return out


def load_corpus(data_root: str | Path | None = None, *, split: str = "train", max_chars: int = 160,
                eval_fraction: float = 0.2, langs: tuple[str, ...] | None = None) -> TransferCorpus:
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
