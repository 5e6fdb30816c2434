"""Fast paths equal their readable references: memory scan (custom autograd) and step, top-k masks,
the chunked camera stem and the per-tick observation path."""

import numpy as np
import pytest
import torch

from yan_policy.data.synthetic import random_obs
from yan_policy.modules.tokenizers import CameraTokenizer, ObservationEncoder
from yan_policy.policies.config import TokenizerConfig
from yan_policy.policies.yan import memory
from yan_policy.policies.yan.configuration_yan import MemoryConfig
from yan_policy.policies.yan.memory import HISTORY_POOL, MemoryScan, MemoryState, NativeMemory
from yan_policy.policies.yan.sparse import topk_mask, topk_mask_reference

TIGHT = dict(rtol=1e-10, atol=1e-10)


@pytest.fixture(params=memory.SCAN_KERNELS)
def scan_kernel(request):
    """Run the test with each implementation of the scan's per-tick loops (numba kernels, torch ops)."""
    previous = memory.set_scan_kernel(request.param)
    yield request.param
    memory.set_scan_kernel(previous)


def _memory(d=16, d_mem=8, hidden=12, seed=0):
    torch.manual_seed(seed)
    mem = NativeMemory(d, MemoryConfig(d_mem=d_mem, hidden=hidden)).double()
    with torch.no_grad():  # livelier gates than the defaults, so every term of the gradient matters
        mem.proj.bias[-3:] = torch.tensor([-1.0, 0.5, 1.0])
    return mem


def _state(mem, batch, gen):
    """The learned initial weights plus random momenta, all requiring grad."""
    w1, w2, s1, s2 = mem.initial_state(batch)
    s1 = (0.1 * torch.randn(s1.shape, generator=gen, dtype=s1.dtype)).requires_grad_()
    s2 = (0.1 * torch.randn(s2.shape, generator=gen, dtype=s2.dtype)).requires_grad_()
    return MemoryState(w1, w2, s1, s2)


def _weighted_sum(outputs, seed=1):
    gen = torch.Generator().manual_seed(seed)
    return sum((o * torch.randn(o.shape, generator=gen, dtype=o.dtype)).sum() for o in outputs)


def _assert_matches(fast, ref, wrt=(), grad_tol=TIGHT):
    """(y, state) of a fast path equal the reference's; so do the gradients of a random weighted sum of
    them with respect to `wrt` (none: values only)."""
    (y_fast, s_fast), (y_ref, s_ref) = fast, ref
    torch.testing.assert_close(y_fast, y_ref, **TIGHT)
    for a, b in zip(s_fast, s_ref, strict=True):
        torch.testing.assert_close(a, b, **TIGHT)
    if wrt:
        g_fast = torch.autograd.grad(_weighted_sum([y_fast, *s_fast]), wrt)
        g_ref = torch.autograd.grad(_weighted_sum([y_ref, *s_ref]), wrt)
        for a, b in zip(g_fast, g_ref, strict=True):
            torch.testing.assert_close(a, b, **grad_tol)


@pytest.mark.parametrize(("batch", "t_len", "d_mem", "hidden"), [(1, 1, 8, 12), (2, 9, 8, 12), (3, 23, 5, 7)])
def test_memory_scan_matches_reference_loop_float64(batch, t_len, d_mem, hidden, scan_kernel):
    """Values, final state and gradients (inputs, parameters, initial state) of the custom autograd
    Function equal autograd through the per-tick reference loop."""
    mem = _memory(d_mem=d_mem, hidden=hidden)
    gen = torch.Generator().manual_seed(t_len)
    x = torch.randn(batch, t_len, 16, dtype=torch.float64, generator=gen, requires_grad=True)
    state = _state(mem, batch, gen)
    _assert_matches(mem(x, state), mem.forward_reference(x, state),
                    wrt=[x, state.s1, state.s2, *mem.parameters()], grad_tol=dict(rtol=1e-9, atol=1e-10))


