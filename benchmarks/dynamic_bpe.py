"""Dynamic batch-level BPE benchmark: sequence-length reduction per language, and speed.

Data: the UDHR (../shared/data/text/udhr) in 14 languages of 11 scripts, non-blank lines (stripped), cut into
batches of 32 consecutive lines of one language (partial last batches dropped), plus mixed-language batches
(lines taken round robin over the languages). Base tokenizers: GPT-2 (byte-level BPE, encoder.json + vocab.bpe)
and Mistral-7B v0.1 (sentencepiece BPE with byte fallback).

1. Reduction: mean row length after dynamic merging vs the base tokenizer at max_merges = 100, 500, 1000 and
   unlimited, ``boundary="word"``, per language, on mixed batches, and averaged over languages (read off
   ``merges_to_seqlen``, which the tests prove equal to running the operator). Also the average at 1000 merges
   for every boundary mode.
2. Speed of the fast implementation (distinct units + numba kernel) vs the reference (the paper's algorithm:
   recount every pair after every merge, pure Python) on the first batch of every language and a mixed batch at
   max_merges=1000, with a check that both outputs are identical.
3. Speed of merging vs base tokenization on all batches: ``peer`` = the library's own batch encode to ids
   (``tokenizers.Tokenizer.encode_batch`` / ``SentencePieceProcessor.encode``); ``ours`` = the rest of
   ``DynamicBPE.__call__`` (units, merges, output tables) at max_merges=100 and 1000. Process CPU time
   (``time.process_time``, all threads), so that other load on the machine does not count; the two take turns
   batch by batch, and each keeps its best of ``ROUNDS`` rounds over all batches.

Run: ``python benchmarks/dynamic_bpe.py`` (JSON lines, then tables). Timings are from whatever machine runs it.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa

from tokenmill.operators.dynamic import (
    BOUNDARIES,
    DynamicBPE,
    ReferenceDynamicBPE,
    load_base_tokenizer,
    merges_to_seqlen,
)
from tokenmill.operators.dynamic.boundaries import Boundary

ROOT = Path(__file__).resolve().parents[1]

DATA = (ROOT.parent / "shared" / "data").resolve()
LANGS = {  # UDHR file -> script
    "eng": "Latin",
    "deu": "Latin",
    "fra": "Latin",
    "tur": "Latin",
    "vie": "Latin",
    "rus": "Cyrillic",
    "ell_monotonic": "Greek",
    "heb": "Hebrew",
    "arb": "Arabic",
    "hin": "Devanagari",
    "tha": "Thai",
    "amh": "Ethiopic",
    "kor": "Hangul",
    "cmn_hans": "Han",
}
TOKENIZERS = {"gpt2": DATA / "tokenizers" / "gpt2", "mistral": DATA / "tokenizers" / "mistral" / "tokenizer.model.v1"}
BATCH = 32
BUDGETS = (100, 500, 1000, None)
ROUNDS = 7


def udhr_lines(lang: str) -> list[str]:
    text = (DATA / "text" / "udhr" / f"{lang}.txt").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip()]


def full_batches(lines: list[str]) -> list[list[str]]:
    return [lines[i : i + BATCH] for i in range(0, len(lines) - BATCH + 1, BATCH)]


def mixed_batches(per_lang: dict[str, list[str]]) -> list[list[str]]:
    longest = max(len(v) for v in per_lang.values())
    rows = [v[i] for i in range(longest) for v in per_lang.values() if i < len(v)]
    return full_batches(rows)


def emit(record: dict) -> None:
    print(json.dumps(record, ensure_ascii=False), flush=True)


def reduction(tok, batches: list[list[str]], boundary: Boundary) -> tuple[float, dict[str, float]]:
    texts = [t for b in batches for t in b]
    curve = merges_to_seqlen(tok, texts, batch_size=BATCH, boundary=boundary, max_merges=None)
    reductions = {("unlimited" if m is None else str(m)): round(curve.reduction_at(m), 4) for m in BUDGETS}
    return curve.base_mean_length, reductions


def time_call(fn: Callable[[], Any], repeat: int = 1) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.process_time()
        out = fn()
        best = min(best, time.process_time() - t0)
    return best, out


def interleaved_cpu(*sides: list) -> list[float]:
    """CPU seconds of this process (all threads) per side, each side a list of calls (one per batch).

    Batch by batch the sides take turns, so load from elsewhere on the machine hits them alike; each side keeps
    its best of ``ROUNDS`` rounds over all batches."""
    best = [float("inf")] * len(sides)
    for _ in range(ROUNDS):
        spent = [0.0] * len(sides)
        for calls in zip(*sides):
            for k, call in enumerate(calls):
                t0 = time.process_time()
                call()
                spent[k] += time.process_time() - t0
        best = [min(b, s) for b, s in zip(best, spent)]
    return best


def base_encode(tok):
    """The library's own batch encode to ids: what "tokenizing" costs without any of our work."""
    if tok.kind == "sentencepiece":
        sp = tok._sp
        return lambda texts: sp.encode(texts)
    hf = tok._tok
    return lambda texts: [e.ids for e in hf.encode_batch(texts, add_special_tokens=False)]


