"""Native memory (Titans-style, DESIGN.md section 5): an MLP whose weights are written at inference.

Dimension letters: B batch, T time, D model width, Dm key/value width, Hm memory hidden width.

The memory is M(x) = W2 silu(W1 x) with per-sample weights W1 (Hm, Dm), W2 (Dm, Hm). From the
normalised input h_t of each tick the layer projects a query q_t, key k_t and value v_t (all three
L2-normalised) and three gates: forget alpha_t = forget_max * sigmoid(.), momentum
eta_t = momentum_max * sigmoid(.) and inner learning rate theta_t = lr_max * sigmoid(.). Then, with no
optimizer:

    loss_t = || M_{t-1}(k_t) - v_t ||²                 (associative recall error)
    S_t    = eta_t S_{t-1} - theta_t grad_W loss_t      (surprise with momentum)
    M_t    = (1 - alpha_t) M_{t-1} + S_t                (forgetting)
    y_t    = M_t(q_t);   out_t = x_t + W_O y_t          (read after the write, residual)

Stability: the writes are gradient descent with momentum on the recall error, which diverges when the
momentum reaches 1 or the targets grow without bound (training did both: docs/experiments.md,
2026-11-23: memory write stability). Unit values and momentum_max < 1 keep every write a bounded, damped
step, but not the sum of many: with theta_t and eta_t at their ceilings and alpha_t ~ 0, the default sizes
reached NaN within ~50 ticks. The memory lives for the robot's lifetime (hours of ticks, carried across
tries and saved with the skill library), so every form bounds it: after each write, each layer is scaled
back onto its norm ball (`bound_norms`, radius `MemoryConfig.max_norm` times its norm at initialisation),
    W_t <- W_t min(1, R / ||W_t||_F)                    (per sample and layer; S_t is left as it is)
Bounded weights give bounded reads, errors and gradients, so S_t (a damped sum, eta < 1) stays bounded
too. At the default gates the norms shrink instead, so the bound acts only on a memory that was on its
way to diverging; the fast backward does not cover it, so a training window in which it acted is
recomputed by the reference (`memory_scan`).

The gradient is written out by hand: for each layer it is an outer product of two vectors
(`inner_loss_grad_factors`; `inner_loss_grads` forms the matrices), checked against the torch.func
reference `inner_loss_grads_autograd`. The weights and momenta (W1, W2, S1, S2) are the layer's
recurrent state: constant size, saved and restored with the rest of the policy state. Their starting
values are learned parameters, and the projections and gates are learned by backpropagating through
the unrolled writes. A write depends on the previous one, so the sequence form loops over T.

Two implementations of the sequence form compute the same function:
    * `NativeMemory.forward_reference`: `memory_write` + `memory_read` per tick under autograd. Readable,
      and the reference for tests; autograd records ~50 tiny ops per tick and replays them backwards.
    * `NativeMemory.forward` -> `memory_scan`: the fast path (`MemoryScan`, a custom autograd Function).
      Its forward loop runs without an autograd graph and keeps every tick's (W, S) in one preallocated
      (and pooled, see `_HistoryPool`) history buffer; its backward is a hand-written reverse-time loop
      over the same equations (derivation in `_scan_backward`). Per tick it issues ~9 ops forward and
      ~13 backward, none of them an allocation of a (Hm, Dm) matrix. Everything that does not depend on
      the previous tick (the reads y_t = M_t(q_t) and their gradients, silu' and silu'' of the stored
      pre-activations, the gradients of k, v and the gates) is batched over all T ticks outside the
      loops. Internally W2 and S2 are stored transposed, (Hm, Dm) like W1, so both layers share one
      tensor and every matrix-vector product is a row vector times a matrix (`bmm` of (B, 1, n) by
      (B, n, m), the fast batched form on CPU). ~3x faster than the reference for B = 4, T = 200.
      Values and gradients are checked against the reference in float64, plus `gradcheck`
      (tests/test_yan_fastpaths.py, and the backbone's naive-vs-parallel test in test_yan_mcsd.py).
      The two per-tick loops (forward and backward) run either as the torch ops above or, by default,
      compiled and fused in `memory_kernels` (numba: two passes over the state per tick
      instead of ~9 / ~13 ops), ~2.5x faster again for B = 2, T = 250 in float32 (`SCAN_KERNEL`,
      `set_scan_kernel`, env `YAN_MEMORY_KERNEL`); the tests run both.
The recurrent form likewise has `NativeMemory.step` (fused, ~25 ops) beside `step_reference`.
"""

from __future__ import annotations

import importlib.util
import math
import os
import threading
import weakref
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

from yan_policy.policies.yan.configuration_yan import MemoryConfig


class MemoryState(NamedTuple):
    w1: torch.Tensor  # (B, Hm, Dm)
    w2: torch.Tensor  # (B, Dm, Hm)
    s1: torch.Tensor  # (B, Hm, Dm) momentum ("surprise") of W1
    s2: torch.Tensor  # (B, Dm, Hm)


