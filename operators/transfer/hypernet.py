"""The ZeTT hypernetwork (Minixhofer, Ponti, Vulić 2024) in torch: predicts embeddings for any token.

A token's surface is decomposed by the original tokenizer into at most ``surface_maxlen`` original ids; their
original embeddings (input and output rows concatenated when the base model's are untied) go through a projector
(linear, residual MLP, LayerNorm), learned position embeddings, ``n_layers`` transformer encoder layers, and the
first position's state feeds separate heads for the input and the output embedding.

One deviation from ZeTT, for training on a CPU budget: with ``residual_mean`` (default) each head predicts a
*correction* added to the mean of the decomposition's original embeddings (the FVT estimate), and the heads start
at zero. A fresh hypernetwork therefore equals FVT, and every training step moves it away only where the loss asks.

Checkpoints are a folder with ``hypernet.safetensors`` (float16 or float32) and ``hypernet.json`` (format tag
``tokenmill hypernet v1``, the config, the base model's name and embedding fingerprint). Loading reads tensors with
safetensors and the config with json: nothing is unpickled. Weights come back as float32.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tokenmill.operators.core.atomic import atomic_path, write_text_atomic
from tokenmill.operators.transfer.extra import import_transfer

log = logging.getLogger(__name__)

FORMAT = "tokenmill hypernet v1"
WEIGHTS_FILE = "hypernet.safetensors"
CONFIG_FILE = "hypernet.json"


@dataclass(frozen=True, kw_only=True, slots=True)
class HypernetConfig:
    """Shape of a :class:`Hypernetwork` (stored in the checkpoint's JSON)."""

    embed_dim: int = 384
    """Dimension of the base model's embeddings (input and predicted)."""
    untied: bool = False
    """The base has separate output embeddings: inputs are [input; output] rows and an output head is added."""
    d_model: int = 384
    """Width of the hypernetwork's transformer."""
    n_layers: int = 3
    """Transformer encoder layers."""
    n_heads: int = 6
    """Attention heads (must divide d_model)."""
    ffn_dim: int = 768
    """Feed-forward width of each encoder layer."""
    surface_maxlen: int = 7
    """Original tokens per new token; longer decompositions are cut (as ZeTT does)."""
    dropout: float = 0.0
    """Dropout inside the encoder layers."""
    residual_mean: bool = True
    """Predict a correction to the mean of the decomposition's embeddings (heads start at zero = FVT)."""

    def __post_init__(self) -> None:
        for name in ("embed_dim", "d_model", "n_layers", "n_heads", "ffn_dim", "surface_maxlen"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be >= 1, got {getattr(self, name)}")
        if self.d_model % self.n_heads:
            raise ValueError(f"n_heads: must divide d_model={self.d_model}, got {self.n_heads}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout: must be in [0, 1), got {self.dropout}")


class Hypernetwork(nn.Module):
    """Decompositions [N, L] of original ids -> predicted input (and output) embeddings [N, embed_dim].

    The original embedding matrices are not parameters of the hypernetwork (and not in its checkpoint): they are
    passed to :meth:`forward`, so one checkpoint serves any process that has loaded the base model.
    """

    output_scale: torch.Tensor  # a buffer (registered in __init__)

    def __init__(self, config: HypernetConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        in_dim = c.embed_dim * (2 if c.untied else 1)
        self.input_proj = nn.Linear(in_dim, c.d_model)
        self.proj_mlp = nn.Sequential(nn.Linear(c.d_model, c.ffn_dim), nn.GELU(), nn.Linear(c.ffn_dim, c.d_model))
        self.proj_norm = nn.LayerNorm(c.d_model)
        self.positions = nn.Embedding(c.surface_maxlen, c.d_model)
        layer = nn.TransformerEncoderLayer(c.d_model, c.n_heads, c.ffn_dim, c.dropout, activation="gelu", batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, c.n_layers, enable_nested_tensor=False)
        self.out_norm = nn.LayerNorm(c.d_model)
        self.head_in = nn.Linear(c.d_model, c.embed_dim)
        self.head_out = nn.Linear(c.d_model, c.embed_dim) if c.untied else None
        # The heads read a LayerNorm-ed (unit-scale) state; scaling their output to the base embeddings' spread
        # (set by the trainer, stored in the checkpoint) keeps early optimizer steps from swamping the FVT start.
        self.register_buffer("output_scale", torch.ones(()))
        nn.init.normal_(self.positions.weight, std=0.02)
        if c.residual_mean:
            for head in (self.head_in, self.head_out):
                if head is not None:
                    nn.init.zeros_(head.weight)
                    nn.init.zeros_(head.bias)

    def forward(
        self, ids: torch.Tensor, lengths: torch.Tensor, input_embeddings: torch.Tensor, output_embeddings: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Predict embeddings.

        Args:
            ids: [N, L] original ids; positions >= ``lengths`` are ignored; the encoder reads the first
                ``surface_maxlen``, the FVT start (``residual_mean``) all of them.
            lengths: [N] decomposition lengths, >= 1.
            input_embeddings: [V, embed_dim] the base's input embeddings.
            output_embeddings: [V, embed_dim] its output embeddings (required when ``untied``).

        Returns:
            (input embeddings [N, embed_dim], output embeddings [N, embed_dim] or None).
        """
        c = self.config
        if c.untied and output_embeddings is None:
            raise ValueError("hypernetwork: config.untied needs output_embeddings")
        full_valid = torch.arange(ids.shape[1], device=ids.device).unsqueeze(0) < lengths.unsqueeze(1)
        safe = torch.where(full_valid, ids, torch.zeros_like(ids))
        # The encoder reads the first surface_maxlen ids (ZeTT's cut); the FVT start averages all of them, so a
        # long decomposition (a Cyrillic word is one WordPiece per letter) still starts from the full mean.
        cut, valid = safe[:, : c.surface_maxlen], full_valid[:, : c.surface_maxlen]
        e_in = input_embeddings[cut]
        x = torch.cat([e_in, output_embeddings[cut]], -1) if c.untied and output_embeddings is not None else e_in
        h = self.input_proj(x)
        h = self.proj_norm(h + self.proj_mlp(h))
        h = h + self.positions.weight[: cut.shape[1]].unsqueeze(0)
        h = self.encoder(h, src_key_padding_mask=~valid)
        pooled = self.out_norm(h[:, 0])
        pred_in = self.head_in(pooled) * self.output_scale
        pred_out = self.head_out(pooled) * self.output_scale if self.head_out is not None else None
        if c.residual_mean:
            w = full_valid.to(e_in.dtype).unsqueeze(-1) / lengths.clamp(min=1).to(e_in.dtype).view(-1, 1, 1)
            pred_in = pred_in + (input_embeddings[safe] * w).sum(1)
            if pred_out is not None and output_embeddings is not None:  # both or neither: untied checked above
                pred_out = pred_out + (output_embeddings[safe] * w).sum(1)
        return pred_in, pred_out


def pad_decompositions(
    decomps: list[tuple[int, ...]] | list[list[int]], maxlen: int = 64, device: torch.device | str = "cpu"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad decompositions (cut at ``maxlen``): ([N, L] long ids, [N] lengths), L = longest kept length."""
    lengths = [min(len(d), maxlen) for d in decomps]
    if lengths and min(lengths) < 1:
        raise ValueError("pad_decompositions: every decomposition needs at least one id")
    width = max(lengths, default=1)
    ids = torch.zeros(len(decomps), width, dtype=torch.long)
    for i, d in enumerate(decomps):
        ids[i, : lengths[i]] = torch.as_tensor(list(d[: lengths[i]]), dtype=torch.long)
    return ids.to(device), torch.as_tensor(lengths, dtype=torch.long, device=device)


def save_hypernet(
    model: Hypernetwork, folder: str | Path, *, base_name: str, base_fingerprint: str, dtype: torch.dtype = torch.float16, extra: dict[str, Any] | None = None
) -> Path:
    """Write ``hypernet.safetensors`` + ``hypernet.json`` into ``folder`` atomically (weights first, JSON last)."""
    save_file = import_transfer("safetensors.torch").save_file
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu", dtype).contiguous() for k, v in model.state_dict().items()}
    meta = {"format": FORMAT, "dtype": str(dtype).removeprefix("torch.")}
    with atomic_path(folder / WEIGHTS_FILE) as tmp:
        save_file(tensors, str(tmp), metadata=meta)
    doc = {
        "format": FORMAT,
        "config": dataclasses.asdict(model.config),
        "base_model": base_name,
        "base_fingerprint": base_fingerprint,
        "dtype": meta["dtype"],
        **(extra or {}),
    }
    write_text_atomic(folder / CONFIG_FILE, json.dumps(doc, indent=2, sort_keys=True) + "\n")
    return folder


def resolve_checkpoint(path: str | Path) -> Path:
    """``path`` as given when absolute or found from the working directory, else relative to the project root
    (so the default ``checkpoints/hypernet-minilm`` works from anywhere)."""
    from tokenmill.operators.core.runtime import PROJECT_ROOT

    p = Path(path)
    return p if p.is_absolute() or p.exists() else PROJECT_ROOT / p


def load_hypernet(folder: str | Path, *, base_fingerprint: str | None = None, device: torch.device | str = "cpu") -> tuple[Hypernetwork, dict[str, Any]]:
    """Load a checkpoint written by :func:`save_hypernet` (float32, eval mode) and its JSON document.

    Raises:
        ValueError: missing files, a wrong format tag, unknown config keys, mismatched tensors, or (when
            ``base_fingerprint`` is given) a checkpoint trained on a different base model.
    """
    safe_open = import_transfer("safetensors").safe_open
    load_file = import_transfer("safetensors.torch").load_file
    folder = Path(folder)
    cfg_path, w_path = folder / CONFIG_FILE, folder / WEIGHTS_FILE
    if not cfg_path.is_file() or not w_path.is_file():
        raise ValueError(f"hypernet checkpoint {folder}: expected {CONFIG_FILE} and {WEIGHTS_FILE}")
    doc = json.loads(cfg_path.read_text(encoding="utf-8"))
    if doc.get("format") != FORMAT:
        raise ValueError(f"hypernet checkpoint {folder}: format {doc.get('format')!r}, expected {FORMAT!r}")
    with safe_open(str(w_path), framework="pt") as f:
        if (f.metadata() or {}).get("format") != FORMAT:
            raise ValueError(f"hypernet checkpoint {w_path}: safetensors metadata lacks format {FORMAT!r}")
    known = {f.name for f in dataclasses.fields(HypernetConfig)}
    unknown = sorted(set(doc.get("config", {})) - known)
    if unknown:
        raise ValueError(f"hypernet checkpoint {folder}: unknown config keys {unknown} (newer tokenmill?)")
    if base_fingerprint is not None and doc.get("base_fingerprint") != base_fingerprint:
        raise ValueError(
            f"hypernet checkpoint {folder}: trained on base {doc.get('base_model')} with embedding "
            f"fingerprint {doc.get('base_fingerprint')}, but the loaded base has {base_fingerprint}"
        )
    model = Hypernetwork(HypernetConfig(**doc["config"]))
    state = {k: v.float() for k, v in load_file(str(w_path)).items()}
    model.load_state_dict(state, strict=True)
    return model.to(device).eval(), doc
