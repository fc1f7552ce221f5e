"""Zero-shot tokenizer transfer for all-MiniLM-L6-v2: hypernetwork vs FOCUS vs FVT vs random vs the original.

    python benchmarks/tokenizer_transfer.py [--checkpoint checkpoints/hypernet-minilm] [--per-lang 24] [--code 48]
    python benchmarks/tokenizer_transfer.py --checkpoint OUT --methods hypernet   # another checkpoint, no baselines

On held-out UDHR sentences (12 languages, several scripts; the split training never reads) and held-out Python
files, compare the transferred model's sentence embeddings with the original model's on the same sentences:
``mean_cosine`` (mean over sentences of the cosine between the two embeddings) and ``spearman`` (Spearman
correlation of all pairwise sentence similarities, per group and pooled); and retrieval, a task the original
model solves well above chance, scored with the transferred model alone (queries and candidates both encoded by
it): each held-out UDHR paragraph (a line of the split the hypernetwork never trained on, article headings
excluded; ~12 per language) of the 11 non-English languages and of 12 retrieval-only languages
(``RETRIEVAL_ONLY_LANGS``: where the original model's recall@1 is >= 0.25) must retrieve its English translation
among all 61 English paragraphs of the declaration (English is the pivot and has no task), and each of 48
held-out code chunks (>= 4 lines) is cut in half and its first half must retrieve its second half among all 48
second halves (``recall_at_1``, ``mrr`` per group; the record's values are means over the 24 groups with a task).
Retrieval is scored twice: by cosine, and by CSLS (Conneau et al. 2018: ``2 cos(q, d) - r(d)``, ``r(d)`` the mean
cosine of document d to its 10 nearest queries; ``recall_at_1_csls``, ``mrr_csls``), which discounts hub documents
that are near every query. ``top1_share`` (the largest share of a group's queries with the same first hit) shows
collapse: every group's targets are distinct, so a model that sends all texts to one hub that happens to be a
target still gets 1/12 of a group right by cosine.
New tokenizers:

* ``udhr_bpe``: a 16k BPE trained by tokenmill's engine (operators/bpe) on the train split of UDHR text, as
  sentencepiece-style words (``▁`` marks a word start);
* ``code_bpe``: an 8k byte-level BPE trained by tokenmill's engine on the train split of ../shared/data/code
  (GPT-2 pre-tokenization);
* ``dynamic_m100`` / ``dynamic_all``: batch-level dynamic BPE merges (operators/dynamic) on the original WordPiece
  tokenizer, batches of 32 sentences of one group, word boundaries, 100 merges / until no pair is left.

Methods: ``hypernet`` (the checkpoint; a token that is one original token keeps that row unless
``--no-copy-single``; for the static tokenizers, a token without a leading space blends its continuation and
word-start readings by how often it begins a word in the tokenizer's training text, unless ``--no-word-starts``),
``focus`` (operators/transfer/focus.py: FOCUS, its fastText model trained on the new tokenizer's training text
tokenized with it; for dynamic merges, on the train split tokenized with the same per-batch merges), ``fvt``
(operators/transfer/fvt.py: mean of the base tokenization's embeddings), ``fvt_decomp`` (the same mean over the
hypernetwork's own decomposition), ``random``, and ``original`` (the original tokenizer and embeddings: the
ceiling, run through the exported-folder path as a check). OMP (operators/transfer/omp.py) needs a donor model that
already uses the new tokenizer; none of these tokenizers has one, so it is not in the table (its exact tests use
the base model under a permuted / pruned vocabulary).
Prints one JSON line per (tokenizer, method), then a table and the verdicts, each recall@1 difference with its
paired standard error over the queries. The machine may be shared: no timings are compared.
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

import numpy as np
import pyarrow as pa
import torch
import torch.nn.functional as F

from tokenmill.operators.transfer.base_model import load_base_model
from tokenmill.operators.transfer.embed_tokenizer import prepare_tokenizer, random_embeddings, transfer_embeddings
from tokenmill.operators.transfer.focus import FocusConfig, focus_combine, train_fasttext
from tokenmill.operators.transfer.hypernet_data import EVAL_LANGS, code_chunks, is_eval_code, load_corpus
from tokenmill.operators.transfer.model_export import export_transferred_model
from tokenmill.operators.transfer.serve import HypernetEmbedder, HypernetServeConfig

ROOT = Path(__file__).resolve().parents[1]

log = logging.getLogger("tokenizer_transfer")
SPECIALS = ("[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]")
MAX_TOKENS = 256  # sentence-transformers' max_seq_length for all-MiniLM-L6-v2
METHODS = ("hypernet", "focus", "fvt", "fvt_decomp", "random")  # besides "original", always scored
TOKENIZERS = ("udhr_bpe", "code_bpe", "dynamic_m100", "dynamic_all")
# Retrieval-only groups (no cosine group): the UDHR languages, beyond EVAL_LANGS, where the *original* model's
# recall@1 is >= 0.25 (measured once on the original alone, before any transfer was scored). A group has ~12
# queries, so one query moves its recall by 0.08; these 12 groups add ~140 queries where the task has signal.
RETRIEVAL_ONLY_LANGS = ("cat", "glg", "ast", "ron", "por_BR", "ina", "fur", "sco", "cos", "roh", "lad", "ido")


# -- new tokenizers ---------------------------------------------------------------------------------------------
def train_udhr_bpe(texts: list[str], vocab_size: int):
    """tokenmill BPE over ``▁word`` pre-tokens, exported as a Metaspace tokenizer."""
    from tokenizers import decoders, pre_tokenizers

    from tokenmill.operators.bpe import BpeTrainerConfig, train_bpe
    from tokenmill.operators.bpe.export import to_hf_tokenizer

    words = Counter("▁" + w for t in texts for w in t.split())
    model = train_bpe(dict(words), BpeTrainerConfig(vocab_size=vocab_size, min_frequency=2, special_tokens=SPECIALS, initial_alphabet="", max_token_length=16))
    tok = to_hf_tokenizer(model)
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    return tok


def train_code_bpe(texts: list[str], vocab_size: int):
    """tokenmill BPE over GPT-2 byte-level pre-tokens, exported as a ByteLevel tokenizer."""
    from tokenizers import decoders, pre_tokenizers

    from tokenmill.operators.bpe import BpeTrainerConfig, train_bpe
    from tokenmill.operators.bpe.export import to_hf_tokenizer

    pre = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    words = Counter(w for t in texts for w, _ in pre.pre_tokenize_str(t))
    alphabet = "".join(pre_tokenizers.ByteLevel.alphabet())
    model = train_bpe(
        dict(words), BpeTrainerConfig(vocab_size=vocab_size, min_frequency=2, special_tokens=SPECIALS, initial_alphabet=alphabet, max_token_length=24)
    )
    tok = to_hf_tokenizer(model)
    tok.pre_tokenizer = pre
    tok.decoder = decoders.ByteLevel()
    return tok


# -- evaluation -------------------------------------------------------------------------------------------------
@torch.no_grad()
def sentence_embeddings(base, rows: list[list[int]], table: torch.Tensor, batch: int = 32) -> torch.Tensor:
    """Normalized mean-pooled embeddings of token-id rows looked up in ``table`` (what the exported folder does)."""
    out = []
    rows = [r if len(r) <= MAX_TOKENS else [*list(r[: MAX_TOKENS - 1]), r[-1]] for r in rows]  # keep [SEP]
    for s in range(0, len(rows), batch):
        chunk = rows[s : s + batch]
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


def retrieval_tasks(n_code: int) -> tuple[dict[str, tuple[list[str], str, list[int]]], dict[str, list[str]]]:
    """Retrieval tasks ``{group: (queries, doc set, target per query)}`` and the doc sets ``{name: texts}``.

    Each held-out UDHR paragraph of a language other than English must retrieve its English translation among all
    61 English paragraphs of the declaration (English is the pivot, so it has no task). Each held-out code chunk
    is cut in half at a line, and its first half must retrieve its second half among all the second halves.
    """
    from tokenmill.operators.transfer.hypernet_data import default_data_root, translation_pairs

    pivot, by_lang = translation_pairs(EVAL_LANGS + RETRIEVAL_ONLY_LANGS)
    tasks = {lang: ([q for q, _ in qs], "docs:eng", [i for _, i in qs]) for lang, qs in by_lang.items()}
    root = default_data_root()
    code = [
        c
        for f in sorted((root / "code").rglob("*.py"))
        if is_eval_code(f.relative_to(root).as_posix())
        for c in code_chunks(f.read_text(encoding="utf-8", errors="replace"), 480)
        if c.count("\n") >= 3
    ]
    rng = np.random.default_rng(1)
    code = [code[i] for i in sorted(rng.choice(len(code), min(n_code, len(code)), replace=False))]
    lines = [c.split("\n") for c in code]
    tasks["code"] = (["\n".join(ln[: len(ln) // 2]) for ln in lines], "docs:code", list(range(len(lines))))
    return tasks, {"docs:eng": pivot, "docs:code": ["\n".join(ln[len(ln) // 2 :]) for ln in lines]}


CSLS_K = 10  # neighbours of a document among the queries in its hubness estimate (CSLS's k)


def hubness(queries: torch.Tensor, docs: torch.Tensor, k: int = CSLS_K) -> torch.Tensor:
    """CSLS's r(d) for every document: its mean cosine to its ``k`` nearest queries (all queries of the doc set)."""
    return (queries @ docs.T).topk(min(k, len(queries)), dim=0).values.mean(0)


