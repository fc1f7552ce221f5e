"""Raw corpus → packed GPT-2 shards: tokenmill's pack_shards vs datatrove vs plain single-process loops.

Builds a deterministic web-like corpus into a temp folder (never committed): documents of log-normal length made
of real UDHR sentences in many languages, 5 % of them real Python files from ../shared/data/code, as
``.jsonl.zst`` in 8 files. Then, on the same cores, alternating over ``--rounds``:

(a) tokenmill: ``pipelines/pack_shards.py --tokenizer gpt2 --input '*.jsonl.zst'`` with the default engine
    (``encode.engine=auto``: fastokens, proven against HF) — worker-side: partitions are read, cleaned, encoded,
    packed and written in Ray workers; the driver commits;
(b) tokenmill with ``--set encode.engine=hf`` (HF tokenizers): its shards must be byte-identical to (a)'s;
(b') tokenmill with ``--set shards.formats=[megatron]``: the kinds of files (c)-(e) write (tokens and their index), no
    Parquet rows: the like-for-like comparison;
(c) datatrove: ``JsonlReader`` → ``MegatronDocumentTokenizer`` (same GPT-2 tokenizer, EOS appended), in a
    ``LocalPipelineExecutor`` with 8 tasks and as many workers as tokenmill;
(d) a plain loop: stream zstd JSONL, HF ``encode_batch``, write uint16 tokens + document ends;
(e) the same loop on fastokens' ``encode_batch_flat`` (the fastest exact encoder: the floor of this job); its
    ``.bin`` must equal (d)'s.

Then HF ``encode_batch_fast`` alone on all cores over the texts already in memory (the HF encoder's own time).

Each contender runs in a fresh subprocess; peak RSS is the peak summed RSS of its whole process tree (driver,
Ray workers, raylet, GCS...), sampled with psutil; for tokenmill the driver's own peak is printed too. Then
tokenmill runs on 1× and 4× the corpus (``--scale-factor``) for the time ratio and the driver's peak at both; the
fastokens loop runs on the 4× corpus too, and tokenmill on 64 documents (its fixed cost: Ray up and down, imports,
the parity check, the commit), so the ratio to the floor is printed where the fixed costs weigh less.

    python benchmarks/corpus_to_shards.py [--docs 200000] [--rounds 1] [--workers 2] [--scale-factor 4] [--skip datatrove,loop]

Prints JSON lines (one per comparison) and a table. Needs the ``bench`` extra (datatrove).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import shutil
import sys
import tempfile
from pathlib import Path

import psutil
from _tree import run_measured  # benchmarks/ is the script's folder, so on sys.path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
GPT2 = DATA / "tokenizers" / "gpt2"
EOS = 50256


def make_corpus(out: Path, n_docs: int, n_files: int = 8, seed: int = 0) -> int:
    """Write ``n_docs`` documents into ``n_files`` .jsonl.zst files; return the uncompressed bytes."""
    import zstandard

    rng = random.Random(seed)
    sentences = []
    for f in sorted((DATA / "text" / "udhr").glob("*.txt")):
        sentences += [l.strip() for l in f.read_text(errors="replace").splitlines() if len(l.strip()) > 20]
    code = [f.read_text(errors="replace") for f in sorted((DATA / "code").rglob("*.py"))]
    out.mkdir(parents=True, exist_ok=True)
    total = 0
    per_file = math.ceil(n_docs / n_files)
    for k in range(n_files):
        cctx = zstandard.ZstdCompressor(level=3)
        with open(out / f"web-{k:02d}.jsonl.zst", "wb") as raw, cctx.stream_writer(raw) as zw:
            for i in range(k * per_file, min(n_docs, (k + 1) * per_file)):
                if rng.random() < 0.05:
                    text = rng.choice(code)
                else:
                    n = max(1, int(rng.lognormvariate(1.4, 0.9)))
                    start = rng.randrange(len(sentences))
                    text = " ".join(sentences[(start + j) % len(sentences)] for j in range(n))
                line = json.dumps({"id": f"doc-{i}", "text": text, "url": f"https://example.org/{i}"}, ensure_ascii=False).encode() + b"\n"
                total += len(line)
                zw.write(line)
    return total


LOOP = r"""
import io, json, sys, numpy as np, zstandard
from pathlib import Path
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
src, out, gpt2, engine = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
tok = Tokenizer(models.BPE.from_file(str(gpt2 / "encoder.json"), str(gpt2 / "vocab.bpe")))
tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
if engine == "fastokens":
    import fastokens
    fast = fastokens.Tokenizer.from_json_str(tok.to_str())
