"""Sparse top-k MLP: the gathered path equals the dense computation with the same mask."""

import pytest
import torch
import torch.nn.functional as F

from yan_policy.policies.yan.configuration_yan import SparseConfig
from yan_policy.policies.yan.sparse import SparseMLP


def _mlp(fraction=0.25, d=16, mult=4, seed=0):
    torch.manual_seed(seed)
    return SparseMLP(d, SparseConfig(hidden_mult=mult, active_fraction=fraction, scorer_rank=4)).double()


def _reference_dense(mlp, h):
    """The gated MLP written out with its three weight matrices."""
    w_gate, w_up, w_down = mlp.w[:, 0], mlp.w[:, 1], mlp.w[:, 2].T  # (H, D), (H, D), (D, H)
    return (F.silu(h @ w_gate.T) * (h @ w_up.T)) @ w_down.T


@pytest.mark.parametrize("batch", [1, 5])
def test_sparse_path_equals_dense_with_same_mask(batch):
    mlp = _mlp()
    h = torch.randn(batch, 16, dtype=torch.float64)
    idx = mlp.select(h)  # (N, K)
    assert idx.shape == (batch, mlp.k) and mlp.k == 16
    mask = torch.zeros(batch, mlp.hidden, dtype=torch.float64).scatter_(1, idx, 1.0)
    torch.testing.assert_close(mlp.sparse(h, idx), mlp.dense(h, mask), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(mlp.step(h), mlp.dense(h, mask), rtol=1e-12, atol=1e-12)
    # the sparse output really drops the unselected neurons
    assert not torch.allclose(mlp.sparse(h, idx), _reference_dense(mlp, h))


def test_training_forward_equals_inference_step():
    mlp = _mlp()
    h = torch.randn(3, 7, 16, dtype=torch.float64)
    y, aux = mlp(h)
    torch.testing.assert_close(y.reshape(21, 16), mlp.step(h.reshape(21, 16)), rtol=1e-12, atol=1e-12)
    assert aux.item() > 0


@pytest.mark.parametrize("batch", [1, 4])
def test_topk_all_equals_dense_mlp(batch):
    mlp = _mlp(fraction=1.0)
    h = torch.randn(batch, 16, dtype=torch.float64)
    ref = _reference_dense(mlp, h)
    assert mlp.k == mlp.hidden
    torch.testing.assert_close(mlp.dense(h), ref)
    torch.testing.assert_close(mlp.sparse(h, torch.arange(mlp.hidden).expand(batch, -1)), ref)
    torch.testing.assert_close(mlp.step(h), ref)
    torch.testing.assert_close(mlp(h)[0], ref)


def test_selection_depends_on_the_input():
    mlp = _mlp()
    idx = mlp.select(torch.randn(8, 16, dtype=torch.float64)).sort(-1).values
    assert len({tuple(row.tolist()) for row in idx}) > 1


def test_flops_report():
    mlp = _mlp(d=256, fraction=0.25)
    report = mlp.flops()
    assert report["active_fraction"] == 0.25
    d, h, k, r = 256, 1024, 256, 4
    assert report["flops_dense"] == 6 * d * h
    assert report["flops_sparse"] == 6 * d * k + 2 * (d * r + r * h)
    assert 0.7 < report["flops_saved_fraction"] < 0.75


def test_scorer_learns_to_predict_the_active_neurons():
    """The auxiliary loss alone (no task) makes the scorer pick the neurons that fire, far above chance."""
    torch.manual_seed(0)
    mlp = SparseMLP(16, SparseConfig(hidden_mult=4, active_fraction=0.25, scorer_rank=8))
    h = torch.randn(512, 16)
    with torch.no_grad():
        oracle = mlp.firing(h @ mlp.w[:, 0].T)

    def overlap():
        with torch.no_grad():
            sel = mlp.select(h)
        return (
            torch.tensor([len(set(a.tolist()) & set(b.tolist())) for a, b in zip(sel, oracle, strict=True)])
            .float()
            .mean()
            .item()
            / mlp.k
        )

    before = overlap()
    opt = torch.optim.Adam([p for n, p in mlp.named_parameters() if "scorer" in n], lr=1e-2)
    for _ in range(150):
        _, aux = mlp(h)
        opt.zero_grad()
        aux.backward()
        opt.step()
    after = overlap()
    assert before < 0.4 and after > 0.6  # chance is k / H = 0.25