def _matvec(w: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Per-sample matrix-vector product: w (B, m, n), x (B, n) -> (B, m)."""
    if w.shape[0] == 1:  # one robot: bmm is the fastest CPU path
        return torch.bmm(w, x[..., None]).squeeze(-1)
    return torch.linalg.vecdot(w, x[:, None, :])  # bmm is ~3x slower for small batched matvecs


def memory_read(w1: torch.Tensor, w2: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """M(x) = W2 silu(W1 x): x (B, Dm) -> (B, Dm)."""
    return _matvec(w2, F.silu(_matvec(w1, x)))


def inner_loss_grad_factors(w1: torch.Tensor, w2: torch.Tensor, k: torch.Tensor, v: torch.Tensor
                            ) -> tuple[torch.Tensor, torch.Tensor]:
    """The gradient of ||M(k) - v||² is rank one per layer: grad W1 = dh ⊗ k, grad W2 = err ⊗ a.

    k, v (B, Dm) -> dh (B, Hm) and err (B, Dm), with a = silu(W1 k) returned as the third factor.
    """
    h = _matvec(w1, k)  # (B, Hm)
    sig = torch.sigmoid(h)
    a = h * sig  # (B, Hm): silu(h)
    err = 2.0 * (_matvec(w2, a) - v)  # (B, Dm): d loss / d M(k)
    dh = _matvec(w2.transpose(1, 2), err) * (sig * (1.0 + h * (1.0 - sig)))  # (B, Hm): through silu'
    return dh, err, a


def inner_loss_grads(w1: torch.Tensor, w2: torch.Tensor, k: torch.Tensor, v: torch.Tensor
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """Analytic gradient of ||M(k) - v||² w.r.t. (W1 (B, Hm, Dm), W2 (B, Dm, Hm)), per sample."""
    dh, err, a = inner_loss_grad_factors(w1, w2, k, v)
    return dh[:, :, None] * k[:, None, :], err[:, :, None] * a[:, None, :]


def inner_loss_grads_autograd(w1: torch.Tensor, w2: torch.Tensor, k: torch.Tensor, v: torch.Tensor
                              ) -> tuple[torch.Tensor, torch.Tensor]:
    """Reference for `inner_loss_grads` with torch.func (per-sample grad via vmap)."""
    def loss(a, b, key, value):
        return (b @ F.silu(a @ key) - value).square().sum()

    return torch.func.vmap(torch.func.grad(loss, argnums=(0, 1)))(w1, w2, k, v)


NO_BOUNDS = (math.inf, math.inf)


def norm_bounds(cfg: MemoryConfig) -> tuple[float, float]:
    """The Frobenius-norm bounds of (W1, W2) per sample: `cfg.max_norm` times each layer's norm at
    initialisation (W1 ~ N(0, 1) (Hm, Dm): sqrt(Hm Dm); W2 ~ N(0, 1 / Hm) (Dm, Hm): sqrt(Dm))."""
    return cfg.max_norm * math.sqrt(cfg.hidden * cfg.d_mem), cfg.max_norm * math.sqrt(cfg.d_mem)


def bound_norms(w1: torch.Tensor, w2: torch.Tensor, bounds: tuple[float, float]
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """W1, W2 (B, m, n) each scaled back onto its norm ball, W <- W min(1, bound / ||W||_F), per sample.

    Under autograd the scale is always applied (it is 1 inside the ball, with a zero gradient), so the
    gradient is exact; otherwise only where a norm is over its bound (the common case costs two norms).
    """
    if bounds == NO_BOUNDS:
        return w1, w2
    n1, n2 = torch.linalg.vector_norm(w1, dim=(1, 2)), torch.linalg.vector_norm(w2, dim=(1, 2))  # (B,)
    recording = torch.is_grad_enabled() and (w1.requires_grad or w2.requires_grad)
    if not recording and max(n1.tolist()) <= bounds[0] and max(n2.tolist()) <= bounds[1]:  # (no tensor ops)
        return w1, w2
    scale1 = bounds[0] / n1.clamp_min(bounds[0])  # (B,) min(1, bound / norm), never a division by 0
    scale2 = bounds[1] / n2.clamp_min(bounds[1])
    return w1 * scale1[:, None, None], w2 * scale2[:, None, None]


def memory_write(state: MemoryState, k: torch.Tensor, v: torch.Tensor, alpha: torch.Tensor,
                 eta: torch.Tensor, theta: torch.Tensor, bounds: tuple[float, float] = NO_BOUNDS
                 ) -> MemoryState:
    """One write without an optimizer. k, v (B, Dm); gates alpha, eta, theta (B,); `bounds` (W1, W2):
    Frobenius-norm bounds (`bound_norms`, `norm_bounds`).

    S = eta S - theta grad and W = bound((1 - alpha) W + S), with theta applied to the gradient's small
    factor before the outer product (addcmul): three (Hm x Dm) passes per matrix instead of seven.
    """
    dh, err, a = inner_loss_grad_factors(state.w1, state.w2, k, v)
    keep, eta, theta = (1.0 - alpha)[:, None, None], eta[:, None, None], theta[:, None]
    s1 = torch.addcmul(eta * state.s1, (theta * dh)[:, :, None], k[:, None, :], value=-1.0)  # (B, Hm, Dm)
    s2 = torch.addcmul(eta * state.s2, (theta * err)[:, :, None], a[:, None, :], value=-1.0)  # (B, Dm, Hm)
    w1, w2 = bound_norms(torch.addcmul(s1, keep, state.w1), torch.addcmul(s2, keep, state.w2), bounds)
    return MemoryState(w1, w2, s1, s2)


# ----------------------------------------------------------------------------- fast sequence form

SCAN_KERNELS = ("numba", "torch")


def _default_scan_kernel() -> str:
    """`YAN_MEMORY_KERNEL` (numba or torch) if set; else numba when it imports, else torch."""
    name = os.environ.get("YAN_MEMORY_KERNEL", "")
    if name:
        if name not in SCAN_KERNELS:
            raise ValueError(f"YAN_MEMORY_KERNEL={name!r}: expected one of {SCAN_KERNELS}")
        return name
    # find_spec, not import: importing numba takes ~0.5 s, paid only where a NativeMemory is built
    return "numba" if importlib.util.find_spec("numba") is not None else "torch"


# Which loops run the scan's ticks: "numba" (`memory_kernels`, compiled) or "torch" (ops per tick). Both
# compute the same function; see `set_scan_kernel`.
SCAN_KERNEL = _default_scan_kernel()


def set_scan_kernel(name: str) -> str:
    """Select the scan's per-tick loops ("numba" or "torch"); returns the previous choice."""
    global SCAN_KERNEL
    if name not in SCAN_KERNELS:
        raise ValueError(f"scan kernel {name!r}: expected one of {SCAN_KERNELS}")
    previous, SCAN_KERNEL = SCAN_KERNEL, name
    return previous


def _kernels():
    from yan_policy.policies.yan import memory_kernels  # imported on first use: numba loads in ~0.5 s

    return memory_kernels


_SPAN = 16  # ticks per history block when no gradient is needed (bounds the buffer for long windows)
_silu_out = torch.ops.aten.silu.out  # silu(x, out=...): writes straight into a slot of a buffer
_silu_grad_out = torch.ops.aten.silu_backward.grad_input  # g * silu'(h) into a buffer slot


class _HistoryPool:
    """Keeps the largest released history buffer for the next call.

    A history is ~100 MB (B = 4, T = 200); a fresh allocation that large is mapped anew by the OS on
    every training step, and its page faults cost more than the writes themselves (~4x). A training
    buffer goes back into the pool only when its autograd graph is freed (a finalizer on the node's
    context), so no graph that may still be differentiated can see it reused; the no-gradient loop
    gives its block buffer back when it returns. `HISTORY_POOL.clear()` frees the kept buffer.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._free: torch.Tensor | None = None  # flat buffer

    def take(self, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
        n = math.prod(shape)
        with self._lock:
            buf = self._free
            if buf is not None and buf.dtype == like.dtype and buf.device == like.device and buf.numel() >= n:
                self._free = None
                return buf[:n].view(shape)
        return like.new_empty(shape)

    def give(self, buf: torch.Tensor) -> None:
        base = buf if buf._base is None else buf._base
        if base.is_inference():  # could not be written outside inference mode: let it go
            return
        with self._lock:
            if self._free is None or base.numel() >= self._free.numel():
                self._free = base.view(-1)

    def clear(self) -> None:
        with self._lock:
            self._free = None


HISTORY_POOL = _HistoryPool()


def _silu_grad(g: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """g * silu'(h): aten's fused kernel, or (it has no derivative) the formula when autograd records."""
    if torch.is_grad_enabled() and (g.requires_grad or h.requires_grad):
        sig = torch.sigmoid(h)
        return g * (sig * (1.0 + h * (1.0 - sig)))
    return torch.ops.aten.silu_backward(g, h)


def _silu_grad2(h: torch.Tensor) -> torch.Tensor:
    """silu''(h) = sig (1 - sig) (2 + h (1 - 2 sig)), elementwise."""
    sig = torch.sigmoid(h)
    return sig * (1.0 - sig) * (2.0 + h * (1.0 - 2.0 * sig))


def _scan_forward(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, alpha: torch.Tensor, eta: torch.Tensor,
                  theta: torch.Tensor, state: MemoryState, keep_history: bool,
                  bounds: tuple[float, float] = NO_BOUNDS
                  ) -> tuple[torch.Tensor, MemoryState, tuple[torch.Tensor, ...], int]:
    """The writes and reads of `NativeMemory.forward_reference`, without autograd.

    q, k, v (B, T, Dm), gates (B, T), `bounds` as in `memory_write`. Returns reads (B, T, Dm), the final
    state, the number of (tick, sample) writes the bounds scaled back (0: `_scan_backward` is exact; it
    does not cover the bound) and, with keep_history, what `_scan_backward` needs: hist (2 [W, S],
    2 [layer 1, layer 2ᵀ], T + 1, B, Hm, Dm), slot t the state before tick t; rv (T, 2, B, 1, Dm) =
    [k_t, err_t]; lv (T, 2, B, 1, Hm) = [dh_t, a_t]; and the pre-activations h = W1 k, g = W2ᵀ err
    (write) and hq = W1 q (read), each (T, B, 1, Hm). Without history the buffer holds a block of ticks
    and is reused block after block: `_SPAN` ticks for the torch loop, one (two slots used in turn) for
    the compiled one.
    """
    bsz, t_len, dm = k.shape
    hm = state.w1.shape[1]
    compiled = SCAN_KERNEL == "numba"
    span = t_len if keep_history else 1 if compiled else min(t_len, _SPAN)  # ticks per history block
    hist = HISTORY_POOL.take((2, 2, span + 1, bsz, hm, dm), k)
    hist[0, 0, 0], hist[0, 1, 0] = state.w1, state.w2.mT
    hist[1, 0, 0], hist[1, 1, 0] = state.s1, state.s2.mT
    rv = k.new_empty(t_len, 2, bsz, 1, dm)  # [k, err]: right factors of the two rank-one gradients
    rv[:, 0, :, 0] = k.transpose(0, 1)
    lv = k.new_empty(t_len, 2, bsz, 1, hm)  # [dh, a]: left factors
    h, g = k.new_empty(t_len, bsz, 1, hm), k.new_empty(t_len, bsz, 1, hm)
    loop = _scan_loop_numba if compiled else _scan_loop_torch
    reads, hq, last_slot, clamped = loop(hist, rv, lv, h, g, q, v, alpha, eta, theta, span, bounds)
    last = hist[:, :, last_slot]  # (2, 2, B, Hm, Dm)
    final = MemoryState(last[0, 0].clone(), last[0, 1].mT.contiguous(), last[1, 0].clone(),
                        last[1, 1].mT.contiguous())
    saved = ()
    if keep_history:
        saved = (hist, rv, lv, h, g, hq.view(t_len, bsz, 1, hm))
    else:
        HISTORY_POOL.give(hist)
    return reads.transpose(0, 1), final, saved, clamped


def _scan_loop_torch(hist: torch.Tensor, rv: torch.Tensor, lv: torch.Tensor, h: torch.Tensor, g: torch.Tensor,
                     q: torch.Tensor, v: torch.Tensor, alpha: torch.Tensor, eta: torch.Tensor,
                     theta: torch.Tensor, span: int, bounds: tuple[float, float]
                     ) -> tuple[torch.Tensor, torch.Tensor, int, int]:
    """`_scan_forward`'s ticks as torch ops, in blocks of `span` ticks (hist has span + 1 slots).

    Fills hist, err (rv[:, 1]), lv, h and g; returns the reads (T, B, Dm), the last block's hq (n B, 1,
    Hm), the slot that holds the final state and the number of writes the bounds scaled back.
    """
    t_len, _, bsz, _, dm = rv.shape
    bounded, clamped = bounds != NO_BOUNDS, 0
    bound = rv.new_tensor(bounds)[:, None]  # (2 [layer], 1)
    reads = rv.new_empty(t_len * bsz, 1, dm)
    q_rows = q.transpose(0, 1).reshape(t_len * bsz, 1, dm)  # (T B, 1, Dm)

    # per-tick views, made once (indexing inside the loop would cost as much as the ops)
    minus_2v = (-2.0 * v).transpose(0, 1)[:, :, None].unbind(0)  # (B, 1, Dm): err = -2v + 2 W2 a
    minus_theta = (-theta).T[..., None, None].unbind(0)  # (B, 1, 1)
    eta_, keep_ = eta.T[..., None, None].unbind(0), (1.0 - alpha).T[..., None, None].unbind(0)
    k_, err_ = rv[:, 0].unbind(0), rv[:, 1].unbind(0)  # (B, 1, Dm)
    dh_, a_ = lv[:, 0].unbind(0), lv[:, 1].unbind(0)  # (B, 1, Hm)
    rv_, lv_cols, h_, g_ = rv.unbind(0), lv.mT.unbind(0), h.unbind(0), g.unbind(0)
    w_, s_ = hist[0].unbind(1), hist[1].unbind(1)  # per slot (2, B, Hm, Dm)
    w1t_ = hist[0, 0].mT.unbind(0)  # per slot W1ᵀ (B, Dm, Hm)
    w2_, w2t_ = hist[0, 1].unbind(0), hist[0, 1].mT.unbind(0)  # per slot W2ᵀ (B, Hm, Dm) and W2
    for start in range(0, t_len, span):
        n = min(span, t_len - start)
        if start:  # next block: its slot 0 is the last state of the previous one
            hist[:, :, 0] = hist[:, :, span]
        for i in range(n):
            t = start + i
            torch.bmm(k_[t], w1t_[i], out=h_[t])  # (B, 1, Hm): h = W1 k
            _silu_out(h_[t], out=a_[t])  # a = silu(h)
            torch.baddbmm(minus_2v[t], a_[t], w2_[i], alpha=2.0, out=err_[t])  # (B, 1, Dm): err
            torch.bmm(err_[t], w2t_[i], out=g_[t])  # (B, 1, Hm): g = W2ᵀ err
            _silu_grad_out(g_[t], h_[t], grad_input=dh_[t])  # dh = g * silu'(h)
            # S = eta S - theta [dh ⊗ k ; a ⊗ err];  W = (1 - alpha) W + S   (both layers at once)
            torch.mul(s_[i], eta_[t], out=s_[i + 1])
            s_[i + 1].addcmul_(lv_cols[t], rv_[t] * minus_theta[t])  # (2, B, Hm, 1) * (2, B, 1, Dm)
            torch.addcmul(s_[i + 1], w_[i], keep_[t], out=w_[i + 1])
            if bounded:  # (the reads below see the bounded weights)
                norms = torch.linalg.vector_norm(w_[i + 1], dim=(-2, -1))  # (2, B)
                over = norms > bound
                if over.any():
                    w_[i + 1].mul_((bound / norms.clamp_min(bound))[..., None, None])
                    clamped += int(over.any(0).sum())
        # the reads y = W2 silu(W1 q) after each write, batched over the block
        rows = slice(start * bsz, (start + n) * bsz)
        hq = torch.bmm(q_rows[rows], hist[0, 0, 1:n + 1].flatten(0, 1).mT)  # (n B, 1, Hm)
        torch.bmm(F.silu(hq), hist[0, 1, 1:n + 1].flatten(0, 1), out=reads[rows])  # (n B, 1, Dm)
    return reads.view(t_len, bsz, dm), hq, n, clamped


def _np(x: torch.Tensor) -> np.ndarray:
    """A tensor's storage as a numpy array (no copy), for the compiled kernels."""
    return x.detach().numpy()


