"""Benchmark: the mixture audit on tokenizers trained on *known* mixtures, audited with samples that exclude the
training text; and the small-sample cases that must not get a point estimate.

Categories (../shared/data): ``germanic``, ``romance``, ``slavic``, ``arabic`` (groups of UDHR languages; even
lines train, odd lines audit) and ``code`` (flask + click: even-numbered files train, odd ones audit). Each
mixture draws four categories, gives three Dirichlet proportions and the fourth 0 %, trains byte-level BPE on
the training halves weighted to those byte shares, and audits the merges with the audit halves. Printed per
mixture: truth, estimate, interval, range; then mean absolute error (target <= 0.02), interval coverage (target
>= 90 %), the largest estimate of a 0 % category (target <= 0.02).

Small samples (the issue's cases): GPT-2 and a tokenizer trained on UDHR ``[a-e]*``, audited with eng, fra
(one UDHR file each, ~12 KB) and code: the verdict must be "not enough data" or "under-determined".

    python benchmarks/mixture_audit.py [--mixtures 8] [--merges 300] [--bootstrap 20] [--audit-bytes 1048576]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from tokenmill.operators.bpe import BpeTrainerConfig, train_bpe
from tokenmill.operators.report.mixture import MixtureAuditConfig, category_sample, load_merges_and_pretokenizer, mean_absolute_error, read_category
from tokenmill.operators.report.mixture_verdict import ESTIMATED, CategorySample, audit_mixture, format_report
from tokenmill.operators.tokenize_text import END_OF_TEXT, ByteLevelPreTokenizer, byte_alphabet

# Why sys.path: tests/ is not installed, and this benchmark measures the known mixtures the tests
# use (tests/operators/report/known_mixtures.py), so that a benchmark and its tests see the same input; `python benchmarks/mixture_audit.py` puts
# only benchmarks/ on sys.path, so the repository root is added for that package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.operators.report.known_mixtures import category_halves, train_mixture

ROOT = Path(__file__).resolve().parents[1]

GROUPS = {
    "germanic": "deu nld dan swe nob isl afr fao ltz nno sco",
    "romance": "fra spa por_PT ita cat ron glg ast lad fur roh",
    "slavic": "rus ukr bel bul mkd srp_cyrl",
    "arabic": "arb pes_1 urd ckb pnb skr uig_arab",
}
TARGETS = {"mae": 0.02, "coverage": 0.9, "zero": 0.02}


def _cap(lines: list[str], max_bytes: int) -> list[str]:
    out, size = [], 0
    for ln in lines:
        if size >= max_bytes:
            break
        out.append(ln)
        size += len(ln.encode("utf-8"))
    return out


def known_mixtures(data: Path, n: int, merges: int, config: MixtureAuditConfig, audit_bytes: int, seed: int) -> list[dict]:
    pre = ByteLevelPreTokenizer()
    texts = category_halves(data, GROUPS)
    train = {c: pre.count(tr) for c, (tr, _) in texts.items()}
    audit = {c: CategorySample.from_texts(_cap(au, audit_bytes), pre.count, config.block_bytes) for c, (_, au) in texts.items()}
    rng = np.random.default_rng(seed)
    names = list(texts)
    rows = []
    for k in range(n):
        cats = [str(c) for c in rng.choice(names, 4, replace=False)]
        alpha = dict(zip(cats[:3], np.round(0.05 + 0.85 * rng.dirichlet(2 * np.ones(3)), 3).tolist()))
        alpha[cats[2]] = round(1.0 - alpha[cats[0]] - alpha[cats[1]], 3)
        alpha[cats[3]] = 0.0
        t0 = time.perf_counter()
        learned = train_mixture(train, alpha, 257 + merges)
        rep = audit_mixture({c: audit[c] for c in cats}, learned, config)
        row = {"bench": "mixture_known", "mixture": k, "truth": alpha, "verdict": rep["verdict"], "seconds": round(time.perf_counter() - t0, 1)}
        if rep["lp_solution"] is not None:
            est = rep["lp_solution"]
            row.update(
                estimate={c: round(v, 4) for c, v in est.items()},
                interval={c: [round(x, 4) for x in iv] for c, iv in (rep["intervals"] or {}).items()},
                range=rep["ranges"],
                mae=round(mean_absolute_error(est, alpha), 4),
                covered=sum(iv[0] <= alpha[c] <= iv[1] for c, iv in (rep["intervals"] or {}).items()),
                zero_estimate=round(est[cats[3]], 4),
                misfit=round(rep["misfit"], 4),
            )
        rows.append(row)
        print(json.dumps(row), flush=True)
    done = [r for r in rows if "mae" in r]
    cells = 4 * len(done)
    mae = float(np.mean([r["mae"] for r in done])) if done else float("nan")
    coverage = sum(r["covered"] for r in done) / cells if cells else float("nan")
    zero = max((r["zero_estimate"] for r in done), default=float("nan"))
    summary = {
        "bench": "mixture_known_summary",
        "mixtures": len(rows),
        "estimated": sum(r["verdict"] == ESTIMATED for r in rows),
        "merges": merges,
        "bootstrap": config.bootstrap,
        "audit_bytes_per_category": audit_bytes,
        "mae": round(mae, 4),
        "mae_target": TARGETS["mae"],
        "coverage": round(coverage, 3),
        "coverage_target": TARGETS["coverage"],
        "max_zero_estimate": zero,
        "zero_target": TARGETS["zero"],
        "met": bool(mae <= TARGETS["mae"] and coverage >= TARGETS["coverage"] and zero <= TARGETS["zero"] and len(done) == len(rows)),
    }
    return [*rows, summary]


def small_samples(data: Path, config: MixtureAuditConfig, vocab_size: int) -> list[dict]:
    """The issue's cases: eng and fra samples of one UDHR file each (~12 KB), code from flask."""
    udhr = data / "text/udhr"
    pre = ByteLevelPreTokenizer()
    a_to_e = [ln for f in sorted(udhr.glob("[a-e]*.txt")) for ln in f.read_text(encoding="utf-8").splitlines(keepends=True)]
    model = train_bpe(pre.count(a_to_e), BpeTrainerConfig(vocab_size=vocab_size, special_tokens=(END_OF_TEXT,), initial_alphabet=byte_alphabet()))
    gpt2_merges, gpt2 = load_merges_and_pretokenizer(str(data / "tokenizers/gpt2"))
    rows = []
    for name, merges, count in (("gpt2", gpt2_merges, lambda t: category_sample(gpt2, t)), ("udhr_a_to_e", model.merges, pre.count)):
        cats = {
            "eng": CategorySample.from_texts(read_category(str(udhr / "eng.txt"), 1 << 20), count, config.block_bytes),
            "fra": CategorySample.from_texts(read_category(str(udhr / "fra.txt"), 1 << 20), count, config.block_bytes),
            "code": CategorySample.from_texts(read_category(str(data / "code/flask/**/*.py"), 4 << 20), count, config.block_bytes),
        }
        rep = audit_mixture(cats, merges, config)
        print(f"-- {name}\n{format_report(rep)}", file=sys.stderr)
        rows.append(
            {
                "bench": "mixture_small_sample",
                "tokenizer": name,
                "verdict": rep["verdict"],
                "reasons": rep["reasons"],
                "sample_bytes": {c: v["bytes"] for c, v in rep["sample"].items()},
                "met": rep["verdict"] != ESTIMATED,
            }
        )
        # The same audit with the size floor lowered: does the range/bootstrap check still refuse to point-estimate?
        low = MixtureAuditConfig(**{**_asdict(config), "min_bytes": 0, "min_pairs": 0})
        rep = audit_mixture(cats, merges, low)
        rows.append(
            {
                "bench": "mixture_small_sample",
                "tokenizer": name,
                "min_bytes": 0,
                "verdict": rep["verdict"],
                "reasons": rep["reasons"],
                "lp_solution": {c: round(v, 4) for c, v in (rep["lp_solution"] or {}).items()},
                "misfit": rep.get("misfit"),
                "met": rep["verdict"] != ESTIMATED,
            }
        )
        for r in rows[-2:]:
            print(json.dumps(r), flush=True)
    return rows


