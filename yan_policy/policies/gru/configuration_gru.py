"""Configuration of the GRU baseline's backbone."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class GRUConfig:
    """Stacked GRU baseline (recurrent, constant state, dense).

    Args:
        hidden_size: GRU state width H; 0 means d_model (no projections, the original GRU). Any other
            value puts the GRU between the shared tokenizers (width d_model) and a linear map back to
            d_model, so its width can be matched to Yan's parameter count without changing the
            tokenizers or the action head (`bench/matched.py`).
    """

    hidden_size: int = 0

    def __post_init__(self) -> None:
        if self.hidden_size < 0:
            raise ValueError(f"hidden_size must be >= 0 (0: d_model), got {self.hidden_size}")