def _time_major(x: torch.Tensor) -> np.ndarray:
    """(B, T, ...) -> a C-contiguous (T, B, ...) numpy array."""
    return x.detach().transpose(0, 1).contiguous().numpy()


def _scan_loop_numba(hist: torch.Tensor, rv: torch.Tensor, lv: torch.Tensor, h: torch.Tensor, g: torch.Tensor,
                     q: torch.Tensor, v: torch.Tensor, alpha: torch.Tensor, eta: torch.Tensor,
                     theta: torch.Tensor, span: int, bounds: tuple[float, float]
                     ) -> tuple[torch.Tensor, torch.Tensor, int, int]:
    """`_scan_loop_torch`'s contract, run by `memory_kernels.scan_forward` (writes and reads fused).

    hist holds every tick's state (span = T) or two slots used in turn (span = 1); hq is (T, B, 1, Hm).
    """
    t_len, _, bsz, _, dm = rv.shape
    every_slot = span == t_len  # else span 1: two slots used in turn
    hq = h.new_empty(h.shape)  # (T, B, 1, Hm)
    reads = rv.new_empty(t_len, bsz, dm)
    dtype = _np(rv).dtype
    bounds_sq = np.minimum(np.square(np.asarray(bounds, np.float64)), np.finfo(dtype).max).astype(dtype)
    clamped = np.zeros(1, np.int64)
    _kernels().scan_forward(_np(hist), _np(rv), _np(lv), _np(h), _np(g), _np(hq), _np(reads), _time_major(q),
                            _time_major(v), _time_major(alpha), _time_major(eta), _time_major(theta),
                            every_slot, bounds_sq, clamped)
    return reads, hq, t_len if every_slot else t_len % 2, int(clamped[0])


