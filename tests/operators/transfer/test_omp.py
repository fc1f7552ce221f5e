"""OMP transplantation: the batched OMP against a plain reference, exact sparse recovery, and the real model
under a permuted and pruned vocabulary, where the right answer is known."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tokenmill.operators.transfer.omp import omp, omp_transplant


def omp_reference(y: np.ndarray, atoms: np.ndarray, k: int) -> tuple[list[int], np.ndarray]:
    """Textbook OMP (Pati et al. 1993), one target: pick the atom most correlated with the residual, re-fit."""
    support: list[int] = []
    res = y.copy()
    coef = np.zeros(0)
    for _ in range(k):
        corr = np.abs(atoms @ res)
        corr[support] = -1
        support.append(int(np.argmax(corr)))
        coef = np.linalg.lstsq(atoms[support].T, y, rcond=None)[0]
        res = y - coef @ atoms[support]
    return support, coef


@pytest.mark.parametrize("seed", range(6))
def test_batched_omp_matches_the_reference(seed):
    rng = np.random.default_rng(seed)
    atoms = rng.normal(size=(80, 24))
    targets = rng.normal(size=(5, 24))
    k = int(rng.integers(1, 20))
    idx, coef = omp(torch.from_numpy(targets), torch.from_numpy(atoms), k)
    for b in range(len(targets)):
        want_idx, want_coef = omp_reference(targets[b], atoms, k)
        assert idx[b].tolist() == want_idx
        np.testing.assert_allclose(coef[b].numpy(), want_coef, atol=1e-8)


def test_omp_recovers_an_exact_sparse_combination():
    rng = np.random.default_rng(0)
    atoms = torch.from_numpy(rng.normal(size=(200, 64)))
    y = 0.3 * atoms[3] - 0.7 * atoms[10] + 1.2 * atoms[150]
    idx, coef = omp(y[None], atoms, 3)
    got = dict(zip(idx[0].tolist(), coef[0].tolist()))
    assert set(got) == {3, 10, 150}
    assert got[3] == pytest.approx(0.3) and got[10] == pytest.approx(-0.7) and got[150] == pytest.approx(1.2)


def test_transplant_applies_donor_coefficients_in_base_space():
    """Toy: new token 2 is 2*a0 - a1 in the donor; in the base it must be 2*b0 - b1."""
    donor = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [2.0, -1.0, 0.0]])
    base = torch.tensor([[0.5, 0.5], [1.0, -1.0], [9.0, 9.0]])  # base row 2 is not shared: never used
    out, stats = omp_transplant(base, donor, {0: 0, 1: 1}, k=2)
    torch.testing.assert_close(out, torch.tensor([[0.5, 0.5], [1.0, -1.0], [0.0, 2.0]]))
    assert stats["anchors"] == 2 and stats["approximated"] == 1 and stats["donor_rel_residual"] < 1e-6


@pytest.fixture(autouse=True)
def one_thread():
    """The machine is shared: many small matrix products run far faster on one thread than on contended ones."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def minilm():
    from tokenmill.operators.transfer.base_model import load_base_model

    return load_base_model().input_embeddings.detach().double()


def test_real_model_under_a_permuted_and_pruned_vocabulary(minilm):
    """Donor = all-MiniLM-L6-v2 on a permuted vocabulary of 1,100 of its tokens, in a rotated basis; base = the same
    model with 100 of those tokens pruned. The 100 must come back: exactly with k = dim (the anchors span the
    space), and with k = 64 as OMP of the true row over the base's own anchors (the rotation changes nothing)."""
    rng = np.random.default_rng(0)
    E = minilm
    tokens = rng.choice(np.arange(1000, E.shape[0]), size=1050, replace=False)  # no specials, no [unused]
    perm = rng.permutation(1050)
    donor_tokens = tokens[perm]  # donor id i is base token donor_tokens[i]
    rotation, _ = np.linalg.qr(rng.normal(size=(E.shape[1], E.shape[1])))
    donor = E[torch.from_numpy(donor_tokens)] @ torch.from_numpy(rotation)
    pruned = set(tokens[:50].tolist())
    kept = [t for t in range(E.shape[0]) if t not in pruned]
    base = E[torch.tensor(kept)]  # the pruned base model
    position = {t: i for i, t in enumerate(kept)}
    shared = {i: position[int(t)] for i, t in enumerate(donor_tokens) if int(t) not in pruned}
    new = [i for i, t in enumerate(donor_tokens) if int(t) in pruned]
    assert len(shared) == 1000 and len(new) == 50

    out, stats = omp_transplant(base, donor, shared, k=E.shape[1])
    truth = E[torch.from_numpy(donor_tokens)].float()
    torch.testing.assert_close(out[sorted(shared)], truth[sorted(shared)])  # anchors copied
    torch.testing.assert_close(out[new], truth[new], atol=2e-4, rtol=1e-3)  # exact recovery
    assert stats["donor_rel_residual"] < 1e-4

    out64, stats64 = omp_transplant(base, donor, shared, k=64)
    anchors = sorted(shared)
    anchor_rows = base[torch.tensor([shared[i] for i in anchors])]
    idx, coef = omp(truth[new].double(), anchor_rows, 64)  # OMP done directly in the base space
    want = torch.einsum("bk,bkd->bd", coef, anchor_rows[idx]).float()
    torch.testing.assert_close(out64[new], want, atol=1e-4, rtol=1e-3)
    cos = torch.nn.functional.cosine_similarity(out64[new], truth[new]).mean()
    assert 0.6 < float(cos) < 0.999 and stats64["donor_rel_residual"] > 1e-3  # a real approximation