def main() -> None:
    per_lang = {lang: udhr_lines(lang) for lang in LANGS}
    batches = {lang: full_batches(lines) for lang, lines in per_lang.items()}
    batches["mixed"] = mixed_batches(per_lang)
    table: dict[str, dict[str, tuple[float, dict]]] = {}
    modes: dict[str, dict[str, float]] = {}
    speed: dict[str, dict] = {}
    for name, path in TOKENIZERS.items():
        tok = load_base_tokenizer(path)
        table[name] = {}
        for lang, bs in batches.items():
            base_len, red = reduction(tok, bs, "word")
            table[name][lang] = (base_len, red)
            emit(
                {
                    "bench": "dynamic_bpe_reduction",
                    "tokenizer": name,
                    "lang": lang,
                    "script": LANGS.get(lang, "mixed"),
                    "boundary": "word",
                    "batch_size": BATCH,
                    "batches": len(bs),
                    "base_mean_len": round(base_len, 2),
                    "reduction": red,
                }
            )
        avg = {k: round(statistics.mean(table[name][lang][1][k] for lang in LANGS), 4) for k in table[name]["eng"][1]}
        table[name]["average"] = (statistics.mean(table[name][lang][0] for lang in LANGS), avg)
        emit(
            {
                "bench": "dynamic_bpe_reduction_avg",
                "tokenizer": name,
                "boundary": "word",
                "languages": len(LANGS),
                "reduction": avg,
                "target": ">= 0.20 at batch size 32",
                "met": avg["1000"] >= 0.20,
            }
        )
        modes[name] = {}
        for boundary in BOUNDARIES:
            at_1000 = [reduction(tok, batches[lang], boundary)[1]["1000"] for lang in LANGS]
            modes[name][boundary] = statistics.mean(at_1000)
            emit(
                {
                    "bench": "dynamic_bpe_reduction_boundary",
                    "tokenizer": name,
                    "boundary": boundary,
                    "max_merges": 1000,
                    "mean_reduction": round(modes[name][boundary], 4),
                }
            )
        speed[name] = measure_speed(name, tok, batches)
    print_tables(table, modes, speed)


