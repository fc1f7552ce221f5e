"""Web-like documents built from real text in ../shared/data: prose pages, and the junk quality filters exist for.

Prose is real English: the paragraphs of the docstrings of flask and click (their documentation, as a web page
would show it) and the articles of the UDHR. Pages mix them with typical web junk: navigation menus, cookie and
JavaScript notices, repeated lines and phrases, lorem ipsum, fragments, symbol soup, bullet lists, blank-line runs,
trailing ellipses, real source code and non-English UDHR prose. The same seed gives the same documents.
Used by the quality tests and by ``benchmarks/quality.py``.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

_DOCSTRING = re.compile(r'"""(.*?)"""', re.S)
_ROLE = re.compile(r":\w+:`~?([^`<]*?)(?:\s*<[^>]*>)?`")  # :meth:`app.run() <flask.Flask.run>` -> app.run()
_LITERAL = re.compile(r"``([^`]*)``")


def _prose(paragraph: str) -> str | None:
    """A docstring paragraph as a web page would show it (reST markup resolved), or None when it is not prose."""
    line = " ".join(paragraph.split())
    line = _LITERAL.sub(r"\1", _ROLE.sub(lambda m: m.group(1).rsplit(".", 1)[-1] if "(" not in m.group(1) else m.group(1), line))
    words = line.split()
    if len(words) < 8 or line.startswith((":", ">>>", "..", "-")) or "`" in line:
        return None
    plain = sum(1 for w in words if w.strip(".,;:!?()\"'").isalpha())
    return line if plain / len(words) >= 0.8 else None


MENU = [
    "Home",
    "About us",
    "Contact",
    "Blog",
    "Products",
    "Pricing",
    "Login",
    "Sign up",
    "Careers",
    "FAQ",
    "Help",
    "News",
    "Shop",
    "Cart (0)",
    "Search",
    "Follow us on Twitter",
    "Facebook",
    "Share this:",
    "Read more »",
    "Previous post",
    "Next post",
    "Leave a comment",
    "Categories",
    "Tags",
    "Archives",
    "Skip to content",
]
NOTICES = [
    "This website uses cookies to ensure you get the best experience on our website.",
    "By continuing to browse the site you are agreeing to our use of cookies.",
    "Please enable JavaScript in your browser to view this page correctly.",
    "Read our Privacy Policy and Terms of Use before you sign up for the newsletter.",
    "Copyright © 2024 All rights reserved.",
    "Subscribe to our newsletter and never miss an update!",
    "We use cookies to personalise content and ads, and to analyse our traffic.",
]
LOREM = (
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore "
    "magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut aliquip ex ea commodo."
)
SPAM = ["buy cheap shoes online", "best price guaranteed today", "click here for free shipping", "top rated hotels near you"]
SYMBOLS = "#*$%&@!|~^=+<>[]{}/\\"


class Sources:
    """The real text pages are made of."""

    def __init__(self, data: Path) -> None:
        self.paragraphs: list[str] = []  # English prose paragraphs, one line each
        for path in sorted((data / "code").rglob("*.py")):
            for doc in _DOCSTRING.findall(path.read_text(encoding="utf-8", errors="replace")):
                for para in re.split(r"\n\s*\n", doc):
                    if (line := _prose(para)) is not None:
                        self.paragraphs.append(line)
        eng = (data / "text/udhr/eng.txt").read_text(encoding="utf-8")
        self.paragraphs += [line.strip() for line in eng.splitlines() if len(line.split()) >= 8]
        self.code = [p.read_text(encoding="utf-8", errors="replace") for p in sorted((data / "code").rglob("*.py"))]
        self.code = [c for c in self.code if len(c) > 500]
        self.foreign: list[list[str]] = []
        for path in sorted((data / "text/udhr").glob("*.txt")):
            if path.stem.startswith(("eng", "sco")):
                continue
            lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if len(line.strip()) > 40]
            if len(lines) > 10:
                self.foreign.append(lines)


def _article(rng: random.Random, src: Sources, lo: int = 3, hi: int = 14) -> list[str]:
    start = rng.randrange(len(src.paragraphs))
    return src.paragraphs[start : start + rng.randint(lo, hi)] or src.paragraphs[:lo]


def _page(kind: str, rng: random.Random, src: Sources) -> str:
    if kind == "article":
        body = _article(rng, src)
        if rng.random() < 0.5:
            body = [rng.choice(body).split(".")[0][:60], *body]  # a title line
        return ("\n\n" if rng.random() < 0.5 else "\n").join(body)
    if kind == "boilerplate":
        head = rng.sample(MENU, rng.randint(3, 9))
        foot = rng.sample(NOTICES, rng.randint(1, 3)) + rng.sample(MENU, rng.randint(0, 5))
        return "\n".join(head + _article(rng, src) + foot)
    if kind == "repeated_lines":
        body = _article(rng, src, 2, 6)
        return "\n".join(body + [rng.choice(body) for _ in range(rng.randint(1, 6))])
    if kind == "spam":
        body = _article(rng, src, 1, 4)
        phrase = rng.choice(SPAM)
        return "\n".join([*body, " ".join([phrase] * rng.randint(2, 12))])
    if kind == "menu":
        return "\n".join(rng.choice(MENU) for _ in range(rng.randint(5, 40)))
    if kind == "lorem":
        return "\n".join([*_article(rng, src, 2, 6), LOREM])
    if kind == "code":
        code = rng.choice(src.code)
        start = rng.randrange(max(1, len(code) - 3000))
        return code[start : start + rng.randint(800, 3000)]
    if kind == "fragment":
        words = rng.choice(src.paragraphs).split()
        return " ".join(words[: rng.randint(3, 70)])
    if kind == "symbols":
        prose = rng.choice(src.paragraphs).split()
        junk = ["".join(rng.choice(SYMBOLS) for _ in range(rng.randint(1, 6))) for _ in range(rng.randint(10, 80))]
        mixed = prose + junk
        rng.shuffle(mixed)
        return " ".join(mixed)
    if kind == "bullets":
        items = [p.split(".")[0] for p in _article(rng, src, 4, 12)]
        mark = rng.choice(["- ", "• ", "* "])
        return "\n".join(mark + item for item in items)
    if kind == "blank_runs":
        return ("\n" * rng.randint(3, 8)).join(_article(rng, src, 2, 8))
    if kind == "foreign":
        lines = rng.choice(src.foreign)
        start = rng.randrange(len(lines))
        return "\n".join(lines[start : start + rng.randint(3, 12)])
    if kind == "ellipsis":
        body = _article(rng, src, 3, 10)
        return "\n".join(line[: rng.randint(20, 80)] + "..." if rng.random() < 0.6 else line for line in body)
    if kind == "short_article":  # around Gopher's 50-word and C4's 5-sentence limits
        words = " ".join(_article(rng, src, 2, 4)).split()
        return " ".join(words[: rng.randint(35, 90)])
    raise ValueError(kind)


KINDS = {
    "article": 30,
    "boilerplate": 14,
    "repeated_lines": 6,
    "spam": 5,
    "menu": 5,
    "lorem": 4,
    "code": 5,
    "fragment": 5,
    "symbols": 3,
    "bullets": 5,
    "blank_runs": 4,
    "foreign": 6,
    "ellipsis": 3,
    "short_article": 5,
}
"""Page kinds and their weights."""


def web_documents(data: Path, n: int, seed: int = 0) -> list[tuple[str, str]]:
    """``n`` (kind, text) web-like pages from the real text under ``data`` (../shared/data)."""
    rng = random.Random(seed)
    src = Sources(data)
    kinds = rng.choices(list(KINDS), weights=list(KINDS.values()), k=n)
    return [(kind, _page(kind, rng, src)) for kind in kinds]
