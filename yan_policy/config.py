"""Configuration dataclasses for the yan_policy library.

One `PolicyConfig` describes every registered policy ("yan", "transformer", "mlp", "gru"): the shared
parts (tokenizers, width, depth, action head) sit at the top level, and each model reads its own
section. Using one config for all policies is what makes the baselines "same size": they share the
tokenizers, `d_model` and `n_layers` with the Yan model.

Every dataclass validates itself in `__post_init__` and raises a `ValueError` that names the field.
`PolicyConfig.to_dict()` / `PolicyConfig.from_dict()` give the JSON form stored with checkpoints.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

# Standing pose of the A1 (hip, upper, lower) for each leg FR, FL, RR, RL (DESIGN.md section 3).
STANDING_POSE: tuple[float, ...] = (0.0, 0.9, -1.8) * 4
STREAMS: tuple[str, ...] = ("camera", "audio", "joints", "imu")


def _positive(name: str, value: float) -> None:
    if not value > 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")


CAMERA_POOLS = ("avg", "max", "avgmax")


@dataclass
class TokenizerConfig:
    """Sensor stream -> token settings, shared by every policy.

    Args:
        token_dim: width W of every token (camera, audio and proprioceptive).
        image_size: camera frames of any size are resized (OpenCV, INTER_AREA) to image_size².
        camera_channels: output channels of the two stride-2 conv layers of the light camera stem.
        camera_grid: the stem's feature map is pooled to camera_grid² visual tokens.
        camera_pool: how each of those cells is pooled: "avg", "max", or "avgmax" (both, concatenated
            before the token projection). Averaging an 8x8 map's cells dilutes a small object (the ball
            is ~2x2 px of 32x32 at 1.5 m) to a few percent of its cell; the max keeps it.
        camera_keypoints: P learned keypoints from the stem's feature map (spatial softmax: per
            keypoint the expected image position and how peaked it is), one more visual token. Pooling
            to camera_grid² cells blurs a small object (the ball is ~2x2 px at 32x32) into its cell;
            a keypoint's position is continuous (a test: a 2 px ball's column regressed to 0.06 instead
            of 0.15 of the half-width). Off by default: come_to_ball, the skill it was for, did not gain
            from it in closed loop, where the policy hardly steered at all. 0 disables it.
        sample_rate: audio sample rate in Hz.
        control_hz: control rate; one tick carries sample_rate / control_hz audio samples.
        n_fft: log-mel window (samples); longer than one tick, so the tokenizer keeps the last
            n_fft samples in the recurrent state (a constant-size ring buffer).
        hop: hop between log-mel frames; one audio token per hop, so samples_per_tick // hop tokens.
        n_mels: mel bands per frame.
        f_min, f_max: mel filter bank range in Hz (f_max <= sample_rate / 2).
        n_joints: motors (12 for the A1: FR, FL, RR, RL x hip, upper, lower).
        joint_offset: subtracted from joint positions (the standing pose) before scaling.
        velocity_scale, effort_scale, gyro_scale, accel_scale: divisors that bring joint velocity
            (rad/s), effort (N·m, the A1 torque clip), angular velocity (rad/s) and linear
            acceleration (m/s², gravity) to order one.
        imu_heading_frame: give the IMU orientation relative to the heading of the episode's first IMU
            reading (the yaw it started with, kept in the recurrent state), instead of the IMU's own
            world frame. The start heading is arbitrary (random in the sim; on a robot, wherever it
            stands), so an absolute yaw says nothing about how far the robot has turned; relative to the
            start, it is exactly that, which a turn must stop on. Roll and pitch are unchanged.
    """

    token_dim: int = 64
    # camera
    # small on purpose (the stem runs every tick), but at 32 the ball 1.5 m away is under one pixel and
    # come_to_ball could not learn where it is (README: turn-to-ball error 0.39 at 64 / avg pool)
    image_size: int = 64
    camera_channels: tuple[int, int] = (16, 32)
    camera_grid: int = 3  # 3x3 keeps left / centre / right, e.g. where a coloured ball is
    camera_pool: str = "avgmax"
    camera_keypoints: int = 0  # measured: no closed-loop gain on come_to_ball (see the README)
    # audio
    sample_rate: int = 16000
    control_hz: int = 50
    n_fft: int = 512  # 32 ms at 16 kHz: ~31 Hz bins, enough to tell 1-3 kHz whistle patterns apart
    hop: int = 160  # 10 ms, the usual log-mel hop
    n_mels: int = 40
    f_min: float = 50.0
    f_max: float = 8000.0
    # proprioception
    n_joints: int = 12
    joint_offset: tuple[float, ...] = STANDING_POSE
    velocity_scale: float = 10.0
    effort_scale: float = 33.5
    gyro_scale: float = 4.0
    accel_scale: float = 9.81
    imu_heading_frame: bool = True

    def __post_init__(self) -> None:
        self.camera_channels = tuple(self.camera_channels)
        self.joint_offset = tuple(float(v) for v in self.joint_offset)
        for name in ("token_dim", "image_size", "camera_grid", "sample_rate", "control_hz", "n_fft",
                     "hop", "n_mels", "n_joints", "velocity_scale", "effort_scale", "gyro_scale",
                     "accel_scale", "f_max"):
            _positive(name, getattr(self, name))
        if len(self.camera_channels) != 2 or min(self.camera_channels) <= 0:
            raise ValueError(f"camera_channels must be two positive ints, got {self.camera_channels}")
        if self.image_size < 8 or self.image_size % 4:
            raise ValueError(f"image_size must be a multiple of 4 and >= 8, got {self.image_size}")
        if self.camera_pool not in CAMERA_POOLS:
            raise ValueError(f"camera_pool must be one of {CAMERA_POOLS}, got {self.camera_pool!r}")
        if self.camera_keypoints < 0:
            raise ValueError(f"camera_keypoints must be >= 0, got {self.camera_keypoints}")
        if self.camera_grid > self.image_size // 4:
            raise ValueError(f"camera_grid {self.camera_grid} exceeds the stem's {self.image_size // 4}² map")
        if self.sample_rate % self.control_hz:
            raise ValueError(f"sample_rate {self.sample_rate} not a multiple of control_hz {self.control_hz}")
        if self.samples_per_tick % self.hop:
            raise ValueError(f"hop {self.hop} must divide the {self.samples_per_tick} samples of one tick")
        if self.n_fft < self.hop:
            raise ValueError(f"n_fft {self.n_fft} must be >= hop {self.hop}")
        if not 0 <= self.f_min < self.f_max <= self.sample_rate / 2:
            raise ValueError(f"need 0 <= f_min < f_max <= sample_rate/2, got {self.f_min}, {self.f_max}")
        if len(self.joint_offset) != self.n_joints:
            raise ValueError(f"joint_offset has {len(self.joint_offset)} values, n_joints is {self.n_joints}")

    @property
    def samples_per_tick(self) -> int:
        return self.sample_rate // self.control_hz


@dataclass
class MCSDConfig:
    """MCSD mixer settings (DESIGN.md section 5).

    Args:
        n_channels: C, the number of slope/decay channels; d_model must be divisible by it.
        scan_chunk: chunk length L of the parallel (chunked) scan used for training.
    """

    n_channels: int = 8
    scan_chunk: int = 64

    def __post_init__(self) -> None:
        _positive("n_channels", self.n_channels)
        _positive("scan_chunk", self.scan_chunk)


@dataclass
class SparseConfig:
    """Input-dependent top-k ("brain-like") MLP settings.

    Args:
        hidden_mult: MLP hidden width H = hidden_mult * d_model.
        active_fraction: share of the H hidden neurons computed per token (k = round(H * fraction)).
        scorer_rank: rank r of the cheap low-rank scorer D -> r -> H that picks the neurons.
        scorer_loss_weight: weight of the auxiliary loss that teaches the scorer to predict which
            neurons the dense MLP would activate most (0 disables it).
    """

    hidden_mult: int = 4
    active_fraction: float = 0.25
    scorer_rank: int = 32
    scorer_loss_weight: float = 0.1

    def __post_init__(self) -> None:
        _positive("hidden_mult", self.hidden_mult)
        _positive("scorer_rank", self.scorer_rank)
        if not 0 < self.active_fraction <= 1:
            raise ValueError(f"active_fraction must be in (0, 1], got {self.active_fraction}")
        if self.scorer_loss_weight < 0:
            raise ValueError(f"scorer_loss_weight must be >= 0, got {self.scorer_loss_weight}")


@dataclass
class MemoryConfig:
    """Titans-style native memory settings.

    Args:
        enabled: include the memory layer in the Yan backbone.
        after_layer: the memory layer sits after this MCSD block (0-based).
        d_mem: width of keys, queries and values.
        hidden: hidden width of the two-layer memory MLP M(x) = W2 silu(W1 x).
        lr_max: upper bound of the inner learning rate theta_t (theta_t = lr_max * sigmoid(.)).
            The inner step on W2 scales with |silu(W1 k)|² ~ hidden / 3, so lr_max ~ 1 / hidden keeps
            a single write stable.
        momentum_max: upper bound of the momentum gate eta_t (eta_t = momentum_max * sigmoid(.)); must
            be < 1, or the writes (gradient descent with momentum) can grow without bound.
        forget_bias, momentum_bias, lr_bias: initial biases of the alpha_t, eta_t, theta_t gates
            (pre-sigmoid). forget_bias = -9 -> alpha ~ 1e-4: ~90 % of a write survives 1,000 steps.
    """

    enabled: bool = True
    after_layer: int = 0
    d_mem: int = 64
    hidden: int = 128
    lr_max: float = 0.01
    momentum_max: float = 0.9
    forget_bias: float = -9.0
    momentum_bias: float = 0.0
    lr_bias: float = -2.0

    def __post_init__(self) -> None:
        for name in ("d_mem", "hidden", "lr_max"):
            _positive(name, getattr(self, name))
        if not 0.0 <= self.momentum_max < 1.0:
            raise ValueError(f"momentum_max must be in [0, 1), got {self.momentum_max}")
        if self.after_layer < 0:
            raise ValueError(f"after_layer must be >= 0, got {self.after_layer}")


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


@dataclass
class MLPConfig:
    """Per-step MLP baseline (no memory across ticks).

    Args:
        hidden_mult: hidden width of each residual MLP block = hidden_mult * d_model.
    """

    hidden_mult: int = 4

    def __post_init__(self) -> None:
        _positive("hidden_mult", self.hidden_mult)


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
            small its error, and those drowned the one entry that carries the skill. Teaching turn_left
            from 3 demos, the yaw rate fitted to the training demos stayed 0.35 rad/s off after 200 steps
            under L1 (a smooth fade where the teacher stops sharply); MSE reached 0.11 (constant lr).
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
            which it was never taught to do either. Both measured in a session that taught sit,
            lie_down, walk_forward and turn_left in turn (250 steps each, 10 held-out episodes per
            skill, seed 0): without them the robot walked on walk_forward's cue and then lay down
            in 5 of 10 episodes, while the cue head (right on held-out demonstrations 99 % of the
            time) drifted to lie_down's class with it; cue accuracy 0.83. Holding the belief alone
            at test time changed nothing (the shared map followed the drifting state); per-cue
            maps gave 0.98, both 1.0 (and 1.0 on seeds 1 and 2).
        mcsd, sparse, memory: Yan backbone sections.
        transformer, mlp: baseline sections (the GRU needs only d_model and n_layers).
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
