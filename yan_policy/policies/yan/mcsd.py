"""MCSD blocks: multi-channel slope and decay (DESIGN.md section 5; arXiv 2406.12230).

Dimension letters: B batch, T time, D model width, C channels, Dc = D / C channel width,
L scan chunk length, n = number of chunks, H MLP hidden width.

Per channel i (the D features are split into C contiguous groups of Dc):
    slope (local):  u = x W_U, v = x W_V, beta_i = (2^(-8/C))^(i+1), gamma_i = exp(-beta_i)
                    Z_t = sum_{j<t} gamma_i^j = gamma_i Z_{t-1} + 1      (Z_0 = 0)
                    s_t = (1 - 1/Z_t) s_{t-1} + v_t / Z_t               -> theta_s = u * SiLU(s)
    decay (global): e = x W_E, f = x W_F, alpha_i = 1 - 2^(-5-i)
                    d_t = alpha_i d_{t-1} + alpha_i e_t                 -> theta_d = sigmoid(f) * RMSNorm_i(d)
    block:          x = x + W_O(theta_s + theta_d);  x = x + SparseMLP(RMSNorm(x))
(the mixer input is RMSNorm(x): pre-norm, like the MLP half).

Three forms compute the same function, all with signature (inputs, state) -> (outputs, state):
    * `mcsd_scan_naive`: the literal recurrences above, one step at a time (reference for tests).
    * `mcsd_scan_chunked`: the parallel training form. Both recurrences are linear,
      h_t = a h_{t-1} + b_t, so within a chunk of L steps h = A b + a^(t+1) h_start with the
      lower-triangular A[t, j] = a^(t-j); chunk boundaries are carried by a short scan over chunks.
      The slope numerator N_t = Z_t s_t obeys N_t = gamma N_{t-1} + v_t, and Z_t has the closed
      form gamma^t Z_0 + (1 - gamma^t) / (1 - gamma), so s_t = N_t / Z_t.
    * `MCSDBlock.step`: the recurrent form, one tick, constant-size state (s, Z, d).

How the paper's ambiguities were decided:
    * Fusion: sum, theta_s + theta_d, then one projection W_O (as DESIGN.md writes it). Concat
      followed by a 2D -> D projection is the same as sum with two separate projections; it costs
      D² more parameters per block and did not seem worth it at this size.
    * Rates: fixed, not learned (the formulas above, as buffers). They give each channel a known
      horizon (slope: 1/beta = 2 ... 256 ticks for C = 8; decay: 1/(1-alpha) = 32 ... 4096 ticks),
      they keep the chunked form's decay matrices constant, and nothing can drift during few-shot
      training on a handful of demonstrations.
    * Z_t normaliser: Z_t = sum_{j=0}^{t-1} gamma^j with t the number of ticks seen since the state
      was initialised, so s_t is an exact weighted mean (weights sum to one) from the very first tick.
      Z is carried in the state (B, C) instead of a step counter; it saturates at 1 / (1 - gamma).
    * RMSNorm of d is per channel (over each channel's Dc features), because the channels' sums
      differ in scale by up to 1 / (1 - alpha) = 2^(5+i).
    * Padding: the chunked form pads T up to a multiple of L at the end; outputs and the final state
      are read at the true last step, so padding never leaks into the state.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from yan_policy.modules.fastops import linear, rms_norm
from yan_policy.policies.yan.configuration_yan import MCSDConfig, SparseConfig
from yan_policy.policies.yan.sparse import SparseMLP


class MCSDState(NamedTuple):
    s: torch.Tensor  # (B, C, Dc) slope running mean
    z: torch.Tensor  # (B, C, 1) slope normaliser Z_t
    d: torch.Tensor  # (B, C, Dc) decay sum


def channel_rates(n_channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(gamma, alpha), each (C,) float64: slope weights gamma_i = exp(-beta_i) and decay alpha_i."""
    i = torch.arange(n_channels, dtype=torch.float64)
    beta = (2.0 ** (-8.0 / n_channels)) ** (i + 1)
    return torch.exp(-beta), 1.0 - 2.0 ** (-5.0 - i)