out.mkdir(parents=True, exist_ok=True)
n_tokens, ends = 0, []
with open(out / "tokens.bin", "wb") as bin_f:
    def flush(batch):
        global n_tokens
        if engine == "fastokens":  # one flat buffer per batch: EOS after every document, no Python ints
            flat, offsets = fast.encode_batch_flat(batch)
            flat, offsets = np.frombuffer(flat, np.uint32), np.frombuffer(offsets, np.uint64).astype(np.int64)
            out_ids = np.empty(len(flat) + len(batch), np.uint16)
            doc_ends = offsets[1:] + np.arange(1, len(batch) + 1)
            eos_at = doc_ends - 1
            mask = np.ones(len(out_ids), bool)
            mask[eos_at] = False
            out_ids[mask] = flat
            out_ids[eos_at] = 50256
            bin_f.write(out_ids.tobytes())
            ends.extend((n_tokens + doc_ends).tolist())
            n_tokens += len(out_ids)
            return
        for e in tok.encode_batch(batch, add_special_tokens=False):
            ids = np.asarray(e.ids + [50256], np.uint16)
            bin_f.write(ids.tobytes())
            n_tokens += len(ids)
            ends.append(n_tokens)
    for f in sorted(src.glob("*.jsonl.zst")):
        with open(f, "rb") as fh:
            text = io.TextIOWrapper(zstandard.ZstdDecompressor().stream_reader(fh), encoding="utf-8")
            batch = []
            for line in text:
                batch.append(json.loads(line)["text"])
                if len(batch) == 1024:
                    flush(batch); batch = []
            if batch:
                flush(batch)
np.asarray(ends, np.int64).tofile(out / "doc_ends.bin")
print(json.dumps({"tokens": n_tokens, "documents": len(ends)}))
"""

# The floor: HF's fastest batch call (no offsets, all cores) over the corpus texts already in memory, nothing else.
ENCODE_ALONE = r"""
import io, json, sys, time, zstandard
from pathlib import Path
from tokenizers import Tokenizer, models, pre_tokenizers
src, gpt2 = Path(sys.argv[1]), Path(sys.argv[2])
tok = Tokenizer(models.BPE.from_file(str(gpt2 / "encoder.json"), str(gpt2 / "vocab.bpe")))
tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
texts = []
for f in sorted(src.glob("*.jsonl.zst")):
    with open(f, "rb") as fh:
        texts += [json.loads(l)["text"] for l in io.TextIOWrapper(zstandard.ZstdDecompressor().stream_reader(fh), encoding="utf-8")]
t0 = time.perf_counter()
n = sum(len(e.ids) for i in range(0, len(texts), 1024) for e in tok.encode_batch_fast(texts[i:i + 1024], add_special_tokens=False))
print(json.dumps({"tokens": n, "encode_s": round(time.perf_counter() - t0, 2)}))
"""

DATATROVE = r"""
import json, sys
from pathlib import Path
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.tokens import MegatronDocumentTokenizer
src, out, tok, workers = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
LocalPipelineExecutor(pipeline=[JsonlReader(src, glob_pattern="*.jsonl.zst"),
                                MegatronDocumentTokenizer(out + "/tokens", tokenizer_name_or_path=tok)],
                      tasks=8, workers=workers, logging_dir=out + "/logs", skip_completed=False).run()
n = sum(p.stat().st_size for p in Path(out, "tokens").rglob("*.bin")) // 2
print(json.dumps({"tokens": n}))
"""


def _measure(cmd: list[str], cwd: Path) -> dict:
    """Run ``cmd`` (see :func:`_tree.run_measured`); fail loudly, keep the last stdout line."""
    r = run_measured(cmd, cwd, interval=0.2)
    if r["returncode"] != 0:
        raise RuntimeError(f"{cmd[:3]} failed ({r['returncode']}):\n{r['stderr'][-3000:]}")
    lines = r.pop("stdout").strip().splitlines()
    r.pop("stderr")
    return {**r, "stdout": lines[-1] if lines else ""}


def run_tokenmill(corpus: Path, out: Path, workers: int, engine: str = "auto", formats: str = "") -> dict:
    shutil.rmtree(out, ignore_errors=True)
    r = _measure(
        [
            sys.executable,
            str(ROOT / "pipelines/pack_shards.py"),
            "--tokenizer",
            str(GPT2),
            "--input",
            str(corpus / "*.jsonl.zst"),
            "--output",
            str(out),
            "--quiet",
            "--num-cpus",
            str(workers),
            "--set",
            "shards.pack.context_length=2048",
            "--set",
            f"shards.pack.eos_id={EOS}",
            "--set",
            f"workers={workers}",
            "--set",
            f"encode.engine={engine}",
            *(["--set", f"shards.formats={formats}"] if formats else []),
        ],
        ROOT,
    )
    manifest = json.loads((out / "shards/manifest.json").read_text())
    r["tokens"] = manifest["totals"]["tokens"]
    r["utilization"] = manifest["totals"]["utilization"]
    r["engine"] = manifest["source"]["encoder"]["engine"]
    return r


def shard_bytes_digest(folder: Path) -> str:
    """sha256 over every shard file's name and bytes (the manifest, which names the engine and run, left out)."""
    import hashlib

    digest = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file() and p.name != "manifest.json":
            digest.update(p.relative_to(folder).as_posix().encode() + b"\0" + p.read_bytes())
    return digest.hexdigest()


