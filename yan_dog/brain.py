"""The robot's brain without ROS: one control tick at a time, teaching, trying and learning.

`BrainCore` is what the `yan_brain` node runs on its control timer (the node only wires topics and
services to it). It owns
- the online learner (policy + optimizer), built from the same policy and settings as a sim teach session
  (`yan_dog.teach_setup.build_policy`); by default it trains in a child process
  (`yan_policy.training.learner_process.ProcessLearner`), or in a background thread
  (`yan_policy.training.learner`);
- the actor (newest published weights, recurrent state, chunked execution);
- the teaching state machine:

      idle ──start_demo──> demonstrating ──stop_demo──> idle   (the episode goes to the learner)
      trying on/off: when not demonstrating, the policy acts (else the robot holds the stand pose)
      learning on/off: the background learner runs / stops
      save_skill: commit the policy, its native memory and the skill's demonstrations to the skill library
      reset_memory: forget the native memory (which otherwise lives across tries, saves and restarts)
      set_skill(name): the skill the next demonstrations teach
      rename_skill / forget_skill: a person's rename or delete of a skill, in the running learner too

`tick(obs, teach_action, now_s)` returns 12 joint targets (rad). Actions are 15-D hybrid actions (gait
command + joint offsets) decoded exactly as the sim env's hybrid mode (`robots.hybrid_joint_targets`,
with the brain's own trot controller for its robot's profile, `BrainConfig.robot`). Safety: obs None (a
stale stream) -> hold; idle and not trying -> hold; a non-finite or malformed action -> hold (counted);
every output is clamped to the robot's joint limits and moves at most `max_joint_speed_rad_s` (default:
each motor's speed limit) from the previous command (the first command starts from the measured joint
positions), so neither a policy jump nor the switch to the hold can slam a joint.
The hold is the hybrid zero action: stand targets of the trot controller.

While a demonstration runs, each tick's observation and teach action are recorded; ticks without a
fresh teach action are recorded as context only (label_mask False) and the robot holds meanwhile.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from robots.actions import HOLD_ACTION, HYBRID_ACTION_DIM, hybrid_joint_targets
from robots.gait import TrotController
from robots.profile import DEFAULT_ROBOT, NUM_MOTORS, get_profile
from robots.skills import is_mirror_symmetric
from yan_dog.runtime import Actor
from yan_dog.spoken_commands import load_non_command_wavs
from yan_dog.streams import OBS_STREAMS, ObsSpec, obs_from_matrices
from yan_dog.teach_setup import (
    MOTOR_MIRROR,
    SessionConfig,
    build_learner,
    build_policy,
    check_demo_gait_gain,
    executed_teach_action,
    learner_config,
    teacher_mode_extra,
)
from yan_dog.tick_timing import PolicyStepTiming, thread_usage
from yan_policy.data.episode import SOURCES, EpisodeBuilder
from yan_policy.data.library import SkillLibrary, check_skill_name
from yan_policy.modules.tokenizers import episode_at_image_size
from yan_policy.training.learner_process import ProcessLearner

MODES = ("idle", "demonstrating")
MIN_DEMO_TICKS = 10  # shorter demonstrations (0.2 s at 50 Hz) are discarded as accidental
MAX_DEMO_S = 120.0  # a demonstration is not recorded beyond this (bounds memory: ~100 MB at 64x64)
MAX_NICE = 19
WARM_UP_STEPS = 3  # policy steps on blank observations at start-up (`BrainCore.warm_up`)
LEARNER_NICE = 10
LEARNER_THREAD_NAME = "yan-learner"  # the name OnlineLearner gives its background thread
# Joint targets move at most as fast as each motor can (its profile's velocity limit); the A1's is 21 rad/s,
# and the scripted trot at its fastest command needs ~16 rad/s, so gaits pass unchanged.
MAX_JOINT_SPEED_RAD_S = max(get_profile("a1").velocity_limit_radps)


@dataclass
class BrainConfig:
    """Brain settings.

    Args:
        skill: the skill demonstrations teach (changeable with `set_skill`).
        robot: the robot's profile name (`robots.PROFILES`: "a1", "go1", "go2"): its joint limits, motor
            speeds and legs (the trot controller's IK).
        control_hz: control rate (Hz); episodes are recorded at this rate.
        learning: run the background learner (it trains whenever it has demonstrations).
        trying: start with the policy acting when no demonstration runs.
        demo_source: `Episode.source` of recorded demonstrations ("teleop" for a person, "scripted" for
            the sim's scripted teacher node).
        cue: the cue name recorded with demonstrations (None: unknown, e.g. a person's own command).
        demo_gait_gain: in a demonstration from the scripted teacher (`demo_source` "scripted"), the
            robot executes the teach action's gait command (vx, vy, yaw rate) times this gain and records
            the teach action as it came (see `yan_dog.recording`). It applies to the next demonstration
            only: `stop_demo` sets it back to 1 (the teacher node sets it before each one). A person's
            demonstrations are never scaled.
        min_demo_ticks, max_demo_s: see the module constants.
        learner_process: train in a child process (`yan_policy.training.learner_process.ProcessLearner`: no
            interpreter lock shared with the control loop, weights handed over through shared memory)
            instead of a thread of this process (`OnlineLearner`).
        learner_sched_idle: run the learner process under Linux's SCHED_IDLE policy (only on a core that
            nothing else wants).
        learner_nice: niceness of the learner process or thread (Linux; 0 = unchanged), so the OS runs
            the control loop and the robot's processes first when the cores are busy.
        max_joint_speed_rad_s: the fastest a joint target may move between two commands (rad/s); None:
            each motor's speed limit (the profile's `velocity_limit_radps`).
        session: policy kind, its size, seed, chunked execution and learner settings, shared with sim
            teach sessions (`SessionConfig`; its learn_seconds and camera_size are not used here). For
            spoken commands, set its learner's `negative_prob` > 0 (`yan_dog.spoken_commands.
            SPOKEN_CUE_LEARNER`: 0.25, with `cue_audio_augment`): the robot also learns to hold still
            on other sounds. Off by default: a brain does not know whether its commands are words.
        non_command_wavs: a folder of WAV files of sounds in the robot's home that are no command
            (television, talk, other words, music); the learner's non-command copies hear them besides
            its numpy-made sounds (`yan_dog.spoken_commands.load_non_command_wavs`). Needs
            `session.learner.negative_prob` > 0. None or "": none.
    """

    skill: str = "sit"
    robot: str = DEFAULT_ROBOT
    control_hz: float = 50.0
    learning: bool = True
    trying: bool = False
    demo_source: str = "teleop"
    cue: str | None = None
    demo_gait_gain: float = 1.0
    min_demo_ticks: int = MIN_DEMO_TICKS
    max_demo_s: float = MAX_DEMO_S
    learner_process: bool = True  # the soak's late ticks were mostly the control thread waiting for the GIL
    learner_sched_idle: bool = True
    learner_nice: int = LEARNER_NICE  # docs/experiments.md, 2026-11-23: learner nice
    max_joint_speed_rad_s: float | None = None
    session: SessionConfig = field(default_factory=SessionConfig)
    non_command_wavs: str | None = None

    def __post_init__(self):
        if not self.skill:
            raise ValueError("skill must be a non-empty name")
        if not self.control_hz > 0:
            raise ValueError(f"control_hz must be > 0, got {self.control_hz}")
        if self.demo_source not in SOURCES:
            raise ValueError(f"demo_source must be one of {SOURCES}, got {self.demo_source!r}")
        if self.min_demo_ticks < 1:
            raise ValueError(f"min_demo_ticks must be >= 1, got {self.min_demo_ticks}")
        self.demo_gait_gain = check_demo_gait_gain(self.demo_gait_gain)
        if not self.max_demo_s > 0:
            raise ValueError(f"max_demo_s must be > 0, got {self.max_demo_s}")
        if not 0 <= self.learner_nice <= MAX_NICE:
            raise ValueError(f"learner_nice must be in [0, {MAX_NICE}], got {self.learner_nice}")
        get_profile(self.robot)  # a ValueError naming the known robots
        if self.max_joint_speed_rad_s is not None and not self.max_joint_speed_rad_s > 0:
            raise ValueError(f"max_joint_speed_rad_s must be > 0, got {self.max_joint_speed_rad_s}")
        if self.cue == "":
            self.cue = None
        self.non_command_wavs = self.non_command_wavs or None
        if self.non_command_wavs is not None and self.session.learner.negative_prob <= 0:
            raise ValueError(f"non_command_wavs ({self.non_command_wavs}) are heard only with "
                             "negative_prob > 0 (the non-command copies): set it, e.g. to 0.25")


def process_learner(policy, config: BrainConfig) -> ProcessLearner:
    """The brain's learner process for `policy`: `config.session`'s learner settings, at the brain's CPU
    priority (`learner_nice`, `learner_sched_idle`), with the mirror images (`bench/few_shot.py`'s
    loop part measures the control loop beside it)."""
    return ProcessLearner(policy, learner_config(config.session), nice=config.learner_nice,
                          sched_idle=config.learner_sched_idle, mirror=MOTOR_MIRROR,
                          symmetric=is_mirror_symmetric)


class BrainCore:
    """Teach, try and learn on a robot (see the module docstring).

    Args:
        config: BrainConfig.
        library: the skill library (None: skills live in memory only; `save_skill` then fails). Its
            policy and demonstrations are loaded (demos resized to the policy's camera size), and its
            native memory restored into the actor (a version saved without one: a fresh memory).

    Thread safety: `tick` runs on the control thread, the other methods on service threads; one lock
    guards the state machine and is never held during training or file writes.
    """

    def __init__(self, config: BrainConfig | None = None, library: SkillLibrary | None = None):
        self.config = config = config or BrainConfig()
        self.library = library
        # read first: a bad file is one error line before any policy is built
        sounds = load_non_command_wavs(config.non_command_wavs) if config.non_command_wavs else []
        if config.learner_process:
            self.learner = process_learner(build_policy(config.session, library), config)
        else:
            self.learner = build_learner(config.session, library, load_demos=False)
        if sounds:
            self.learner.set_non_command_sounds(sounds)
        self.spec = ObsSpec.from_tokenizer(self.learner.policy.config.tokenizer)
        if library is not None and library.skills:
            for ep in library.demos():
                # resized before it goes to a learner process (a quarter of the bytes through the pipe)
                self.learner.add_episode(episode_at_image_size(ep, self.spec.image_size))
        self.actor = Actor(self.learner, execute_chunk=config.session.execute_chunk,
                           memory=library.memory if library is not None else None)
        self.profile = get_profile(config.robot)
        self.gait = TrotController(profile=self.profile)
        self.dt_s = 1.0 / config.control_hz
        speed = config.max_joint_speed_rad_s
        speed_radps = np.asarray(self.profile.velocity_limit_radps if speed is None else [speed] * NUM_MOTORS)
        self.max_step_rad = speed_radps * self.dt_s  # (12,)
        self._last_targets: np.ndarray | None = None  # (12,) the previous command (rad)
        self.skill = config.skill
        self.trying = config.trying
        self.learning = False
        self.mode = "idle"
        self._demo: EpisodeBuilder | None = None  # the demonstration being recorded
        self._lock = threading.RLock()
        self._learning_lock = threading.Lock()  # serialises learner start / stop
        self._stopping: threading.Thread | None = None
        self.counts = {"ticks": 0, "stale_holds": 0, "idle_holds": 0, "bad_actions": 0,
                       "teach_missing": 0, "policy_ticks": 0, "demos": 0, "demos_discarded": 0,
                       "speed_limited": 0}
        self.last_event = "started"
        self.last_policy_step: PolicyStepTiming | None = None  # the last tick's policy step (None: no step)
        self.warm_up()
        self.set_learning(config.learning)

    def warm_up(self, steps: int = WARM_UP_STEPS) -> None:
        """Step the actor's policy on blank observations from a fresh state of its own (the actor's state is
        untouched), so that the first tick that tries does not pay for torch's first run: in a 10-min
        up_loop that tick's policy step took 397 ms, 333 of them asleep on 137 page faults (torch's code
        and buffers, loaded on first use; docs/experiments.md, 2026-12-08)."""
        blank = [np.zeros(self.spec.shape(stream), np.float32) for stream in OBS_STREAMS]
        obs = obs_from_matrices(*blank, n_joints=self.spec.n_joints)
        state = self.actor.policy.initial_state()
        for _ in range(steps):
            _, state = self.actor.policy.step_chunk(obs, state)  # (K, A) discarded

    # --- the control tick ---------------------------------------------------------------------------------
    def tick(self, obs: dict | None, teach_action: np.ndarray | None, now_s: float) -> np.ndarray:
        """One control tick -> 12 joint targets (rad), finite and inside the joint limits.

        Args:
            obs: this tick's observation (camera, audio, joints, imu), or None when inputs are stale.
            teach_action: the latest fresh 15-D teach action, or None (only used while demonstrating).
            now_s: the control clock (s), for the demonstration's time stamps.
        """
        with self._lock:
            self.counts["ticks"] += 1
            self.last_policy_step = None  # set below if this tick steps the policy
            if self._last_targets is None and obs is not None:  # start from where the joints are
                measured = np.asarray(obs["joints"], np.float64)[0]  # (12,) positions
                if measured.shape == (NUM_MOTORS,) and np.isfinite(measured).all():
                    self._last_targets = self.profile.clamp(measured)
            if obs is None:
                self.counts["stale_holds"] += 1
                return self._decode(HOLD_ACTION)
            if self.mode == "demonstrating":
                if teach_action is not None and not self._valid(teach_action):
                    teach_action = None
                if teach_action is None:
                    self.counts["teach_missing"] += 1
                self._demo.append(obs, teach_action, now_s)  # labelled with the teach action as it came
                if teach_action is None:
                    return self._decode(HOLD_ACTION)
                gain = self._demo.metadata["extra"]["gait_gain"]  # the demonstration's, kept in its extra
                return self._decode(executed_teach_action(teach_action, gain))
            if not self.trying:
                self.counts["idle_holds"] += 1
                return self._decode(HOLD_ACTION)
            swapped = self.actor.refresh()
            t0_s, usage0 = time.perf_counter(), thread_usage()
            action = self.actor.act(obs)  # (15,)
            wall_s, usage1 = time.perf_counter() - t0_s, thread_usage()
            deltas = () if usage0 is None else tuple(b - a for a, b in zip(usage0, usage1, strict=True))
            self.last_policy_step = PolicyStepTiming(wall_s, swapped, *deltas)
            self.counts["policy_ticks"] += 1
            return self._decode(action if self._valid(action) else HOLD_ACTION)

    def _valid(self, action) -> bool:
        a = np.asarray(action, np.float64)
        ok = a.shape == (HYBRID_ACTION_DIM,) and bool(np.isfinite(a).all())
        if not ok:
            self.counts["bad_actions"] += 1
        return ok

    def _decode(self, action: np.ndarray) -> np.ndarray:
        targets = hybrid_joint_targets(self.gait, np.asarray(action, np.float64), self.dt_s)  # (12,)
        if targets.shape != (NUM_MOTORS,) or not np.isfinite(targets).all():  # cannot happen; never send it
            self.counts["bad_actions"] += 1
            targets = self.gait.stand_targets()
        return self._limit_speed(self.profile.clamp(targets))

    def _limit_speed(self, targets: np.ndarray) -> np.ndarray:
        """Move each target at most `max_step_rad` from the previous command (inside the limits too)."""
        if self._last_targets is not None:
            step = targets - self._last_targets  # (12,)
            if (np.abs(step) > self.max_step_rad).any():
                self.counts["speed_limited"] += 1
                targets = self._last_targets + np.clip(step, -self.max_step_rad, self.max_step_rad)
        self._last_targets = targets
        return targets

    # --- teaching -----------------------------------------------------------------------------------------
    def start_demo(self, now_s: float) -> tuple[bool, str]:
        with self._lock:
            if self.mode == "demonstrating":
                return False, "a demonstration is already running"
            max_ticks = int(self.config.max_demo_s * self.config.control_hz)
            scripted = self.config.demo_source == "scripted"
            gain = self.config.demo_gait_gain if scripted else 1.0
            # a tick without a teach action is recorded as the hold, unlabelled; a clock that did not
            # advance gives no new tick
            self._demo = EpisodeBuilder(
                start_s=now_s, max_ticks=max_ticks, hold_action=HOLD_ACTION,
                skill=self.skill, action_mode="hybrid", cue=self.config.cue,
                extra={"recorded_by": "yan_brain", "gait_gain": gain, **teacher_mode_extra(self.skill)},
            )
            self.mode = "demonstrating"
            self.gait.reset()
            slowed = f" at {gain:.2f}x gait speed" if gain != 1.0 else ""
            return self._event(True, f"demonstrating {self.skill!r}{slowed}")

    def set_demo_gait_gain(self, gain: float) -> tuple[bool, str]:
        """The gait gain of the next scripted demonstration (see `BrainConfig.demo_gait_gain`)."""
        try:
            gain = check_demo_gait_gain(gain)
        except ValueError as e:
            return False, str(e)
        with self._lock:
            self.config.demo_gait_gain = gain
        return True, f"the next scripted demonstration at {gain:.2f}x gait speed"

    def stop_demo(self) -> tuple[bool, str]:
        """End the demonstration; a usable one goes to the learner (and to the library, if any)."""
        with self._lock:
            if self.mode != "demonstrating":
                return False, "no demonstration is running"
            demo, self._demo, self.mode = self._demo, None, "idle"
            self.config.demo_gait_gain = 1.0  # one demonstration only: the teacher sets it for each
            self.gait.reset()
        labelled = demo.labelled
        if len(demo) < self.config.min_demo_ticks or labelled == 0:
            self.counts["demos_discarded"] += 1
            return self._event(False, f"demonstration discarded: {len(demo)} ticks, {labelled} with a teach "
                                      f"action (need >= {self.config.min_demo_ticks} ticks and >= 1 action)")
        episode = demo.build(control_hz=self.config.control_hz, source=self.config.demo_source,
                             extra={"truncated": demo.truncated})
        self.learner.focus = episode.skill
        self.learner.add_episode(episode)
        if self.library is not None:
            self.library.add_demo(episode)
        self.counts["demos"] += 1
        return self._event(True, f"demonstration of {episode.skill!r} kept: {len(episode)} ticks, "
                                 f"{labelled} labelled")

    def abort_demo(self, reason: str) -> tuple[bool, str, int]:
        """Drop the demonstration being recorded: nothing of it reaches the learner or the library.
        Returns (ok, message, ticks dropped)."""
        with self._lock:
            if self.mode != "demonstrating":
                return False, "no demonstration is running", 0
            ticks, skill = len(self._demo), self.skill
            self._demo, self.mode = None, "idle"
            self.config.demo_gait_gain = 1.0  # as stop_demo: the gain was for this demonstration only
            self.gait.reset()
            self.counts["demos_discarded"] += 1
            ok, message = self._event(True, f"demonstration of {skill!r} discarded {reason}: {ticks} ticks")
            return ok, message, ticks

    def set_trying(self, on: bool) -> tuple[bool, str]:
        with self._lock:
            if on and not self.trying:
                self.actor.refresh()
                self.actor.reset()  # a try starts like an episode; the native memory carries on
                self.gait.reset()
            self.trying = bool(on)
            return self._event(True, f"trying {'on' if on else 'off'}")

    def set_learning(self, on: bool) -> tuple[bool, str]:
        """Start or stop the background learner. Stopping returns at once: the learner finishes its
        current step (up to a few hundred ms) in a helper thread, so the caller (the control executor)
        never waits for it; `wait_learner_stopped` waits."""
        with self._learning_lock:
            self.wait_learner_stopped()
            if on:
                try:
                    self.learner.start()
                except RuntimeError as e:  # a learner process that failed or was killed
                    self.learning = False
                    return self._event(False, f"cannot start learning: {e}")
                self._nice_learner()
            elif self.learner.running:
                self._stopping = threading.Thread(target=self._stop_learner, name="yan-learner-stop",
                                                  daemon=True)
                self._stopping.start()
            self.learning = bool(on)
            return self._event(True, f"learning {'on' if on else 'off'}")

    def _nice_learner(self) -> None:
        """Lower the learner thread's CPU priority (Linux threads have their own niceness); a learner
        process nices itself."""
        if self.config.learner_process or not self.config.learner_nice or not hasattr(os, "setpriority"):
            return
        for thread in threading.enumerate():
            if thread.name == LEARNER_THREAD_NAME and thread.native_id is not None:
                os.setpriority(os.PRIO_PROCESS, thread.native_id, self.config.learner_nice)

    def _stop_learner(self) -> None:
        try:
            self.learner.stop()
        except (RuntimeError, TimeoutError) as e:  # a thread learner's error is its cause
            self._event(False, f"the learner had failed: {e.__cause__ or e!r}")

    def wait_learner_stopped(self, timeout_s: float | None = None) -> None:
        """Wait until a learner stop requested by `set_learning(False)` has completed."""
        if self._stopping is not None:
            self._stopping.join(timeout_s)
            if not self._stopping.is_alive():
                self._stopping = None

    def set_skill(self, name: str) -> tuple[bool, str]:
        with self._lock:
            try:
                check_skill_name(name)
            except ValueError as e:
                return False, str(e)
            if self.mode == "demonstrating":
                return False, f"cannot switch skill during a demonstration of {self.skill!r}"
            self.skill = name
            return self._event(True, f"skill {name!r}")

    def set_cue(self, cue: str | None) -> tuple[bool, str]:
        """The cue recorded with the next demonstrations (None or "": none); not during a demonstration."""
        with self._lock:
            if self.mode == "demonstrating":
                return False, "cannot change the cue during a demonstration"
            self.config.cue = cue or None
            return self._event(True, f"cue {cue!r}" if cue else "no cue")

    def rename_skill(self, old: str, new: str) -> tuple[bool, str]:
        """In the running learner, file the demonstrations of `old` under `new` (as a library rename does
        on disk), and select `new` if `old` was selected. Refused while `old` is being demonstrated: that
        demonstration would still arrive under the old name."""
        try:
            check_skill_name(new)
        except ValueError as e:
            return False, str(e)
        with self._lock:
            if self.mode == "demonstrating" and self.skill == old:
                return False, f"cannot rename {old!r} during its demonstration"
            if self.skill == old:
                self.skill = new
        moved = self.learner.rename_skill(old, new)  # outside the lock, as every learner call
        return self._event(True, f"the learner's {moved} demonstrations of {old!r} renamed to {new!r}")

    def forget_skill(self, name: str) -> tuple[bool, str]:
        """Drop every demonstration of `name` from the running learner (it trains on the other skills).
        The selection stays: the next demonstrations of `name` teach it afresh. Refused while `name` is
        being demonstrated: that demonstration would bring it back."""
        with self._lock:
            if self.mode == "demonstrating" and self.skill == name:
                return False, f"cannot delete {name!r} during its demonstration"
        dropped = self.learner.forget_skill(name)
        return self._event(True, f"the learner dropped {dropped} demonstrations of {name!r}")

    def save_skill(self) -> tuple[bool, str]:
        """Commit the newest published policy and the library's skills as a new library version."""
        if self.library is None:
            return False, "no skill library configured (parameter library_dir)"
        if self.skill not in self.library.skills:
            return False, f"no demonstrations of {self.skill!r} in the library yet"
        version, policy = self.learner.latest()  # a frozen copy: safe to save while training goes on
        with self._lock:
            memory = self.actor.memory()  # the native memory, as of the last tick
        self.library.skills[self.skill].taught_at = time.time()
        try:
            name = self.library.commit(policy, memory)
        except ValueError as e:  # a diverged (non-finite) memory: nothing written
            return self._event(False, f"not saved: {e}")
        return self._event(True, f"saved {self.skill!r} as library version {name} (weights v{version})")

    def reset_memory(self) -> tuple[bool, str]:
        """Forget the native memory (back to the policy's learned initial value) and start the current
        try afresh. Only the user's call does this; the next save commits the fresh memory."""
        with self._lock:
            self.actor.reset(keep_memory=False)
        return self._event(True, "native memory reset")

    def _event(self, ok: bool, message: str) -> tuple[bool, str]:
        self.last_event = message
        return ok, message

    # --- status -------------------------------------------------------------------------------------------
    def status(self) -> dict:
        with self._lock:
            return {
                "mode": self.mode,
                "skill": self.skill,
                "trying": self.trying,
                "learning": self.learning and self.learner.running,
                "learner_steps": self.learner.steps,
                "weights_version": self.actor.version,
                "published_version": self.learner.published_version,
                "episodes": len(self.learner.buffer),
                "skills": self.learner.buffer.skills(),
                "demo_ticks": len(self._demo) if self._demo is not None else 0,
                "last_event": self.last_event,
                **self.counts,
            }

    def close(self) -> None:
        self.wait_learner_stopped()
        if self.learner.running:
            try:
                self.learner.stop()
            except (RuntimeError, TimeoutError):
                pass  # already reported by status / set_learning; shutting down anyway
        if isinstance(self.learner, ProcessLearner):
            self.learner.close()
