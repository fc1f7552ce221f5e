"""pipelines/transfer_tokenizer.py and pipelines/train_hypernetwork.py end to end on the real base model."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from operators.transfer.base_model import BASE_MODEL_NAME, load_base_model
from operators.transfer.hypernet import Hypernetwork, HypernetConfig, load_hypernet, save_hypernet
from operators.transfer.model_export import check_transferred_model
from pipelines import train_hypernetwork, transfer_tokenizer


@pytest.fixture(scope="module")
def base():
    return load_base_model()


@pytest.fixture(scope="module")
def new_tokenizer(shared_data, tmp_path_factory):
    """A small cased sentencepiece-style BPE trained on two UDHR languages (no BERT special tokens of its own)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    files = [str(shared_data / "text" / "udhr" / f"{lang}.txt") for lang in ("eng", "fra")]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    tok.train(files, trainers.BpeTrainer(vocab_size=600, special_tokens=["<unk>", "<s>", "</s>"]))
    path = tmp_path_factory.mktemp("newtok") / "tokenizer.json"
    tok.save(str(path))
    return path


SENTENCES = ["All human beings are born free and equal in dignity and rights.",
             "Tous les êtres humains naissent libres et égaux en dignité et en droits."]


def _check_folder(out, base):
    from safetensors.torch import load_file
    from sentence_transformers import SentenceTransformer
    from transformers import AutoModel, AutoTokenizer

    doc = check_transferred_model(out)
    tok = AutoTokenizer.from_pretrained(str(out))
    model = AutoModel.from_pretrained(str(out))
    enc = tok(SENTENCES[:1])
    ids = enc["input_ids"][0]
    # The new tokenizer got the model's specials: <s> ... </s> around the text (aliases of [CLS]/[SEP]).
    assert tok.convert_ids_to_tokens(ids)[0] == "<s>" and tok.convert_ids_to_tokens(ids)[-1] == "</s>"
    emb = model.get_input_embeddings().weight.detach()
    assert emb.shape[0] == doc["vocab_size"]
    torch.testing.assert_close(emb[ids[0]], base.input_embeddings[101])  # <s> carries [CLS]'s row
    torch.testing.assert_close(emb[ids[-1]], base.input_embeddings[102])
    new_state, old_state = load_file(str(out / "model.safetensors")), load_file(str(base.folder / "model.safetensors"))
    assert new_state.keys() == old_state.keys()
    for k in old_state:
        if k != "embeddings.word_embeddings.weight":
            assert torch.equal(new_state[k], old_state[k]), k
    st = SentenceTransformer(str(out), device="cpu")
    vecs = st.encode(SENTENCES, normalize_embeddings=True)
    assert vecs.shape == (2, 384) and np.isfinite(vecs).all()
    return doc, emb


def test_fvt_transfer_folder_loads(tmp_path, new_tokenizer, base):
    from operators.dynamic.base_tokenizer import load_base_tokenizer
    from operators.transfer.fvt import fvt_for_tokenizer

    out = tmp_path / "fvt"
    assert transfer_tokenizer.main(["--tokenizer", str(new_tokenizer), "--set", "method=fvt", "--output", str(out),
                                    "--quiet"]) == 0
    doc, emb = _check_folder(out, base)
    assert doc["method"] == "fvt"
    # Non-special rows are exactly the FVT baseline of operators/transfer/fvt.py.
    want = fvt_for_tokenizer(base.input_embeddings.detach(), load_base_tokenizer(base.tokenizer_json),
                             load_base_tokenizer(out / "tokenizer.json"))
    torch.testing.assert_close(emb[10:600], want[10:600].float())


@pytest.mark.slow  # a Ray actor pool loads the base model
def test_hypernet_transfer_on_ray(tmp_path, new_tokenizer, base, ray_local):
    torch.manual_seed(0)
    ckpt = tmp_path / "ckpt"
    save_hypernet(Hypernetwork(HypernetConfig(embed_dim=base.dim, d_model=32, n_layers=1, n_heads=2, ffn_dim=64)),
                  ckpt, base_name=BASE_MODEL_NAME, base_fingerprint=base.fingerprint())
    out = tmp_path / "hn"
    assert transfer_tokenizer.main(["--tokenizer", str(new_tokenizer), "--set", "method=hypernet", "--output", str(out),
                                    "--set", f"checkpoint={ckpt}", "--quiet"]) == 0
    doc, emb = _check_folder(out, base)
    assert doc["method"] == "hypernet" and doc["hypernet_checkpoint"] == str(ckpt)


def test_method_flag_points_to_the_config_key(tmp_path, new_tokenizer, capsys):
    """The method is the config key ``method`` only; the old ``--method`` flag says how to pass it."""
    with pytest.raises(SystemExit) as exc:
        transfer_tokenizer.main(["--tokenizer", str(new_tokenizer), "--method", "fvt", "--output", str(tmp_path)])
    assert exc.value.code == 2
    assert "use --set method=fvt" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_train_pipeline_writes_a_checkpoint(tmp_path, base):
    out = tmp_path / "ckpt"
    argv = ["--output", str(out), "--set", "steps=2", "--set", "batch_size=2", "--set", "max_tokens=16",
            "--set", "buffer_size=16", "--set", "hypernet.d_model=32", "--set", "hypernet.n_heads=2",
            "--set", "hypernet.ffn_dim=64", "--set", "hypernet.n_layers=1", "--set", "device=cpu", "--quiet"]
    assert train_hypernetwork.main(argv) == 0
    model, doc = load_hypernet(out, base_fingerprint=base.fingerprint())
    assert model.config.d_model == 32 and doc["training"]["steps"] == 2
    readme = (out / "README.md").read_text()
    assert "python pipelines/train_hypernetwork.py --output" in readme and "steps=2" in readme
    assert json.loads((out / "hypernet.json").read_text())["format"] == "tokenmill hypernet v1"


def test_committed_checkpoint_loads(base):
    """The checkpoint in checkpoints/ (when present) is versioned, small and fits the packaged base model."""
    from pathlib import Path

    folder = Path(__file__).resolve().parents[2] / "checkpoints" / "hypernet-minilm"
    if not (folder / "hypernet.json").is_file():
        pytest.skip("no committed checkpoint")
    model, doc = load_hypernet(folder, base_fingerprint=base.fingerprint())
    assert (folder / "hypernet.safetensors").stat().st_size < 20e6
    assert doc["training"]["steps"] > 0
    assert "python pipelines/train_hypernetwork.py" in (folder / "README.md").read_text()