def measure_speed(name: str, tok, batches: dict[str, list[list[str]]]) -> dict:
    fast = DynamicBPE(tok, max_merges=1000, boundary="word")
    ref = ReferenceDynamicBPE(tok, max_merges=1000, boundary="word")
    sample = [bs[0] for bs in batches.values()]
    fast(pa.table({"text": sample[0]}))  # numba compile / cache load outside the timing
    fast_s = ref_s = 0.0
    identical = True
    for texts in sample:
        batch = pa.table({"text": texts})
        t, out = time_call(lambda: fast(batch), repeat=3)
        fast_s += t
        t, expected = time_call(lambda: ref(batch))
        ref_s += t
        identical &= out.equals(expected)
    emit(
        {
            "bench": "dynamic_bpe_fast_vs_reference",
            "tokenizer": name,
            "batches": len(sample),
            "max_merges": 1000,
            "boundary": "word",
            "ours_s": round(fast_s, 4),
            "peer": "reference (paper algorithm, pure Python)",
            "peer_s": round(ref_s, 4),
            "ratio": round(fast_s / ref_s, 5),
            "speedup": round(ref_s / fast_s, 1),
            "quality": {"identical_output": identical},
        }
    )
    # Merging vs tokenizing, on every batch: CPU time of this process (the machine may be shared, so not wall
    # time), rounds of the whole set alternating between the three, best round of each.
    encode = base_encode(tok)
    every = [pa.table({"text": b}) for bs in batches.values() for b in bs]
    texts = [t.column("text").to_pylist() for t in every]
    result: dict[str | int, Any] = {"speedup": ref_s / fast_s, "identical": identical, "fast_s": fast_s, "ref_s": ref_s, "batches": len(every)}
    for budget in (100, 1000):
        op = DynamicBPE(tok, max_merges=budget, boundary="word")
        op(every[0])
        base_s, call_s, enc_s = interleaved_cpu(
            [lambda x=x: encode(x) for x in texts],
            [lambda t=t: op(t) for t in every],
            [lambda x=x: tok.encode_batch(x, offsets=op.needs_offsets, pretokens=False) for x in texts],
        )
        merge_s = call_s - base_s
        emit(
            {
                "bench": "dynamic_bpe_merge_vs_tokenize",
                "tokenizer": name,
                "batches": len(every),
                "max_merges": budget,
                "boundary": "word",
                "clock": f"process CPU time, interleaved per batch, best of {ROUNDS} rounds",
                "ours_s": round(merge_s, 4),
                "peer": f"base tokenization ({tok.kind} batch encode)",
                "peer_s": round(base_s, 4),
                "ratio": round(merge_s / base_s, 3),
                "quality": {
                    "operator_call_s": round(call_s, 4),
                    "our_encode_s": round(enc_s, 4),
                    "target": "<= 1.0 at <= 100 merges",
                    "met": merge_s <= base_s,
                },
            }
        )
        result[budget] = (merge_s, base_s)
    return result


def print_tables(table, modes, speed) -> None:
    names = list(table)
    print()
    print(f"Mean sequence-length reduction vs the base tokenizer, boundary=word, batches of {BATCH} lines")
    head = f"{'lang':<14}{'script':<11}" + "".join(f"| {n} base len   m=100   m=500  m=1000  unlim " for n in names)
    print(head)
    print("-" * len(head))
    for lang in [*LANGS, "mixed", "average"]:
        line = f"{lang:<14}{LANGS.get(lang, '-'):<11}"
        for n in names:
            base_len, red = table[n][lang]
            line += f"| {'':<4}{base_len:9.1f}" + "".join(f"{100 * red[k]:7.1f}%" for k in red) + " "
        print(line)
    print()
    print(
        "Average reduction at max_merges=1000 per boundary mode: "
        + "; ".join(f"{n}: " + ", ".join(f"{b} {100 * v:.1f}%" for b, v in modes[n].items()) for n in names)
    )
    print()
    print("Speed at max_merges=1000 (fast vs reference: first batch of each language + one mixed batch), and the cost")
    print("of merging (everything DynamicBPE does beyond the library's batch encode) vs base tokenization, all batches;")
    print(f"process CPU time (all threads), the two taking turns batch by batch, best of {ROUNDS} rounds")
    print(
        f"{'tokenizer':<10}{'fast s':>9}{'ref s':>9}{'speedup':>9}{'same':>6} | "
        f"{'tokenize s':>11}{'merge@100 s':>12}{'ratio':>7}{'merge@1000 s':>13}{'ratio':>7}"
    )
    for n, s in speed.items():
        (m100, b100), (m1000, b1000) = s[100], s[1000]
        print(
            f"{n:<10}{s['fast_s']:9.3f}{s['ref_s']:9.2f}{s['speedup']:8.0f}x{s['identical']!s:>6} | "
            f"{b1000:11.3f}{m100:12.3f}{m100 / b100:7.2f}{m1000:13.3f}{m1000 / b1000:7.2f}"
        )


if __name__ == "__main__":
    main()