def _scan_backward(saved: tuple[torch.Tensor, ...], q: torch.Tensor, theta: torch.Tensor,
                   alpha: torch.Tensor, eta: torch.Tensor, g_reads: torch.Tensor | None,
                   g_final: tuple[torch.Tensor | None, ...]) -> tuple[torch.Tensor, ...]:
    """Reverse-time loop: gradients of q, k, v, alpha, eta, theta and of the initial (W1, W2, S1, S2).

    Per tick, primes marking the state after the write (layer 2 is handled transposed, W2ᵀ, like W1):
        h = W1 k, a = silu(h), err = 2 (W2 a - v), g = W2ᵀ err, dh = g silu'(h)
        S' = eta S - theta [dh ⊗ k ; a ⊗ err],  W' = keep W + S'  (keep = 1 - alpha)
        y = W2' silu(W1' q)
    Walking back with the adjoints GW', GS' of the state after the tick:
        read:   GW1' += ghq ⊗ q, GW2ᵀ' += aq ⊗ gy, with gaq = W2ᵀ' gy, ghq = gaq silu'(hq), gq = W1'ᵀ ghq
        state:  GS' += GW';  g_keep = <GW', W>, g_eta = <GS', S>, GW = keep GW', GS = eta GS'
        rank-one writes:  Z = [GS1' k ; GS2ᵀ' err],  Y = [GS1'ᵀ dh ; GS2ᵀ'ᵀ a]
                gdh = -theta Z_1, ga = -theta Z_2, gk = -theta Y_1, gerr = -theta Y_2,
                g_theta = -(dh . Z_1 + a . Z_2)
        inner gradient (through W, k, v):
                gg = gdh silu'(h)                       -> GW2ᵀ += gg ⊗ err, gerr += W2 gg
                gr = 2 gerr, gv = -gr                   -> GW2ᵀ += a ⊗ gr,   ga += W2ᵀ gr
                gh = ga silu'(h) + gdh g silu''(h)      -> GW1 += gh ⊗ k,    gk += W1ᵀ gh
    The reads, and the products with stored states that do not feed the adjoint chain (gq, the W1ᵀ gh
    part of gk), are batched over T outside the loop; the loop keeps only the chain and adds all rank-one
    terms of a tick with one `baddbmm`: [gh, ghq_{t-1}, 0] and [gg, a, aq_{t-1}] by [k, q_{t-1}, 0] and
    [err, gr, gy_{t-1}] (the read of tick t-1 acts on the state this tick's write starts from).
    """
    hist, rv, lv, h, g, hq = saved
    t_len, _, bsz, _, dm = rv.shape
    hm = lv.shape[-1]
    ds, c = torch.ops.aten.silu_backward(torch.ones_like(h), h), g * _silu_grad2(h)  # (T, B, 1, Hm)
    minus_theta = (-theta).T[..., None, None]  # (T, B, 1, 1)

    # reads, batched over (T B): gaq = W2ᵀ' gy, ghq = gaq silu'(hq), gq = W1'ᵀ ghq
    gy = torch.zeros_like(q) if g_reads is None else g_reads
    gy = gy.transpose(0, 1).reshape(t_len * bsz, 1, dm)  # (T B, 1, Dm)
    w1_after, w2_after = hist[0, 0, 1:].flatten(0, 1), hist[0, 1, 1:].flatten(0, 1)  # (T B, Hm, Dm)
    ghq = torch.ops.aten.silu_backward(torch.bmm(gy, w2_after.mT), hq.flatten(0, 1))  # (T B, 1, Hm)
    gq = torch.bmm(ghq, w1_after).view(t_len, bsz, dm).transpose(0, 1)  # (B, T, Dm)
    aq = F.silu(hq)  # (T, B, 1, Hm)

    # rank-one factors added to GW at tick t: rows [gh_t, ghq_{t-1}, 0] / [gg_t, a_t, aq_{t-1}] (lf) by
    # [k_t, q_{t-1}, 0] / [err_t, gr_t, gy_{t-1}] (rf); the loop fills in gh, gg and gr
    lf, rf = rv.new_zeros(t_len, 2, bsz, 3, hm), rv.new_zeros(t_len, 2, bsz, 3, dm)
    lf[1:, 0, :, 1] = ghq.view(t_len, bsz, hm)[:-1]
    lf[:, 1, :, 1] = lv[:, 1, :, 0]
    lf[1:, 1, :, 2] = aq[:-1, :, 0]
    rf[:, 0, :, 0] = rv[:, 0, :, 0]
    rf[1:, 0, :, 1] = q.transpose(0, 1)[:-1]
    rf[:, 1, :, 0] = rv[:, 1, :, 0]
    rf[1:, 1, :, 2] = gy.view(t_len, bsz, dm)[:-1]

    # adjoint of the final state, plus the last tick's read
    adj = hist.new_zeros(2, 2, bsz, hm, dm)  # (2 [W, S], 2 [layer 1, layer 2ᵀ], B, Hm, Dm)
    for (i, j), grad in zip(((0, 0), (0, 1), (1, 0), (1, 1)), g_final, strict=True):
        if grad is not None:
            adj[i, j] = grad if j == 0 else grad.mT
    last_l = torch.stack([ghq.view(t_len, bsz, hm)[-1], aq[-1, :, 0]])[..., None]  # (2, B, Hm, 1)
    last_r = torch.stack([q[:, -1], gy.view(t_len, bsz, dm)[-1]])[:, :, None]  # (2, B, 1, Dm)
    adj[0].addcmul_(last_l, last_r)
    dots = rv.new_empty(t_len, 2, 2, bsz)  # <GW', W> and <GS', S> per layer
    z, y = rv.new_empty(t_len, 2 * bsz, 1, hm), rv.new_empty(t_len, 2 * bsz, 1, dm)
    if SCAN_KERNEL == "numba":
        gates_tb = (_np(x.T.contiguous()) for x in (alpha, eta, theta))  # (T, B) each
        _kernels().scan_backward(_np(hist), _np(adj), _np(lf), _np(rf), _np(lv), _np(ds), _np(c), *gates_tb,
                                 _np(z), _np(y), _np(dots))
    else:
        _scan_backward_loop(hist, adj, lf, rf, rv, lv, ds, c, (1.0 - alpha, eta, theta), z, y, dots)

    y = y.view(t_len, 2, bsz, dm)
    gh = lf[:, 0, :, 0:1].reshape(t_len * bsz, 1, hm)
    gk = torch.bmm(gh, hist[0, 0, :t_len].flatten(0, 1)).view(t_len, bsz, dm)  # W1ᵀ gh
    gk = torch.addcmul(gk, y[:, 0], minus_theta[..., 0]).transpose(0, 1)  # (B, T, Dm)
    gv = -rf[:, 1, :, 1].transpose(0, 1)  # (B, T, Dm): err = 2 (W2 a - v)
    g_theta = -torch.linalg.vecdot(lv.flatten(-2), z.view(t_len, 2, bsz, hm)).sum(1).T  # (B, T)
    dots = dots.sum(2)  # (T, 2, B)
    g_alpha, g_eta = -dots[:, 0].T, dots[:, 1].T  # (B, T)
    g_state = (adj[0, 0], adj[0, 1].mT, adj[1, 0], adj[1, 1].mT)
    return (gq, gk, gv, g_alpha, g_eta, g_theta, *g_state)


