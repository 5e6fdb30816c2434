"""Native memory: analytic inner gradient, recall after 1,000 distractors with no optimizer, forms agree,
and the norm bound keeps it finite over a million ticks (it lives for the robot's lifetime)."""

import math

import pytest
import torch
import torch.nn.functional as F

from yan_policy.policies.yan import memory
from yan_policy.policies.yan.configuration_yan import MemoryConfig
from yan_policy.policies.yan.memory import (
    NO_BOUNDS,
    MemoryState,
    NativeMemory,
    inner_loss_grads,
    inner_loss_grads_autograd,
    memory_read,
    memory_scan,
    memory_write,
)


def _fresh(mem: NativeMemory, batch: int = 1) -> MemoryState:
    return MemoryState(*(t.detach().clone() for t in mem.initial_state(batch)))


@pytest.mark.parametrize("batch", [1, 3])
def test_analytic_inner_gradient_matches_autograd(batch):
    gen = torch.Generator().manual_seed(batch)
    w1 = torch.randn(batch, 12, 5, dtype=torch.float64, generator=gen)
    w2 = torch.randn(batch, 5, 12, dtype=torch.float64, generator=gen)
    k, v = torch.randn(2, batch, 5, dtype=torch.float64, generator=gen)
    analytic, auto = inner_loss_grads(w1, w2, k, v), inner_loss_grads_autograd(w1, w2, k, v)
    for a, b in zip(analytic, auto, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def _recall_rank(read: torch.Tensor, target: torch.Tensor, others: torch.Tensor) -> tuple[float, int]:
    """Cosine of the read to the written value, and how many distractor values are closer."""
    cos_target = F.cosine_similarity(read, target).item()
    cos_others = F.cosine_similarity(read, others)
    return cos_target, int((cos_others >= cos_target).sum())


def test_recall_after_1000_distractors_with_explicit_gates():
    """Write k*->v* once, then 1,000 random pairs at a tenth of the strength; M(k*) still points at v*."""
    torch.manual_seed(0)
    cfg = MemoryConfig()  # default sizes: d_mem 64, hidden 128
    mem = NativeMemory(32, cfg).double()
    state = _fresh(mem)
    ones = torch.ones(1, dtype=torch.float64)
    alpha, eta, theta = 1e-4 * ones, 0.5 * ones, cfg.lr_max * ones
    key = F.normalize(torch.randn(1, cfg.d_mem, dtype=torch.float64), dim=-1)
    value = torch.randn(1, cfg.d_mem, dtype=torch.float64)
    initial_read = memory_read(state.w1, state.w2, key)
    state = memory_write(state, key, value, alpha, eta, theta)
    distractors = torch.randn(1000, cfg.d_mem, dtype=torch.float64)
    with torch.no_grad():
        for v in distractors:
            k = F.normalize(torch.randn(1, cfg.d_mem, dtype=torch.float64), dim=-1)
            state = memory_write(state, k, v[None], alpha, eta, 0.1 * theta)
    read = memory_read(state.w1, state.w2, key)
    cos, closer = _recall_rank(read, value, distractors)
    assert F.cosine_similarity(initial_read, value).abs().item() < 0.3  # not there before the write
    assert cos > 0.4 and closer == 0  # chance: cos ~ 0 +- 0.13, and ~500 of 1,000 values closer


def test_recall_through_the_layer_with_input_dependent_gates():
    """The layer's own gates decide what to write: a salient input (feature 0 high) is written strongly,
    1,000 ordinary inputs only weakly. No optimizer and no autograd are involved."""
    torch.manual_seed(1)
    d = 32
    mem = NativeMemory(d, MemoryConfig(d_mem=32, hidden=64, lr_max=0.02)).double()
    with torch.no_grad():
        dm = mem.d_mem
        mem.proj.weight[:dm] = mem.proj.weight[dm : 2 * dm]  # query projection == key projection
        mem.proj.weight[-3:] = 0.0  # gates depend on feature 0 only (salience): alpha, eta const
        mem.proj.weight[-1, 0] = 4.0  # theta logit = 4 * h_0 - 6: ordinary inputs write ~400x weaker
        mem.proj.bias[-1] = -6.0
        # no momentum: with it, a write keeps moving the memory for a few ticks after it was read
        # (values are unit vectors, so one write already lands on its value)
        mem.proj.bias[-2] = -20.0
    salient = torch.randn(1, d, dtype=torch.float64)
    salient[0, 0] = 4.0
    state = _fresh(mem)
    with torch.no_grad():
        _, state = mem.step(salient, state)
        values = []
        for _ in range(1000):
            x = torch.randn(1, d, dtype=torch.float64)
            x[0, 0] = 0.0
            values.append(mem.project(x)[2])
            _, state = mem.step(x, state)
        q, _, v_star, *_ = mem.project(salient)
        read = memory_read(state.w1, state.w2, q)
    cos, closer = _recall_rank(read, v_star, torch.cat(values))
    assert cos > 0.5 and closer == 0


def test_memory_changes_without_touching_parameters():
    torch.manual_seed(0)
    mem = NativeMemory(16, MemoryConfig(d_mem=8, hidden=16))
    params = {n: p.detach().clone() for n, p in mem.named_parameters()}
    state = _fresh(mem)
    with torch.no_grad():
        _, new = mem.step(torch.randn(1, 16), state)
    assert not torch.allclose(new.w1, state.w1) and not torch.allclose(new.w2, state.w2)
    assert all(torch.equal(p, params[n]) for n, p in mem.named_parameters())


def test_sequence_form_equals_step_loop_with_gradients():
    torch.manual_seed(0)
    mem = NativeMemory(16, MemoryConfig(d_mem=8, hidden=16)).double()
    x = torch.randn(2, 9, 16, dtype=torch.float64, requires_grad=True)
    y_seq, s_seq = mem(x, mem.initial_state(2))
    state, ys = mem.initial_state(2), []
    for t in range(9):
        y, state = mem.step(x[:, t], state)
        ys.append(y)
    y_rec = torch.stack(ys, 1)
    torch.testing.assert_close(y_seq, y_rec, rtol=1e-10, atol=1e-10)
    for a, b in zip(s_seq, state, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)
    wrt = [x, *mem.parameters()]
    g_seq = torch.autograd.grad((y_seq**2).sum() + s_seq.w2.sum(), wrt)
    g_rec = torch.autograd.grad((y_rec**2).sum() + state.w2.sum(), wrt)
    for a, b in zip(g_seq, g_rec, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-10)
    assert mem.w1_init.grad is None and g_seq[-2].abs().sum() > 0  # the initial memory is learned


def test_writes_stay_bounded_with_saturated_gates_over_a_long_episode():
    """Training once drove the momentum gate to ~1 with large values, and W1 grew linearly, then
    exploded (~5e9, NaN losses) within 300 ticks. With unit values and momentum <= momentum_max < 1,
    the memory stays bounded even with every gate at its ceiling, for 3,000 ticks."""
    torch.manual_seed(0)
    d = 64
    cfg = MemoryConfig(d_mem=32, hidden=64, forget_bias=-12.0, momentum_bias=12.0, lr_bias=12.0)
    mem = NativeMemory(d, cfg)
    x = 3.0 * torch.randn(2, 3000, d) + 1.0  # (B, T, D): large, biased inputs
    with torch.no_grad():
        _, _, _, _, eta, theta = mem.project(x)
        assert eta.min() > 0.99 * cfg.momentum_max and theta.min() > 0.99 * cfg.lr_max
        y, state = mem(x, _fresh(mem, 2))
    assert torch.isfinite(y).all()
    for name, t in zip(MemoryState._fields, state, strict=True):
        assert t.abs().max() < 50.0, (name, t.abs().max().item())


# --- the norm bound (MemoryConfig.max_norm): the memory lives for the robot's lifetime -----------------

def _unit(*shape, gen=None):
    return F.normalize(torch.randn(*shape, generator=gen), dim=-1)


def test_without_the_bound_writes_at_their_ceilings_diverge_within_a_hundred_ticks():
    """Why the bound exists: momentum_max < 1 and unit keys / values bound every single write, not their
    sum. At the default sizes with every gate at its ceiling (theta = lr_max, eta = momentum_max,
    alpha ~ 0) the unbounded writes grow past 1e4 within ~40 ticks (then NaN); bounded, they stay on the
    ball."""
    torch.manual_seed(0)
    cfg = MemoryConfig()
    mem = NativeMemory(16, cfg)
    ones = torch.ones(1)
    gates = (1e-6 * ones, cfg.momentum_max * ones, cfg.lr_max * ones)
    free = bounded = _fresh(mem)
    with torch.no_grad():
        for _ in range(100):
            k, v = _unit(2, 1, cfg.d_mem)
            free = memory_write(free, k, v, *gates)
            bounded = memory_write(bounded, k, v, *gates, mem.bounds)
    assert not free.w1.norm() < 1e4  # grown past it, or NaN
    assert bounded.w1.norm() <= mem.bounds[0] * (1 + 1e-5) and bounded.w2.norm() <= mem.bounds[1] * (1 + 1e-5)


@pytest.mark.parametrize("kernel", memory.SCAN_KERNELS)
def test_the_forms_agree_where_the_bound_acts(kernel):
    """Scan (with and without a gradient), recurrent step and reference loop give the same values, final
    states and gradients in float64 when the bound scales writes back (a window in which it acted takes
    the reference's gradient)."""
    torch.manual_seed(0)
    cfg = MemoryConfig(d_mem=8, hidden=12, lr_max=0.2, max_norm=1.05, forget_bias=-12.0, momentum_bias=12.0,
                       lr_bias=12.0)
    mem = NativeMemory(16, cfg).double()
    x = torch.randn(2, 40, 16, dtype=torch.float64, requires_grad=True)
    previous = memory.set_scan_kernel(kernel)
    try:
        with torch.no_grad():
            q, k, v, alpha, eta, theta = mem.project(x)
            *_, clamped = memory._scan_forward(q, k, v, alpha, eta, theta, _fresh(mem, 2), False, mem.bounds)
            y_free, s_free = mem(x, _fresh(mem, 2))
        y_ref, s_ref = mem.forward_reference(x, mem.initial_state(2))
        y_scan, s_scan = mem(x, mem.initial_state(2))
        state, ys = mem.initial_state(2), []
        for t in range(x.shape[1]):
            y, state = mem.step(x[:, t], state)
            ys.append(y)
        y_step = torch.stack(ys, 1)
    finally:
        memory.set_scan_kernel(previous)
    assert clamped > 20  # the bound acted on most ticks
    assert float(s_ref.w1.detach().norm(dim=(1, 2)).max()) == pytest.approx(mem.bounds[0])
    for y, s in ((y_free, s_free), (y_scan, s_scan), (y_step, state)):
        torch.testing.assert_close(y, y_ref, rtol=1e-9, atol=1e-10)
        for a, b in zip(s, s_ref, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)
    wrt = [x, *mem.parameters()]
    g_ref = torch.autograd.grad((y_ref**2).sum() + s_ref.w2.sum(), wrt)
    for y, s in ((y_scan, s_scan), (y_step, state)):
        for a, b in zip(torch.autograd.grad((y**2).sum() + s.w2.sum(), wrt), g_ref, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-9 * float(b.abs().max()))


def test_memory_stays_bounded_over_a_million_ticks():
    """5.5 hours at 50 Hz of writes with every gate at its ceiling (where the unbounded memory diverges in
    ~40 ticks), through the fast scan in 100k-tick windows: every window's state is finite and on its
    ball, and every read is finite with |y| <= R1 R2 (|silu(x)| <= |x|)."""
    torch.manual_seed(0)
    cfg = MemoryConfig(d_mem=8, hidden=16, lr_max=0.1)
    mem = NativeMemory(8, cfg)
    r1, r2 = mem.bounds
    gen = torch.Generator().manual_seed(1)
    window = 100_000
    ones = torch.ones(1, window)
    gates = (1e-6 * ones, cfg.momentum_max * ones, cfg.lr_max * ones)
    state, peak = _fresh(mem), [0.0, 0.0]
    with torch.no_grad():
        for _ in range(10):
            q, k, v = _unit(3, 1, window, cfg.d_mem, gen=gen)
            reads, state = memory_scan(q, k, v, *gates, state, mem.bounds)  # (1, T, Dm)
            assert torch.isfinite(reads).all() and reads.abs().max() <= r1 * r2
            assert all(torch.isfinite(t).all() for t in state)
            norms = [float(state.w1.norm()), float(state.w2.norm())]
            assert norms[0] <= r1 * (1 + 1e-5) and norms[1] <= r2 * (1 + 1e-5), norms
            peak = [max(a, b) for a, b in zip(peak, norms, strict=True)]
    assert peak[0] > 0.99 * r1 or peak[1] > 0.99 * r2  # the bound, not the gates, held it
    assert math.isfinite(max(float(t.abs().max()) for t in state))


def test_the_bound_does_not_touch_the_memory_at_the_default_gates():
    """At the learned init with the default gates the norms shrink: the bound never acts, so what the
    memory computed before the bound existed is unchanged (the default max_norm = 4)."""
    torch.manual_seed(0)
    mem = NativeMemory(32, MemoryConfig())
    x = 3.0 * torch.randn(1, 2000, 32) + 1.0  # large, biased inputs
    with torch.no_grad():
        q, k, v, alpha, eta, theta = mem.project(x)
        bounded = memory._scan_forward(q, k, v, alpha, eta, theta, _fresh(mem), False, mem.bounds)
        free = memory._scan_forward(q, k, v, alpha, eta, theta, _fresh(mem), False, NO_BOUNDS)
    assert bounded[3] == 0
    torch.testing.assert_close(bounded[0], free[0], rtol=0, atol=0)


# --- the forget gate's bound (MemoryConfig.forget_max): what the memory keeps across tries -----------------

def test_forget_max_bounds_the_forget_gate_and_keeps_the_memory_through_a_long_stream():
    """With the forget gate pushed wide open (as training left it: the trained memory emptied itself within
    300 ticks of listening), the free gate (forget_max 1) erases the memory; forget_max 1e-3 keeps at least
    (1 - 1e-3)^300 ~ 74 % of it, whatever the input asks for."""
    torch.manual_seed(0)
    d, ticks = 64, 300
    x = torch.randn(1, ticks, d)  # (B, T, D)
    kept = {}
    for forget_max in (1.0, 1e-3):
        torch.manual_seed(1)  # the same weights for both
        cfg = MemoryConfig(d_mem=32, hidden=64, forget_bias=12.0, lr_bias=-20.0, forget_max=forget_max)
        mem = NativeMemory(d, cfg)
        with torch.no_grad():
            alpha = mem.project(x)[3]  # (B, T)
            assert alpha.max() <= forget_max and alpha.min() > 0.9 * forget_max  # near its ceiling
            start = _fresh(mem)
            _, end = mem(x, start)
        kept[forget_max] = (end.w1.norm() / start.w1.norm()).item()
    assert kept[1.0] < 1e-30  # (1 - ~0.99)^300: nothing left
    assert kept[1e-3] > (1 - 1e-3) ** ticks - 0.01


@pytest.mark.parametrize("forget_max", [0.0, -0.1, 1.5])
def test_forget_max_outside_its_range_is_refused(forget_max):
    with pytest.raises(ValueError, match="forget_max must be in"):
        MemoryConfig(forget_max=forget_max)
