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

Selective MCSD (`MCSDConfig.selective`; DESIGN.md section 5): each token enhances or decays the
memory by how much it matters, through four per-channel gates from x (`SelectiveGates`, fused into the
input projection, zero-initialised so training starts at the paper's rates):
    decay:  d_t = a_t d_{t-1} + b_t e_t,  a_t = exp(-softplus(x W_a + c_i)),  b_t = sigmoid(x W_b + c)
    slope:  Z_t = lambda_t Z_{t-1} + g_t,  s_t = (lambda_t Z_{t-1} s_{t-1} + g_t v_t) / Z_t,
            lambda_t = exp(-2 beta_i sigmoid(x W_lam + c)),  g_t = softplus(x W_g + c)
(2 beta_i, so that the zero-initialised gate gives exactly gamma_i; it can range from gamma_i^2 to 1).
Both are linear recurrences with input-dependent scalar decays per channel: the parallel form is a
chunked scan over cumulative log-decays (`selective_linear_scan_chunked`), the reference
`selective_scan_naive`, the recurrent form `MCSDBlock.step`; tests hold all three equal in float64.

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
from functools import partial
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


N_GATES = 4  # selective rates per channel: decay a, enhancement b, slope decay lambda, importance g


def channel_rates(n_channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(gamma, alpha), each (C,) float64: slope weights gamma_i = exp(-beta_i) and decay alpha_i."""
    i = torch.arange(n_channels, dtype=torch.float64)
    beta = (2.0 ** (-8.0 / n_channels)) ** (i + 1)
    return torch.exp(-beta), 1.0 - 2.0 ** (-5.0 - i)


def selective_gate_bias(gamma: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """(4, C) biases of the gates (a, b, lambda, g) so that, with zero gate weights, a_t = alpha_i,
    lambda_t = gamma_i and g_t = 1 (the paper's rates) and b_t = 1/2 (the RMSNorm of d removes its scale)."""
    c_a = torch.log(torch.expm1(-torch.log(alpha)))  # softplus^-1(-log alpha): exp(-softplus(c_a)) = alpha
    c_g = torch.full_like(alpha, math.log(math.e - 1.0))  # softplus^-1(1)
    zeros = torch.zeros_like(alpha)  # b = sigmoid(0); lambda = exp(-2 beta sigmoid(0)) = gamma
    return torch.stack([c_a, zeros, zeros, c_g])


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



class SelectiveGates(NamedTuple):
    """Input-dependent rates of the selective MCSD, each (B, T, C, 1) (one scalar per channel and tick)."""

    log_a: torch.Tensor  # decay: log a_t <= 0, a_t = exp(-softplus(x W_a + c))
    b: torch.Tensor  # decay: enhancement gate b_t = sigmoid(x W_b + c) of the input e_t
    log_lam: torch.Tensor  # slope: log lambda_t = -2 beta_i sigmoid(x W_lam + c) <= 0
    g: torch.Tensor  # slope: importance g_t = softplus(x W_g + c) > 0 of the input v_t


def selective_scan_naive(v: torch.Tensor, e: torch.Tensor, state: MCSDState, gates: SelectiveGates
                         ) -> tuple[torch.Tensor, torch.Tensor, MCSDState]:
    """Reference: the selective recurrences, one tick at a time. v, e (B, T, C, Dc) -> s, d, state."""
    s, z, d = state
    s_out, d_out = [], []
    for t in range(v.shape[1]):
        lam, g = gates.log_lam[:, t].exp(), gates.g[:, t]  # (B, C, 1)
        z_new = lam * z + g  # (B, C, 1)
        s = (lam * z * s + g * v[:, t]) / z_new  # (B, C, Dc): importance-weighted running mean
        z = z_new
        d = gates.log_a[:, t].exp() * d + gates.b[:, t] * e[:, t]  # (B, C, Dc)
        s_out.append(s)
        d_out.append(d)
    return torch.stack(s_out, 1), torch.stack(d_out, 1), MCSDState(s, z, d)


def selective_linear_scan_chunked(b: torch.Tensor, log_a: torch.Tensor, h0: torch.Tensor, chunk: int
                                  ) -> torch.Tensor:
    """h_t = a_t h_{t-1} + b_t for all t, a_t = exp(log_a_t) input-dependent. b (B, T, C, Dc),
    log_a (B, T, C, 1), h0 (B, C, Dc) -> h (B, T, C, Dc). Within a chunk, with the cumulative log-decay
    A_t = sum_{j<=t} log a_j: h_t = sum_{j<=t} exp(A_t - A_j) b_j + exp(A_t) h_start."""
    bsz, t_len, c, dc = b.shape
    n = -(-t_len // chunk)
    pad = n * chunk - t_len  # padding at the end: a = 1, b = 0, never read
    b = F.pad(b, (0, 0, 0, 0, 0, pad)).reshape(bsz, n, chunk, c, dc)  # (B, n, L, C, Dc)
    cum = F.pad(log_a[..., 0], (0, 0, 0, pad)).reshape(bsz, n, chunk, c).cumsum(2)  # (B, n, L, C)
    lag = cum[:, :, :, None] - cum[:, :, None]  # (B, n, L, L, C): A_t - A_j
    causal = torch.ones(chunk, chunk, dtype=torch.bool, device=b.device).tril()[:, :, None]  # (L, L, 1)
    decay = lag.masked_fill(~causal, -math.inf).exp()  # (B, n, L, L, C): exp(A_t - A_j) for j <= t, else 0
    intra = torch.einsum("bntjc,bnjcd->bntcd", decay, b)  # (B, n, L, C, Dc)
    powers = cum.exp()[..., None]  # (B, n, L, C, 1): exp(A_t)
    starts, h = [], h0
    for k in range(n):  # carry across chunks
        starts.append(h)
        h = powers[:, k, -1] * h + intra[:, k, -1]  # (B, C, Dc)
    start = torch.stack(starts, 1)  # (B, n, C, Dc)
    h_all = intra + powers * start[:, :, None]  # (B, n, L, C, Dc)
    return h_all.reshape(bsz, n * chunk, c, dc)[:, :t_len]


def selective_scan_chunked(v: torch.Tensor, e: torch.Tensor, state: MCSDState, gates: SelectiveGates,
                           chunk: int) -> tuple[torch.Tensor, torch.Tensor, MCSDState]:
    """Parallel form of `selective_scan_naive`: Z_t and the numerator N_t = Z_t s_t are both linear
    recurrences with the decay lambda_t (N_t = lambda_t N_{t-1} + g_t v_t), so s_t = N_t / Z_t."""
    s0, z0, d0 = state
    z = selective_linear_scan_chunked(gates.g, gates.log_lam, z0, chunk)  # (B, T, C, 1)
    numer = selective_linear_scan_chunked(gates.g * v, gates.log_lam, z0 * s0, chunk)  # (B, T, C, Dc)
    s = numer / z  # (B, T, C, Dc)
    d = selective_linear_scan_chunked(gates.b * e, gates.log_a, d0, chunk)  # (B, T, C, Dc)
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
        self.selective = cfg.selective
        n_gates = N_GATES * cfg.n_channels if cfg.selective else 0
        self.in_proj = nn.Linear(d_model, 4 * d_model + n_gates, bias=False)  # u, v, e, f (+ gates)
        self.decay_norm = nn.Parameter(torch.ones(cfg.n_channels, self.dc))
        self.out_proj = nn.Linear(d_model, d_model, bias=False)
        self.norm_mlp = nn.RMSNorm(d_model)
        self.mlp = SparseMLP(d_model, sparse)
        nn.init.normal_(self.in_proj.weight, std=1.0 / math.sqrt(d_model))
        nn.init.normal_(self.out_proj.weight, std=1.0 / math.sqrt(d_model * 2 * n_layers))
        if cfg.selective:  # gates start at the paper's fixed rates: zero weights, biases set below
            nn.init.zeros_(self.in_proj.weight[4 * d_model:])
            self.gate_bias = nn.Parameter(selective_gate_bias(gamma, alpha).float())  # (4, C)
            self.register_buffer("two_beta", -2.0 * torch.log(gamma).float(), persistent=False)  # (C,)

    def initial_state(self, batch_size: int, dtype: torch.dtype) -> MCSDState:
        zeros = torch.zeros(batch_size, self.c, self.dc, dtype=dtype)
        return MCSDState(zeros, torch.zeros(batch_size, self.c, 1, dtype=dtype), zeros.clone())

    def _combine(self, u: torch.Tensor, f: torch.Tensor, s: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        """theta_s + theta_d = u SiLU(s) + sigmoid(f) RMSNorm_i(d); all (..., C, Dc) -> (..., D)."""
        theta_s = u * F.silu(s)
        gated = torch.sigmoid(f) * F.rms_norm(d, (self.dc,))
        return torch.addcmul(theta_s, gated, self.decay_norm).flatten(-2)  # theta_s + gated * decay_norm

    def gates(self, pre: torch.Tensor) -> SelectiveGates:
        """Gate pre-activations (..., 4, C) -> the selective rates, each (..., C, 1)."""
        pre = pre + self.gate_bias  # (..., 4, C)
        pa, pb, pl, pg = pre.unsqueeze(-1).unbind(-3)  # (..., C, 1) each
        return SelectiveGates(-F.softplus(pa), torch.sigmoid(pb),
                              -self.two_beta[:, None] * torch.sigmoid(pl), F.softplus(pg))

    def forward(self, x: torch.Tensor, state: MCSDState, naive: bool = False
                ) -> tuple[torch.Tensor, MCSDState, torch.Tensor]:
        """Parallel (or, with naive=True, reference) form: x (B, T, D) -> y (B, T, D), state, aux loss."""
        proj = self.in_proj(self.norm_mix(x))  # (B, T, 4 D [+ 4 C])
        d_model = self.c * self.dc
        u, v, e, f = proj[..., :4 * d_model].unflatten(-1, (4, self.c, self.dc)).unbind(2)  # (B, T, C, Dc)
        if self.selective:
            gates = self.gates(proj[..., 4 * d_model:].unflatten(-1, (N_GATES, self.c)))  # (B, T, C, 1) each
            scan = selective_scan_naive if naive else partial(selective_scan_chunked, chunk=self.chunk)
            s, d, state = scan(v, e, state, gates)
        else:
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
        proj = linear(self.in_proj, rms_norm(self.norm_mix, x))  # (B, 4 D [+ 4 C])
        d_model = self.c * self.dc
        u, v, e, f = proj[:, :4 * d_model].unflatten(-1, (4, self.c, self.dc)).unbind(1)  # (B, C, Dc) each
        s, z, d = state
        if self.selective:
            log_a, b, log_lam, g = self.gates(proj[:, 4 * d_model:].unflatten(-1, (N_GATES, self.c)))
            z = torch.addcmul(g, log_lam.exp(), z)  # (B, C, 1): lambda Z + g
            s = torch.addcdiv(s, g * (v - s), z)  # (lambda Z_old s + g v) / Z == s + g (v - s) / Z
            d = torch.addcmul(b * e, log_a.exp(), d)  # a d + b e
        else:
            z = (self.gamma_col * z).add_(1.0)  # (B, C, 1): gamma Z + 1
            s = torch.addcdiv(s, v - s, z)  # s + (v - s) / Z == (1 - 1/Z) s + v/Z
            d = (d + e).mul_(self.alpha_col)  # alpha (d + e)
        x = torch.addmm(x, self._combine(u, f, s, d), self.out_proj.weight.T)  # (B, D): x + W_O (...)
        return x + self.mlp.step(rms_norm(self.norm_mlp, x)), MCSDState(s, z, d)
