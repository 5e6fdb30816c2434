"""What a teach session in the simulator (`yan_dog.session`, `yan_dog.recording`) and the robot's brain
(`yan_dog.brain`) share, without the simulator: the session's settings (`SessionConfig`), the policy and
learner they build from them, and the conventions of a demonstration (the hold, the gait gain of scripted
demonstrations, the teacher's action mode kept with each episode).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from robots.actions import GAIT_DIMS, HYBRID_ACTION_DIM
from robots.profile import MIRROR_MOTOR_PERMUTATION, MIRROR_MOTOR_SIGN
from robots.skills import is_mirror_symmetric, teacher_action_mode
from yan_policy.data.library import SkillLibrary
from yan_policy.policies.config import PolicyConfig
from yan_policy.policies.registry import load_policy, make_policy
from yan_policy.training.augment import MirrorSpec
from yan_policy.training.batching import TEACHER_MODE_KEY
from yan_policy.training.learner import LearnerConfig, OnlineLearner

TEACH_D_MODEL = 128
# Per-dim std in which every policy learns hybrid actions (its loss is MSE on action / std), one value for
# all 15 dims: in units of 1 rad/s, come_to_ball's small steering got a quarter of the loss weight
# (docs/experiments.md, 2026-11-24: one action scale).
HYBRID_ACTION_NORM_STD = np.full(HYBRID_ACTION_DIM, 0.5, np.float32)
MAX_DEMO_GAIT_GAIN = 1.5
# Scripted demonstrations run at a gait gain drawn from this range. Not below 0.8: a turn slowed to 0.6x
# reaches the teacher's angle only at the episode's end and so shows no stop (see `SessionConfig`).
DEFAULT_DEMO_GAIT_GAIN_RANGE = (0.8, 1.0)
# Mirror images of demonstrations: the motor order's left-right mirror, the same on every robot profile.
MOTOR_MIRROR = MirrorSpec(MIRROR_MOTOR_PERMUTATION, MIRROR_MOTOR_SIGN)


def check_demo_gait_gain(gain, name: str = "demo_gait_gain") -> float:
    """`gain` as a float; ValueError (naming the setting `name`) unless 0 < gain <= MAX_DEMO_GAIT_GAIN."""
    g = float(gain)
    if not (np.isfinite(g) and 0.0 < g <= MAX_DEMO_GAIT_GAIN):
        raise ValueError(f"{name} must be in (0, {MAX_DEMO_GAIT_GAIN}], got {gain}")
    return g


def check_demo_gait_gain_range(gain_range, name: str = "demo_gait_gain_range") -> tuple[float, float]:
    """(low, high) as floats; ValueError (naming the setting `name`) unless 0 < low <= high <=
    MAX_DEMO_GAIT_GAIN."""
    lo, hi = (float(g) for g in gain_range)
    if not 0 < lo <= hi <= MAX_DEMO_GAIT_GAIN:
        raise ValueError(f"{name} must satisfy 0 < low <= high <= {MAX_DEMO_GAIT_GAIN}, "
                         f"got {tuple(gain_range)}")
    return lo, hi


def draw_demo_gait_gain(seed: int, gain_range: tuple[float, float]) -> float:
    """The gait gain of the scripted demonstration run on sim seed `seed`: uniform in `gain_range`, drawn
    from the seed, so a demonstration gets the same gain in a sim session and over ROS 2."""
    return float(np.random.default_rng(seed).uniform(*check_demo_gait_gain_range(gain_range)))


def executed_teach_action(action: np.ndarray, gait_gain: float) -> np.ndarray:
    """What the robot executes for a teach action (15,) in a demonstration slowed by `gait_gain`: the gait
    command (vx, vy, yaw rate) times the gain, the joint offsets as they are. The label stays `action`."""
    out = np.array(action, np.float32, copy=True)  # (15,)
    out[:GAIT_DIMS] *= gait_gain
    return out


def teacher_mode_extra(skill: str) -> dict:
    """{"teacher_action_mode": "joint" | "gait"} for a registered skill, {} otherwise: what every recorder
    (`run_episode`, the ROS brain, a bag) keeps in an episode's `extra`, so the learner picks its joint
    noise (`yan_policy.training.learner.joint_noise_std`)."""
    mode = teacher_action_mode(skill)
    return {TEACHER_MODE_KEY: mode} if mode else {}


@dataclass
class SessionConfig:
    """Teach-session settings.

    Args:
        policy: registry name of the policy to teach ("yan", "transformer", "gru", "mlp").
        learn_seconds: CPU seconds of learning per taught skill (during and after the demos).
        learn_steps: optional cap on optimizer steps per taught skill (None: only the CPU budget counts).
            A step budget makes a session deterministic on any machine (tests use it).
        learn_during_demos: train in a background thread while the demonstrations run.
        corrected_tries: tries after learning in which the teacher may intervene (HG-DAgger).
        camera_size: head-camera (H, W).
        seed: seeds the policy initialisation and the learner's batch sampling.
        execute_chunk: actions of each predicted chunk executed before re-planning (see `Actor`);
            re-planning every tick left the robot hesitating at the onset of a motion
            (docs/experiments.md, 2026-11-23: chunked execution).
        policy_overrides: PolicyConfig fields to override. The default width 128 (about 0.8 M
            parameters for Yan) trains about twice as many steps per CPU second as the library's
            default 256, which matters with a 60 s learning budget.
        demo_gait_gain_range: each scripted demonstration executes the teacher's gait command times a
            gain drawn uniformly from this range (seeded by the demo's seed), labelled with the
            teacher's own command: see `yan_dog.recording`. (1, 1) turns it off. Not below 0.8: a turn
            slowed to 0.6x reaches the teacher's angle only at the episode's end and so shows no stop
            (docs/experiments.md, 2026-11-24: demo gait gain range).
        learner: LearnerConfig (its seed is replaced by `seed`).
        eval_workers: processes that run `evaluate`'s episodes side by side (1: in this process). The
            same tries with the same weights, so the same results, in about 1 / eval_workers of the
            time on as many idle cores. Only where this process can fork (Linux), while no learner
            thread runs; otherwise the episodes run here.
    """

    policy: str = "yan"
    learn_seconds: float = 60.0
    learn_steps: int | None = None
    learn_during_demos: bool = True
    corrected_tries: int = 0
    camera_size: tuple[int, int] = (96, 96)
    seed: int = 0
    execute_chunk: int = 8
    policy_overrides: dict = field(default_factory=lambda: {"d_model": TEACH_D_MODEL})
    demo_gait_gain_range: tuple[float, float] = DEFAULT_DEMO_GAIT_GAIN_RANGE
    learner: LearnerConfig = field(default_factory=LearnerConfig)
    eval_workers: int = 1

    def __post_init__(self):
        self.demo_gait_gain_range = check_demo_gait_gain_range(self.demo_gait_gain_range)
        if self.learn_seconds <= 0:
            raise ValueError(f"learn_seconds must be > 0, got {self.learn_seconds}")
        if self.execute_chunk < 1:
            raise ValueError(f"execute_chunk must be >= 1, got {self.execute_chunk}")
        if self.learn_steps is not None and self.learn_steps < 1:
            raise ValueError(f"learn_steps must be >= 1 or None, got {self.learn_steps}")
        if self.corrected_tries < 0:
            raise ValueError(f"corrected_tries must be >= 0, got {self.corrected_tries}")
        if self.eval_workers < 1:
            raise ValueError(f"eval_workers must be >= 1, got {self.eval_workers}")


def _merged(base: dict, overrides: dict) -> dict:
    """base with overrides applied; a dict given for a section (e.g. "tokenizer") overrides only its keys."""
    out = dict(base)
    for key, value in overrides.items():
        nested = isinstance(value, dict) and isinstance(base.get(key), dict)
        out[key] = _merged(base[key], value) if nested else value
    return out


def build_policy(config: SessionConfig, library: SkillLibrary | None = None) -> torch.nn.Module:
    """The policy a session teaches: the library's, or a new `config.policy` in the hybrid action space
    (seeded with `config.seed`)."""
    torch.manual_seed(config.seed)
    policy = library.load(load_policy) if library is not None else None
    if policy is None:
        pcfg = PolicyConfig.from_dict(
            _merged(PolicyConfig().to_dict(), {**config.policy_overrides, "action_dim": HYBRID_ACTION_DIM})
        )
        policy = make_policy(config.policy, pcfg)
        policy.set_action_normalization(np.zeros(HYBRID_ACTION_DIM), HYBRID_ACTION_NORM_STD)
    return policy


def learner_config(config: SessionConfig) -> LearnerConfig:
    """The session's learner settings, seeded with the session's seed."""
    return LearnerConfig(**{**config.learner.__dict__, "seed": config.seed})


def build_learner(
    config: SessionConfig, library: SkillLibrary | None = None, load_demos: bool = True
) -> OnlineLearner:
    """The online learner of a teach session (in sim or on the ROS brain): `build_policy`'s policy and
    `learner_config`, and (with `load_demos`) every demonstration the library holds. Demonstrations of
    mirror-symmetric skills (`robots.skills.is_mirror_symmetric`) also train as their mirror images
    (`MOTOR_MIRROR`; `LearnerConfig.mirror_prob` = 0 turns it off)."""
    learner = OnlineLearner(
        build_policy(config, library), learner_config(config), MOTOR_MIRROR, is_mirror_symmetric
    )
    if library is not None and load_demos:
        for ep in library.demos() if library.skills else []:
            learner.add_episode(ep)
    return learner