def _scan_backward_loop(hist: torch.Tensor, adj: torch.Tensor, lf: torch.Tensor, rf: torch.Tensor,
                        rv: torch.Tensor, lv: torch.Tensor, ds: torch.Tensor, c: torch.Tensor,
                        gates: tuple[torch.Tensor, ...], z: torch.Tensor, y: torch.Tensor, dots: torch.Tensor
                        ) -> None:
    """The reverse-time loop of `_scan_backward` as torch ops (`memory_kernels.scan_backward` is the
    compiled twin): updates adj in place and fills gh, gg, gr (in lf, rf), z, y and dots."""
    t_len, _, bsz, _, dm = rv.shape
    hm = lv.shape[-1]
    keep, eta, theta = gates  # (B, T)
    minus_theta = (-theta).T[..., None, None]  # (T, B, 1, 1)
    ke = torch.stack([keep, eta]).permute(2, 0, 1)[:, :, None, :, None, None]  # (T, 2, 1, B, 1, 1)
    adj_w, adj_s = adj[0], adj[1]  # (2, B, Hm, Dm) each
    adj_w_b, adj_s_b = adj_w.view(2 * bsz, hm, dm), adj_s.view(2 * bsz, hm, dm)
    adj_s_bt, adj_flat = adj_s_b.mT, adj.view(2, 2, bsz, hm * dm)

    # per-tick views, made once
    hist_flat = hist.flatten(-2).unbind(2)  # per slot (2, 2, B, Hm Dm)
    w2_, w2t_ = hist[0, 1].unbind(0), hist[0, 1].mT.unbind(0)  # per slot W2ᵀ (B, Hm, Dm) and W2
    rv_b, lv_b = rv.view(t_len, 2 * bsz, 1, dm).unbind(0), lv.view(t_len, 2 * bsz, 1, hm).unbind(0)
    gh_, gg_ = lf[:, 0, :, 0:1].unbind(0), lf[:, 1, :, 0:1].unbind(0)  # (B, 1, Hm) slots
    gr_ = rf[:, 1, :, 1:2].unbind(0)  # (B, 1, Dm) slots
    lf_b, rf_b = lf.view(t_len, 2 * bsz, 3, hm).mT.unbind(0), rf.view(t_len, 2 * bsz, 3, dm).unbind(0)
    z_, y_, dots_ = z.unbind(0), y.unbind(0), dots.unbind(0)
    z2_ = z.view(t_len, 2, bsz, 1, hm).unbind(0)
    y2_ = y.view(t_len, 2, bsz, 1, dm)[:, 1].unbind(0)  # Y_2 (B, 1, Dm)
    ds_, c_, ke_ = ds.unbind(0), c.unbind(0), ke.unbind(0)
    minus_theta_, minus_2theta_ = minus_theta.unbind(0), (2.0 * minus_theta).unbind(0)
    for t in range(t_len - 1, -1, -1):
        adj_s.add_(adj_w)  # GS' += GW'
        torch.linalg.vecdot(adj_flat, hist_flat[t], out=dots_[t])
        torch.bmm(rv_b[t], adj_s_bt, out=z_[t])  # (2B, 1, Hm): [GS1' k ; GS2ᵀ' err]
        torch.bmm(lv_b[t], adj_s_b, out=y_[t])  # (2B, 1, Dm): [GS1'ᵀ dh ; GS2ᵀ'ᵀ a]
        gdh, ga_s = z2_[t] * minus_theta_[t]  # (B, 1, Hm) each
        torch.mul(gdh, ds_[t], out=gg_[t])  # gg = gdh silu'(h)
        torch.baddbmm(y2_[t] * minus_2theta_[t], gg_[t], w2_[t], alpha=2.0, out=gr_[t])  # gr = 2 gerr
        ga = torch.baddbmm(ga_s, gr_[t], w2t_[t])  # (B, 1, Hm)
        torch.mul(ga, ds_[t], out=gh_[t])
        gh_[t].addcmul_(gdh, c_[t])  # gh = ga silu'(h) + gdh g silu''(h)
        adj.mul_(ke_[t])  # GW = keep GW', GS = eta GS'
        adj_w_b.baddbmm_(lf_b[t], rf_b[t])  # + the rank-one terms of this tick and of the read at t - 1


