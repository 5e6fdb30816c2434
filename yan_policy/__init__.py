"""yan_policy: the policies a robot learns on, in plain PyTorch, with no ROS and no simulator.

Layout by role: `policies/` (the `PolicyBase` contract, the shared `PolicyConfig`, the registry, and one
folder per policy: yan, transformer, gru, mlp), `modules/` (the learned sensor tokenizers), `training/`
(the online learner, batches, augmentation, the learner process), `data/` (episodes, the skill library,
atomic checkpoints). The names below are the public API.
"""

from yan_policy.data.checkpoint import load_state, save_state
from yan_policy.data.episode import Episode
from yan_policy.data.library import SkillLibrary
from yan_policy.modules.tokenizers import (
    AudioTokenizer,
    CameraTokenizer,
    ObservationEncoder,
    ProprioTokenizer,
)
from yan_policy.policies.base import PolicyBase
from yan_policy.policies.config import PolicyConfig, TokenizerConfig
from yan_policy.policies.gru.configuration_gru import GRUConfig
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
from yan_policy.training.learner import LearnerConfig, OnlineLearner
from yan_policy.training.learner_process import ProcessLearner

__all__ = [
    "Episode",
    "LearnerConfig",
    "OnlineLearner",
    "ProcessLearner",
    "SkillLibrary",
    "POLICIES",
    "AudioTokenizer",
    "CameraTokenizer",
    "GRUConfig",
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
