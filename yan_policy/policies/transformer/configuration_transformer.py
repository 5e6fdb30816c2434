"""Configuration of the causal Transformer baseline's backbone."""

from __future__ import annotations

from dataclasses import dataclass

from yan_policy.validation import positive as _positive


@dataclass
class TransformerConfig:
    """Causal Transformer baseline (pre-norm, sinusoidal positions, KV cache).

    Args:
        n_heads: attention heads; d_model must be divisible by it.
        hidden_mult: gated-MLP hidden width = hidden_mult * d_model (same as the Yan MLP, dense).
        cache_init: initial KV-cache capacity; it doubles when full.
    """

    n_heads: int = 4
    hidden_mult: int = 4
    cache_init: int = 256

    def __post_init__(self) -> None:
        for name in ("n_heads", "hidden_mult", "cache_init"):
            _positive(name, getattr(self, name))