class MemoryScan(torch.autograd.Function):
    """The sequence form as one autograd node: (q, k, v, alpha, eta, theta, w1, w2, s1, s2[, bounds]) ->
    (reads (B, T, Dm), w1, w2, s1, s2 after the last tick, clamped). See `_scan_forward` /
    `_scan_backward`. clamped (a 0-dim int64 tensor, not differentiable) counts the writes the bounds
    scaled back; the backward is exact only where it is 0 (`memory_scan` takes the reference otherwise)."""

    @staticmethod
    def forward(ctx, q, k, v, alpha, eta, theta, w1, w2, s1, s2, bounds=NO_BOUNDS):
        reads, final, saved, clamped = _scan_forward(q, k, v, alpha, eta, theta, MemoryState(w1, w2, s1, s2),
                                                     True, bounds)
        ctx.save_for_backward(q, theta, alpha, eta, *saved)
        weakref.finalize(ctx, HISTORY_POOL.give, saved[0]).atexit = False  # reuse once the graph is freed
        clamped = torch.tensor(clamped)
        ctx.mark_non_differentiable(clamped)
        return reads, *final, clamped

    @staticmethod
    @once_differentiable
    def backward(ctx, g_reads, g_w1, g_w2, g_s1, g_s2, _g_clamped):
        q, theta, alpha, eta, *saved = ctx.saved_tensors
        grads = _scan_backward(tuple(saved), q, theta, alpha, eta, g_reads, (g_w1, g_w2, g_s1, g_s2))
        return *grads, None  # nothing for the bounds


