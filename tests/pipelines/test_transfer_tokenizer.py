"""pipelines/transfer_tokenizer.py and pipelines/train_hypernetwork.py end to end on the real base model."""

from __future__ import annotations

import json

import duckdb
import numpy as np
import pytest
import torch

from tokenmill.operators.transfer.base_model import BASE_MODEL_NAME, load_base_model
from tokenmill.operators.transfer.hypernet import HypernetConfig, Hypernetwork, load_hypernet, save_hypernet
from tokenmill.operators.transfer.model_export import check_transferred_model
from tokenmill.pipelines import train_hypernetwork, transfer_tokenizer


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


SENTENCES = ["All human beings are born free and equal in dignity and rights.", "Tous les êtres humains naissent libres et égaux en dignité et en droits."]


def _check_folder(out, base, ends=("<s>", "</s>")):
    from safetensors.torch import load_file
    from sentence_transformers import SentenceTransformer
    from transformers import AutoModel, AutoTokenizer

    doc = check_transferred_model(out)
    tok = AutoTokenizer.from_pretrained(str(out))
    model = AutoModel.from_pretrained(str(out))
    enc = tok(SENTENCES[:1])
    ids = enc["input_ids"][0]
    # The new tokenizer got the model's specials: <s> ... </s> around the text (aliases of [CLS]/[SEP]).
    assert (tok.convert_ids_to_tokens(ids)[0], tok.convert_ids_to_tokens(ids)[-1]) == ends
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
    from tokenmill.operators.dynamic.base_tokenizer import load_base_tokenizer
    from tokenmill.operators.transfer.fvt import fvt_for_tokenizer

    out = tmp_path / "fvt"
    assert transfer_tokenizer.main(["--tokenizer", str(new_tokenizer), "--set", "method=fvt", "--output", str(out), "--quiet"]) == 0
    doc, emb = _check_folder(out, base)
    assert doc["method"] == "fvt"
    # Non-special rows are exactly the FVT baseline of operators/transfer/fvt.py.
    want = fvt_for_tokenizer(base.input_embeddings.detach(), load_base_tokenizer(base.tokenizer_json), load_base_tokenizer(out / "tokenizer.json"))
    torch.testing.assert_close(emb[10:600], want[10:600].float())


@pytest.mark.slow  # a Ray actor pool loads the base model
def test_hypernet_transfer_on_ray(tmp_path, new_tokenizer, base, ray_local, shared_data):
    """Without and with target text (--input: no-space tokens blend their word-start reading, a second pass on Ray)."""
    torch.manual_seed(0)
    ckpt = tmp_path / "ckpt"
    save_hypernet(
        Hypernetwork(HypernetConfig(embed_dim=base.dim, d_model=32, n_layers=1, n_heads=2, ffn_dim=64)),
        ckpt,
        base_name=BASE_MODEL_NAME,
        base_fingerprint=base.fingerprint(),
    )
    text = shared_data / "text" / "udhr" / "fra.txt"
    embs = []
    for extra in ([], ["--input", str(text)]):
        out = tmp_path / f"hn{len(extra)}"
        assert (
            transfer_tokenizer.main(
                ["--tokenizer", str(new_tokenizer), "--set", "method=hypernet", "--output", str(out), "--set", f"checkpoint={ckpt}", "--quiet", *extra]
            )
            == 0
        )
        doc, emb = _check_folder(out, base)
        assert doc["method"] == "hypernet" and doc["hypernet_checkpoint"] == str(ckpt)
        assert doc["word_starts_from_input"] is bool(extra)
        embs.append(emb)
    changed = (embs[0] != embs[1]).any(1)
    # Only rows of no-space tokens seen beginning a word (after "(", "'", ...) in the French text move.
    assert 0 < int(changed.sum()) < 0.5 * len(changed)


def test_method_flag_points_to_the_config_key(tmp_path, new_tokenizer, capsys):
    """The method is the config key ``method`` only; the old ``--method`` flag says how to pass it."""
    with pytest.raises(SystemExit) as exc:
        transfer_tokenizer.main(["--tokenizer", str(new_tokenizer), "--method", "fvt", "--output", str(tmp_path)])
    assert exc.value.code == 2
    assert "use --set method=fvt" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_train_pipeline_writes_a_checkpoint(tmp_path, base):
    out = tmp_path / "ckpt"
    argv = [
        "--output",
        str(out),
        "--set",
        "steps=2",
        "--set",
        "batch_size=2",
        "--set",
        "max_tokens=16",
        "--set",
        "buffer_size=16",
        "--set",
        "hypernet.d_model=32",
        "--set",
        "hypernet.n_heads=2",
        "--set",
        "hypernet.ffn_dim=64",
        "--set",
        "hypernet.n_layers=1",
        "--set",
        "device=cpu",
        "--quiet",
    ]
    assert train_hypernetwork.main(argv) == 0
    model, doc = load_hypernet(out, base_fingerprint=base.fingerprint())
    assert model.config.d_model == 32 and doc["training"]["steps"] == 2
    readme = (out / "README.md").read_text()
    assert "python pipelines/train_hypernetwork.py --output" in readme and "steps=2" in readme
    assert json.loads((out / "hypernet.json").read_text())["format"] == "tokenmill hypernet v1"
    con = duckdb.connect(str(out / "ledger.duckdb"), read_only=True)  # every run is in its ledger
    assert con.execute("SELECT pipeline, status FROM runs").fetchall() == [("train_hypernetwork", "succeeded")]
    assert con.execute("SELECT rows_out FROM stages WHERE stage = 'train_hypernetwork'").fetchone() == (2,)


