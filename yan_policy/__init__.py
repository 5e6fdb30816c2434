"""yan_policy: tokenizers, MCSD backbone, sparse activation, native memory and policies (plain PyTorch)."""

from yan_policy.data.checkpoint import load_state, save_state
from yan_policy.modules.tokenizers import (
    AudioTokenizer,
    CameraTokenizer,
    ObservationEncoder,
    ProprioTokenizer,
)
from yan_policy.policies.base import PolicyBase
from yan_policy.policies.config import PolicyConfig, TokenizerConfig
from yan_policy.policies.gru.modeling_gru import GRUPolicy
from yan_policy.policies.mlp.configuration_mlp import MLPConfig
from yan_policy.policies.mlp.modeling_mlp import MLPPolicy
from yan_policy.policies.registry import POLICIES, load_policy, make_policy
from yan_policy.policies.transformer.configuration_transformer import TransformerConfig
from yan_policy.policies.transformer.modeling_transformer import TransformerPolicy
from yan_policy.policies.yan.configuration_yan import MCSDConfig, MemoryConfig, SparseConfig
from yan_policy.policies.yan.mcsd import MCSDBlock, MCSDState
from yan_policy.policies.yan.memory import MemoryState, NativeMemory
from yan_policy.policies.yan.modeling_yan import YanBackbone, YanPolicy
from yan_policy.policies.yan.sparse import SparseMLP

__all__ = [
    "POLICIES",
    "AudioTokenizer",
    "CameraTokenizer",
    "GRUPolicy",
    "MCSDBlock",
    "MCSDConfig",
    "MCSDState",
    "MLPConfig",
    "MLPPolicy",
    "MemoryConfig",
    "MemoryState",
    "NativeMemory",
    "ObservationEncoder",
    "PolicyBase",
    "PolicyConfig",
    "ProprioTokenizer",
    "SparseConfig",
    "SparseMLP",
    "TokenizerConfig",
    "TransformerConfig",
    "TransformerPolicy",
    "YanBackbone",
    "YanPolicy",
    "load_policy",
    "load_state",
    "make_policy",
    "save_state",
]