def memory_scan(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, alpha: torch.Tensor, eta: torch.Tensor,
                theta: torch.Tensor, state: MemoryState, bounds: tuple[float, float] = NO_BOUNDS
                ) -> tuple[torch.Tensor, MemoryState]:
    """All T writes and reads: q, k, v (B, T, Dm), gates (B, T) -> reads (B, T, Dm), final state.

    Equal to `memory_scan_reference` (`memory_write` + `memory_read` per tick); uses the custom autograd
    Function when a gradient is needed and the history-free loop otherwise. A window in which the bounds
    scaled a write back (a memory on its way to diverging; never from the learned initial state at the
    default gates) is redone by the reference under autograd, whose gradient covers the bound.
    """
    inputs = (q, k, v, alpha, eta, theta, *state)
    if k.shape[1] == 0:  # no ticks: nothing written or read
        return k.new_empty(k.shape), state
    if torch.is_grad_enabled() and any(x.requires_grad for x in inputs):
        reads, *final, clamped = MemoryScan.apply(*inputs, bounds)
        if clamped.item():
            return memory_scan_reference(q, k, v, alpha, eta, theta, state, bounds)
        return reads, MemoryState(*final)
    reads, final, _, _ = _scan_forward(q, k, v, alpha, eta, theta, state, False, bounds)
    return reads, final


def memory_scan_reference(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, alpha: torch.Tensor,
                          eta: torch.Tensor, theta: torch.Tensor, state: MemoryState,
                          bounds: tuple[float, float] = NO_BOUNDS) -> tuple[torch.Tensor, MemoryState]:
    """`memory_scan` as a readable loop of `memory_write` + `memory_read`, differentiated by autograd."""
    reads = []
    for t in range(k.shape[1]):
        state = memory_write(state, k[:, t], v[:, t], alpha[:, t], eta[:, t], theta[:, t], bounds)
        reads.append(memory_read(state.w1, state.w2, q[:, t]))  # (B, Dm)
    return torch.stack(reads, dim=1), state


