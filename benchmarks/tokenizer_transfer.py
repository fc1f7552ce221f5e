"""Zero-shot tokenizer transfer for all-MiniLM-L6-v2: hypernetwork vs FVT vs random vs the original tokenizer.

    python benchmarks/tokenizer_transfer.py [--checkpoint checkpoints/hypernet-minilm] [--per-lang 24] [--code 48]

On held-out UDHR sentences (12 languages, several scripts; the split training never reads) and held-out Python
files, compare the transferred model's sentence embeddings with the original model's on the same sentences:
``mean_cosine`` (mean over sentences of the cosine between the two embeddings) and ``spearman`` (Spearman
correlation of all pairwise sentence similarities, per group and pooled). New tokenizers:

* ``udhr_bpe``: a 16k BPE trained by tokenmill's engine (operators/bpe) on the train split of UDHR text, as
  sentencepiece-style words (``▁`` marks a word start);
* ``code_bpe``: an 8k byte-level BPE trained by tokenmill's engine on the train split of ../shared/data/code
  (GPT-2 pre-tokenization);
* ``dynamic_m100`` / ``dynamic_all``: batch-level dynamic BPE merges (operators/dynamic) on the original WordPiece
  tokenizer, batches of 32 sentences of one group, word boundaries, 100 merges / until no pair is left.

Methods: ``hypernet`` (the checkpoint), ``fvt`` (operators/transfer/fvt.py: mean of the base tokenization's
embeddings), ``fvt_decomp`` (the same mean over the hypernetwork's own decomposition), ``random``, and ``original``
(the original tokenizer and embeddings: the ceiling, run through the exported-folder path as a check).
Prints one JSON line per (tokenizer, method), then a table. The machine may be shared: no timings are compared.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from operators.transfer.base_model import load_base_model  # noqa: E402
from operators.transfer.embed_tokenizer import prepare_tokenizer, random_embeddings, transfer_embeddings  # noqa: E402
from operators.transfer.hypernet_data import EVAL_LANGS, load_corpus  # noqa: E402
from operators.transfer.model_export import export_transferred_model  # noqa: E402
from operators.transfer.serve import HypernetEmbedder, HypernetServeConfig  # noqa: E402

log = logging.getLogger("tokenizer_transfer")
SPECIALS = ("[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]")


# -- new tokenizers ---------------------------------------------------------------------------------------------
def train_udhr_bpe(texts: list[str], vocab_size: int):
    """tokenmill BPE over ``▁word`` pre-tokens, exported as a Metaspace tokenizer."""
    from tokenizers import decoders, pre_tokenizers

    from operators.bpe import BpeTrainerConfig, train_bpe
    from operators.bpe.export import to_hf_tokenizer

    words = Counter("▁" + w for t in texts for w in t.split())
    model = train_bpe(dict(words), BpeTrainerConfig(vocab_size=vocab_size, min_frequency=2, special_tokens=SPECIALS,
                                                    initial_alphabet="", max_token_length=16))
    tok = to_hf_tokenizer(model)
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    return tok


def train_code_bpe(texts: list[str], vocab_size: int):
    """tokenmill BPE over GPT-2 byte-level pre-tokens, exported as a ByteLevel tokenizer."""
    from tokenizers import decoders, pre_tokenizers

    from operators.bpe import BpeTrainerConfig, train_bpe
    from operators.bpe.export import to_hf_tokenizer

    pre = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    words = Counter(w for t in texts for w, _ in pre.pre_tokenize_str(t))
    alphabet = "".join(pre_tokenizers.ByteLevel.alphabet())
    model = train_bpe(dict(words), BpeTrainerConfig(vocab_size=vocab_size, min_frequency=2, special_tokens=SPECIALS,
                                                    initial_alphabet=alphabet, max_token_length=24))
    tok = to_hf_tokenizer(model)
    tok.pre_tokenizer = pre
    tok.decoder = decoders.ByteLevel()
    return tok


# -- evaluation -------------------------------------------------------------------------------------------------
@torch.no_grad()
def sentence_embeddings(base, rows: list[list[int]], table: torch.Tensor, batch: int = 32) -> torch.Tensor:
    """Normalized mean-pooled embeddings of token-id rows looked up in ``table`` (what the exported folder does)."""
    out = []
    for s in range(0, len(rows), batch):
        chunk = rows[s: s + batch]
        T = max(len(r) for r in chunk)
        ids = torch.zeros(len(chunk), T, dtype=torch.long)
        mask = torch.zeros(len(chunk), T, dtype=torch.long)
        for i, r in enumerate(chunk):
            ids[i, : len(r)] = torch.as_tensor(r)
            mask[i, : len(r)] = 1
        _, pooled = base.encode(inputs_embeds=table[ids], attention_mask=mask)
        out.append(F.normalize(pooled, dim=-1))
    return torch.cat(out)


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation (no ties expected among float similarities)."""
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def pair_sims(e: torch.Tensor) -> np.ndarray:
    sims = (e @ e.T).numpy()
    iu = np.triu_indices(len(e), 1)
    return sims[iu]


