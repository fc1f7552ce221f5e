"""FVT embeddings: known means, file formats, dynamic vocabularies and whole new tokenizers."""

from __future__ import annotations

import pyarrow as pa
import pytest
import torch
from safetensors.torch import save_file

from tokenmill.operators.dynamic import DynamicBPE, load_base_tokenizer, vocab_table
from tokenmill.operators.transfer import (
    decompose_vocab,
    fvt_embeddings,
    fvt_for_dynamic_vocab,
    fvt_for_tokenizer,
    load_embeddings,
)


@pytest.fixture(scope="module")
def gpt2(shared_data):
    return load_base_tokenizer(shared_data / "tokenizers" / "gpt2")


def test_mean_of_decomposition_known_answer():
    base = torch.tensor([[0.0, 0.0], [2.0, 4.0], [4.0, 8.0], [1.0, -1.0]])
    out = fvt_embeddings(base, [[1, 2], [3], [1, 1, 2, 3]])
    assert torch.allclose(out, torch.tensor([[3.0, 6.0], [1.0, -1.0], [2.25, 3.75]]))
    half = fvt_embeddings(base.half(), [[1, 2]])
    assert half.dtype == torch.float16 and torch.allclose(half.float(), torch.tensor([[3.0, 6.0]]))
    with pytest.raises(ValueError, match="empty"):
        fvt_embeddings(base, [[1], []])
    with pytest.raises(ValueError, match="ids must lie"):
        fvt_embeddings(base, [[4]])


def test_load_embeddings_from_safetensors_and_torch(tmp_path):
    emb = torch.randn(10, 4)
    save_file({"model.embed_tokens.weight": emb, "lm_head.weight": torch.randn(10, 4)}, tmp_path / "m.safetensors")
    assert torch.equal(load_embeddings(tmp_path / "m.safetensors"), emb)
    assert load_embeddings(tmp_path / "m.safetensors", key="lm_head.weight").shape == (10, 4)
    torch.save(emb, tmp_path / "e.pt")
    assert torch.equal(load_embeddings(tmp_path / "e.pt"), emb)
    torch.save({"a": emb, "b": emb}, tmp_path / "two.pt")
    with pytest.raises(ValueError, match="pass key="):
        load_embeddings(tmp_path / "two.pt")
    torch.save(torch.randn(3), tmp_path / "vec.pt")
    with pytest.raises(ValueError, match="2-D"):
        load_embeddings(tmp_path / "vec.pt")
    torch.save({"x": object()}, tmp_path / "pickle.pt")  # weights_only refuses arbitrary objects
    with pytest.raises(ValueError, match="not a safetensors or torch tensor file"):
        load_embeddings(tmp_path / "pickle.pt")
    with pytest.raises(ValueError, match="no such file"):
        load_embeddings(tmp_path / "missing.safetensors")


def test_fvt_for_dynamic_vocab(gpt2, shared_data):
    lines = [x.strip() for x in (shared_data / "text/udhr/rus.txt").read_text().splitlines() if x.strip()][1:17]
    out = DynamicBPE(gpt2, max_merges=200, boundary="word")(pa.table({"text": lines}))
    vocab = vocab_table(out)
    base = torch.randn(gpt2.vocab_size, 16, dtype=torch.float64)
    ids, emb = fvt_for_dynamic_vocab(base, vocab)
    assert ids.tolist() == vocab.column("id").to_pylist() and emb.shape == (200, 16)
    for k, parts in enumerate(vocab.column("base_ids").to_pylist()):
        assert torch.allclose(emb[k], base[parts].mean(0))


def test_fvt_for_a_whole_tokenizer(gpt2, shared_data):
    base = torch.randn(gpt2.vocab_size, 8)
    # The base tokenizer as its own "new" tokenizer: every token maps to itself, the matrix is unchanged.
    assert torch.equal(fvt_for_tokenizer(base, gpt2, gpt2), base)
    mistral = load_base_tokenizer(shared_data / "tokenizers" / "mistral")
    parts = decompose_vocab(gpt2, mistral)
    assert [mistral.id_to_token(i) for i, p in enumerate(parts) if p is None] == ["<unk>", "<s>", "</s>"]
    hello = mistral.encode("Hello")[0]  # "▁Hello" -> GPT-2 "ĠHello"
    assert parts[hello] == gpt2.encode(" Hello")
    assert parts[mistral.encode("\t")[-1]] == gpt2.encode("\t")  # byte-fallback <0x09> -> GPT-2's byte token
    emb = fvt_for_tokenizer(base, gpt2, mistral)
    assert emb.shape == (32000, 8) and torch.isfinite(emb).all()
    assert torch.allclose(emb[hello], base[parts[hello]].mean(0))
    assert torch.allclose(emb[0], base.mean(0))
