"""Configuration of the per-tick MLP baseline's backbone."""

from __future__ import annotations

from dataclasses import dataclass

from yan_policy.validation import positive as _positive


@dataclass
class MLPConfig:
    """Per-step MLP baseline (no memory across ticks).

    Args:
        hidden_mult: hidden width of each residual MLP block = hidden_mult * d_model.
    """

    hidden_mult: int = 4

    def __post_init__(self) -> None:
        _positive("hidden_mult", self.hidden_mult)
