"""The Yan policy: MCSD blocks (O(1) state per tick), top-k sparse MLPs and a native memory.

Dimension letters: B batch, T time (control ticks), D model width. State keys (see `PolicyBase`):
"mcsd{i}.s" (B, C, Dc), "mcsd{i}.z" (B, C, 1), "mcsd{i}.d" (B, C, Dc) and "memory.w1", "memory.w2",
"memory.s1", "memory.s2" (the native memory's weights and momenta: the lifetime part of the state,
`PolicyBase.lifetime_keys`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from yan_policy.policies.base import PolicyBase, State
from yan_policy.policies.config import PolicyConfig
from yan_policy.policies.yan.mcsd import MCSDBlock, MCSDState
from yan_policy.policies.yan.memory import MemoryState, NativeMemory


class YanBackbone(nn.Module):
    """MCSD blocks with a native-memory layer after block `memory.after_layer`.

    Args:
        config: d_model, n_layers and the mcsd / sparse / memory sections.
    """

    def __init__(self, config: PolicyConfig) -> None:
        super().__init__()
        d, n = config.d_model, config.n_layers
        self.blocks = nn.ModuleList(MCSDBlock(d, config.mcsd, config.sparse, n) for _ in range(n))
        self.memory_after = config.memory.after_layer if config.memory.enabled else None
        self.memory = NativeMemory(d, config.memory, n) if config.memory.enabled else None
        # state-dict keys, built once for `step`
        self._block_keys = [tuple(f"mcsd{i}.{k}" for k in MCSDState._fields) for i in range(n)]
        self._memory_keys = tuple(f"memory.{k}" for k in MemoryState._fields)
        # the native memory lives for the robot's lifetime, carried across tries (`PolicyBase.lifetime_keys`)
        self.lifetime_keys = self._memory_keys if self.memory is not None else ()

    def initial_state(self, batch_size: int, dtype: torch.dtype) -> State:
        state = {}
        for i, block in enumerate(self.blocks):
            state.update(_pack(f"mcsd{i}", block.initial_state(batch_size, dtype)))
        if self.memory is not None:
            state.update(_pack("memory", self.memory.initial_state(batch_size)))
        return state

    def forward(self, x: torch.Tensor, state: Mapping[str, torch.Tensor], naive: bool = False
                ) -> tuple[torch.Tensor, State, torch.Tensor]:
        """Parallel form: x (B, T, D) -> y (B, T, D), state, auxiliary loss (naive: the reference scans
        `mcsd_scan_naive` and `NativeMemory.forward_reference` instead of the fast paths)."""
        new, aux = {}, x.new_zeros(())
        for i, block in enumerate(self.blocks):
            x, s, a = block(x, MCSDState(*_unpack(f"mcsd{i}", MCSDState, state)), naive=naive)
            new.update(_pack(f"mcsd{i}", s))
            aux = aux + a
            if i == self.memory_after:
                x, m = self.memory(x, MemoryState(*_unpack("memory", MemoryState, state)), reference=naive)
                new.update(_pack("memory", m))
        return x, new, aux

    def step(self, x: torch.Tensor, state: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, State]:
        """Recurrent form: x (B, D) -> y (B, D), state (constant size)."""
        new = {}
        for i, (block, keys) in enumerate(zip(self.blocks, self._block_keys, strict=True)):
            x, s = block.step(x, MCSDState(*(state[k] for k in keys)))
            new.update(zip(keys, s, strict=True))
            if i == self.memory_after:
                x, m = self.memory.step(x, MemoryState(*(state[k] for k in self._memory_keys)))
                new.update(zip(self._memory_keys, m, strict=True))
        return x, new

    def sparsity_report(self) -> dict[str, float]:
        """Active fraction and multiply-add FLOPs per tick: MLPs alone and the whole backbone."""
        mlp = [b.mlp.flops() for b in self.blocks]
        d = self.blocks[0].out_proj.weight.shape[0]
        other = len(self.blocks) * 2 * 5 * d * d  # mixer projections (u, v, e, f, out)
        if self.memory is not None:
            m = self.memory
            hm, dm = m.w1_init.shape
            # projections + out, and per write 3 products + 2 outer products + read (2) + updates (4)
            other += 2 * d * m.proj.out_features + 2 * dm * d + 2 * 11 * hm * dm
        dense = sum(f["flops_dense"] for f in mlp)
        sparse = sum(f["flops_sparse"] for f in mlp)
        return {"active_fraction": mlp[0]["active_fraction"], "mlp_flops_dense": dense,
                "mlp_flops_sparse": sparse, "mlp_flops_saved_fraction": 1.0 - sparse / dense,
                "backbone_flops_dense": dense + other, "backbone_flops_sparse": sparse + other,
                "backbone_flops_saved_fraction": 1.0 - (sparse + other) / (dense + other)}


def _pack(prefix: str, state: tuple) -> State:
    return {f"{prefix}.{k}": v for k, v in state._asdict().items()}


def _unpack(prefix: str, kind: type, state: Mapping[str, torch.Tensor]) -> list[torch.Tensor]:
    return [state[f"{prefix}.{k}"] for k in kind._fields]


class YanPolicy(PolicyBase):
    """The Yan policy: MCSD backbone (O(1) state per tick), top-k sparse MLPs and a native memory."""

    name = "yan"

    def build_backbone(self, config: PolicyConfig) -> nn.Module:
        return YanBackbone(config)

    def forward(self, batch: Mapping[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
        loss, logs = super().forward(batch)
        logs["active_fraction"] = self.backbone.blocks[0].mlp.k / self.backbone.blocks[0].mlp.hidden
        return loss, logs
