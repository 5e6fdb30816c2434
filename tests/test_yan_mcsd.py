"""MCSD backbone: parallel (chunked) vs recurrent (step) vs naive reference, in float64."""

import math

import numpy as np
import pytest
import torch

from yan_policy.data.synthetic import tiny_config
from yan_policy.policies.yan.configuration_yan import MCSDConfig, MemoryConfig, SparseConfig
from yan_policy.policies.yan.mcsd import (
    MCSDBlock,
    MCSDState,
    SelectiveGates,
    channel_rates,
    mcsd_scan_chunked,
    mcsd_scan_naive,
    selective_scan_chunked,
    selective_scan_naive,
)
from yan_policy.policies.yan.modeling_yan import YanBackbone

TOL = dict(rtol=1e-6, atol=1e-6)


# seeded random lengths, plus edge cases: 1, exactly one chunk (8), and lengths not divisible by it
LENGTHS = sorted({1, 8, 17, *np.random.default_rng(0).integers(2, 40, size=4).tolist()})


def _grads(outputs, inputs):
    """Gradients of a fixed random projection of all outputs w.r.t. inputs."""
    gen = torch.Generator().manual_seed(7)
    total = sum((o * torch.randn(o.shape, generator=gen, dtype=o.dtype)).sum() for o in outputs)
    return torch.autograd.grad(total, inputs)


def _close(a, b):
    for x, y in zip(a, b, strict=True):
        torch.testing.assert_close(x, y, **TOL)


def test_channel_rates_follow_the_design():
    gamma, alpha = channel_rates(8)
    beta = torch.tensor([2.0 ** -(i + 1) for i in range(8)], dtype=torch.float64)  # (2^(-8/C))^(i+1), C = 8
    torch.testing.assert_close(-torch.log(gamma), beta)
    alpha_ref = torch.tensor([1 - 2.0 ** (-5 - i) for i in range(8)], dtype=torch.float64)
    torch.testing.assert_close(alpha, alpha_ref)


def _random_scan_inputs(t_len, b=2, c=4, dc=3, seed=0):
    gen = torch.Generator().manual_seed(seed)
    v = torch.randn(b, t_len, c, dc, dtype=torch.float64, generator=gen, requires_grad=True)
    e = torch.randn(b, t_len, c, dc, dtype=torch.float64, generator=gen, requires_grad=True)
    s0 = torch.randn(b, c, dc, dtype=torch.float64, generator=gen, requires_grad=True)
    z0 = (1.0 + 3 * torch.rand(b, c, 1, dtype=torch.float64, generator=gen)).requires_grad_()
    d0 = torch.randn(b, c, dc, dtype=torch.float64, generator=gen, requires_grad=True)
    return v, e, MCSDState(s0, z0, d0)


@pytest.mark.parametrize("t_len", LENGTHS)
def test_scan_chunked_equals_naive(t_len):
    v, e, state = _random_scan_inputs(t_len)
    gamma, alpha = channel_rates(4)
    ref = mcsd_scan_naive(v, e, state, gamma, alpha)
    par = mcsd_scan_chunked(v, e, state, gamma, alpha, chunk=8)
    flat_ref, flat_par = [ref[0], ref[1], *ref[2]], [par[0], par[1], *par[2]]
    _close(flat_ref, flat_par)
    inputs = [v, e, *state]
    _close(_grads(flat_ref, inputs), _grads(flat_par, inputs))


def test_slope_is_a_normalised_running_mean():
    """From a fresh state s_t is the exp-weighted mean of v_1..v_t, with weights gamma^(t-j) / Z_t."""
    v = torch.randn(1, 12, 1, 1, dtype=torch.float64)
    gamma, alpha = channel_rates(1)
    zero = MCSDState(
        torch.zeros(1, 1, 1, dtype=torch.float64),
        torch.zeros(1, 1, 1, dtype=torch.float64),
        torch.zeros(1, 1, 1, dtype=torch.float64),
    )
    s, _, state = mcsd_scan_chunked(v, v, zero, gamma, alpha, chunk=5)
    g = gamma.item()
    weights = torch.tensor([g ** (11 - j) for j in range(12)], dtype=torch.float64)
    torch.testing.assert_close(s[0, -1, 0, 0], (weights * v.flatten()).sum() / weights.sum())
    assert math.isclose(state.z.item(), weights.sum().item())


