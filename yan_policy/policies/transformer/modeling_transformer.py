"""Causal Transformer baseline behind the same contract as YanPolicy, with a KV cache.

Dimension letters: B batch, T time, D model width, h heads, Dh = D / h head width, P cache capacity.

Pre-norm causal self-attention + dense gated MLP (hidden = hidden_mult * D, the same width as the Yan
MLP, all neurons computed), sinusoidal positions added to the input; the tokenizers, fusion and action
head are `PolicyBase`'s, shared with every policy. The state is a KV cache per layer, (B, h, P, Dh),
plus the position; `step` appends in place (capacity doubles when full), so it may write into the
cache tensors of the state passed in beyond their valid length: clone a state before branching two
rollouts from it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from yan_policy.policies.base import PolicyBase, State
from yan_policy.policies.config import PolicyConfig


def sinusoid(positions: torch.Tensor, dim: int, dtype: torch.dtype) -> torch.Tensor:
    """Sinusoidal position codes: positions (T,) -> (T, dim)."""
    freqs = torch.exp(torch.arange(0, dim, 2, dtype=torch.float64) * (-math.log(10000.0) / dim))
    angles = positions.to(torch.float64)[:, None] * freqs  # (T, dim/2)
    return torch.stack([angles.sin(), angles.cos()], dim=-1).flatten(1).to(dtype)  # (T, dim)


class GatedMLP(nn.Module):
    def __init__(self, d_model: int, hidden: int) -> None:
        super().__init__()
        self.gate_up = nn.Linear(d_model, 2 * hidden, bias=False)
        self.down = nn.Linear(hidden, d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = self.gate_up(x).chunk(2, dim=-1)  # (..., hidden) each
        return self.down(F.silu(gate) * up)


def _can_append_in_place(cache: torch.Tensor) -> bool:
    """Outside autograd, and not an inference tensor touched outside inference mode (torch forbids it)."""
    return not torch.is_grad_enabled() and (torch.is_inference_mode_enabled() or not cache.is_inference())


class TransformerLayer(nn.Module):
    """Pre-norm causal self-attention + gated MLP, attending over a KV cache."""

    def __init__(self, d_model: int, n_heads: int, hidden: int) -> None:
        super().__init__()
        self.h, self.dh = n_heads, d_model // n_heads
        self.norm1 = nn.RMSNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=False)
        self.out = nn.Linear(d_model, d_model, bias=False)
        self.norm2 = nn.RMSNorm(d_model)
        self.mlp = GatedMLP(d_model, hidden)

    def forward(self, x: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor, pos: int
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x (B, T, D) at positions pos .. pos+T-1; caches (B, h, P, Dh) valid up to pos."""
        b, t, _ = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, t, 3, self.h, self.dh).permute(2, 0, 3, 1, 4)  # (B,h,T,Dh)
        if not _can_append_in_place(k_cache) or pos + t > k_cache.shape[2]:
            k_all = torch.cat([k_cache[:, :, :pos], k], dim=2)  # (B, h, pos+T, Dh)
            v_all = torch.cat([v_cache[:, :, :pos], v], dim=2)
            if not torch.is_grad_enabled():  # grow the capacity: double, so appends stay amortised O(1)
                cap = max(2 * k_cache.shape[2], pos + t)
                k_all = F.pad(k_all, (0, 0, 0, cap - pos - t))
                v_all = F.pad(v_all, (0, 0, 0, cap - pos - t))
            k_cache, v_cache = k_all, v_all
        else:  # inference: append in place
            k_cache[:, :, pos:pos + t] = k
            v_cache[:, :, pos:pos + t] = v
        keys, values = k_cache[:, :, :pos + t], v_cache[:, :, :pos + t]  # (B, h, pos+T, Dh)
        if t == 1:
            att = F.scaled_dot_product_attention(q, keys, values)
        elif pos == 0:
            att = F.scaled_dot_product_attention(q, keys, values, is_causal=True)
        else:
            i = torch.arange(t)[:, None]
            j = torch.arange(pos + t)[None]
            att = F.scaled_dot_product_attention(q, keys, values, attn_mask=j <= pos + i)  # (B, h, T, Dh)
        x = x + self.out(att.transpose(1, 2).reshape(b, t, -1))  # (B, T, D)
        return x + self.mlp(self.norm2(x)), k_cache, v_cache


class TransformerBackbone(nn.Module):
    """Causal Transformer with a KV cache; `forward` also serves as chunked prefill.

    Args:
        config: d_model, n_layers and the transformer section.
    """

    def __init__(self, config: PolicyConfig) -> None:
        super().__init__()
        tc = config.transformer
        self.d, self.h, self.cache_init = config.d_model, tc.n_heads, tc.cache_init
        hidden = tc.hidden_mult * config.d_model
        self.layers = nn.ModuleList(TransformerLayer(config.d_model, tc.n_heads, hidden)
                                    for _ in range(config.n_layers))

    def initial_state(self, batch_size: int, dtype: torch.dtype) -> State:
        state = {"attn.pos": torch.zeros(1, dtype=torch.int64)}
        for i in range(len(self.layers)):
            shape = (batch_size, self.h, self.cache_init, self.d // self.h)
            state[f"attn{i}.k"] = torch.zeros(shape, dtype=dtype)
            state[f"attn{i}.v"] = torch.zeros(shape, dtype=dtype)
        return state

    def forward(self, x: torch.Tensor, state: Mapping[str, torch.Tensor]
                ) -> tuple[torch.Tensor, State, torch.Tensor]:
        pos = int(state["attn.pos"])
        t = x.shape[1]
        x = x + sinusoid(torch.arange(pos, pos + t), self.d, x.dtype)  # (B, T, D)
        new = {"attn.pos": torch.full((1,), pos + t, dtype=torch.int64)}
        for i, layer in enumerate(self.layers):
            x, new[f"attn{i}.k"], new[f"attn{i}.v"] = layer(x, state[f"attn{i}.k"], state[f"attn{i}.v"], pos)
        return x, new, x.new_zeros(())

    def step(self, x: torch.Tensor, state: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, State]:
        y, new, _ = self.forward(x[:, None], state)
        return y[:, 0], new


class TransformerPolicy(PolicyBase):
    """Same-size causal Transformer baseline with a KV cache (cost per tick grows with context)."""

    name = "transformer"

    def build_backbone(self, config: PolicyConfig) -> nn.Module:
        return TransformerBackbone(config)