class NativeMemory(nn.Module):
    """Residual memory layer: x (B, T, D) -> x + W_O M_t(q_t), writing (k_t, v_t) into M every tick.

    Args:
        d_model: width D.
        cfg: memory sizes, inner learning-rate bound, initial gate biases and the norm bound.
        n_layers: depth of the stack, used to scale the residual output projection at init.
    """

    def __init__(self, d_model: int, cfg: MemoryConfig, n_layers: int = 1) -> None:
        super().__init__()
        self.d_mem, self.lr_max, self.momentum_max = cfg.d_mem, cfg.lr_max, cfg.momentum_max
        self.forget_max = cfg.forget_max
        self.bounds = norm_bounds(cfg)  # (W1, W2) Frobenius-norm bounds, applied after every write
        if SCAN_KERNEL == "numba":  # compile / load the kernels now, not inside a timed training step
            _kernels().warm_up()
        self.norm = nn.RMSNorm(d_model)
        self.proj = nn.Linear(d_model, 3 * cfg.d_mem + 3)  # q, k, v and 3 gate logits
        self.out = nn.Linear(cfg.d_mem, d_model, bias=False)
        # Keys are unit vectors, so std 1 rows give W1 k ~ N(0, 1): silu works in its curved range.
        self.w1_init = nn.Parameter(torch.randn(cfg.hidden, cfg.d_mem))
        self.w2_init = nn.Parameter(torch.randn(cfg.d_mem, cfg.hidden) / math.sqrt(cfg.hidden))
        nn.init.normal_(self.proj.weight, std=1.0 / math.sqrt(d_model))
        nn.init.normal_(self.out.weight, std=1.0 / math.sqrt(cfg.d_mem * 2 * n_layers))
        with torch.no_grad():
            self.proj.bias.zero_()
            self.proj.bias[-3:] = torch.tensor([cfg.forget_bias, cfg.momentum_bias, cfg.lr_bias])

    def initial_state(self, batch_size: int) -> MemoryState:
        w1 = self.w1_init.expand(batch_size, -1, -1)  # (B, Hm, Dm), differentiable w.r.t. the init
        w2 = self.w2_init.expand(batch_size, -1, -1)  # (B, Dm, Hm)
        return MemoryState(w1, w2, torch.zeros_like(w1), torch.zeros_like(w2))

    def project(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """x (..., D) -> q, k, v (..., Dm) and gates alpha, eta, theta (...)."""
        p = F.linear(F.rms_norm(x, self.norm.normalized_shape, self.norm.weight, self.norm.eps),
                     self.proj.weight, self.proj.bias)  # (..., 3 Dm + 3)
        dm = self.d_mem
        q, k, v = F.normalize(p[..., : 3 * dm].unflatten(-1, (3, dm)), dim=-1).unbind(-2)  # all at once
        alpha, eta, theta = torch.sigmoid(p[..., 3 * dm :]).unbind(-1)
        return q, k, v, self.forget_max * alpha, self.momentum_max * eta, self.lr_max * theta

    def forward(self, x: torch.Tensor, state: MemoryState, reference: bool = False
                ) -> tuple[torch.Tensor, MemoryState]:
        """Sequence form: x (B, T, D) -> (B, T, D), via `memory_scan` (reference=True: the per-tick loop)."""
        if reference:
            return self.forward_reference(x, state)
        q, k, v, alpha, eta, theta = self.project(x)  # (B, T, Dm) / (B, T)
        reads, state = memory_scan(q, k, v, alpha, eta, theta, state, self.bounds)  # (B, T, Dm)
        return x + self.out(reads), state

    def forward_reference(self, x: torch.Tensor, state: MemoryState) -> tuple[torch.Tensor, MemoryState]:
        """Reference sequence form: `memory_write` + `memory_read` per tick, differentiated by autograd."""
        q, k, v, alpha, eta, theta = self.project(x)  # (B, T, Dm) / (B, T)
        reads, state = memory_scan_reference(q, k, v, alpha, eta, theta, state, self.bounds)  # (B, T, Dm)
        return x + self.out(reads), state

    def step(self, x: torch.Tensor, state: MemoryState) -> tuple[torch.Tensor, MemoryState]:
        """Recurrent form, one tick: x (B, D) -> (B, D). Same as `step_reference`, in ~25 ops instead of
        ~50: every product is a row vector times a matrix (`bmm` of (B, 1, n) by (B, n, m))."""
        q, k, v, alpha, eta, theta = self.project(x)  # (B, Dm) / (B,)
        w1, w2, s1, s2 = state  # (B, Hm, Dm), (B, Dm, Hm), ...
        k_row = k[:, None]  # (B, 1, Dm)
        h = torch.bmm(k_row, w1.mT)  # (B, 1, Hm): W1 k
        a = F.silu(h)
        err = torch.baddbmm(v[:, None], a, w2.mT, beta=-2.0, alpha=2.0)  # (B, 1, Dm): 2 (W2 a - v)
        dh = _silu_grad(torch.bmm(err, w2), h)  # (B, 1, Hm): (W2ᵀ err) silu'(h)
        eta, minus_theta = eta[:, None, None], -theta[:, None, None]  # (B, 1, 1)
        s1 = torch.addcmul(eta * s1, dh.mT, k_row * minus_theta)  # (B, Hm, Dm): eta S1 - theta dh ⊗ k
        s2 = torch.addcmul(eta * s2, err.mT, a * minus_theta)  # (B, Dm, Hm): eta S2 - theta err ⊗ a
        keep = (1.0 - alpha)[:, None, None]
        w1, w2 = bound_norms(torch.addcmul(s1, keep, w1), torch.addcmul(s2, keep, w2), self.bounds)
        read = torch.bmm(F.silu(torch.bmm(q[:, None], w1.mT)), w2.mT)[:, 0]  # (B, Dm): W2 silu(W1 q)
        return torch.addmm(x, read, self.out.weight.T), MemoryState(w1, w2, s1, s2)  # x + W_O y

    def step_reference(self, x: torch.Tensor, state: MemoryState) -> tuple[torch.Tensor, MemoryState]:
        """Reference recurrent form: `memory_write` then `memory_read`."""
        q, k, v, alpha, eta, theta = self.project(x)
        state = memory_write(state, k, v, alpha, eta, theta, self.bounds)
        return x + self.out(memory_read(state.w1, state.w2, q)), state
