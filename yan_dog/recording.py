"""Run episodes in the simulator and record them in the demonstration format (`yan_policy.data.episode`).

Who acts, and which actions become labels:
- a **demonstration**: the scripted teacher acts; every tick is labelled with its action. With a gait
  gain g < 1 the robot executes the teacher's gait command (vx, vy, yaw rate) times g, while the label
  stays the teacher's own command (DART-style noise in the demonstrations): a demonstration then runs
  slower than the teacher asked, the teacher (closed-loop on the robot's progress) commands longer, and
  across demonstrations with different gains *when* the teacher stops varies while *where* it stops
  (turned 1.85 rad, at the ball) does not. With three demonstrations at one speed, time since the cue
  predicts the stop as well as progress does (docs/experiments.md, 2026-11-24: DART-style
  demonstrations);
- a demonstration by a **human-like demonstrator** (`sim.humans`, `run_episode(demonstrator=...)`): the
  simulated person's joystick and pose-editor inputs act and are the labels (source "teleop");
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
from robots.actions import HOLD_ACTION
from yan_dog.teach_setup import check_demo_gait_gain, executed_teach_action, teacher_mode_extra
from yan_policy.data.episode import Episode, EpisodeBuilder

# Distance between the robot's and the teacher's normalised hybrid actions beyond which a tick counts as
# "going wrong" (RMS over the 15 dims, in units of the action scale below).
INTERVENE_RMS = 0.6
INTERVENE_AFTER_TICKS = 10  # consecutive wrong ticks (0.2 s at 50 Hz) before the teacher steps in
# Per-dim scale of hybrid actions (vx, vy, yaw rate, 12 joint offsets) for the distance above.
HYBRID_ACTION_SCALE = np.array([0.5, 0.5, 1.0] + [0.5] * 12, np.float32)
# Whose voice a spoken cue is said in (`sim.speech`), per episode mode: every episode the learner trains on
# (demonstrations, corrected tries) hears the demonstration speakers; tries the robot makes alone
# (evaluation) hear held-out ones, so cue accuracy is measured on voices no demonstration used.
CUE_SPLIT_OF_MODE = {"demo": "demo", "corrected": "demo", "try": "eval"}


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


def run_episode(
    env,
    policy_act: Callable[[dict], np.ndarray] | None,
    mode: str,
    seed: int,
    skill: str | None = None,
    track_skills: list[str] | None = None,
    render_every: int = 0,
    demo_gait_gain: float = 1.0,
    demonstrator=None,
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
        demonstrator: in a demonstration, who demonstrates instead of the scripted teacher: a
            `sim.humans.HumanDemonstrator` (a person's joystick and pose editor; executed as labelled,
            recorded with source "teleop" and the person in `extra`). None: the scripted teacher.
    """
    if mode not in ("demo", "try", "corrected"):
        raise ValueError(f"mode must be 'demo', 'try' or 'corrected', got {mode!r}")
    if mode != "demo" and policy_act is None:
        raise ValueError(f"mode {mode!r} needs a policy")
    check_demo_gait_gain(demo_gait_gain)
    u = env.unwrapped
    if u.action_mode != "hybrid":
        raise ValueError("record episodes in action_mode='hybrid' (one action space for every skill)")
    options = {"skill": skill} if skill else {}
    obs, info = env.reset(seed=seed, options={**options, "cue_split": CUE_SPLIT_OF_MODE[mode]})
    human = demonstrator if mode == "demo" else None
    if human is not None:
        human.begin(env, u.skill.name, seed, u.skill.start_posture)
    tracker = CheckTracker(track_skills, u.control_dt_s) if track_skills else None
    recorder = EpisodeBuilder(start_s=0.0)  # stamps: the env's episode time, 0 at reset
    frames: list[np.ndarray] = []
    wrong, intervened_at, done, k, nonfinite = 0, None, False, 0, 0
    while not done:
        if render_every and k % render_every == 0:
            frames.append(env.render())
        teacher = human.action(env) if human is not None else u.teacher_action()
        if human is not None:  # the person's inputs are what the robot executes
            action, labelled = teacher, True
        elif mode == "demo":
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
        recorder.append(obs, teacher if labelled else action, info["time_s"], label=labelled)
        obs, _, terminated, truncated, info = env.step(action)
        if tracker:
            tracker.update(u.skill_context())
        done, k = terminated or truncated, k + 1
    episode = recorder.build(
        skill=info["skill"],
        action_mode="hybrid",
        control_hz=u.control_hz,
        cue=info["cue"],
        source=("teleop" if human is not None else "scripted") if mode == "demo" else "intervention",
        success=bool(info["success"]),
        seed=seed,
        extra={"intervened_at": intervened_at, **teacher_mode_extra(u.skill.name),
               **({"gait_gain": demo_gait_gain} if mode == "demo" and human is None else {}),
               **(human.describe() if human is not None else {})},
    )
    return EpisodeResult(
        episode=episode,
        success=bool(info["success"]),
        intervened_at=intervened_at,
        skills_satisfied=sorted(tracker.done) if tracker else [],
        frames=frames,
        nonfinite_actions=nonfinite,
    )
