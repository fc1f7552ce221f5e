"""Write a transferred model folder: the base model with a new tokenizer and a new input-embedding matrix.

Every other weight is copied unchanged from the base model's safetensors file. The folder loads with
``transformers.AutoModel`` / ``AutoTokenizer`` and, because the sentence-transformers files (modules.json,
1_Pooling/, sentence_bert_config.json) are copied too, with ``SentenceTransformer(folder)``. ``tokenmill.json``
(format ``tokenmill transferred-model v1``: method, base, tokenizer hash, embedding source) is written last, so
its presence means the folder is complete. All files are written atomically.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import torch

from tokenmill.operators.core.atomic import atomic_path, write_text_atomic
from tokenmill.operators.transfer.extra import import_transfer

log = logging.getLogger(__name__)

FORMAT = "tokenmill transferred-model v1"
# Files of the base folder that describe the model and pooling (copied); the tokenizer files are replaced.
COPIED = ("modules.json", "sentence_bert_config.json", "config_sentence_transformers.json", "1_Pooling/config.json")
EMBEDDING_KEY = "embeddings.word_embeddings.weight"


def export_transferred_model(
    base_folder: str | Path,
    tokenizer,
    embeddings: torch.Tensor,
    out_dir: str | Path,
    *,
    roles: dict[str, str],
    metadata: dict[str, Any] | None = None,
    model_max_length: int = 512,
) -> Path:
    """Write the transferred model.

    Args:
        base_folder: the base model folder (config.json, model.safetensors, sentence-transformers files).
        tokenizer: the prepared new ``tokenizers.Tokenizer`` (see ``embed_tokenizer.prepare_tokenizer``).
        embeddings: [len(new vocab), dim] input embeddings.
        out_dir: the folder to write (created; existing files of the same names are replaced).
        roles: special-token role -> token string (cls_token, sep_token, pad_token, unk_token, mask_token).
        metadata: extra fields for tokenmill.json (method, checkpoint, ...).

    Raises:
        ValueError: the embedding matrix does not match the tokenizer or the base model's dimension.
    """
    st = import_transfer("safetensors.torch")
    load_file, save_file = st.load_file, st.save_file
    base_folder, out = Path(base_folder), Path(out_dir)
    config = json.loads((base_folder / "config.json").read_text(encoding="utf-8"))
    vocab = tokenizer.get_vocab(with_added_tokens=True)
    n_vocab = max(vocab.values()) + 1
    if embeddings.ndim != 2 or embeddings.shape[0] != n_vocab or embeddings.shape[1] != config["hidden_size"]:
        raise ValueError(f"export: embeddings {tuple(embeddings.shape)} do not fit the tokenizer ({n_vocab} ids) and hidden_size {config['hidden_size']}")
    out.mkdir(parents=True, exist_ok=True)
    (out / "tokenmill.json").unlink(missing_ok=True)  # incomplete until rewritten at the end

    state = load_file(str(base_folder / "model.safetensors"))
    key = next((k for k in state if k == EMBEDDING_KEY or k.endswith("." + EMBEDDING_KEY)), None)
    if key is None:
        raise ValueError(f"export: no {EMBEDDING_KEY} in {base_folder / 'model.safetensors'}")
    state[key] = embeddings.detach().to("cpu", state[key].dtype).contiguous()
    with atomic_path(out / "model.safetensors") as tmp:
        save_file(state, str(tmp), metadata={"format": "pt"})

    config["vocab_size"] = n_vocab
    config["pad_token_id"] = vocab[roles["pad_token"]]
    write_text_atomic(out / "config.json", json.dumps(config, indent=2) + "\n")
    write_text_atomic(out / "tokenizer.json", tokenizer.to_str(pretty=True))
    specials = {role: name for role, name in roles.items()}
    write_text_atomic(out / "special_tokens_map.json", json.dumps(specials, indent=2) + "\n")
    tok_cfg = {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": model_max_length, "clean_up_tokenization_spaces": False, **specials}
    write_text_atomic(out / "tokenizer_config.json", json.dumps(tok_cfg, indent=2) + "\n")
    for rel in COPIED:
        src = base_folder / rel
        if src.is_file():
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            write_text_atomic(out / rel, src.read_text(encoding="utf-8"))
    doc = {
        "format": FORMAT,
        "base_model": str(base_folder),
        "vocab_size": n_vocab,
        "tokenizer_sha256": hashlib.sha256(tokenizer.to_str().encode()).hexdigest()[:16],
        **(metadata or {}),
    }
    write_text_atomic(out / "tokenmill.json", json.dumps(doc, indent=2, sort_keys=True) + "\n")
    log.info("transferred model written to %s (%d tokens)", out, n_vocab)
    return out


def check_transferred_model(folder: str | Path) -> dict[str, Any]:
    """The folder's tokenmill.json after checking its format tag (ValueError when absent or foreign)."""
    path = Path(folder) / "tokenmill.json"
    if not path.is_file():
        raise ValueError(f"{folder}: no tokenmill.json; not a finished transferred model folder")
    doc = json.loads(path.read_text(encoding="utf-8"))
    if doc.get("format") != FORMAT:
        raise ValueError(f"{folder}: format {doc.get('format')!r}, expected {FORMAT!r}")
    return doc
