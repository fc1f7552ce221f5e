"""Training the hypernetwork against a frozen base model, one sampled tokenizer per batch (ZeTT).

Per step: draw ``batch_size`` chunks (UDHR in many languages and code); tokenize them with the original
tokenizer and run the frozen base model (the target); sample a unigram tokenizer (:mod:`tokenizer_sampler`),
tokenize the same chunks, predict embeddings for the batch's distinct tokens, run the frozen base model on those
embeddings, and minimise

* ``1 - cos`` between the two mean-pooled sentence embeddings (what sentence-transformers returns),
* ``token_weight`` x ``1 - cos`` between the mean last hidden states of every character segment both
  tokenizations agree on (:mod:`align`; [CLS] and [SEP] are segments of their own),
* ``aux_weight`` (ZeTT: 0.5) x the squared error between the predicted and the original embedding of tokens that
  are one original token, relative to the original embeddings' mean squared norm (so 1.0 = as far as zero),
* ``contrast_weight`` x an in-batch InfoNCE loss: each chunk's new sentence embedding must pick its own original
  sentence embedding among the batch's (cosine / ``contrast_temperature``, cross-entropy), so that texts stay
  told apart, not only close to their targets,
* ``relation_weight`` x a relational distillation loss: the KL divergence from the original model's in-batch
  similarity distribution (each chunk's softmax over its cosine to the batch's other chunks) to the new one's,
  so that how texts relate to each other, which retrieval reads, is kept. With ``parallel`` batches the UDHR
  chunks come in aligned groups (the same place in the declaration, one chunk per language), so cross-lingual
  neighbours are in the batch for the original model to grade.

Gradients flow through the frozen model into the hypernetwork only. Runs on CUDA when present.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import random
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from tokenmill.operators.core.progress import Progress
from tokenmill.operators.encode.locate import open_tokenizer
from tokenmill.operators.transfer.align import segment_ids
from tokenmill.operators.transfer.base_model import BaseModel, pick_device
from tokenmill.operators.transfer.decompose import SurfaceDecomposer, mark_word_starts
from tokenmill.operators.transfer.hypernet import HypernetConfig, Hypernetwork, pad_decompositions
from tokenmill.operators.transfer.hypernet_data import TransferCorpus
from tokenmill.operators.transfer.tokenizer_sampler import TokenizerSampler

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True, slots=True)
class HypernetTrainConfig:
    """Settings of hypernetwork training (``pipelines/train_hypernetwork.py --set key=value``)."""

    hypernet: HypernetConfig = field(default_factory=HypernetConfig)
    """Shape of the hypernetwork (embed_dim is taken from the base model)."""
    steps: int = 100000
    """Most optimizer steps; training also stops at max_minutes."""
    max_minutes: float = 30.0
    """Wall-clock budget in minutes (the learning-rate schedule follows elapsed time)."""
    batch_size: int = 16
    """Text chunks per step."""
    max_chars: int = 160
    """Longest text chunk, in characters."""
    max_tokens: int = 64
    """Longest original tokenization of a chunk (longer chunks are cut at a token end)."""
    code_share: float = 0.25
    """Fraction of each batch drawn from code (the rest is UDHR, languages uniform)."""
    langs_per_batch: int = 0
    """UDHR languages per batch (0: each chunk draws its own): few languages give the contrastive loss hard
    negatives, other paragraphs of the same declaration in the same language."""
    lr: float = 1e-3
    """Peak AdamW learning rate."""
    warmup_steps: int = 20
    """Linear warm-up steps."""
    weight_decay: float = 0.01
    """AdamW weight decay."""
    grad_clip: float = 1.0
    """Gradient norm clip."""
    # duplicates: these documented fields have the shape of HypernetConfig's in hypernet.py (config dataclasses are
    # flat lists of documented keys).
    token_weight: float = 1.0
    """Weight of the aligned token-state loss."""
    aux_weight: float = 0.5
    """Weight of ZeTT's auxiliary loss on tokens that are one original token."""
    contrast_weight: float = 0.0
    """Weight of the in-batch contrastive loss on sentence embeddings (0: off)."""
    contrast_temperature: float = 0.05
    """Temperature of the contrastive loss's cosine logits."""
    relation_weight: float = 0.0
    """Weight of the relational loss (KL of in-batch similarity distributions, original -> new; 0: off)."""
    relation_temperature: float = 0.05
    """Temperature of the relational loss's cosine logits."""
    word_starts: bool = False
    """Each occurrence of a surface without a leading space that begins a word in its text (``self`` after ``(``)
    is decomposed as the word start ``" self"``, so both readings are learned; serving with target text blends
    them (operators/transfer/embed_tokenizer.py)."""
    parallel: bool = False
    """UDHR chunks in aligned groups of langs_per_batch languages (the same relative place in each file); each
    UDHR draw adds a whole group, so code's share of a batch's chunks is below code_share."""
    buffer_size: int = 1024
    """Chunks in the text buffer the tokenizer sampler counts substrings over."""
    refresh_every: int = 50
    """Steps between buffer refreshes."""
    min_vocab: int = 2048
    """Smallest sampled vocabulary."""
    max_vocab: int = 32768
    """Largest sampled vocabulary."""
    sampler_noise: float = 0.5
    """Gumbel noise scale on the sampled vocabularies' log counts."""
    save_every: int = 100
    """Steps between checkpoints (one is always written at the end)."""
    save_dtype: str = "float16"
    """Checkpoint weight dtype: float16 or float32 (loading always gives float32)."""
    seed: int = 0
    """Random seed (data order, tokenizer sampling, initialization)."""
    device: str = "auto"
    """auto (CUDA when available), cpu or cuda."""
    threads: int = 0
    """torch CPU threads (0: torch's default)."""
    data_root: str = ""
    """The shared data folder (empty: ../shared/data beside the project)."""
    eval_fraction: float = 0.2
    """Share of each UDHR file held out for the benchmark (never trained on)."""

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "max_chars", "max_tokens", "buffer_size", "refresh_every", "save_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be >= 1, got {getattr(self, name)}")
        if self.max_minutes <= 0:
            raise ValueError(f"max_minutes: must be > 0, got {self.max_minutes}")
        if not 0.0 <= self.code_share <= 1.0:
            raise ValueError(f"code_share: must be in [0, 1], got {self.code_share}")
        if self.lr <= 0:
            raise ValueError(f"lr: must be > 0, got {self.lr}")
        for name in (
            "warmup_steps",
            "weight_decay",
            "grad_clip",
            "token_weight",
            "aux_weight",
            "sampler_noise",
            "threads",
            "contrast_weight",
            "relation_weight",
            "langs_per_batch",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}: must be >= 0, got {getattr(self, name)}")
        for name in ("contrast_temperature", "relation_temperature"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}: must be > 0, got {getattr(self, name)}")
        if self.parallel and self.langs_per_batch < 2:
            raise ValueError(f"parallel: needs langs_per_batch >= 2, got {self.langs_per_batch}")
        if not 1 <= self.min_vocab <= self.max_vocab:
            raise ValueError(f"min_vocab: need 1 <= min_vocab <= max_vocab, got {self.min_vocab}, {self.max_vocab}")
        if not 0.0 < self.eval_fraction < 1.0:
            raise ValueError(f"eval_fraction: must be in (0, 1), got {self.eval_fraction}")
        if self.save_dtype not in ("float16", "float32"):
            raise ValueError(f"save_dtype: expected float16 or float32, got {self.save_dtype!r}")
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise ValueError(f"device: expected auto, cpu or cuda[:N], got {self.device!r}")


