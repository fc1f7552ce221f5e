"""Benchmark: ``ingest.quality.preset=fineweb`` vs datatrove 0.10.1's FineWeb quality chain on web-like pages.

datatrove's chain is GopherRepetitionFilter → GopherQualityFilter → C4QualityFilter(filter_no_terminal_punct=False)
→ FineWebQualityFilter, all with their defaults (English words split by spaCy, as datatrove does). Ours is the same
chain as tokenmill runs it: the four filter operators on an Arrow batch (marking, counters, C4's text rewrite).
Both run in this one process, on one core, on the same documents: pages built from the real text in
../shared/data (tests/operators/quality/web_corpus.py: docstring and UDHR prose, menus, cookie notices, repeated
lines, spam phrases, lorem ipsum, code, fragments, symbol soup, bullets, blank-line runs, ellipses, foreign prose).

Printed: one JSON line (decision agreement, drop-reason agreement, kept-text agreement, seconds and documents per
second of each, spaCy word-token agreement of our splitter), then the drops per rule of each and every disagreement.

    pip install 'datatrove==0.10.1' spacy orjson   # the bench extra
    python benchmarks/quality.py [--docs 1500] [--seed 0] [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import time
from importlib import metadata
from pathlib import Path

from tokenmill.operators.quality import words as words_module

# Why sys.path: tests/ is not installed, and this benchmark measures the web corpus and datatrove peer chain the tests
# use (tests/operators/quality/), so that a benchmark and its tests see the same input; `python benchmarks/quality.py` puts
# only benchmarks/ on sys.path, so the repository root is added for that package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.operators.quality.fineweb_chain import peer_chain, run_ours, run_peer
from tests.operators.quality.web_corpus import web_documents

ROOT = Path(__file__).resolve().parents[1]


def word_agreement(texts: list[str]) -> dict:
    """How often our splitter gives spaCy's (blank ``en``, whitespace tokens dropped) tokens: documents and tokens."""
    import spacy

    nlp = spacy.blank("en")
    nlp.max_length = 10**8
    splitter = words_module.WordSplitter()
    same_docs = tokens = diff_tokens = 0
    for text in texts:
        ref = [t.text.strip() for t in nlp.make_doc(text) if t.text.strip()]
        got = splitter.words(text)
        tokens += len(ref)
        if ref == got:
            same_docs += 1
        else:
            diff_tokens += sum(1 for a, b in zip(ref, got) if a != b) + abs(len(ref) - len(got))
    return {"docs_identical": round(same_docs / len(texts), 4), "tokens": tokens, "tokens_differing_at_most": diff_tokens}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args(argv)
    try:
        filters = peer_chain()
    except ImportError as exc:
        print(json.dumps({"bench": "quality", "peer": "datatrove", "skipped": f"{exc}: pip install 'datatrove==0.10.1' spacy"}))
        return 0
    docs = web_documents(args.data, args.docs, args.seed)
    kinds = [k for k, _ in docs]
    texts = [t for _, t in docs]
    warm = [t for _, t in web_documents(args.data, 20, args.seed + 1)]
    run_peer(filters, warm)  # loads spaCy
    run_ours(warm)
    words_module._SHARED = None  # our run starts with an empty word cache, as a fresh worker does

    t0 = time.process_time()
    peer_reasons, peer_texts = run_peer(filters, texts)
    peer_s = time.process_time() - t0
    t0 = time.process_time()
    our_reasons, our_texts = run_ours(texts)
    ours_s = time.process_time() - t0

    n = len(texts)
    same_decision = sum((a is None) == (b is None) for a, b in zip(peer_reasons, our_reasons))
    same_reason = sum(a == b for a, b in zip(peer_reasons, our_reasons))
    both_kept = [i for i in range(n) if peer_reasons[i] is None and our_reasons[i] is None]
    same_text = sum(peer_texts[i] == our_texts[i] for i in both_kept)
    result = {
        "bench": "quality",
        "docs": n,
        "ours_s": round(ours_s, 3),
        "peer": f"datatrove {metadata.version('datatrove')}",
        "peer_s": round(peer_s, 3),
        "ratio": round(ours_s / peer_s, 4),
        "ours_docs_per_s": round(n / ours_s, 1),
        "peer_docs_per_s": round(n / peer_s, 1),
        "agreement": round(same_decision / n, 4),
        "reason_agreement": round(same_reason / n, 4),
        "kept_text_identical": round(same_text / max(1, len(both_kept)), 4),
        "kept": {"ours": sum(r is None for r in our_reasons), "peer": sum(r is None for r in peer_reasons)},
        "words_vs_spacy": word_agreement(texts),
    }
    print(json.dumps(result))
    rules = collections.Counter(peer_reasons), collections.Counter(our_reasons)
    print(f"\n{'drop reason':50} {'datatrove':>9} {'ours':>6}")
    for reason in sorted(set(rules[0]) | set(rules[1]), key=lambda r: (r is not None, r or "")):
        print(f"{reason or '(kept)':50} {rules[0][reason]:>9} {rules[1][reason]:>6}")
    diffs = collections.Counter((peer_reasons[i], our_reasons[i], kinds[i]) for i in range(n) if peer_reasons[i] != our_reasons[i])
    print(f"\ndisagreements ({sum(diffs.values())} documents): datatrove reason -> ours (page kind)")
    for (peer, ours, kind), count in diffs.most_common():
        print(f"  {count:4}  {peer or 'kept'} -> {ours or 'kept'}  ({kind})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
