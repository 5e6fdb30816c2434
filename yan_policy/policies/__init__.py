"""Every policy behind one contract (`PolicyBase`): Yan and the Transformer, GRU and MLP baselines."""

from yan_policy.policies.base import PolicyBase
from yan_policy.policies.config import PolicyConfig, TokenizerConfig
from yan_policy.policies.registry import POLICIES, load_policy, make_policy

__all__ = ["POLICIES", "PolicyBase", "PolicyConfig", "TokenizerConfig", "load_policy", "make_policy"]
