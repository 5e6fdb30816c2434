"""Per-tick MLP baseline: residual MLP blocks applied to each tick alone, no memory across ticks (its only
state is the audio tokenizer's ring buffer, which belongs to feature extraction)."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from yan_policy.policies.base import PolicyBase, State
from yan_policy.policies.config import PolicyConfig


class MLPBackbone(nn.Module):
    """Residual MLP blocks applied to every tick independently (no recurrent state)."""

    def __init__(self, config: PolicyConfig) -> None:
        super().__init__()
        d, hidden = config.d_model, config.mlp.hidden_mult * config.d_model
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.RMSNorm(d), nn.Linear(d, hidden), nn.SiLU(), nn.Linear(hidden, d))
            for _ in range(config.n_layers))

    def initial_state(self, batch_size: int, dtype: torch.dtype) -> State:
        return {}

    def forward(self, x: torch.Tensor, state: Mapping[str, torch.Tensor]
                ) -> tuple[torch.Tensor, State, torch.Tensor]:
        for block in self.blocks:
            x = x + block(x)  # (B, T, D)
        return x, {}, x.new_zeros(())

    def step(self, x: torch.Tensor, state: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, State]:
        y, new, _ = self.forward(x, state)
        return y, new



class MLPPolicy(PolicyBase):
    """Per-tick MLP baseline (behaviour cloning without memory)."""

    name = "mlp"

    def build_backbone(self, config: PolicyConfig) -> nn.Module:
        return MLPBackbone(config)