def _randomize_gates(module):
    """Selective gates start at the paper's fixed rates (zero weights); give them input dependence."""
    gen = torch.Generator().manual_seed(11)
    for block in [m for m in module.modules() if isinstance(m, MCSDBlock) and m.selective]:
        d = block.c * block.dc
        with torch.no_grad():
            w = block.in_proj.weight[4 * d:]
            w.copy_(torch.randn(w.shape, generator=gen, dtype=w.dtype) / math.sqrt(d))
            block.gate_bias.add_(0.3 * torch.randn(block.gate_bias.shape, generator=gen, dtype=w.dtype))
    return module


def _block(seed=0, selective=False):
    torch.manual_seed(seed)
    sparse = SparseConfig(hidden_mult=2, active_fraction=0.5, scorer_rank=4)
    block = MCSDBlock(16, MCSDConfig(n_channels=4, scan_chunk=8, selective=selective), sparse, n_layers=2)
    return _randomize_gates(block.double())


def _gates(pre):
    """Gate pre-activations (4, B, T, C, 1) -> selective rates (a fresh graph per call)."""
    return SelectiveGates(-torch.nn.functional.softplus(pre[0] - 3.0), torch.sigmoid(pre[1]),
                          -0.5 * torch.sigmoid(pre[2]), torch.nn.functional.softplus(pre[3]))


@pytest.mark.parametrize("t_len", LENGTHS)
def test_selective_scan_chunked_equals_naive(t_len):
    v, e, state = _random_scan_inputs(t_len)
    gen = torch.Generator().manual_seed(t_len)
    pre = torch.randn(4, 2, t_len, 4, 1, dtype=torch.float64, generator=gen, requires_grad=True)
    ref = selective_scan_naive(v, e, state, _gates(pre))
    par = selective_scan_chunked(v, e, state, _gates(pre), chunk=8)
    flat_ref, flat_par = [ref[0], ref[1], *ref[2]], [par[0], par[1], *par[2]]
    _close(flat_ref, flat_par)
    inputs = [v, e, pre, *state]
    _close(_grads(flat_ref, inputs), _grads(flat_par, inputs))


def test_selective_scan_reduces_to_the_paper_at_its_rates():
    """With a_t = alpha, b_t = alpha, lambda_t = gamma, g_t = 1 the selective scan is the fixed-rate one."""
    v, e, state = _random_scan_inputs(13)
    gamma, alpha = channel_rates(4)
    shape = (2, 13, 4, 1)
    a_col, g_col = alpha[:, None].expand(shape), gamma[:, None].expand(shape)
    gates = SelectiveGates(a_col.log(), a_col, g_col.log(), torch.ones(shape, dtype=torch.float64))
    ref = mcsd_scan_naive(v, e, state, gamma, alpha)
    sel = selective_scan_chunked(v, e, state, gates, chunk=8)
    _close([ref[0], ref[1], *ref[2]], [sel[0], sel[1], *sel[2]])


def test_selective_block_starts_at_the_paper_rates():
    torch.manual_seed(0)
    sparse = SparseConfig(hidden_mult=2, active_fraction=0.5, scorer_rank=4)
    block = MCSDBlock(16, MCSDConfig(n_channels=4, scan_chunk=8, selective=True), sparse, n_layers=2).double()
    gates = block.gates(torch.zeros(3, 4, 4, dtype=torch.float64))  # (3, C, 1) each
    gamma, alpha = channel_rates(4)
    torch.testing.assert_close(gates.log_a.exp()[0, :, 0], alpha)
    torch.testing.assert_close(gates.log_lam.exp()[0, :, 0], gamma)
    torch.testing.assert_close(gates.g[0, :, 0], torch.ones(4, dtype=torch.float64))


def _step_loop(module, x, state):
    ys = []
    for t in range(x.shape[1]):
        y, state = module.step(x[:, t], state)
        ys.append(y)
    return torch.stack(ys, 1), state


@pytest.mark.parametrize("selective", [False, True])
@pytest.mark.parametrize("t_len", LENGTHS)
def test_block_parallel_recurrent_naive_agree(t_len, selective):
    block = _block(selective=selective)
    gen = torch.Generator().manual_seed(t_len)
    x = torch.randn(2, t_len, 16, dtype=torch.float64, generator=gen, requires_grad=True)
    state = MCSDState(
        *(
            t.clone() + 0.1 * torch.rand(t.shape, generator=gen, dtype=torch.float64)
            for t in block.initial_state(2, torch.float64)
        )
    )
    y_par, s_par, _ = block(x, state)
    y_naive, s_naive, _ = block(x, state, naive=True)
    y_rec, s_rec = _step_loop(block, x, state)
    outs = {
        name: [y, *s]
        for name, (y, s) in {
            "par": (y_par, s_par),
            "naive": (y_naive, s_naive),
            "rec": (y_rec, s_rec),
        }.items()
    }
    _close(outs["naive"], outs["par"])
    _close(outs["naive"], outs["rec"])
    wrt = [x, *_grad_params(block)]
    g_naive = _grads(outs["naive"], wrt)
    _close(g_naive, _grads(outs["par"], wrt))
    _close(g_naive, _grads(outs["rec"], wrt))