def test_memory_scan_gradcheck(scan_kernel):
    """Finite differences on the raw Function: q, k, v, the gates alpha, eta, theta, and the state."""
    gen = torch.Generator().manual_seed(0)
    b, t, dm, hm = 2, 4, 3, 5

    def rand(*shape, scale=1.0):
        return (scale * torch.randn(*shape, dtype=torch.float64, generator=gen)).requires_grad_()

    def gate(lo, hi):  # (B, T) in [lo, hi]
        return torch.rand(b, t, dtype=torch.float64, generator=gen).mul(hi - lo).add(lo).requires_grad_()

    w1, w2 = rand(b, hm, dm), rand(b, dm, hm, scale=0.5)
    state = (w1, w2, rand(b, hm, dm, scale=0.1), rand(b, dm, hm, scale=0.1))
    gates = (gate(0.01, 0.2), gate(0.2, 0.8), gate(0.01, 0.1))  # alpha, eta, theta
    inputs = (rand(b, t, dm), rand(b, t, dm), rand(b, t, dm), *gates, *state)
    assert torch.autograd.gradcheck(MemoryScan.apply, inputs, eps=1e-6, atol=1e-6, rtol=1e-5)


def test_memory_scan_without_grad_runs_in_blocks(scan_kernel):
    """No gradient: the history-free loop reuses a block of `_SPAN` ticks (torch) or two slots (numba);
    long windows still match."""
    mem = _memory()
    t_len = 2 * memory._SPAN + 5
    x = torch.randn(2, t_len, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        state = _state(mem, 2, torch.Generator().manual_seed(4))
        _assert_matches(mem(x, state), mem.forward_reference(x, state))


def test_scan_kernels_agree_in_float32_at_the_policy_size():
    """The compiled kernels and the torch loops give the same values and gradients in float32 at the
    policy's sizes (Dm 64, Hm 128, a 250-tick window), where the kernels keep float32 arithmetic."""
    torch.manual_seed(0)
    mem = NativeMemory(128, MemoryConfig())
    with torch.no_grad():
        mem.proj.bias[-3:] = torch.tensor([-1.0, 0.5, 1.0])
    x = torch.randn(2, 250, 128, requires_grad=True)
    results = []
    for kernel in memory.SCAN_KERNELS:
        previous = memory.set_scan_kernel(kernel)
        try:
            y, state = mem(x, mem.initial_state(2))
            grads = torch.autograd.grad(_weighted_sum([y, *state]), [x, *mem.parameters()])
        finally:
            memory.set_scan_kernel(previous)
        results.append((y, state, grads))
    (y_a, s_a, g_a), (y_b, s_b, g_b) = results
    torch.testing.assert_close(y_a, y_b, rtol=1e-4, atol=1e-5)
    for a, b in zip(s_a, s_b, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    for a, b in zip(g_a, g_b, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-4 * float(b.abs().max()))


def test_scan_kernel_choice():
    """numba (a dependency) is the default; a bad name is refused, by the setter and by the env var."""
    assert memory.SCAN_KERNEL == "numba"
    with pytest.raises(ValueError, match="scan kernel 'cuda'"):
        memory.set_scan_kernel("cuda")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("YAN_MEMORY_KERNEL", "torch")
        assert memory._default_scan_kernel() == "torch"
        mp.setenv("YAN_MEMORY_KERNEL", "fast")
        with pytest.raises(ValueError, match="YAN_MEMORY_KERNEL='fast'"):
            memory._default_scan_kernel()


def test_memory_step_matches_reference_step():
    mem = _memory()
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(3, 16, dtype=torch.float64, generator=gen, requires_grad=True)
    state = _state(mem, 3, gen)
    y_ref, s_ref = mem.step_reference(x, state)
    _assert_matches(mem.step(x, state), (y_ref, s_ref), wrt=[x, state.s1, state.s2, *mem.parameters()])
    with torch.inference_mode():  # the no-autograd branch (aten's fused silu gradient)
        y_inf, _ = mem.step(x.detach(), MemoryState(*(s.detach() for s in state)))
    torch.testing.assert_close(y_inf, y_ref.detach(), **TIGHT)


def test_history_buffer_is_reused_only_after_its_graph_is_freed(scan_kernel):
    """A pooled history is never handed to another forward while a graph that saved it is alive, so a
    retained graph can be differentiated again after any number of newer forward passes."""
    HISTORY_POOL.clear()
    mem = _memory()
    x = torch.randn(2, 6, 16, dtype=torch.float64, requires_grad=True)
    y1, _ = mem(x, mem.initial_state(2))
    (g1,) = torch.autograd.grad(y1.square().sum(), x, retain_graph=True)
    for scale in (2.0, 3.0):  # each graph is freed right away: its buffer goes back to the pool
        y, _ = mem(scale * x, mem.initial_state(2))
        torch.autograd.grad(y.square().sum(), x)
        del y
    assert HISTORY_POOL._free is not None  # reused and given back, while y1's buffer stays y1's
    (again,) = torch.autograd.grad(y1.square().sum(), x)
    torch.testing.assert_close(again, g1, rtol=0, atol=0)
    del y1
    HISTORY_POOL.clear()


def test_topk_mask_equals_topk_scatter_including_ties_and_nan():
    gen = torch.Generator().manual_seed(0)
    for dtype in (torch.float32, torch.float64):
        x = torch.randn(5, 7, 64, dtype=dtype, generator=gen)
        for k in (1, 16, 63, 64):
            assert torch.equal(topk_mask(x, k), topk_mask_reference(x, k))
    ties = torch.randn(4, 32, generator=gen)
    ties[1, :10] = 5.0  # ten-way tie at the top, k = 3: falls back to topk itself
    ties[2, 3] = float("nan")
    for k in (3, 8):
        assert torch.equal(topk_mask(ties, k), topk_mask_reference(ties, k))
        assert (topk_mask(ties, k).sum(-1) == k).all()


def test_chunked_camera_stem_equals_one_pass():
    torch.manual_seed(0)
    cam = CameraTokenizer(TokenizerConfig(image_size=16, camera_channels=(4, 8), camera_grid=2)).double()
    frames = torch.randint(0, 256, (2 * cam.CHUNK + 7, 16, 16, 3), dtype=torch.uint8)
    chunked = cam(frames)
    whole = cam.stem(frames)
    torch.testing.assert_close(chunked, whole, **TIGHT)
    grads = [torch.autograd.grad(y.square().sum(), list(cam.parameters())) for y in (chunked, whole)]
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, **TIGHT)


@pytest.mark.parametrize("hw", [(32, 32), (96, 96), (48, 64)])
def test_observation_fast_path_equals_batch_validation(hw):
    """`streams_from_obs` (per-tick path) gives exactly the streams of the batch path for one tick."""
    torch.manual_seed(0)
    enc = ObservationEncoder(TokenizerConfig(), d_model=32)
    obs = random_obs(TokenizerConfig(), np.random.default_rng(0), image_hw=hw)
    for missing in (None, "camera", "audio", "joints", "imu"):
        tick = {k: v for k, v in obs.items() if k != missing}
        fast = enc.streams_from_obs(tick)
        batch = {k: v[None, None] for k, v in tick.items()}
        ref = enc.streams_from_batch(batch)
        assert fast.any_present == ref.any_present and fast.all_present == ref.all_present
        assert torch.equal(fast.present, ref.present)
        for name in ("camera", "audio", "joints", "imu"):
            a, b = getattr(fast, name), getattr(ref, name)
            assert (a is None) == (b is None) and (a is None or torch.equal(a, b))
        with torch.no_grad():
            state = enc.initial_state(1, torch.float32)
            torch.testing.assert_close(enc(fast, state)[0], enc(ref, state)[0], rtol=0, atol=0)


def test_power_spectrum_matches_abs_squared():
    audio = ObservationEncoder(TokenizerConfig(), d_model=32).double().audio
    stream = torch.randn(2, 512 + 640, dtype=torch.float64)
    frames = stream[:, audio.hop:].unfold(1, audio.n_fft, audio.hop)
    spec = torch.fft.rfft(frames * audio.window, dim=-1)
    ref = torch.log(spec.abs().square() @ audio.mel_fb + 1e-8) * 0.25 + 1.5
    torch.testing.assert_close(audio.log_mel(stream, 2).flatten(1, 2), ref, rtol=1e-12, atol=1e-12)
