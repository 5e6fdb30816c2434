"""Run episodes in the simulator and record them in the demonstration format (`yan_policy.data.episode`).

Who acts, and which actions become labels:
- a **demonstration**: the scripted teacher acts; every tick is labelled with its action. With a gait
  gain g < 1 the robot executes the teacher's gait command (vx, vy, yaw rate) times g, while the label
  stays the teacher's own command (DART-style noise in the demonstrations): a demonstration then runs
  slower than the teacher asked, the teacher (closed-loop on the robot's progress) commands longer, and
  across demonstrations with different gains *when* the teacher stops varies while *where* it stops
  (turned 1.85 rad, at the ball) does not. With three demonstrations at one speed, time since the cue
  predicts the stop as well as progress does. (Measured only together with the MSE loss and the stop's
  loss weight: turn_left then stopped at 1.9-2.1 rad in 10 of 10 held-out episodes; see the README.);
- a **try**: the robot (policy) acts alone; nothing is labelled;
- a **corrected try** (HG-DAgger): the robot acts, and when its action stays far from what the teacher
  would do for `INTERVENE_AFTER_TICKS` ticks, the teacher takes over for the rest of the episode; the
  ticks the teacher controlled are labelled and become training data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

import sim
from yan_policy.data.episode import Episode
from yan_policy.training.batching import TEACHER_MODE_KEY

# Distance between the robot's and the teacher's normalised hybrid actions beyond which a tick counts as
# "going wrong" (RMS over the 15 dims, in units of the action scale below).
INTERVENE_RMS = 0.6
INTERVENE_AFTER_TICKS = 10  # consecutive wrong ticks (0.2 s at 50 Hz) before the teacher steps in
# Per-dim scale of hybrid actions (vx, vy, yaw rate, 12 joint offsets) for the distance above.
HYBRID_ACTION_SCALE = np.array([0.5, 0.5, 1.0] + [0.5] * 12, np.float32)
# Per-dim std in which every policy learns hybrid actions (its loss is MSE on action / std), one value for
# all 15 dims. The yaw rate used to be learned in units of 1 rad/s (the turns' rate), which made the small
# steering of come_to_ball (|yaw rate| ~0.1-0.5 rad/s) a quarter of the loss weight it gets at 0.5: at
# seed 1, 60 CPU s left the yaw rate at its mean (-0.04 rad/s) on the training demos themselves, and the
# robot walked past the ball. At 0.5: come_to_ball 0.95 / 0.95 / 0.95 at seeds 0-2 (was 1.00 / 0.50 / 0.85).
HYBRID_ACTION_NORM_STD = np.full_like(HYBRID_ACTION_SCALE, 0.5)
GAIT_DIMS = 3  # the hybrid action's gait command (vx, vy, yaw rate) comes first
# the hold: the zero hybrid action (zero gait command, zero offsets: the trot controller's stand targets).
# What the robot does on a tick without a usable action: a non-finite policy output here and in the ROS
# brain, a stale stream or an idle brain there (yan_dog.brain)
HOLD_ACTION = np.zeros(HYBRID_ACTION_SCALE.shape, np.float32)
MAX_DEMO_GAIT_GAIN = 1.5
# Scripted demonstrations run at a gait gain drawn from this range. Not below 0.8: a turn slowed to 0.6x
# reaches the teacher's angle only at the episode's end and so shows no stop (see `SessionConfig`).
DEFAULT_DEMO_GAIT_GAIN_RANGE = (0.8, 1.0)


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


@dataclass
class EpisodeResult:
    """One episode run in the sim: the recording, the outcome, and which skills' checks it satisfied."""

    episode: Episode
    success: bool
    intervened_at: int | None = None
    skills_satisfied: list[str] = field(default_factory=list)
    frames: list[np.ndarray] = field(default_factory=list)
    nonfinite_actions: int = 0  # ticks where the policy's action had a NaN or inf (the robot held instead)


class CheckTracker:
    """Evaluates several skills' checks on the same episode (for cue-selection accuracy)."""

    def __init__(self, names: list[str], dt_s: float):
        self.trackers = [sim.skills.SuccessTracker(sim.skills.get(n), dt_s) for n in names]

    def update(self, ctx) -> None:
        for tracker in self.trackers:
            if not tracker.success:
                tracker.update(ctx)

    @property
    def done(self) -> set[str]:
        return {t.skill.name for t in self.trackers if t.success}