def score(orig: dict[str, torch.Tensor], new: dict[str, torch.Tensor], lengths: dict[str, float]) -> dict:
    """Per-group and pooled mean cosine and Spearman."""
    by_group = {}
    for g in orig:
        cos = (orig[g] * new[g]).sum(-1)
        by_group[g] = {"mean_cosine": round(float(cos.mean()), 4),
                       "spearman": round(spearman(pair_sims(orig[g]), pair_sims(new[g])), 4),
                       "length_ratio": round(lengths[g], 3)}
    all_o, all_n = torch.cat(list(orig.values())), torch.cat(list(new.values()))
    udhr = [g for g in orig if g != "code"]
    return {
        "mean_cosine": round(float((all_o * all_n).sum(-1).mean()), 4),
        "spearman": round(spearman(pair_sims(all_o), pair_sims(all_n)), 4),
        "mean_cosine_udhr": round(float(np.mean([by_group[g]["mean_cosine"] for g in udhr])), 4) if udhr else None,
        "mean_cosine_code": by_group["code"]["mean_cosine"] if "code" in by_group else None,
        "by_group": by_group,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default=str(ROOT / "checkpoints" / "hypernet-minilm"))
    ap.add_argument("--per-lang", type=int, default=24, help="held-out UDHR chunks per language")
    ap.add_argument("--code", type=int, default=48, help="held-out code chunks")
    ap.add_argument("--udhr-vocab", type=int, default=16000)
    ap.add_argument("--code-vocab", type=int, default=8000)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    t_start = time.perf_counter()

    base = load_base_model()
    emb = base.input_embeddings.detach().float()
    train, held = load_corpus(split="train"), load_corpus(split="eval")
    groups = {lang: held.udhr[lang][: args.per_lang] for lang in EVAL_LANGS if lang in held.udhr}
    rng = np.random.default_rng(0)
    groups["code"] = [held.code[i] for i in sorted(rng.choice(len(held.code), min(args.code, len(held.code)),
                                                               replace=False))]
    from tokenizers import Tokenizer

    orig_tok = Tokenizer.from_file(str(base.tokenizer_json))
    orig_tok.no_padding()
    orig_tok.no_truncation()
    orig_rows = {g: [e.ids for e in orig_tok.encode_batch(t)] for g, t in groups.items()}
    orig_emb = {g: sentence_embeddings(base, rows, emb) for g, rows in orig_rows.items()}
    orig_len = {g: float(np.mean([len(r) for r in rows])) for g, rows in orig_rows.items()}
    results = []

    def report(tokenizer_name: str, method: str, new_emb: dict, lengths: dict, **extra) -> None:
        rec = {"bench": "tokenizer_transfer", "tokenizer": tokenizer_name, "method": method,
               **score(orig_emb, new_emb, {g: lengths[g] / orig_len[g] for g in lengths}), **extra}
        results.append(rec)
        print(json.dumps(rec), flush=True)

    embedder = HypernetEmbedder(HypernetServeConfig(checkpoint=args.checkpoint))

    # Ceiling: the original tokenizer and embeddings, written and re-loaded as a transferred-model folder.
    from sentence_transformers import SentenceTransformer

    with tempfile.TemporaryDirectory() as tmp:
        tok, roles, smap = prepare_tokenizer(base.tokenizer_json, base.tokenizer_json)
        export_transferred_model(base.folder, tok, emb, tmp, roles=roles, metadata={"method": "original"})
        st = SentenceTransformer(tmp, device="cpu")
        st_emb = {g: st.encode(t, convert_to_tensor=True, normalize_embeddings=True).cpu() for g, t in groups.items()}
    report("original", "original", st_emb, orig_len, path="exported folder + sentence-transformers")

    # Static new tokenizers.
    udhr_texts = train.all_udhr()
    code_texts = train.code
    for name, build in (("udhr_bpe", lambda: train_udhr_bpe(udhr_texts, args.udhr_vocab)),
                        ("code_bpe", lambda: train_code_bpe(code_texts, args.code_vocab))):
        t0 = time.perf_counter()
        raw = build()
        with tempfile.TemporaryDirectory() as tmp:
            raw.save(str(Path(tmp) / "tokenizer.json"))
            tok, roles, smap = prepare_tokenizer(Path(tmp) / "tokenizer.json", base.tokenizer_json)
        train_s = time.perf_counter() - t0
        rows = {g: [e.ids for e in tok.encode_batch(t)] for g, t in groups.items()}
        lengths = {g: float(np.mean([len(r) for r in rs])) for g, rs in rows.items()}
        for method in ("hypernet", "fvt", "fvt_decomp", "random"):
            table = transfer_embeddings(method, tok, base, smap, embedder=embedder)
            new = {g: sentence_embeddings(base, rs, table) for g, rs in rows.items()}
            report(name, method, new, lengths, vocab_size=tok.get_vocab_size(), trainer="tokenmill bpe v1",
                   tokenizer_train_s=round(train_s, 1))

    # Dynamic merges: a fresh vocabulary per batch of 32 sentences of one group.
    from operators.dynamic import DynamicBPE, load_base_tokenizer
    from operators.dynamic import vocab_table as dyn_vocab_table
    from operators.transfer.fvt import fvt_for_dynamic_vocab

    base_tok = load_base_tokenizer(base.tokenizer_json, add_special_tokens=True)
    for name, merges in (("dynamic_m100", 100), ("dynamic_all", None)):
        dyn = DynamicBPE(base_tok, max_merges=merges, boundary="word")
        per_method: dict[str, dict[str, list]] = {m: {} for m in ("hypernet", "fvt", "random")}
        lengths = {}
        n_new = 0
        for g, texts in groups.items():
            dl = []
            for s in range(0, len(texts), 32):
                out = dyn(pa.table({"text": texts[s: s + 32]}))
                vocab = dyn_vocab_table(out)
                n_new += vocab.num_rows
                rows = out.column("dynamic_ids").to_pylist()
                dl.extend(len(r) for r in rows)
                ids = vocab.column("id").to_numpy()
                order = np.argsort(ids)
                assert len(ids) == 0 or (np.sort(ids) == np.arange(len(ids)) + base.vocab_size).all()
                tables = {
                    "hypernet": _stack(embedder(vocab.select(["base_ids"])).column("embedding"), emb.shape[1]),
                    "fvt": fvt_for_dynamic_vocab(emb, vocab)[1].float(),
                    "random": random_embeddings(emb, vocab.num_rows, seed=s),
                }
                for m, new_rows in tables.items():
                    full = torch.cat([emb, new_rows[torch.as_tensor(order, dtype=torch.long)]])
                    per_method[m].setdefault(g, []).append(sentence_embeddings(base, rows, full))
            lengths[g] = float(np.mean(dl))
        for m, by_g in per_method.items():
            report(name, m, {g: torch.cat(v) for g, v in by_g.items()}, lengths, max_merges=merges,
                   new_tokens=n_new)

    print_table(results)
    print(f"({len(groups)} groups, {sum(len(t) for t in groups.values())} held-out chunks; "
          f"checkpoint {Path(args.checkpoint).name}; {time.perf_counter() - t_start:.0f} s on a shared machine)")
    return 0


