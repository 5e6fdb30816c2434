"""GRU baseline: `nn.GRU` over the fused tokens; state (n_layers, B, D). Recurrent, dense."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from yan_policy.policies.base import PolicyBase, State
from yan_policy.policies.config import PolicyConfig


class GRUBackbone(nn.Module):
    """Stacked GRU over the fused tokens; state (n_layers, B, H), H = gru.hidden_size or D. With H != D a
    linear map takes the GRU's output back to D (the tokenizers and the head stay at D)."""

    def __init__(self, config: PolicyConfig) -> None:
        super().__init__()
        self.n_layers, self.d = config.n_layers, config.gru.hidden_size or config.d_model
        self.gru = nn.GRU(config.d_model, self.d, num_layers=config.n_layers, batch_first=True)
        self.out = nn.Linear(self.d, config.d_model) if self.d != config.d_model else nn.Identity()

    def initial_state(self, batch_size: int, dtype: torch.dtype) -> State:
        return {"gru.h": torch.zeros(self.n_layers, batch_size, self.d, dtype=dtype)}

    def forward(self, x: torch.Tensor, state: Mapping[str, torch.Tensor]
                ) -> tuple[torch.Tensor, State, torch.Tensor]:
        y, h = self.gru(x, state["gru.h"])  # (B, T, H), (L, B, H)
        return self.out(y), {"gru.h": h}, x.new_zeros(())  # (B, T, D)

    def step(self, x: torch.Tensor, state: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, State]:
        y, h = self.gru(x[:, None], state["gru.h"])
        return self.out(y[:, 0]), {"gru.h": h}



class GRUPolicy(PolicyBase):
    """GRU baseline (recurrent, constant state, dense)."""

    name = "gru"

    def build_backbone(self, config: PolicyConfig) -> nn.Module:
        return GRUBackbone(config)
