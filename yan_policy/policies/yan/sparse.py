"""Brain-like sparse activation: a gated MLP where each token computes only k of its H hidden neurons.

Dimension letters: N tokens (any leading dims), D model width, H hidden neurons, K = active neurons
per token, r scorer rank.

    scores = (h W_s1) W_s2                          cheap low-rank scorer, (N, H)
    idx    = top-k(scores)                          input-dependent, per token, (N, K)
    y      = W_down[:, idx] (silu(W_gate[idx] h) * W_up[idx] h)

Three paths compute it:
    * `dense(h, mask)`: every neuron, then a 0/1 mask (mask=None: the plain dense MLP).
    * `sparse(h, idx)`: gathers only the selected rows of W_gate / W_up and columns of W_down
      (stored together as `w[H, 3, D]` so one gather fetches all three). This is the inference path.
    * `forward(h)`: training; the dense path with the scorer's top-k mask (equal to the sparse path,
      and batched matmuls are faster than gathers on whole sequences), plus the scorer's loss.

Top-k masks in training come from `topk_mask`: the k-th largest value per row by `np.partition`
(~6x faster than `torch.topk` on CPU for (800, 512) scores) and a comparison. When a row has a tie at
that threshold (or a NaN) the comparison could not tell which tied entries topk would keep, so it falls
back to the reference, `torch.topk` + `scatter_`; otherwise both give the same k-element set.

The scorer is trained Deja-Vu style: an auxiliary binary cross-entropy teaches it to predict which k
neurons fire, i.e. have the k largest gate pre-activations W_gate h (detached). A neuron whose gate is
closed contributes silu(g) * up with |silu(g)| < 0.28, so "fires" is a cheap, linearly predictable
proxy for "matters"; the scorer is in effect a rank-r approximation of W_gate's ordering. (The full
magnitude |silu(g) * up| grows with |W_up h| whatever its sign, which a linear score cannot express.)
The task loss trains the MLP weights under the scorer's own selection, so training and inference see
the same mask.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from yan_policy.policies.yan.configuration_yan import SparseConfig


def topk_mask_reference(x: torch.Tensor, k: int) -> torch.Tensor:
    """0/1 mask (x's dtype) of the k largest entries along the last dim: scatter of `torch.topk`."""
    idx = torch.topk(x, k, dim=-1, sorted=False).indices
    return torch.zeros_like(x).scatter_(-1, idx, 1.0)


def topk_mask(x: torch.Tensor, k: int) -> torch.Tensor:
    """Same as `topk_mask_reference`, via a per-row threshold from `np.partition` (module docstring)."""
    n = x.shape[-1]
    if x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64) and 0 < k < n and x.numel():
        flat = x.detach().reshape(-1, n)  # (N, H)
        kth = torch.from_numpy(np.partition(flat.numpy(), n - k, axis=-1)[:, n - k : n - k + 1])  # (N, 1)
        mask = (flat >= kth).to(x.dtype)  # (N, H)
        if bool((mask.sum(-1) == k).all()):  # no ties at the threshold, no NaN: topk's own set
            return mask.reshape(x.shape)
    return topk_mask_reference(x, k)