def _stack(col: pa.ChunkedArray, dim: int) -> torch.Tensor:
    values = col.combine_chunks().flatten().to_numpy(zero_copy_only=False)
    return torch.from_numpy(np.asarray(values, np.float32).reshape(-1, dim).copy())


def print_table(results: list[dict]) -> None:
    print()
    print(f"{'tokenizer':<14}{'method':<12}{'mean_cos':>9}{'udhr':>8}{'code':>8}{'spearman':>10}")
    for r in results:
        code = r["mean_cosine_code"]
        print(f"{r['tokenizer']:<14}{r['method']:<12}{r['mean_cosine']:>9.4f}{r['mean_cosine_udhr']:>8.4f}"
              f"{code if code is not None else float('nan'):>8.4f}{r['spearman']:>10.4f}")
    wins = []
    for tok in sorted({r["tokenizer"] for r in results} - {"original"}):
        by = {r["method"]: r["mean_cosine"] for r in results if r["tokenizer"] == tok}
        if "hypernet" in by and "fvt" in by:
            others = [m for m in ("fvt", "fvt_decomp") if m in by]
            beaten = all(by["hypernet"] > by[m] for m in others)
            wins.append(f"{tok}: hypernet {by['hypernet']:.4f} vs " + ", ".join(f"{m} {by[m]:.4f}" for m in others)
                        + f" ({'beats' if beaten else 'does NOT beat'} {' and '.join(others)})")
    print("\n".join(wins))


if __name__ == "__main__":
    sys.exit(main())