def mcsd_scan_naive(v: torch.Tensor, e: torch.Tensor, state: MCSDState, gamma: torch.Tensor,
                    alpha: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, MCSDState]:
    """Reference: the literal recurrences. v, e (B, T, C, Dc) -> s, d (B, T, C, Dc), final state."""
    g, a = gamma[:, None], alpha[:, None]  # (C, 1)
    s, z, d = state
    s_out, d_out = [], []
    for t in range(v.shape[1]):
        z = g * z + 1.0  # (B, C, 1)
        s = (1.0 - 1.0 / z) * s + v[:, t] / z  # (B, C, Dc)
        d = a * d + a * e[:, t]  # (B, C, Dc)
        s_out.append(s)
        d_out.append(d)
    return torch.stack(s_out, 1), torch.stack(d_out, 1), MCSDState(s, z, d)


def linear_scan_chunked(b: torch.Tensor, a: torch.Tensor, h0: torch.Tensor, chunk: int) -> torch.Tensor:
    """h_t = a h_{t-1} + b_t for all t. b (B, T, C, Dc), a (C,), h0 (B, C, Dc) -> h (B, T, C, Dc)."""
    bsz, t_len, c, dc = b.shape
    n = -(-t_len // chunk)
    b = F.pad(b, (0, 0, 0, 0, 0, n * chunk - t_len)).reshape(bsz, n, chunk, c, dc)  # (B, n, L, C, Dc)
    steps = torch.arange(chunk, dtype=b.dtype, device=b.device)
    log_a = torch.log(a)  # (C,)
    lag = steps[:, None] - steps[None, :]  # (L, L): t - j
    # (C, L, L): a^(t-j) for j <= t, else 0 (clamped first, so exp never overflows above the diagonal)
    decay = torch.exp(lag.clamp(min=0)[None] * log_a[:, None, None]) * (lag >= 0)
    intra = torch.einsum("ctj,bnjcd->bntcd", decay, b)  # (B, n, L, C, Dc)
    powers = torch.exp((steps + 1)[:, None] * log_a)[:, :, None]  # (L, C, 1): a^(t+1)
    a_chunk = powers[-1]  # (C, 1): a^L
    starts, h = [], h0
    for k in range(n):  # carry across chunks: n = T / L small steps
        starts.append(h)
        h = a_chunk * h + intra[:, k, -1]  # (B, C, Dc)
    start = torch.stack(starts, 1)  # (B, n, C, Dc)
    h_all = intra + powers * start[:, :, None]  # (B, n, L, C, Dc)
    return h_all.reshape(bsz, n * chunk, c, dc)[:, :t_len]


def mcsd_scan_chunked(v: torch.Tensor, e: torch.Tensor, state: MCSDState, gamma: torch.Tensor,
                      alpha: torch.Tensor, chunk: int) -> tuple[torch.Tensor, torch.Tensor, MCSDState]:
    """Parallel form of `mcsd_scan_naive` (same signature plus the chunk length L)."""
    t_len = v.shape[1]
    s0, z0, d0 = state
    t = torch.arange(1, t_len + 1, dtype=v.dtype, device=v.device)[:, None, None]  # (T, 1, 1)
    g = gamma[:, None]  # (C, 1)
    g_t = g**t  # (T, C, 1)
    z = g_t * z0[:, None] + (1.0 - g_t) / (1.0 - g)  # (B, T, C, 1)
    numer = linear_scan_chunked(v, gamma, z0 * s0, chunk)  # (B, T, C, Dc): N_t = Z_t s_t
    s = numer / z  # (B, T, C, Dc)
    d = linear_scan_chunked(e * alpha[:, None], alpha, d0, chunk)  # (B, T, C, Dc)
    return s, d, MCSDState(s[:, -1], z[:, -1], d[:, -1])


class MCSDBlock(nn.Module):
    """Pre-norm MCSD mixer + sparse gated MLP, with chunked, naive and recurrent forms.

    Args:
        d_model: width D.
        cfg: channel count C and scan chunk L.
        sparse: settings of the block's top-k MLP.
        n_layers: depth of the stack, used to scale the residual output projections at init.
    """

    def __init__(self, d_model: int, cfg: MCSDConfig, sparse: SparseConfig, n_layers: int) -> None:
        super().__init__()
        self.c, self.dc, self.chunk = cfg.n_channels, d_model // cfg.n_channels, cfg.scan_chunk
        gamma, alpha = channel_rates(cfg.n_channels)
        self.register_buffer("gamma", gamma.float(), persistent=False)  # (C,) fixed, see docstring
        self.register_buffer("alpha", alpha.float(), persistent=False)  # (C,)
        self.register_buffer("gamma_col", gamma.float()[:, None], persistent=False)  # (C, 1) for `step`
        self.register_buffer("alpha_col", alpha.float()[:, None], persistent=False)  # (C, 1)
        self.norm_mix = nn.RMSNorm(d_model)
        self.in_proj = nn.Linear(d_model, 4 * d_model, bias=False)  # u, v, e, f
        self.decay_norm = nn.Parameter(torch.ones(cfg.n_channels, self.dc))
        self.out_proj = nn.Linear(d_model, d_model, bias=False)
        self.norm_mlp = nn.RMSNorm(d_model)
        self.mlp = SparseMLP(d_model, sparse)
        nn.init.normal_(self.in_proj.weight, std=1.0 / math.sqrt(d_model))
        nn.init.normal_(self.out_proj.weight, std=1.0 / math.sqrt(d_model * 2 * n_layers))

    def initial_state(self, batch_size: int, dtype: torch.dtype) -> MCSDState:
        zeros = torch.zeros(batch_size, self.c, self.dc, dtype=dtype)
        return MCSDState(zeros, torch.zeros(batch_size, self.c, 1, dtype=dtype), zeros.clone())

    def _combine(self, u: torch.Tensor, f: torch.Tensor, s: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        """theta_s + theta_d = u SiLU(s) + sigmoid(f) RMSNorm_i(d); all (..., C, Dc) -> (..., D)."""
        theta_s = u * F.silu(s)
        gated = torch.sigmoid(f) * F.rms_norm(d, (self.dc,))
        return torch.addcmul(theta_s, gated, self.decay_norm).flatten(-2)  # theta_s + gated * decay_norm

    def forward(self, x: torch.Tensor, state: MCSDState, naive: bool = False
                ) -> tuple[torch.Tensor, MCSDState, torch.Tensor]:
        """Parallel (or, with naive=True, reference) form: x (B, T, D) -> y (B, T, D), state, aux loss."""
        uvef = self.in_proj(self.norm_mix(x)).unflatten(-1, (4, self.c, self.dc))  # (B, T, 4, C, Dc)
        u, v, e, f = uvef.unbind(2)  # (B, T, C, Dc) each
        gamma, alpha = self.gamma.to(x.dtype), self.alpha.to(x.dtype)
        if naive:
            s, d, state = mcsd_scan_naive(v, e, state, gamma, alpha)
        else:
            s, d, state = mcsd_scan_chunked(v, e, state, gamma, alpha, self.chunk)
        x = x + self.out_proj(self._combine(u, f, s, d))  # (B, T, D)
        y, aux = self.mlp(self.norm_mlp(x))
        return x + y, state, aux

    def step(self, x: torch.Tensor, state: MCSDState) -> tuple[torch.Tensor, MCSDState]:
        """Recurrent form, one tick: x (B, D) -> y (B, D), state of constant size.

        Per-tick cost is mostly op dispatch, so this calls the functional ops directly (no module
        __call__, see `yan_policy.modules.fastops`) and fuses where torch has an op for it (addcdiv,
        addmm with the residual as input). The float64 tests hold it to the naive and chunked forms.
        """
        uvef = linear(self.in_proj, rms_norm(self.norm_mix, x))  # (B, 4 D)
        u, v, e, f = uvef.unflatten(-1, (4, self.c, self.dc)).unbind(1)  # (B, C, Dc) each
        s, z, d = state
        z = (self.gamma_col * z).add_(1.0)  # (B, C, 1): gamma Z + 1
        s = torch.addcdiv(s, v - s, z)  # s + (v - s) / Z == (1 - 1/Z) s + v/Z
        d = (d + e).mul_(self.alpha_col)  # alpha (d + e)
        x = torch.addmm(x, self._combine(u, f, s, d), self.out_proj.weight.T)  # (B, D): x + W_O (...)
        return x + self.mlp.step(rms_norm(self.norm_mlp, x)), MCSDState(s, z, d)