def teacher_mode_extra(skill: str) -> dict:
    """{"teacher_action_mode": "joint" | "gait"} for a registered skill, {} otherwise: what every recorder
    (`run_episode`, the ROS brain, a bag) keeps in an episode's `extra`, so the learner picks its joint
    noise (`yan_policy.training.learner.joint_noise_std`)."""
    mode = sim.skills.teacher_action_mode(skill)
    return {TEACHER_MODE_KEY: mode} if mode else {}


def run_episode(
    env,
    policy_act: Callable[[dict], np.ndarray] | None,
    mode: str,
    seed: int,
    skill: str | None = None,
    track_skills: list[str] | None = None,
    render_every: int = 0,
    demo_gait_gain: float = 1.0,
) -> EpisodeResult:
    """Run one episode of `env` (hybrid action mode) and record it.

    Args:
        env: a YanDog env made with action_mode="hybrid".
        policy_act: obs -> action, the robot's policy (unused for demonstrations).
        mode: "demo", "try" or "corrected".
        seed: reset seed.
        skill: switch the env to this skill for the episode.
        track_skills: also evaluate these skills' checks (cue-selection accuracy).
        render_every: keep a chase-camera frame every this many ticks (0: none).
        demo_gait_gain: in a demonstration, the robot executes the teacher's gait command times this
            (the label stays the teacher's command; see the module docstring).
    """
    if mode not in ("demo", "try", "corrected"):
        raise ValueError(f"mode must be 'demo', 'try' or 'corrected', got {mode!r}")
    if mode != "demo" and policy_act is None:
        raise ValueError(f"mode {mode!r} needs a policy")
    check_demo_gait_gain(demo_gait_gain)
    u = env.unwrapped
    if u.action_mode != "hybrid":
        raise ValueError("record episodes in action_mode='hybrid' (one action space for every skill)")
    obs, info = env.reset(seed=seed, options={"skill": skill} if skill else None)
    tracker = CheckTracker(track_skills, u.control_dt_s) if track_skills else None
    streams = {k: [] for k in ("camera", "audio", "joints", "imu")}
    actions, labels, stamps, frames = [], [], [], []
    wrong, intervened_at, done, k, nonfinite = 0, None, False, 0, 0
    while not done:
        for key in streams:
            streams[key].append(obs[key])
        stamps.append(info["time_s"])
        if render_every and k % render_every == 0:
            frames.append(env.render())
        teacher = u.teacher_action()
        if mode == "demo":
            action, labelled = executed_teach_action(teacher, demo_gait_gain), True
        elif intervened_at is not None:
            action, labelled = teacher, True
        else:
            action, labelled = np.asarray(policy_act(obs), np.float32), False
            if not np.isfinite(action).all():  # the env would refuse it: hold, count it, go on
                action, nonfinite = HOLD_ACTION.copy(), nonfinite + 1
            if mode == "corrected":
                rms = float(np.sqrt(np.mean(((action - teacher) / HYBRID_ACTION_SCALE) ** 2)))
                wrong = wrong + 1 if rms > INTERVENE_RMS else 0
                if wrong >= INTERVENE_AFTER_TICKS:
                    intervened_at, action, labelled = k, teacher, True
        actions.append(teacher if labelled else action)
        labels.append(labelled)
        obs, _, terminated, truncated, info = env.step(action)
        if tracker:
            tracker.update(u.skill_context())
        done, k = terminated or truncated, k + 1
    episode = Episode(
        skill=info["skill"],
        action_mode="hybrid",
        control_hz=u.control_hz,
        stamps_s=np.asarray(stamps, np.float64),
        action=np.stack(actions),
        label_mask=np.asarray(labels),
        cue=info["cue"],
        source="scripted" if mode == "demo" else "intervention",
        success=bool(info["success"]),
        seed=seed,
        extra={"intervened_at": intervened_at, **teacher_mode_extra(u.skill.name),
               **({"gait_gain": demo_gait_gain} if mode == "demo" else {})},
        **{k: np.stack(v) for k, v in streams.items()},
    )
    return EpisodeResult(
        episode=episode,
        success=bool(info["success"]),
        intervened_at=intervened_at,
        skills_satisfied=sorted(tracker.done) if tracker else [],
        frames=frames,
        nonfinite_actions=nonfinite,
    )