def retrieval(q: torch.Tensor, d: torch.Tensor, target: torch.Tensor, hub: torch.Tensor) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Recall@1 and MRR of query i retrieving document ``target[i]`` among all documents, by cosine (normalized
    embeddings) and by CSLS (``2 cos(q, d) - r(d)``, the query's own term being the same for every document; ``hub``
    is :func:`hubness`), and the per-query hits of each (1.0 where the target ranks first).

    ``top1_share`` is a collapse check: the share of queries whose first hit (by cosine) is the most common first
    hit. A group's targets are distinct, so a model that maps every text to nearly one point still scores
    1/len(q) by cosine when that hub is one of them; CSLS discounts documents that are near every query.
    """
    out: dict[str, float] = {}
    hits: dict[str, np.ndarray] = {}
    cos = q @ d.T
    for suffix, sims in (("", cos), ("_csls", 2 * cos - hub.unsqueeze(0))):
        own = sims[torch.arange(len(q)), target]
        rank = 1 + (sims > own.unsqueeze(1)).sum(1).float()
        hit = (rank == 1).float()
        out |= {f"recall_at_1{suffix}": round(float(hit.mean()), 4), f"mrr{suffix}": round(float((1 / rank).mean()), 4)}
        hits[f"recall_at_1{suffix}"] = hit.numpy()
    out["top1_share"] = round(float(torch.bincount(cos.argmax(1)).max()) / len(q), 4)
    return out, hits


def paired_se(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> float:
    """Standard error of the difference of two methods' recall@1 (a mean over groups of per-group means), from the
    per-query differences on the same queries: sqrt(sum over groups of var(d_g) / n_g) / groups."""
    var = [np.var(a[g] - b[g], ddof=1) / len(a[g]) for g in a if len(a[g]) > 1]
    return float(np.sqrt(np.sum(var)) / len(a))


def score(orig: dict[str, torch.Tensor], new: dict[str, torch.Tensor], lengths: dict[str, float], retr: dict[str, dict[str, float]]) -> dict:
    """Per-group and pooled mean cosine and Spearman; per-group retrieval (``retr``) and its mean over the groups
    that have a retrieval task."""
    by_group = {}
    for g in orig:
        cos = (orig[g] * new[g]).sum(-1)
        by_group[g] = {
            "mean_cosine": round(float(cos.mean()), 4),
            "spearman": round(spearman(pair_sims(orig[g]), pair_sims(new[g])), 4),
            "length_ratio": round(lengths[g], 3),
            **retr.get(g, {}),
        }
    by_group |= {g: r for g, r in retr.items() if g not in by_group}  # retrieval-only groups
    all_o, all_n = torch.cat(list(orig.values())), torch.cat(list(new.values()))
    udhr = [g for g in orig if g != "code"]
    return {
        "mean_cosine": round(float((all_o * all_n).sum(-1).mean()), 4),
        "spearman": round(spearman(pair_sims(all_o), pair_sims(all_n)), 4),
        "mean_cosine_udhr": round(float(np.mean([by_group[g]["mean_cosine"] for g in udhr])), 4) if udhr else None,
        "mean_cosine_code": by_group["code"]["mean_cosine"] if "code" in by_group else None,
        "recall_at_1": round(float(np.mean([r["recall_at_1"] for r in retr.values()])), 4),
        "mrr": round(float(np.mean([r["mrr"] for r in retr.values()])), 4),
        "recall_at_1_csls": round(float(np.mean([r["recall_at_1_csls"] for r in retr.values()])), 4),
        "mrr_csls": round(float(np.mean([r["mrr_csls"] for r in retr.values()])), 4),
        "top1_share": round(float(np.mean([r["top1_share"] for r in retr.values()])), 4),
        # by domain: a UDHR tokenizer is meant for the translation groups, a code tokenizer for code
        "recall_at_1_udhr": round(float(np.mean([r["recall_at_1"] for g, r in retr.items() if g != "code"])), 4),
        "recall_at_1_code": retr["code"]["recall_at_1"] if "code" in retr else None,
        "by_group": by_group,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default=str(ROOT / "checkpoints" / "hypernet-minilm"))
    ap.add_argument("--per-lang", type=int, default=24, help="held-out UDHR chunks per language")
    ap.add_argument("--code", type=int, default=48, help="held-out code chunks (and code retrieval pairs)")
    ap.add_argument("--udhr-vocab", type=int, default=16000)
    ap.add_argument("--code-vocab", type=int, default=8000)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument(
        "--methods",
        default=",".join(METHODS),
        help="comma-separated methods to score besides the original (e.g. 'hypernet' to compare checkpoints; the baselines do not depend on one)",
    )
    ap.add_argument("--tokenizers", default=",".join(TOKENIZERS), help="comma-separated new tokenizers to score (default: all)")
    ap.add_argument(
        "--no-copy-single",
        action="store_true",
        help="hypernet: predict tokens that are one original token too, instead of keeping the original row (HypernetServeConfig.copy_single)",
    )
    ap.add_argument("--no-word-starts", action="store_true", help="hypernet: read every surface without a leading space as a continuation (no target text)")
    args = ap.parse_args()
    methods = _choose(ap, "--methods", args.methods, METHODS)
    tokenizers = _choose(ap, "--tokenizers", args.tokenizers, TOKENIZERS)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    t_start = time.perf_counter()

    base = load_base_model()
    emb = base.input_embeddings.detach().float()
    train, held = load_corpus(split="train"), load_corpus(split="eval")
    groups = {lang: held.udhr[lang][: args.per_lang] for lang in EVAL_LANGS if lang in held.udhr}
    rng = np.random.default_rng(0)
    groups["code"] = [held.code[i] for i in sorted(rng.choice(len(held.code), min(args.code, len(held.code)), replace=False))]
    tasks, doc_sets = retrieval_tasks(args.code)
    # Each group's texts in one list, the cosine chunks then its retrieval queries; each doc set its own list.
    texts = {g: groups.get(g, []) + (tasks[g][0] if g in tasks else []) for g in groups | tasks} | doc_sets
    cuts = {g: len(groups.get(g, [])) for g in texts}
    from tokenizers import Tokenizer

    orig_tok = Tokenizer.from_file(str(base.tokenizer_json))
    orig_tok.no_padding()
    orig_tok.no_truncation()
    orig_rows = {g: [e.ids for e in orig_tok.encode_batch(t)] for g, t in texts.items()}
    orig_all = {g: sentence_embeddings(base, rows, emb) for g, rows in orig_rows.items()}
    orig_emb = {g: orig_all[g][: cuts[g]] for g in groups}
    orig_len = {g: float(np.mean([len(r) for r in orig_rows[g][: cuts[g]]])) for g in groups}
    results = []
    # (tokenizer, method) -> {"recall_at_1" / "recall_at_1_csls": per-query hits by group}
    hits: dict[tuple[str, str], dict[str, dict[str, np.ndarray]]] = {}

    def report(tokenizer_name: str, method: str, new_all: dict, lengths: dict, **extra) -> None:
        new = {g: new_all[g][: cuts[g]] for g in groups}
        retr, per_query = {}, {}
        hub = {d: hubness(torch.cat([new_all[g][cuts[g] :] for g, t in tasks.items() if t[1] == d]), new_all[d]) for d in doc_sets}
        for g, (_, d, target) in tasks.items():
            retr[g], per_query[g] = retrieval(new_all[g][cuts[g] :], new_all[d], torch.as_tensor(target), hub[d])
        hits[tokenizer_name, method] = {k: {g: per_query[g][k] for g in per_query} for k in ("recall_at_1", "recall_at_1_csls")}
        rec = {
            "bench": "tokenizer_transfer",
            "tokenizer": tokenizer_name,
            "method": method,
            **score(orig_emb, new, {g: lengths[g] / orig_len[g] for g in groups}, retr),
            **extra,
        }
        results.append(rec)
        print(json.dumps(rec), flush=True)

    embedder = HypernetEmbedder(HypernetServeConfig(checkpoint=args.checkpoint, copy_single=not args.no_copy_single))

    # Ceiling: the original tokenizer and embeddings, written and re-loaded as a transferred-model folder.
    from sentence_transformers import SentenceTransformer

    with tempfile.TemporaryDirectory() as tmp:
        tok, roles, smap = prepare_tokenizer(base.tokenizer_json, base.tokenizer_json)
        export_transferred_model(base.folder, tok, emb, tmp, roles=roles, metadata={"method": "original"})
        st = SentenceTransformer(tmp, device="cpu")
        st_all = orig_all | {
            g: torch.cat([st.encode(groups[g], convert_to_tensor=True, normalize_embeddings=True).cpu(), orig_all[g][cuts[g] :]]) for g in groups
        }
    report("original", "original", st_all, orig_len, path="exported folder + sentence-transformers")

    # Static new tokenizers.
    udhr_texts = train.all_udhr()
    code_texts = train.code
    static = (
        ("udhr_bpe", lambda: train_udhr_bpe(udhr_texts, args.udhr_vocab), udhr_texts),
        ("code_bpe", lambda: train_code_bpe(code_texts, args.code_vocab), code_texts),
    )
    for name, build, target in [t for t in static if t[0] in tokenizers]:
        t0 = time.perf_counter()
        raw = build()
        with tempfile.TemporaryDirectory() as tmp:
            raw.save(str(Path(tmp) / "tokenizer.json"))
            tok, roles, smap = prepare_tokenizer(Path(tmp) / "tokenizer.json", base.tokenizer_json)
        train_s = time.perf_counter() - t0
        rows = {g: [e.ids for e in tok.encode_batch(t)] for g, t in texts.items()}
        lengths = {g: float(np.mean([len(r) for r in rows[g][: cuts[g]]])) for g in groups}
        for method in methods:
            text = None if method == "hypernet" and args.no_word_starts else target
            table = transfer_embeddings(method, tok, base, smap, embedder=embedder, texts=text)
            new = {g: sentence_embeddings(base, rs, table) for g, rs in rows.items()}
            report(name, method, new, lengths, vocab_size=tok.get_vocab_size(), trainer="tokenmill bpe v1", tokenizer_train_s=round(train_s, 1))

    # Dynamic merges: a fresh vocabulary per batch of 32 texts of one group.
    from tokenmill.operators.dynamic import DynamicBPE, load_base_tokenizer
    from tokenmill.operators.dynamic import vocab_table as dyn_vocab_table
    from tokenmill.operators.transfer.fvt import fvt_for_dynamic_vocab

    base_tok = load_base_tokenizer(base.tokenizer_json, add_special_tokens=True)
    V = base.vocab_size
    for name, merges in [d for d in (("dynamic_m100", 100), ("dynamic_all", None)) if d[0] in tokenizers]:
        dyn = DynamicBPE(base_tok, max_merges=merges, boundary="word")
        words, vectors = dynamic_fasttext(dyn, base_tok, udhr_texts + code_texts) if "focus" in methods else ([], {})
        identity = {i: i for i in range(V)}
        base_aux = {i: vectors[w] for i, w in enumerate(words) if w in vectors}
        per_method: dict[str, dict[str, list]] = {m: {} for m in methods if m != "fvt_decomp"}
        lengths = {}
        n_new = 0
        for g, gtexts in texts.items():
            dl: list[int] = []
            for s in range(0, len(gtexts), 32):
                out = dyn(pa.table({"text": gtexts[s : s + 32]}))
                vocab = dyn_vocab_table(out)
                n_new += vocab.num_rows
                rows = out.column("dynamic_ids").to_pylist()
                dl.extend(len(r) for r, i in zip(rows, range(s, len(gtexts))) if i < cuts[g])
                ids = vocab.column("id").to_numpy()
                order = torch.as_tensor(np.argsort(ids), dtype=torch.long)
                assert len(ids) == 0 or (np.sort(ids) == np.arange(len(ids)) + V).all()
                aux = base_aux | {int(i): vectors[t] for i, t in zip(ids, vocab.column("token").to_pylist()) if t in vectors}
                tables = {
                    "hypernet": lambda: torch.cat([emb, _stack(embedder(vocab.select(["base_ids"])).column("embedding"), emb.shape[1])[order]]),
                    "focus": lambda: focus_combine(emb, V + vocab.num_rows, identity, aux, seed=s)[0],
                    "fvt": lambda: torch.cat([emb, fvt_for_dynamic_vocab(emb, vocab)[1].float()[order]]),
                    "random": lambda: torch.cat([emb, random_embeddings(emb, vocab.num_rows, seed=s)[order]]),
                }
                for m in per_method:
                    per_method[m].setdefault(g, []).append(sentence_embeddings(base, rows, tables[m]()))
            if g in groups:
                lengths[g] = float(np.mean(dl))
        for m, by_g in per_method.items():
            report(name, m, {g: torch.cat(v) for g, v in by_g.items()}, lengths, max_merges=merges, new_tokens=n_new)

    print_table(results, hits)
    print(
        f"({len(groups)} groups, {sum(len(t) for t in groups.values())} held-out chunks, "
        f"{sum(len(t[0]) for t in tasks.values())} retrieval queries; checkpoint {Path(args.checkpoint).name}; "
        f"{time.perf_counter() - t_start:.0f} s on a shared machine)"
    )
    return 0


def _choose(ap: argparse.ArgumentParser, flag: str, value: str, allowed: tuple[str, ...]) -> list[str]:
    """The comma-separated choices of ``flag``, in ``allowed``'s order; an unknown or empty choice is a usage error."""
    asked = set(value.split(","))
    unknown = sorted(asked - set(allowed))
    if unknown or not asked & set(allowed):
        ap.error(f"{flag}: {', '.join(unknown) or 'none given'}; choose from {', '.join(allowed)}")
    return [a for a in allowed if a in asked]