def run_datatrove(corpus: Path, out: Path, workers: int) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    tok = out.parent / "gpt2-tokenizer.json"
    if not tok.exists():  # datatrove loads a tokenizer.json: the same GPT-2 files, saved in that format
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers

        t = Tokenizer(models.BPE.from_file(str(GPT2 / "encoder.json"), str(GPT2 / "vocab.bpe")))
        t.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        t.decoder = decoders.ByteLevel()
        t.add_special_tokens(["<|endoftext|>"])
        t.save(str(tok))
    r = _measure([sys.executable, "-c", DATATROVE, str(corpus), str(out), str(tok), str(workers)], ROOT)
    r["tokens"] = json.loads(r["stdout"])["tokens"]
    return r


def run_loop(corpus: Path, out: Path, engine: str = "hf") -> dict:
    shutil.rmtree(out, ignore_errors=True)
    r = _measure([sys.executable, "-c", LOOP, str(corpus), str(out), str(GPT2), engine], ROOT)
    r["tokens"] = json.loads(r["stdout"])["tokens"]
    return r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=200_000, help="documents in the 1x corpus (default: 200000)")
    ap.add_argument("--rounds", type=int, default=1, help="alternating rounds of the three contenders (default: 1)")
    ap.add_argument("--workers", type=int, default=psutil.cpu_count(), help="workers for tokenmill and datatrove")
    ap.add_argument("--scale-factor", type=int, default=4, help="the big corpus is this many times the 1x (0: skip)")
    ap.add_argument("--skip", default="", help="contenders to leave out, comma-separated (tokenmill_hf, tokenmill_megatron, datatrove, loop, loop_fastokens)")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    tmp = Path(tempfile.mkdtemp(prefix="tokenmill-bench-"))
    try:
        corpus = tmp / "corpus"
        nbytes = make_corpus(corpus, args.docs)
        size = sum(p.stat().st_size for p in corpus.iterdir())
        print(f"corpus: {args.docs} documents, {nbytes / 2**20:.0f} MiB JSONL, {size / 2**20:.0f} MiB zstd in 8 files", file=sys.stderr)
        runs = {
            "tokenmill": lambda: run_tokenmill(corpus, tmp / "tm", args.workers),
            "tokenmill_hf": lambda: run_tokenmill(corpus, tmp / "tm_hf", args.workers, "hf"),
            # what datatrove and the loops write: tokens and their index only, no Parquet rows
            "tokenmill_megatron": lambda: run_tokenmill(corpus, tmp / "tm_megatron", args.workers, formats="[megatron]"),
            "datatrove": lambda: run_datatrove(corpus, tmp / "dt", args.workers),
            "loop": lambda: run_loop(corpus, tmp / "loop"),
            "loop_fastokens": lambda: run_loop(corpus, tmp / "loop_fast", "fastokens"),
        }
        runs = {k: v for k, v in runs.items() if k not in skip}
        results: dict[str, list[dict]] = {k: [] for k in runs}
        for _ in range(args.rounds):
            for name, run in runs.items():
                results[name].append(run())
                print(f"{name}: {results[name][-1]['wall_s']} s", file=sys.stderr)
        best = {k: min(v, key=lambda r: r["wall_s"]) for k, v in results.items()}
        ours = best["tokenmill"]
        identical = {
            "tokenmill_vs_hf_shards": shard_bytes_digest(tmp / "tm" / "shards") == shard_bytes_digest(tmp / "tm_hf" / "shards")
            if "tokenmill_hf" in best
            else None,
            "loop_fastokens_vs_hf_bin": (tmp / "loop" / "tokens.bin").read_bytes() == (tmp / "loop_fast" / "tokens.bin").read_bytes()
            if "loop" in best
            else None,
        }
        lines = []
        if "loop" in best:
            floor = json.loads(_measure([sys.executable, "-c", ENCODE_ALONE, str(corpus), str(GPT2)], ROOT)["stdout"])
            lines.append(
                {
                    "bench": "corpus_to_shards_hf_alone",
                    "ours_s": ours["wall_s"],
                    "peer": "hf_encode_batch_fast_alone",
                    "peer_s": floor["encode_s"],
                    "ratio": round(ours["wall_s"] / floor["encode_s"], 3),
                    "peer_tokens": floor["tokens"],
                    "note": "HF encoding alone (texts in memory, all cores): the bound of every HF-based pipeline",
                }
            )
        targets = {
            "datatrove": "<= 0.25 x datatrove wall, peak <= datatrove's",
            "loop_fastokens": "<= 3 x the fastokens loop (the floor)",
            "tokenmill_hf": "shards byte-identical",
            "loop": "(HF loop)",
        }
        for peer, p in best.items():
            if peer in ("tokenmill", "tokenmill_megatron"):
                continue
            lines.append(
                {
                    "bench": "corpus_to_shards",
                    "ours_s": ours["wall_s"],
                    "ours_engine": ours["engine"],
                    "peer": peer,
                    "peer_s": p["wall_s"],
                    "ratio": round(ours["wall_s"] / p["wall_s"], 3),
                    "ours_peak_mb": ours["peak_mb"],
                    "peer_peak_mb": p["peak_mb"],
                    "ours_driver_peak_mb": ours["driver_peak_mb"],
                    "ours_tokens_per_s": round(ours["tokens"] / ours["wall_s"]),
                    "peer_tokens_per_s": round(p["tokens"] / p["wall_s"]),
                    "quality": {"ours_tokens": ours["tokens"], "peer_tokens": p["tokens"], "utilization": round(ours["utilization"], 5), **identical},
                    "target": targets[peer],
                }
            )
        if args.scale_factor:
            big = tmp / "corpus_big"
            make_corpus(big, args.docs * args.scale_factor, seed=1)
            r_big = run_tokenmill(big, tmp / "tm_big", args.workers)
            tiny = tmp / "corpus_tiny"  # 64 documents: what a run costs before and after its work (Ray up and down)
            make_corpus(tiny, 64, seed=2)
            fixed = min(run_tokenmill(tiny, tmp / "tm_tiny", args.workers)["wall_s"] for _ in range(2))
            lines.append(
                {
                    "bench": "corpus_to_shards_scale",
                    "ours_s": ours["wall_s"],
                    "peer": f"tokenmill_{args.scale_factor}x",
                    "peer_s": r_big["wall_s"],
                    "ratio": round(r_big["wall_s"] / ours["wall_s"], 3),
                    "ours_driver_peak_mb": ours["driver_peak_mb"],
                    "peer_driver_peak_mb": r_big["driver_peak_mb"],
                    "driver_growth": round(r_big["driver_peak_mb"] / max(ours["driver_peak_mb"], 1) - 1, 3),
                    "target": f"time <= {1.1 * args.scale_factor:.1f} x, driver peak growth <= 10 %",
                }
            )
            if "loop_fastokens" in best:  # the floor at the big corpus: what the fixed costs weigh there
                loop_big = run_loop(big, tmp / "loop_fast_big", "fastokens")
                lines.append(
                    {
                        "bench": "corpus_to_shards_scale_vs_loop",
                        "scale": args.scale_factor,
                        "ours_s": r_big["wall_s"],
                        "peer": f"loop_fastokens_{args.scale_factor}x",
                        "peer_s": loop_big["wall_s"],
                        "ratio": round(r_big["wall_s"] / loop_big["wall_s"], 3),
                        "ratio_1x": round(ours["wall_s"] / best["loop_fastokens"]["wall_s"], 3),
                        "ours_fixed_s": fixed,
                        "note": "ours_fixed_s: tokenmill on 64 documents (Ray start and stop, imports, parity check, commit)",
                        "target": "<= 3 x the fastokens loop (the issue's bar is on the 1x corpus)",
                    }
                )
        if "tokenmill_megatron" in best:  # like for like: the same kinds of files as datatrove and the loops write
            m = best["tokenmill_megatron"]
            for peer in ("datatrove", "loop_fastokens"):
                if peer in best:
                    lines.append(
                        {
                            "bench": "corpus_to_shards_megatron_only",
                            "ours_s": m["wall_s"],
                            "peer": peer,
                            "peer_s": best[peer]["wall_s"],
                            "ratio": round(m["wall_s"] / best[peer]["wall_s"], 3),
                            "ours_peak_mb": m["peak_mb"],
                            "peer_peak_mb": best[peer]["peak_mb"],
                            "note": "tokenmill with shards.formats=[megatron]: .bin/.idx and the pack plan, no Parquet rows",
                            "target": targets[peer],
                        }
                    )
        for line in lines:
            print(json.dumps(line))
        print(f"\n{'contender':<20}{'wall s':>9}{'tokens/s':>12}{'peak MB':>9}{'x tokenmill':>12}")
        for k, r in best.items():
            print(f"{k:<20}{r['wall_s']:>9.1f}{r['tokens'] / r['wall_s']:>12,.0f}{r['peak_mb']:>9}{r['wall_s'] / ours['wall_s']:>12.2f}")
        print(f"identical: {identical}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
