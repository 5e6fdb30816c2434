"""yan_policy: tokenizers, MCSD backbone, sparse activation, native memory and policies (plain PyTorch)."""

from yan_policy.baselines import GRUPolicy, MLPPolicy, TransformerPolicy
from yan_policy.checkpoint import load_state, save_state
from yan_policy.config import (
    MCSDConfig,
    MemoryConfig,
    MLPConfig,
    PolicyConfig,
    SparseConfig,
    TokenizerConfig,
    TransformerConfig,
)
from yan_policy.mcsd import MCSDBlock, MCSDState
from yan_policy.memory import MemoryState, NativeMemory
from yan_policy.policy import PolicyBase, YanBackbone, YanPolicy
from yan_policy.registry import POLICIES, load_policy, make_policy
from yan_policy.sparse import SparseMLP
from yan_policy.tokenizers import AudioTokenizer, CameraTokenizer, ObservationEncoder, ProprioTokenizer

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