def _asdict(config: MixtureAuditConfig) -> dict:
    import dataclasses

    return dataclasses.asdict(config)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--mixtures", type=int, default=8)
    ap.add_argument("--merges", type=int, default=300, help="merges per known-mixture tokenizer (all are audited: audit.max_merges)")
    ap.add_argument("--bootstrap", type=int, default=20)
    ap.add_argument("--audit-bytes", type=int, default=1 << 20, help="audit sample bytes per category at most (the UDHR groups hold ~60 KB, code ~490 KB)")
    ap.add_argument("--small-vocab", type=int, default=8000, help="vocab of the UDHR [a-e]* tokenizer")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-small", action="store_true")
    args = ap.parse_args()
    data = Path(args.data)
    config = MixtureAuditConfig(max_merges=args.merges, bootstrap=args.bootstrap)
    rows = known_mixtures(data, args.mixtures, args.merges, config, args.audit_bytes, args.seed)
    if not args.skip_small:
        rows += small_samples(data, MixtureAuditConfig(bootstrap=args.bootstrap, max_merges=args.merges), args.small_vocab)
    s = rows[len([r for r in rows if r["bench"] == "mixture_known"])]
    print()
    print(
        f"known mixtures: {s['estimated']}/{s['mixtures']} estimated, MAE {s['mae']} (<= {s['mae_target']}), coverage {s['coverage']} "
        f"(>= {s['coverage_target']}), largest 0 % estimate {s['max_zero_estimate']} (<= {s['zero_target']}): {'MET' if s['met'] else 'NOT MET'}"
    )
    for r in rows:
        if r["bench"] == "mixture_small_sample":
            floor = " (min_bytes=0)" if "min_bytes" in r else ""
            print(f"small sample, {r['tokenizer']}{floor}: {r['verdict']}: {'MET' if r['met'] else 'NOT MET'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