def test_committed_checkpoint_loads(base):
    """The checkpoint in checkpoints/ (when present) is versioned, small and fits the packaged base model."""
    from pathlib import Path

    folder = Path(__file__).resolve().parents[2] / "checkpoints" / "hypernet-minilm"
    if not (folder / "hypernet.json").is_file():
        pytest.skip("no committed checkpoint")
    _model, doc = load_hypernet(folder, base_fingerprint=base.fingerprint())
    assert (folder / "hypernet.safetensors").stat().st_size < 20e6
    assert doc["training"]["steps"] > 0
    assert "python pipelines/train_hypernetwork.py" in (folder / "README.md").read_text()


def test_focus_transfer_folder_loads(tmp_path, new_tokenizer, base, shared_data):
    from tokenmill.operators.transfer.overlap import shared_tokens

    out = tmp_path / "focus"
    texts = [str(shared_data / "text" / "udhr" / f"{lang}.txt") for lang in ("eng", "fra")]
    argv = ["--tokenizer", str(new_tokenizer), "--set", "method=focus", "--output", str(out), "--quiet"]
    assert transfer_tokenizer.main([*argv, "--input", texts[0], "--input", texts[1]]) == 0
    doc, emb = _check_folder(out, base)
    assert doc["method"] == "focus"
    shared = shared_tokens(base.tokenizer_json, out / "tokenizer.json")
    assert len(shared) > 300
    for new_id, base_id in shared.items():  # shared tokens keep the base row
        torch.testing.assert_close(emb[new_id], base.input_embeddings[base_id].detach())


def _permuted_base_tokenizer(base, path, rng):
    """The base WordPiece tokenizer with every id >= 1000 permuted (ids below hold the specials and [unused])."""
    spec = json.loads(base.tokenizer_json.read_text())
    vocab = spec["model"]["vocab"]
    n = len(vocab)
    perm = np.concatenate([np.arange(1000), 1000 + rng.permutation(n - 1000)])  # base id -> new id
    spec["model"]["vocab"] = {tok: int(perm[i]) for tok, i in vocab.items()}
    path.write_text(json.dumps(spec, ensure_ascii=False))
    return perm


def test_omp_with_the_base_model_as_a_permuted_donor_is_exact(tmp_path, base):
    """Donor = the base model itself under a permuted vocabulary: every token is shared, so the transferred model
    is the base model with its rows permuted, and it embeds sentences exactly as the base does."""
    from sentence_transformers import SentenceTransformer

    from tokenmill.operators.transfer.embed_tokenizer import prepare_tokenizer
    from tokenmill.operators.transfer.model_export import export_transferred_model

    perm = _permuted_base_tokenizer(base, tmp_path / "tokenizer.json", np.random.default_rng(0))
    E = base.input_embeddings.detach()
    donor_rows = torch.empty_like(E)
    donor_rows[torch.from_numpy(perm)] = E
    tok, roles, _ = prepare_tokenizer(tmp_path / "tokenizer.json", base.tokenizer_json)
    donor = export_transferred_model(base.folder, tok, donor_rows, tmp_path / "donor", roles=roles, metadata={"method": "permuted"})
    out = tmp_path / "omp"
    assert transfer_tokenizer.main(["--tokenizer", str(donor), "--donor", str(donor), "--output", str(out), "--quiet"]) == 0
    doc, emb = _check_folder(out, base, ends=("[CLS]", "[SEP]"))
    assert doc["method"] == "omp" and doc["donor"] == str(donor)
    # Rows are the permuted base rows, except accented duplicates BERT never reaches (é -> e by its normalizer).
    same = (emb == donor_rows).all(1)
    assert float(same.float().mean()) > 0.98
    st_new, st_old = SentenceTransformer(str(out), device="cpu"), SentenceTransformer(str(base.folder), device="cpu")
    sentences = [*SENTENCES, "Jeder hat das Recht auf Bildung.", "def main(argv): return 0"]
    np.testing.assert_allclose(st_new.encode(sentences), st_old.encode(sentences), atol=1e-5)


def test_omp_with_a_donor_of_the_new_tokenizer(tmp_path, new_tokenizer, base):
    """A donor using the 600-token tokenizer: shared tokens copy the base rows, the rest are the OMP rows."""
    from tokenmill.operators.transfer.embed_tokenizer import prepare_tokenizer
    from tokenmill.operators.transfer.model_export import export_transferred_model
    from tokenmill.operators.transfer.omp import omp_transplant
    from tokenmill.operators.transfer.overlap import shared_tokens

    tok, roles, _ = prepare_tokenizer(new_tokenizer, base.tokenizer_json)
    donor_rows = torch.randn(tok.get_vocab_size(), 384, generator=torch.Generator().manual_seed(0))
    donor = export_transferred_model(base.folder, tok, donor_rows, tmp_path / "donor", roles=roles, metadata={})
    out = tmp_path / "omp"
    assert transfer_tokenizer.main(["--tokenizer", str(new_tokenizer), "--donor", str(donor), "--output", str(out), "--quiet"]) == 0
    _doc, emb = _check_folder(out, base)
    shared = shared_tokens(base.tokenizer_json, out / "tokenizer.json")
    want, _ = omp_transplant(base.input_embeddings, donor_rows, shared, k=64)
    torch.testing.assert_close(emb[10:600], want[10:600])


@pytest.mark.parametrize(
    "extra, message",
    [(["--set", "method=omp"], "needs --donor"), (["--set", "method=focus"], "needs --input"), (["--set", "method=fvt", "--donor", "x"], "does not go with")],
)
def test_a_method_without_its_input_is_a_user_error(tmp_path, new_tokenizer, capsys, extra, message):
    with pytest.raises(SystemExit) as exc:
        transfer_tokenizer.main(["--tokenizer", str(new_tokenizer), "--output", str(tmp_path / "o"), *extra])
    assert exc.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
