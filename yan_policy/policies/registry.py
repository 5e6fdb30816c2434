"""The policy registry: one place that names every policy behind the `PolicyBase` contract."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from yan_policy.policies.base import PolicyBase, read_checkpoint_header
from yan_policy.policies.config import PolicyConfig
from yan_policy.policies.gru.modeling_gru import GRUPolicy
from yan_policy.policies.mlp.modeling_mlp import MLPPolicy
from yan_policy.policies.transformer.modeling_transformer import TransformerPolicy
from yan_policy.policies.yan.modeling_yan import YanPolicy

POLICIES: dict[str, type[PolicyBase]] = {
    "yan": YanPolicy,
    "transformer": TransformerPolicy,
    "mlp": MLPPolicy,
    "gru": GRUPolicy,
}


def make_policy(name: str, config: PolicyConfig | dict[str, Any] | None = None) -> PolicyBase:
    """Build the policy `name` ("yan", "transformer", "mlp", "gru") from one shared config.

    Args:
        name: a key of `POLICIES`.
        config: a `PolicyConfig`, its dict form (`PolicyConfig.to_dict()`), or None for the defaults.
    """
    if name not in POLICIES:
        raise ValueError(f"unknown policy {name!r}; choose one of {sorted(POLICIES)}")
    if isinstance(config, dict):
        config = PolicyConfig.from_dict(config)
    return POLICIES[name](config)


def load_policy(path: str | Path) -> PolicyBase:
    """Load any policy saved with `PolicyBase.save(path)`."""
    name, _ = read_checkpoint_header(path)
    if name not in POLICIES:
        raise ValueError(f"{path}: unknown policy {name!r}")
    return POLICIES[name].load(path)
