"""The shared policy configuration: `PolicyConfig`, with the tokenizers' and each policy's sections.

`TokenizerConfig` lives with the tokenizers (`modules/configuration_tokenizers.py`) and is
re-exported here. One `PolicyConfig` describes every registered policy ("yan", "transformer", "mlp",
"gru"): the shared parts (tokenizers, width, depth, action head) sit at the top level, and each
model reads its own section (`yan/configuration_yan.py`, `transformer/configuration_transformer.py`,
`mlp/configuration_mlp.py`, `gru/configuration_gru.py`). One config for all policies is what makes the
baselines comparable: they share the tokenizers, `d_model` and `n_layers` with Yan; each baseline's own
width knob (`transformer.hidden_mult`, `mlp.hidden_mult`, `gru.hidden_size`) matches its parameter
count to Yan's (`bench/matched.py`).

Every dataclass validates itself in `__post_init__` and raises a `ValueError` that names the field.
`PolicyConfig.to_dict()` / `PolicyConfig.from_dict()` give the JSON form stored with checkpoints.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from yan_policy.data.episode import STREAMS
from yan_policy.modules.configuration_tokenizers import CAMERA_POOLS, STANDING_POSE, TokenizerConfig
from yan_policy.policies.gru.configuration_gru import GRUConfig
from yan_policy.policies.mlp.configuration_mlp import MLPConfig
from yan_policy.policies.transformer.configuration_transformer import TransformerConfig
from yan_policy.policies.yan.configuration_yan import MCSDConfig, MemoryConfig, SparseConfig
from yan_policy.validation import positive as _positive


@dataclass
class PolicyConfig:
    """Everything needed to build any registered policy.

    Args:
        tokenizer: sensor stream tokenizers (shared by all policies).
        d_model: backbone width D.
        n_layers: backbone depth (MCSD blocks, Transformer layers, GRU layers, MLP blocks).
        action_dim: A, e.g. 12 joint targets or 3 for a gait command (vx, vy, yaw rate).
        chunk: the head predicts the next `chunk` actions at every tick (action chunking).
        loss: "l1" or "mse" on normalised actions. MSE by default: with L1, every action entry the
            teacher holds constant (12 joint offsets and vx, vy in a turn) gives a ±1 gradient however
            small its error, and those drowned the one entry that carries the skill
            (docs/experiments.md, 2026-11-24: MSE action loss).
        cue_classes: outputs of the cue head; class 0 is "no cue heard yet", so up to cue_classes - 1
            cues (0 disables the head). A demonstration's cue is what later selects its skill. The head
            reads the backbone output every tick and is trained (cross-entropy, demonstrations' cue
            labels) to say "nothing yet" before the teacher starts acting (the onset) and which cue it
            was from then on; its softmax, through a learned embedding, is added to the action head's
            input. So the recurrent state must keep the cue, and the actions are conditioned on a
            low-dimensional "what was I asked" signal instead of having to find it in the state.
        cue_loss_weight: weight of that cross-entropy in the training loss.
        cue_heads: besides the shared action map, one linear map per cue class, mixed by the cue belief
            (see `ActionHead`), so each skill has outputs of its own.
        cue_latch: once the cue head gives one cue (class >= 1) at least this probability, that tick's
            belief is held for the rest of the episode (until the recurrent state is reset, e.g. when
            a try starts); 0 re-reads it every tick. The robot then cannot be re-cued mid-episode,
            which it was never taught to do either. With `cue_heads`, it keeps a drifting closed-loop
            state from switching skills mid-episode (docs/experiments.md, 2026-11-24: cue latch and
            per-cue maps).
        mcsd, sparse, memory: Yan backbone sections.
        transformer, mlp, gru: baseline sections.
    """

    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    d_model: int = 256
    n_layers: int = 2
    action_dim: int = 12
    chunk: int = 8
    loss: str = "mse"
    cue_classes: int = 16
    cue_loss_weight: float = 0.5
    cue_heads: bool = True
    cue_latch: float = 0.9
    mcsd: MCSDConfig = field(default_factory=MCSDConfig)
    sparse: SparseConfig = field(default_factory=SparseConfig)
    memory: MemoryConfig = field(default_factory=MemoryConfig)
    transformer: TransformerConfig = field(default_factory=TransformerConfig)
    mlp: MLPConfig = field(default_factory=MLPConfig)
    gru: GRUConfig = field(default_factory=GRUConfig)

    def __post_init__(self) -> None:
        for name in ("d_model", "n_layers", "action_dim", "chunk"):
            _positive(name, getattr(self, name))
        if self.loss not in ("l1", "mse"):
            raise ValueError(f"loss must be 'l1' or 'mse', got {self.loss!r}")
        if self.cue_classes < 0 or self.cue_loss_weight < 0:
            raise ValueError(f"cue_classes and cue_loss_weight must be >= 0, got {self.cue_classes}, "
                             f"{self.cue_loss_weight}")
        if not 0.0 <= self.cue_latch < 1.0:
            raise ValueError(f"cue_latch must be in [0, 1) (0: off), got {self.cue_latch}")
        if self.d_model % self.mcsd.n_channels:
            raise ValueError(f"d_model {self.d_model} not divisible by mcsd.n_channels "
                             f"{self.mcsd.n_channels}")
        if self.d_model % self.transformer.n_heads:
            raise ValueError(f"d_model {self.d_model} not divisible by transformer.n_heads "
                             f"{self.transformer.n_heads}")
        if self.memory.enabled and self.memory.after_layer >= self.n_layers:
            raise ValueError(f"memory.after_layer {self.memory.after_layer} must be < n_layers "
                             f"{self.n_layers}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PolicyConfig:
        """Inverse of `to_dict`; unknown keys raise a ValueError (a typo must not pass silently)."""
        return _from_dict(cls, data)


def _from_dict(cls: type, data: dict[str, Any]) -> Any:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(data) - set(fields)
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown keys {sorted(unknown)}")
    kwargs = {}
    for name, value in data.items():
        factory = fields[name].default_factory
        if dataclasses.is_dataclass(factory) and isinstance(value, dict):  # a nested section
            kwargs[name] = _from_dict(factory, value)
        else:
            kwargs[name] = value
    return cls(**kwargs)


__all__ = ["CAMERA_POOLS", "STANDING_POSE", "STREAMS", "PolicyConfig", "TokenizerConfig"]