def dynamic_fasttext(dyn, base_tok, texts: list[str]) -> tuple[list[str], dict[str, np.ndarray]]:
    """FOCUS's auxiliary model for dynamic merges: the train split tokenized with the same per-batch merges (a
    merged token's word is its base pieces joined, e.g. ``human##ity``); returns (base ids' words, vectors)."""
    import re

    from tokenmill.operators.dynamic import vocab_table as dyn_vocab_table_of

    words = [re.sub(r"\s", "▁", base_tok.id_to_token(i)) for i in range(base_tok.vocab_size)]
    special = base_tok.special_ids

    def lines():
        for s in range(0, len(texts), 32):
            out = dyn(pa.table({"text": texts[s : s + 32]}))
            vocab = dyn_vocab_table_of(out)
            new = dict(zip(vocab.column("id").to_pylist(), vocab.column("token").to_pylist()))
            for row in out.column("dynamic_ids").to_pylist():
                yield [words[i] if i < len(words) else new[i] for i in row if i >= len(words) or not special[i]]

    return words, train_fasttext(lines(), FocusConfig())


def _stack(col: pa.ChunkedArray, dim: int) -> torch.Tensor:
    values = col.combine_chunks().flatten().to_numpy(zero_copy_only=False)
    return torch.from_numpy(np.asarray(values, np.float32).reshape(-1, dim).copy())