def _backbone(selective=False):
    torch.manual_seed(0)
    cfg = tiny_config(mcsd=MCSDConfig(n_channels=4, scan_chunk=8, selective=selective))
    return _randomize_gates(YanBackbone(cfg).double())


def _grad_params(module):
    # the scorer is trained only by its auxiliary loss (top-k is not differentiable): leave it out here
    return [p for n, p in module.named_parameters() if "scorer" not in n]


@pytest.mark.parametrize("selective", [False, True])
@pytest.mark.parametrize("t_len", [5, 19])
def test_backbone_with_memory_forms_agree(t_len, selective):
    bb = _backbone(selective)
    x = torch.randn(2, t_len, 32, dtype=torch.float64, requires_grad=True)
    state = bb.initial_state(2, torch.float64)
    y_par, s_par, _ = bb(x, state)
    y_naive, s_naive, _ = bb(x, state, naive=True)
    y_rec, s_rec = _step_loop(bb, x, state)
    keys = sorted(s_par)
    assert keys == sorted(s_rec) == sorted(state)
    runs = ((y_par, s_par), (y_naive, s_naive), (y_rec, s_rec))
    par, naive, rec = ([y, *(s[k] for k in keys)] for y, s in runs)
    _close(naive, par)
    _close(naive, rec)
    wrt = [x, *_grad_params(bb)]
    g_par = _grads(par, wrt)
    _close(g_par, _grads(rec, wrt))
    _close(g_par, _grads(naive, wrt))
    assert all(g.abs().sum() > 0 for g in g_par)  # every parameter (memory included) is trained


@pytest.mark.parametrize("selective", [False, True])
@pytest.mark.parametrize("split", [1, 8, 13])
def test_resume_from_state_equals_whole_run(split, selective):
    bb = _backbone(selective)
    x = torch.randn(1, 21, 32, dtype=torch.float64)
    state = bb.initial_state(1, torch.float64)
    with torch.no_grad():
        y_whole, s_whole, _ = bb(x, state)
        y_a, s_a, _ = bb(x[:, :split], state)
        y_b, s_b, _ = bb(x[:, split:], s_a)  # parallel form resumed from a parallel-form state
        y_c, s_c = _step_loop(bb, x[:, split:], s_a)  # recurrent form resumed from it
    torch.testing.assert_close(torch.cat([y_a, y_b], 1), y_whole, **TOL)
    torch.testing.assert_close(torch.cat([y_a, y_c], 1), y_whole, **TOL)
    for k in s_whole:
        torch.testing.assert_close(s_b[k], s_whole[k], **TOL)
        torch.testing.assert_close(s_c[k], s_whole[k], **TOL)


def test_state_has_constant_size():
    bb = _backbone()
    state = bb.initial_state(1, torch.float64)
    sizes = {k: v.shape for k, v in state.items()}
    with torch.no_grad():
        _, state, _ = bb(torch.randn(1, 300, 32, dtype=torch.float64), state)
        _, state = bb.step(torch.randn(1, 32, dtype=torch.float64), state)
    assert {k: v.shape for k, v in state.items()} == sizes


@pytest.mark.parametrize("selective", [False, True])
def test_float32_chunked_matches_recurrent_over_long_context(selective):
    """In float32 over 2,000 ticks the two forms stay close (no drift from the decay sums)."""
    torch.manual_seed(0)
    mcsd = MCSDConfig(n_channels=4, scan_chunk=8, selective=selective)
    bb = _randomize_gates(YanBackbone(tiny_config(memory=MemoryConfig(enabled=False), mcsd=mcsd)))
    x = torch.randn(1, 2000, 32)
    with torch.no_grad():
        y_par, s_par, _ = bb(x, bb.initial_state(1, torch.float32))
        y_rec, s_rec = _step_loop(bb, x[:, -50:], bb(x[:, :-50], bb.initial_state(1, torch.float32))[1])
    torch.testing.assert_close(y_rec, y_par[:, -50:], rtol=1e-4, atol=1e-4)