class SparseMLP(nn.Module):
    """Gated MLP D -> H -> D with an input-dependent top-k of the H hidden neurons.

    Args:
        d_model: width D.
        cfg: hidden width, active fraction, scorer rank and scorer-loss weight.
    """

    def __init__(self, d_model: int, cfg: SparseConfig) -> None:
        super().__init__()
        self.d_model, self.hidden = d_model, cfg.hidden_mult * d_model
        self.k = max(1, round(self.hidden * cfg.active_fraction))
        self.rank = cfg.scorer_rank
        self.aux_weight = cfg.scorer_loss_weight
        w = torch.empty(self.hidden, 3, d_model)  # rows of W_gate, rows of W_up, columns of W_down
        nn.init.normal_(w[:, :2], std=1.0 / math.sqrt(d_model))
        nn.init.normal_(w[:, 2], std=1.0 / math.sqrt(self.k))
        self.w = nn.Parameter(w)
        self.scorer_in = nn.Linear(d_model, cfg.scorer_rank, bias=False)
        self.scorer_out = nn.Linear(cfg.scorer_rank, self.hidden)

    def scores(self, h: torch.Tensor) -> torch.Tensor:
        low = F.linear(h, self.scorer_in.weight)  # (N, r)
        return F.linear(low, self.scorer_out.weight, self.scorer_out.bias)  # (N, H)

    def select(self, h: torch.Tensor) -> torch.Tensor:
        """Indices of the K neurons to compute for each token: (..., K)."""
        return torch.topk(self.scores(h), self.k, dim=-1, sorted=False).indices

    def hidden_activations(self, h: torch.Tensor) -> torch.Tensor:
        gate = F.linear(h, self.w[:, 0])  # (N, H)
        up = F.linear(h, self.w[:, 1])  # (N, H)
        return F.silu(gate) * up  # (N, H)

    def dense(self, h: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """All H neurons, optionally multiplied by a 0/1 mask (..., H)."""
        act = self.hidden_activations(h)  # (N, H)
        if mask is not None:
            act = act * mask.to(act.dtype)
        return act @ self.w[:, 2]  # (N, D)

    def sparse(self, h: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """Only the selected neurons. h (N, D), idx (N, K) -> (N, D)."""
        if h.shape[0] == 1:  # one robot: a single 2-D gather, then matrix-vector products
            sel = torch.index_select(self.w, 0, idx[0])  # (K, 3, D)
            act = F.silu(sel[:, 0] @ h[0]) * (sel[:, 1] @ h[0])  # (K,)
            return (act @ sel[:, 2])[None]  # (1, D)
        sel = self.w[idx]  # (N, K, 3, D)
        gu = torch.einsum("nkjd,nd->nkj", sel[:, :, :2], h)  # (N, K, 2)
        act = F.silu(gu[..., 0]) * gu[..., 1]  # (N, K)
        return torch.einsum("nk,nkd->nd", act, sel[:, :, 2])  # (N, D)

    def step(self, h: torch.Tensor) -> torch.Tensor:
        """Inference for one tick: h (B, D) -> (B, D), computing only K of H neurons."""
        if self.k == self.hidden:
            return self.dense(h)
        return self.sparse(h, self.select(h))

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Training: h (..., D) -> (y (..., D), scorer loss). Equal to `sparse(h, select(h))`."""
        if self.k == self.hidden:  # top-k = all: nothing to select
            return self.dense(h), h.new_zeros(())
        scores = self.scores(h)  # (N, H)
        gate = F.linear(h, self.w[:, 0])  # (N, H)
        act = F.silu(gate) * F.linear(h, self.w[:, 1])  # (N, H)
        mask = topk_mask(scores, self.k)  # (N, H): 1 at the K selected neurons
        y = (act * mask) @ self.w[:, 2]  # (N, D)
        aux = h.new_zeros(())
        if self.aux_weight > 0:
            oracle = topk_mask(gate.detach(), self.k)  # (N, H): 1 at the `firing` neurons
            aux = self.aux_weight * F.binary_cross_entropy_with_logits(scores, oracle)
        return y, aux

    def firing(self, gate: torch.Tensor) -> torch.Tensor:
        """The scorer's target: indices of the K largest gate pre-activations, (N, K)."""
        return torch.topk(gate, self.k, dim=-1, sorted=False).indices

    def flops(self) -> dict[str, float]:
        """Multiply-adds x 2 per token: dense MLP vs scorer + K selected neurons."""
        d, h, k, r = self.d_model, self.hidden, self.k, self.rank
        dense = 2 * 3 * d * h
        sparse = 2 * 3 * d * k + 2 * (d * r + r * h)
        return {"active_fraction": k / h, "flops_dense": dense, "flops_sparse": sparse,
                "flops_saved_fraction": 1.0 - sparse / dense}