def print_table(results: list[dict], hits: dict[tuple[str, str], dict[str, dict[str, np.ndarray]]]) -> None:
    print()
    print(
        f"{'tokenizer':<14}{'method':<12}{'mean_cos':>9}{'udhr':>8}{'code':>8}{'spearman':>10}{'R@1':>8}{'MRR':>8}"
        f"{'R@1udhr':>9}{'R@1code':>9}{'R@1csls':>9}{'top1share':>10}"
    )
    nan = float("nan")
    for r in results:
        code, rcode = r["mean_cosine_code"], r["recall_at_1_code"]
        print(
            f"{r['tokenizer']:<14}{r['method']:<12}{r['mean_cosine']:>9.4f}{r['mean_cosine_udhr']:>8.4f}"
            f"{code if code is not None else nan:>8.4f}{r['spearman']:>10.4f}{r['recall_at_1']:>8.3f}"
            f"{r['mrr']:>8.3f}{r['recall_at_1_udhr']:>9.3f}{rcode if rcode is not None else nan:>9.3f}"
            f"{r['recall_at_1_csls']:>9.3f}{r['top1_share']:>10.3f}"
        )
    print("\nrecall@1 per group")
    gs = [g for g in results[0]["by_group"] if "recall_at_1" in results[0]["by_group"][g]]
    print(f"{'tokenizer':<14}{'method':<12}" + "".join(f"{g[:6]:>7}" for g in gs))
    for r in results:
        print(f"{r['tokenizer']:<14}{r['method']:<12}" + "".join(f"{r['by_group'][g]['recall_at_1']:>7.2f}" for g in gs))
    print()
    for tok in [t for t in dict.fromkeys(r["tokenizer"] for r in results) if t != "original"]:
        by = {r["method"]: r for r in results if r["tokenizer"] == tok}
        if not all(m in by for m in ("hypernet", "focus", "fvt")):
            continue
        parts = []
        for key, label in (("mean_cosine", "mean cosine"), ("recall_at_1", "recall@1"), ("recall_at_1_csls", "recall@1 (CSLS)")):
            h, f, v = (by[m][key] for m in ("hypernet", "focus", "fvt"))
            verdict = "met" if h > f > v else "NOT met"
            se = {}
            if key in hits[tok, "hypernet"]:  # the paired standard error of each difference, on the same queries
                se = {
                    pair: f" ± {paired_se(hits[tok, pair[0]][key], hits[tok, pair[1]][key]):.3f}"
                    for pair in (("hypernet", "focus"), ("focus", "fvt"), ("hypernet", "fvt"))
                }
            parts.append(
                f"{label} hypernet {h:.4f} / focus {f:.4f} / fvt {v:.4f} ({verdict}: hypernet-focus "
                f"{h - f:+.4f}{se.get(('hypernet', 'focus'), '')}, focus-fvt {f - v:+.4f}"
                f"{se.get(('focus', 'fvt'), '')}, hypernet-fvt {h - v:+.4f}{se.get(('hypernet', 'fvt'), '')})"
            )
        print(f"{tok}: " + "; ".join(parts))


if __name__ == "__main__":
    sys.exit(main())
