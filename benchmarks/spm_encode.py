"""sentencepiece vs the fast engine on a tokenizer.json derived from the same ``.model`` (Mistral-7B v0.1).

Loads ``../shared/data/tokenizers/mistral/tokenizer.model.v1`` with ``load_engine(..., "auto")`` (derives the
tokenizer.json, loads it in fastokens, proves it against sentencepiece on the parity set: that time is ``load_s``) and
encodes the same texts (every UDHR language and every Python file of ../shared/data, ``--repeat`` times) in one
process on the same cores, alternating over ``--rounds`` (best round counts): (a) tokenmill's derived fast engine
(``encode_flat``), (b) sentencepiece's own batch ``encode`` (the reference, ``num_threads=--threads``), (c) HF
tokenizers on the same derived tokenizer.json. All outputs must be the same ids. Wall seconds and process CPU
seconds (all threads) are both printed: on a machine shared with other jobs the CPU seconds are the steadier ratio.

    python benchmarks/spm_encode.py [--threads 2] [--repeat 3] [--rounds 3]

Prints one JSON line per comparison, then a table.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
MISTRAL = DATA / "tokenizers" / "mistral" / "tokenizer.model.v1"


def texts(repeat: int) -> list[str]:
    udhr = [p.read_text(encoding="utf-8") for p in sorted((DATA / "text" / "udhr").glob("*.txt"))]
    code = [p.read_text(encoding="utf-8") for p in sorted((DATA / "code").rglob("*.py"))]
    return (udhr + code) * repeat


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="threads for every engine (default: all cores)")
    ap.add_argument("--repeat", type=int, default=3, help="copies of UDHR + code to encode")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    os.environ["RAYON_NUM_THREADS"] = str(args.threads)  # fastokens' and HF's Rust pools read it on first use

    import numpy as np
    import sentencepiece as spm
    from tokenizers import Tokenizer

    from tokenmill.operators.encode import load_engine
    from tokenmill.operators.encode.engines import flat_from_lists
    from tokenmill.operators.encode.spm_convert import derive_tokenizer_json

    t0 = time.perf_counter()
    engine = load_engine(MISTRAL, "auto")
    load_s = time.perf_counter() - t0
    assert engine.fast is not None, engine.choice["reason"]
    hf = Tokenizer.from_str(derive_tokenizer_json(MISTRAL.read_bytes()))
    sp = spm.SentencePieceProcessor(model_file=str(MISTRAL))
    docs = texts(args.repeat)
    chars = sum(len(t) for t in docs)

    contenders = {
        "fastokens_derived": lambda: engine.fast.encode_flat(docs),
        "sentencepiece": lambda: flat_from_lists(sp.encode(docs, num_threads=args.threads)),
        "hf_derived": lambda: flat_from_lists([e.ids for e in hf.encode_batch_fast(docs, add_special_tokens=False)]),
    }
    best = dict.fromkeys(contenders, float("inf"))
    cpu = dict.fromkeys(contenders, float("inf"))
    outputs = {}
    for _ in range(args.rounds):
        for name, run in contenders.items():
            t, c = time.perf_counter(), time.process_time()
            outputs[name] = run()
            best[name] = min(best[name], time.perf_counter() - t)
            cpu[name] = min(cpu[name], time.process_time() - c)
    ref_ids, ref_offsets = outputs["sentencepiece"]
    tokens = len(ref_ids)
    identical = {n: bool(np.array_equal(o[0], ref_ids) and np.array_equal(o[1], ref_offsets)) for n, o in outputs.items()}
    common = {"docs": len(docs), "chars": chars, "tokens": tokens, "threads": args.threads, "rounds": args.rounds}
    for peer in ("sentencepiece", "hf_derived"):
        line = {
            "bench": "spm_encode",
            "ours": "fastokens_derived",
            "ours_s": round(best["fastokens_derived"], 3),
            "peer": peer,
            "peer_s": round(best[peer], 3),
            "ratio": round(best["fastokens_derived"] / best[peer], 3),
            "ours_cpu_s": round(cpu["fastokens_derived"], 3),
            "peer_cpu_s": round(cpu[peer], 3),
            "cpu_ratio": round(cpu["fastokens_derived"] / cpu[peer], 3),
            "ours_tokens_per_s": round(tokens / best["fastokens_derived"]),
            "peer_tokens_per_s": round(tokens / best[peer]),
            "load_s": round(load_s, 2),
            "quality": {"identical_ids": identical["fastokens_derived"] and identical[peer], **common},
        }
        print(json.dumps(line))
    print(f"\n{'engine':20} {'best s':>8} {'cpu s':>8} {'tokens/s':>12} {'x fastokens':>12} identical")
    for name, s in best.items():
        print(f"{name:20} {s:8.3f} {cpu[name]:8.3f} {tokens / s:12,.0f} {s / best['fastokens_derived']:12.2f} {identical[name]}")
    print(f"load_engine(auto) incl. derivation and parity set: {load_s:.2f} s; choice: {engine.choice['reason']}")


if __name__ == "__main__":
    main()
