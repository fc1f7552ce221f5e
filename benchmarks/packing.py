"""Packing benchmark: utilization of tokenmill's BFD packer vs the usual strategies, and encode+pack+write throughput.

Length distributions (all real, all tokenized with the real GPT-2 BPE from ../shared/data/tokenizers/gpt2):

- ``udhr_lines``: every non-blank line of the UDHR in ~380 languages (many scripts, short documents);
- ``genome_1kbp``: every genome in ../shared/data/dna cut into 1,000-bp segments, upper-cased, tokenized with
  GPT-2 (a stand-in for a DNA tokenizer: real, varying lengths of a few hundred tokens);
- ``code_files``: every .py file of flask and click (long documents, many longer than the context).

Strategies at context 2048 and 4096 (documents longer than the context are cut into context-sized pieces for all):

- ``tokenmill_bfd``: :class:`operators.pack.Packer` (best-fit-decreasing, bounded buffer, carry; documents whole),
  no cross-document attention;
- ``tokenmill_bfd_split_to_fill_64``: the same with ``split_to_fill=64`` (a piece that fits no row may be cut to
  fill a row with >= 64 free slots), still no cross-document attention;
- ``one_doc_per_row``: every piece padded to its own row;
- ``first_fit_unsorted``: pieces in arrival order into the first open row with room (all rows kept open);
- ``concat_and_chunk``: all tokens concatenated and cut every ``context_length`` tokens; full rows, but rows mix
  documents (counted) and tokens attend across document boundaries.

Throughput: encode (HF tokenizers ``encode_batch``, next chunk encoded in a thread while the current one is packed)
+ id extraction + pack + write both shard formats + commit, on the UDHR text, vs ``encode_batch`` alone on the same
text, alternating, best of 3.

Run: ``python benchmarks/packing.py`` (prints JSON lines, then a table).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from tokenmill.operators.encode.locate import open_tokenizer
from tokenmill.operators.pack import Packer, PackerConfig
from tokenmill.operators.shards import ShardWriter, ShardWriterConfig, verify_shard_set

ROOT = Path(__file__).resolve().parents[1]

DATA = (ROOT.parent / "shared" / "data").resolve()


def udhr_texts() -> list[str]:
    out = []
    for path in sorted((DATA / "text" / "udhr").glob("*.txt")):
        out += [ln.strip() for ln in path.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()]
    return out


def genome_texts(segment: int = 1000) -> list[str]:
    out = []
    for path in sorted((DATA / "dna").iterdir()):
        seqs: list[str] = []
        cur: list[str] = []
        for line in path.read_text().splitlines():
            if line.startswith(">"):
                if cur:
                    seqs.append("".join(cur))
                cur = []
            else:
                cur.append(line.strip().upper())
        seqs.append("".join(cur))
        for s in seqs:
            out += [s[i : i + segment] for i in range(0, len(s), segment)]
    return out


def code_texts() -> list[str]:
    return [p.read_text(encoding="utf-8", errors="replace") for p in sorted((DATA / "code").rglob("*.py"))]


def pieces(lengths: np.ndarray, C: int) -> np.ndarray:
    """Lengths after cutting every document into context-sized pieces."""
    n = -(-lengths // C)
    starts = np.concatenate([np.arange(k) * C for k in n])
    return np.minimum(C, np.repeat(lengths, n) - starts)


SPLIT_TO_FILL = 64


def tokenmill(lengths: np.ndarray, C: int, split_to_fill: int = 0) -> dict:
    packer = Packer(PackerConfig(context_length=C, split_to_fill=split_to_fill), dtype=np.uint16)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    values = np.zeros(int(offsets[-1]), np.uint16)  # packing depends only on lengths
    ids = [str(i) for i in range(len(lengths))]
    for a in range(0, len(lengths), 4096):
        b = min(a + 4096, len(lengths))
        packer.add_batch(ids[a:b], values, offsets[a : b + 1])
    packer.flush()
    st = packer.stats
    return {"rows": st.rows, "utilization": st.utilization(C), "rows_mixing_docs": 0, "cross_doc_attention": 0, "fill_splits": st.fill_splits}


def one_per_row(lengths: np.ndarray, C: int) -> dict:
    p = pieces(lengths, C)
    return {"rows": len(p), "utilization": p.sum() / (len(p) * C), "rows_mixing_docs": 0, "cross_doc_attention": 0}


def first_fit(lengths: np.ndarray, C: int) -> dict:
    p = pieces(lengths, C)
    room = np.empty(len(p), np.int64)
    nb = 0
    for length in p.tolist():
        fits = np.flatnonzero(room[:nb] >= length)
        j = int(fits[0]) if len(fits) else nb
        if j == nb:
            room[nb] = C
            nb += 1
        room[j] -= length
    return {"rows": nb, "utilization": p.sum() / (nb * C), "rows_mixing_docs": 0, "cross_doc_attention": 0}


def concat_chunk(lengths: np.ndarray, C: int) -> dict:
    total = int(lengths.sum())
    rows = -(-total // C)
    ends = np.cumsum(lengths)[:-1]  # document boundaries inside the token stream
    inner = ends[ends % C != 0]  # a boundary at a row edge does not mix documents
    mixing = len(np.unique(inner // C))
    return {
        "rows": rows,
        "utilization": total / (rows * C),
        "rows_mixing_docs": mixing,
        "rows_mixing_docs_fraction": mixing / rows,
        "cross_doc_attention": mixing,
    }


def throughput(tok, texts: list[str], workdir: Path, rounds: int = 3) -> dict:
    chunk = 8192

    def encode_only() -> int:
        n = 0
        for a in range(0, len(texts), chunk):
            n += sum(len(e) for e in tok.encode_batch(texts[a : a + chunk], add_special_tokens=False))
        return n

    def encode_pack_write() -> tuple[int, dict]:
        out = workdir / "shards"
        shutil.rmtree(out, ignore_errors=True)
        cfg = ShardWriterConfig(pack=PackerConfig(context_length=4096, eos_id=50256, pad_id=50256))
        chunks = [texts[a : a + chunk] for a in range(0, len(texts), chunk)]
        # encode_batch releases the GIL: encode the next chunk while this one is packed and written.
        with ThreadPoolExecutor(1) as pool, ShardWriter(out, cfg, vocab_size=50257, tokenizer_hash="gpt2", run_id="bench") as writer:
            pending = pool.submit(tok.encode_batch, chunks[0], add_special_tokens=False)
            for k in range(len(chunks)):
                encs = pending.result()
                if k + 1 < len(chunks):
                    pending = pool.submit(tok.encode_batch, chunks[k + 1], add_special_tokens=False)
                ids = [e.ids for e in encs]
                lengths = np.fromiter(map(len, ids), np.int64, len(ids))
                values = np.fromiter((t for x in ids for t in x), np.uint16, int(lengths.sum()))
                offsets = np.concatenate([[0], np.cumsum(lengths)])
                writer.add_batch([f"{k}:{i}" for i in range(len(ids))], values, offsets)
        manifest = writer.manifest
        assert manifest is not None  # committed when the writer closed
        return manifest["pack_stats"]["tokens_in"], manifest

    best_enc, best_ours, tokens, manifest = float("inf"), float("inf"), 0, None
    for _ in range(rounds):
        t = time.perf_counter()
        tokens = encode_only()
        best_enc = min(best_enc, time.perf_counter() - t)
        t = time.perf_counter()
        ours_tokens, manifest = encode_pack_write()
        best_ours = min(best_ours, time.perf_counter() - t)
        assert ours_tokens == tokens
    assert manifest is not None  # rounds >= 1
    ok = verify_shard_set(workdir / "shards").ok
    return {
        "bench": "encode_pack_write",
        "dataset": "udhr_lines",
        "ours": "tokenmill encode+pack+write(megatron+parquet)+commit",
        "ours_s": round(best_ours, 3),
        "peer": "hf_tokenizers encode_batch",
        "peer_s": round(best_enc, 3),
        "ratio": round(best_enc / best_ours, 3),
        "quality": {
            "tokens": tokens,
            "ours_tokens_per_s": round(tokens / best_ours),
            "peer_tokens_per_s": round(tokens / best_enc),
            "shards": manifest["totals"]["shards"],
            "utilization": round(manifest["totals"]["utilization"], 5),
            "verified": ok,
            "target_ratio": 0.7,
        },
    }


def _row(head: dict, ours: tuple[str, dict, float], peer: tuple[str, dict, float], peer_mixing: int, **ours_extra: int) -> dict:
    """One result line: ``head``, then ours against the peer, each given as (name, packing result, seconds);
    ``ours_extra`` (quality entries of ours only) stand after the row counts."""
    (ours_name, ours_q, ours_s), (peer_name, peer_q, peer_s) = ours, peer
    return {
        **head,
        "ours": ours_name,
        "ours_s": round(ours_s, 3),
        "peer": peer_name,
        "peer_s": round(peer_s, 3),
        "ratio": round(ours_q["utilization"] / peer_q["utilization"], 4),
        "quality": {
            "ours_utilization": round(ours_q["utilization"], 5),
            "peer_utilization": round(peer_q["utilization"], 5),
            "ours_rows": ours_q["rows"],
            "peer_rows": peer_q["rows"],
            **{f"ours_{k}": v for k, v in ours_extra.items()},
            "ours_cross_doc_attention_rows": 0,
            "peer_rows_mixing_docs": peer_mixing,
        },
    }


def main() -> None:
    tok = open_tokenizer(DATA / "tokenizers" / "gpt2")  # encoder.json + vocab.bpe, byte-level
    datasets = {"udhr_lines": udhr_texts(), "genome_1kbp": genome_texts(), "code_files": code_texts()}
    lengths = {name: np.array([len(e) for e in tok.encode_batch(texts, add_special_tokens=False)], np.int64) for name, texts in datasets.items()}
    lines = []
    for name, lens in lengths.items():
        for C in (2048, 4096):
            head = {
                "bench": "packing_utilization",
                "dataset": name,
                "context_length": C,
                "docs": len(lens),
                "tokens": int(lens.sum()),
                "docs_longer_than_context": int((lens > C).sum()),
            }  # every row of this dataset and context length starts so
            t = time.perf_counter()
            ours = tokenmill(lens, C)
            ours_s = time.perf_counter() - t
            t = time.perf_counter()
            fill = tokenmill(lens, C, SPLIT_TO_FILL)
            fill_s = time.perf_counter() - t
            lines.append(
                _row(head, (f"tokenmill_bfd_split_to_fill_{SPLIT_TO_FILL}", fill, fill_s), ("tokenmill_bfd", ours, ours_s), 0, fill_splits=fill["fill_splits"])
            )
            print(json.dumps(lines[-1]), flush=True)
            for peer_name, peer in (("one_doc_per_row", one_per_row), ("first_fit_unsorted", first_fit), ("concat_and_chunk", concat_chunk)):
                t = time.perf_counter()
                other = peer(lens, C)
                peer_s = time.perf_counter() - t
                lines.append(_row(head, ("tokenmill_bfd", ours, ours_s), (peer_name, other, peer_s), other["rows_mixing_docs"]))
                print(json.dumps(lines[-1]), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        thr = throughput(tok, datasets["udhr_lines"], Path(tmp))
    print(json.dumps(thr), flush=True)

    print()
    print(f"{'dataset':<12} {'ctx':>5} {'tokenmill':>10} {'+split_fill':>11} {'1/row':>8} {'firstfit':>9} {'concat':>8} {'concat rows mixing docs':>24}")
    by: dict[tuple[str, int], dict[str, dict]] = {}
    for ln in lines:
        by.setdefault((ln["dataset"], ln["context_length"]), {})[ln["peer"]] = ln["quality"]
    for (name, C), q in by.items():
        ours = q["one_doc_per_row"]["ours_utilization"]
        cc = q["concat_and_chunk"]
        fill = q["tokenmill_bfd"]["ours_utilization"]
        print(
            f"{name:<12} {C:>5} {ours:>10.2%} {fill:>11.2%} {q['one_doc_per_row']['peer_utilization']:>8.2%} "
            f"{q['first_fit_unsorted']['peer_utilization']:>9.2%} {cc['peer_utilization']:>8.2%} "
            f"{cc['peer_rows_mixing_docs']:>12d} of {cc['peer_rows']:<6d}"
        )
    q = thr["quality"]
    print(
        f"\nencode+pack+write {q['ours_tokens_per_s']:,} tok/s vs encode_batch alone {q['peer_tokens_per_s']:,} tok/s: "
        f"{thr['ratio']:.2f}x (target >= 0.7x); shards verified: {q['verified']}"
    )


if __name__ == "__main__":
    main()
