"""Native memory (Titans-style, DESIGN.md section 5): an MLP whose weights are written at inference.

Dimension letters: B batch, T time, D model width, Dm key/value width, Hm memory hidden width.

The memory is M(x) = W2 silu(W1 x) with per-sample weights W1 (Hm, Dm), W2 (Dm, Hm). From the
normalised input h_t of each tick the layer projects a query q_t, key k_t (both L2-normalised),
value v_t and three gates: forget alpha_t, momentum eta_t (sigmoids) and inner learning rate
theta_t = lr_max * sigmoid(.). Then, with no optimizer:

    loss_t = || M_{t-1}(k_t) - v_t ||²                 (associative recall error)
    S_t    = eta_t S_{t-1} - theta_t grad_W loss_t      (surprise with momentum)
    M_t    = (1 - alpha_t) M_{t-1} + S_t                (forgetting)
    y_t    = M_t(q_t);   out_t = x_t + W_O y_t          (read after the write, residual)

The gradient is written out by hand: for each layer it is an outer product of two vectors
(`inner_loss_grad_factors`; `inner_loss_grads` forms the matrices), checked against the torch.func
reference `inner_loss_grads_autograd`. The weights and momenta (W1, W2, S1, S2) are the layer's
recurrent state: constant size, saved and restored with the rest of the policy state. Their starting
values are learned parameters, and the projections and gates are learned by backpropagating through
the unrolled writes. A write depends on the previous one, so the sequence form loops over T (a few
small products per tick); it is the slowest part of training (bench/latency.py reports throughput).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from yan_policy.config import MemoryConfig


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


def memory_write(state: MemoryState, k: torch.Tensor, v: torch.Tensor, alpha: torch.Tensor,
                 eta: torch.Tensor, theta: torch.Tensor) -> MemoryState:
    """One write without an optimizer. k, v (B, Dm); gates alpha, eta, theta (B,).

    S = eta S - theta grad and W = (1 - alpha) W + S, with theta applied to the gradient's small factor
    before the outer product (addcmul): three (Hm x Dm) passes per matrix instead of seven.
    """
    dh, err, a = inner_loss_grad_factors(state.w1, state.w2, k, v)
    keep, eta, theta = (1.0 - alpha)[:, None, None], eta[:, None, None], theta[:, None]
    s1 = torch.addcmul(eta * state.s1, (theta * dh)[:, :, None], k[:, None, :], value=-1.0)  # (B, Hm, Dm)
    s2 = torch.addcmul(eta * state.s2, (theta * err)[:, :, None], a[:, None, :], value=-1.0)  # (B, Dm, Hm)
    return MemoryState(torch.addcmul(s1, keep, state.w1), torch.addcmul(s2, keep, state.w2), s1, s2)


class NativeMemory(nn.Module):
    """Residual memory layer: x (B, T, D) -> x + W_O M_t(q_t), writing (k_t, v_t) into M every tick.

    Args:
        d_model: width D.
        cfg: memory sizes, inner learning-rate bound and initial gate biases.
        n_layers: depth of the stack, used to scale the residual output projection at init.
    """

    def __init__(self, d_model: int, cfg: MemoryConfig, n_layers: int = 1) -> None:
        super().__init__()
        self.d_mem, self.lr_max = cfg.d_mem, cfg.lr_max
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
        p = self.proj(self.norm(x))  # (..., 3 Dm + 3)
        q, k, v, gates = p.split([self.d_mem, self.d_mem, self.d_mem, 3], dim=-1)
        alpha, eta, theta = torch.sigmoid(gates).unbind(-1)
        return F.normalize(q, dim=-1), F.normalize(k, dim=-1), v, alpha, eta, self.lr_max * theta

    def forward(self, x: torch.Tensor, state: MemoryState) -> tuple[torch.Tensor, MemoryState]:
        """Sequence form: x (B, T, D) -> (B, T, D); the writes are a loop over T."""
        q, k, v, alpha, eta, theta = self.project(x)  # (B, T, Dm) / (B, T)
        reads = []
        for t in range(x.shape[1]):
            state = memory_write(state, k[:, t], v[:, t], alpha[:, t], eta[:, t], theta[:, t])
            reads.append(memory_read(state.w1, state.w2, q[:, t]))  # (B, Dm)
        return x + self.out(torch.stack(reads, dim=1)), state

    def step(self, x: torch.Tensor, state: MemoryState) -> tuple[torch.Tensor, MemoryState]:
        """Recurrent form, one tick: x (B, D) -> (B, D)."""
        q, k, v, alpha, eta, theta = self.project(x)
        state = memory_write(state, k, v, alpha, eta, theta)
        return x + self.out(memory_read(state.w1, state.w2, q)), state