def contrastive_loss(new: torch.Tensor, target: torch.Tensor, temperature: float) -> torch.Tensor:
    """InfoNCE: row i of ``new`` must be closest (cosine) to row i of ``target`` among all rows of ``target``.

    ``log(batch)`` when every row is equally close to all targets; 0 only in the limit of perfect separation.
    """
    logits = F.normalize(new, dim=-1) @ F.normalize(target, dim=-1).T / temperature
    return F.cross_entropy(logits, torch.arange(len(new), device=new.device))


def relation_loss(new: torch.Tensor, target: torch.Tensor, temperature: float) -> torch.Tensor:
    """Mean over rows i of KL(p_i || q_i), where p_i (from ``target``) and q_i (from ``new``) are the softmax over
    j != i of cosine(i, j) / ``temperature``: 0 when the new embeddings relate to each other as the targets do."""
    n = len(new)
    if n < 3:
        return new.sum() * 0.0  # fewer than two neighbours: no distribution to match
    off = ~torch.eye(n, dtype=torch.bool, device=new.device)

    def log_probs(x: torch.Tensor) -> torch.Tensor:
        x = F.normalize(x, dim=-1)
        return ((x @ x.T)[off].view(n, n - 1) / temperature).log_softmax(-1)

    return F.kl_div(log_probs(new), log_probs(target), log_target=True, reduction="batchmean")


class HypernetTrainer:
    """Owns the hypernetwork, its optimizer, the tokenizer sampler and the batch construction.

    Args:
        cfg: training settings.
        base: the frozen base model (on ``cfg.device``).
        corpus: the training split.
    """

    def __init__(self, cfg: HypernetTrainConfig, base: BaseModel, corpus: TransferCorpus) -> None:

        self.cfg = cfg
        self.device = pick_device(cfg.device)
        self.base = base
        if not corpus.udhr and not corpus.code:
            raise ValueError("HypernetTrainer: the training corpus is empty")
        self.corpus = corpus
        self.langs = sorted(corpus.udhr)
        self.rng = random.Random(cfg.seed)
        torch.manual_seed(cfg.seed)
        hcfg = dataclasses.replace(cfg.hypernet, embed_dim=base.dim, untied=base.output_embeddings is not None)
        self.model = Hypernetwork(hcfg).to(self.device)
        self.model.output_scale.fill_(float(base.input_embeddings.detach().float().std()))
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.decomposer = SurfaceDecomposer(base.tokenizer_json)
        self.orig_tok = open_tokenizer(str(base.tokenizer_json))
        self.orig_tok.no_padding()
        self.orig_tok.no_truncation()
        vocab = self.orig_tok.get_vocab()
        self.cls_id, self.sep_id = vocab.get("[CLS]", 101), vocab.get("[SEP]", 102)
        self.sampler = TokenizerSampler(min_vocab=cfg.min_vocab, max_vocab=cfg.max_vocab, noise=cfg.sampler_noise, seed=cfg.seed)
        self.emb_in = base.input_embeddings.detach()
        self.emb_out = base.output_embeddings.detach() if base.output_embeddings is not None else None
        self.emb_sq = float(self.emb_in.float().pow(2).sum(1).mean())
        self.step_no = 0

    # -- data ---------------------------------------------------------------------------------------------
    def draw_texts(self, n: int, langs_per_batch: int = 0, parallel: bool = False) -> list[str]:
        """``n`` chunks: code with probability ``code_share``, else a random chunk of a uniform language (of
        ``langs_per_batch`` languages drawn for these ``n`` when > 0); with ``parallel``, instead of one UDHR chunk
        a group of chunks, one per drawn language, at the same relative place in each language's chunks."""
        langs = self.langs
        if langs_per_batch and langs:
            langs = self.rng.sample(self.langs, min(langs_per_batch, len(self.langs)))
        out: list[str] = []
        while len(out) < n:
            if self.corpus.code and (not langs or self.rng.random() < self.cfg.code_share):
                out.append(self.rng.choice(self.corpus.code))
            elif parallel:
                at = self.rng.random()  # one place in the declaration, in every language of the batch
                out.extend(self.corpus.udhr[lang][int(at * len(self.corpus.udhr[lang]))] for lang in langs)
            else:
                out.append(self.rng.choice(self.corpus.udhr[self.rng.choice(langs)]))
        return out[:n]

    def _original(self, texts: list[str]) -> tuple[list[str], list]:
        """Cut texts whose original tokenization exceeds ``max_tokens``; return texts and their encodings."""
        encs = self.orig_tok.encode_batch(texts, add_special_tokens=True)
        cut = list(texts)
        for i, e in enumerate(encs):
            if len(e.ids) > self.cfg.max_tokens + 2:
                cut[i] = texts[i][: e.offsets[self.cfg.max_tokens][1]]
        if cut != texts:
            encs = self.orig_tok.encode_batch(cut, add_special_tokens=True)
        return cut, encs

    # -- one step -------------------------------------------------------------------------------------------
    def losses(self, texts: list[str], sampled=None) -> dict[str, torch.Tensor]:
        """The losses (and their weighted total) on one batch of texts."""
        dev = self.device
        texts, encs = self._original(texts)
        T = max(len(e.ids) for e in encs)
        ids = torch.zeros(len(texts), T, dtype=torch.long)
        mask = torch.zeros(len(texts), T, dtype=torch.long)
        for i, e in enumerate(encs):
            ids[i, : len(e.ids)] = torch.as_tensor(e.ids)
            mask[i, : len(e.ids)] = 1
        ids, mask = ids.to(dev), mask.to(dev)
        with torch.no_grad():
            h_orig, s_orig = self.base.encode(ids, attention_mask=mask)

        sampled = sampled or self.sampler.sample()
        surfaces, offsets = sampled.encode(texts)
        if self.cfg.word_starts:
            surfaces = mark_word_starts(surfaces, offsets, texts)
        uniq = sorted({s for row in surfaces for s in row})
        index = {s: i for i, s in enumerate(uniq)}
        decomps = self.decomposer.many(uniq)
        d_ids, d_len = pad_decompositions(decomps, device=dev)
        pred_in, _ = self.model(d_ids, d_len, self.emb_in, self.emb_out)

        # Row layout: [CLS] tokens [SEP]; table rows 0/1 are the original [CLS]/[SEP] embeddings.
        table = torch.cat([self.emb_in[[self.cls_id, self.sep_id]], pred_in], 0)
        Tn = max(len(r) for r in surfaces) + 2
        gather = torch.zeros(len(texts), Tn, dtype=torch.long)
        nmask = torch.zeros(len(texts), Tn, dtype=torch.long)
        for i, row in enumerate(surfaces):
            gather[i, 0], gather[i, len(row) + 1] = 0, 1
            if row:
                gather[i, 1 : len(row) + 1] = torch.as_tensor([index[s] + 2 for s in row])
            nmask[i, : len(row) + 2] = 1
        gather, nmask = gather.to(dev), nmask.to(dev)
        embeds = table[gather] * nmask.unsqueeze(-1).to(table.dtype)
        h_new, s_new = self.base.encode(inputs_embeds=embeds, attention_mask=nmask)

        sent = (1.0 - F.cosine_similarity(s_new, s_orig.detach(), dim=-1)).mean()
        tok = self._token_loss(h_orig, h_new, encs, offsets)
        single = torch.as_tensor([len(d) == 1 and d[0] != self.decomposer.empty_id for d in decomps], device=dev)
        if bool(single.any()):
            target = self.emb_in[d_ids[single, 0]]
            aux = (pred_in[single] - target).pow(2).sum(1).mean() / self.emb_sq
        else:
            aux = pred_in.sum() * 0.0
        contrast = contrastive_loss(s_new, s_orig.detach(), self.cfg.contrast_temperature)
        relation = relation_loss(s_new, s_orig.detach(), self.cfg.relation_temperature)
        total = sent + self.cfg.token_weight * tok + self.cfg.aux_weight * aux + self.cfg.contrast_weight * contrast + self.cfg.relation_weight * relation
        return {"loss": total, "sent": sent, "tok": tok, "aux": aux, "contrast": contrast, "relation": relation}

    def _token_loss(self, h_orig: torch.Tensor, h_new: torch.Tensor, encs, offsets) -> torch.Tensor:
        """``1 - cos`` of the mean states of every aligned segment (row-major flattening of both batches)."""
        dev = h_orig.device
        flat_o, flat_n, seg_o, seg_n = [], [], [], []
        n_seg = 0
        for i, (e, offs) in enumerate(zip(encs, offsets)):
            n_tok = len(e.ids) - 2
            ends_o = np.fromiter((o[1] for o in e.offsets[1:-1]), np.int64, n_tok)
            ends_n = np.fromiter((o[1] for o in offs), np.int64, len(offs))
            so, sn, k = segment_ids(ends_o, ends_n)
            # [CLS] is segment 0 and [SEP] segment k + 1 of this row; text segments are 1..k.
            flat_o.append(np.concatenate([[i * h_orig.shape[1]], i * h_orig.shape[1] + 1 + np.arange(n_tok), [i * h_orig.shape[1] + n_tok + 1]]))
            seg_o.append(np.concatenate([[n_seg], np.where(so >= 0, so + 1 + n_seg, -1), [n_seg + k + 1]]))
            flat_n.append(np.concatenate([[i * h_new.shape[1]], i * h_new.shape[1] + 1 + np.arange(len(offs)), [i * h_new.shape[1] + len(offs) + 1]]))
            seg_n.append(np.concatenate([[n_seg], np.where(sn >= 0, sn + 1 + n_seg, -1), [n_seg + k + 1]]))
            n_seg += k + 2

        def seg_mean(h: torch.Tensor, flat: list, seg: list) -> tuple[torch.Tensor, torch.Tensor]:
            pos = torch.as_tensor(np.concatenate(flat), device=dev)
            sid = torch.as_tensor(np.concatenate(seg), device=dev)
            keep = sid >= 0
            states = h.reshape(-1, h.shape[-1])[pos[keep]]
            total = torch.zeros(n_seg, h.shape[-1], device=dev, dtype=h.dtype).index_add(0, sid[keep], states)
            ones = torch.ones_like(sid[keep], dtype=h.dtype)
            count = torch.zeros(n_seg, device=dev, dtype=h.dtype).index_add(0, sid[keep], ones)
            return total / count.clamp(min=1).unsqueeze(1), count > 0

        m_o, ok_o = seg_mean(h_orig.detach(), flat_o, seg_o)
        m_n, ok_n = seg_mean(h_new, flat_n, seg_n)
        ok = ok_o & ok_n
        return (1.0 - F.cosine_similarity(m_n[ok], m_o[ok], dim=-1)).mean()

    def lr_at(self, progress: float) -> float:
        """Warm-up, then cosine decay to 10% over ``progress`` in [0, 1] (steps or time, whichever is further)."""
        if self.step_no < self.cfg.warmup_steps:
            return self.cfg.lr * (self.step_no + 1) / self.cfg.warmup_steps
        return self.cfg.lr * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0))))

    def train_step(self, texts: list[str], progress: float = 0.0) -> dict[str, float]:
        """One optimizer step on ``texts``; returns the losses as floats."""
        if self.step_no % self.cfg.refresh_every == 0 or not self.sampler.fitted:
            self.sampler.fit(self.draw_texts(self.cfg.buffer_size))
        self.model.train()
        for group in self.opt.param_groups:
            group["lr"] = self.lr_at(progress)
        out = self.losses(texts)
        self.opt.zero_grad(set_to_none=True)
        out["loss"].backward()
        if self.cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        self.opt.step()
        self.step_no += 1
        return {k: float(v.detach()) for k, v in out.items()}

    def train(self, on_checkpoint=None, *, show_progress: bool = True) -> dict[str, float]:
        """Train until ``steps`` or ``max_minutes``; call ``on_checkpoint(trainer, summary)`` every ``save_every``
        steps and at the end. Returns the summary (steps, minutes, mean losses of the last 50 steps)."""
        cfg = self.cfg
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        budget = cfg.max_minutes * 60.0
        t0 = time.monotonic()
        recent: list[dict[str, float]] = []
        first: list[dict[str, float]] = []
        # tqdm on a terminal, a log line every 10 % of steps or time budget otherwise (none: --quiet/show_progress)
        bar = Progress(cfg.steps, "hypernet", unit="step", enabled=show_progress)
        summary: dict[str, float] = {}
        while self.step_no < cfg.steps:
            elapsed = time.monotonic() - t0
            if elapsed >= budget:
                break
            progress = max(self.step_no / cfg.steps, elapsed / budget)
            stats = self.train_step(self.draw_texts(cfg.batch_size, cfg.langs_per_batch, cfg.parallel), progress)
            (first if len(first) < 50 else recent).append(stats)
            recent = recent[-50:]
            window = recent or first
            avg = {k: float(np.mean([r[k] for r in window])) for k in stats}
            spent = time.monotonic() - t0
            left = (budget - spent) / 60.0
            bar.update(
                1,
                fraction=max(self.step_no / cfg.steps, spent / budget),
                loss=f"{avg['loss']:.4f}",
                sent=f"{avg['sent']:.4f}",
                tok=f"{avg['tok']:.3f}",
                aux=f"{avg['aux']:.3f}",
                nce=f"{avg['contrast']:.3f}",
                rel=f"{avg['relation']:.3f}",
                left=f"{max(left, 0.0):.1f}min",
            )
            summary = {
                "steps": self.step_no,
                "minutes": spent / 60.0,
                **{f"last50_{k}": v for k, v in avg.items()},
                **{f"first50_{k}": float(np.mean([r[k] for r in first])) for k in stats},
            }
            if on_checkpoint is not None and self.step_no % cfg.save_every == 0:
                on_checkpoint(self, summary)
        bar.close()
        summary["minutes"] = (time.monotonic() - t0) / 60.0
        if on_checkpoint is not None:
            on_checkpoint(self, summary)
        return summary
