"""The robot's brain without ROS: one control tick at a time, teaching, trying and learning.

`BrainCore` is what the `yan_brain` node runs on its control timer (the node only wires topics and
services to it). It owns
- the online learner (policy + optimizer), built from the same policy and settings as a sim teach session
  (`yan_dog.session.build_policy`); by default it trains in a child process
  (`yan_policy.training.learner_process.ProcessLearner`), or in a background thread
  (`yan_policy.training.learner`);
- the actor (newest published weights, recurrent state, chunked execution);
- the teaching state machine:

      idle ──start_demo──> demonstrating ──stop_demo──> idle   (the episode goes to the learner)
      trying on/off: when not demonstrating, the policy acts (else the robot holds the stand pose)
      learning on/off: the background learner runs / stops
      save_skill: commit the policy and the skill's demonstrations to the skill library
      set_skill(name): the skill the next demonstrations teach

`tick(obs, teach_action, now_s)` returns 12 joint targets (rad). Actions are 15-D hybrid actions (gait
command + joint offsets) decoded exactly as the sim env's hybrid mode (`sim.env.hybrid_joint_targets`,
with the brain's own trot controller). Safety: obs None (a stale stream) -> hold; idle and not trying ->
hold; a non-finite or malformed action -> hold (counted); every output is clamped to the joint limits and
moves at most `max_joint_speed_rad_s` from the previous command (the first command starts from the
measured joint positions), so neither a policy jump nor the switch to the hold can slam a joint.
The hold is the hybrid zero action: stand targets of the trot controller.

While a demonstration runs, each tick's observation and teach action are recorded; ticks without a
fresh teach action are recorded as context only (label_mask False) and the robot holds meanwhile.
"""

from __future__ import annotations

import gc
import os
import resource
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

import sim.skills
from sim.env import hybrid_joint_targets
from sim.gait import TrotController
from sim.robot import NUM_MOTORS, clamp_to_joint_limits
from yan_dog.recording import HOLD_ACTION, check_demo_gait_gain, executed_teach_action, teacher_mode_extra
from yan_dog.runtime import Actor
from yan_dog.session import (
    A1_MIRROR,
    HYBRID_ACTION_DIM,
    SessionConfig,
    build_learner,
    build_policy,
    learner_config,
)
from yan_dog.streams import TokenSpec
from yan_policy.data.episode import SOURCES, Episode
from yan_policy.data.library import SkillLibrary, check_skill_name
from yan_policy.modules.tokenizers import episode_at_image_size
from yan_policy.training.learner_process import ProcessLearner

MODES = ("idle", "demonstrating")
MIN_DEMO_TICKS = 10  # shorter demonstrations (0.2 s at 50 Hz) are discarded as accidental
MAX_DEMO_S = 120.0  # a demonstration is not recorded beyond this (bounds memory: ~100 MB at 64x64)
STATS_WINDOW_TICKS = 500  # 10 s at 50 Hz
GC_PAUSES_KEPT = 32  # recent garbage-collector pauses kept to explain a late tick
MAX_NICE = 19
LEARNER_NICE = 10
LEARNER_THREAD_NAME = "yan-learner"  # the name OnlineLearner gives its background thread
PHASE_TARGET_S = 0.004  # ticks run this long after the sensor sample arrives (covers the transport jitter)
PHASE_TOLERANCE_S = 0.003
PHASE_WINDOW_TICKS = 50  # one phase decision per second at 50 Hz
# Joint targets move at most this fast (rad/s): the A1's motor speed limit (Unitree A1 spec, 21 rad/s);
# the scripted trot at its fastest command needs ~16 rad/s, so gaits pass unchanged.
MAX_JOINT_SPEED_RAD_S = 21.0


@dataclass
class BrainConfig:
    """Brain settings.

    Args:
        skill: the skill demonstrations teach (changeable with `set_skill`).
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
        max_joint_speed_rad_s: the fastest a joint target may move between two commands (rad/s).
        session: policy kind, its size, seed, chunked execution and learner settings, shared with sim
            teach sessions (`SessionConfig`; its learn_seconds and camera_size are not used here).
    """

    skill: str = "sit"
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
    learner_nice: int = LEARNER_NICE  # measured: tick p99 37 -> 15 ms while learning, same learner steps
    max_joint_speed_rad_s: float = MAX_JOINT_SPEED_RAD_S
    session: SessionConfig = field(default_factory=SessionConfig)

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
        if not self.max_joint_speed_rad_s > 0:
            raise ValueError(f"max_joint_speed_rad_s must be > 0, got {self.max_joint_speed_rad_s}")
        if self.cue == "":
            self.cue = None


class TickStats:
    """Timing of the control loop over a sliding window: tick periods, missed ticks, the latency from the
    source stamp of a tick's sensor input to the publication of its command (it includes the wait for the
    next tick: the timer is not driven by the sensors), and the tick's own compute time.

    Args:
        period_s: the control period (s).
        window: ticks kept for the medians / percentiles.
    """

    def __init__(self, period_s: float, window: int = STATS_WINDOW_TICKS):
        if not period_s > 0 or window < 2:
            raise ValueError(f"need period_s > 0 and window >= 2, got {period_s}, {window}")
        self.period_s = period_s
        self.starts_s: deque[float] = deque(maxlen=window)
        self.latencies_s: deque[float] = deque(maxlen=window)
        self.compute_s: deque[float] = deque(maxlen=window)
        self.ticks = 0
        self.missed_ticks = 0

    def tick(self, start_s: float) -> int:
        """A tick started at `start_s` (monotonic s); a gap of k >= 1 extra whole periods: k missed.
        Returns the ticks this one missed."""
        missed = 0
        if self.starts_s:
            late = start_s - self.starts_s[-1] - self.period_s
            missed = max(0, int(late // self.period_s))
            self.missed_ticks += missed
        self.starts_s.append(start_s)
        self.ticks += 1
        return missed

    def latency(self, seconds: float) -> None:
        self.latencies_s.append(seconds)

    def compute(self, seconds: float) -> None:
        self.compute_s.append(seconds)

    def summary(self) -> dict:
        periods = np.diff(np.asarray(self.starts_s)) * 1e3  # (n - 1,) ms
        lat = np.asarray(self.latencies_s) * 1e3  # (m,) ms
        compute = np.asarray(self.compute_s) * 1e3  # (m,) ms

        def stat(x: np.ndarray, q: float) -> float | None:
            return round(float(np.percentile(x, q)), 3) if x.size else None

        return {
            "ticks": self.ticks,
            "missed_ticks": self.missed_ticks,
            "period_ms_median": stat(periods, 50),
            "period_ms_p99": stat(periods, 99),
            "rate_hz": round(1e3 / float(np.mean(periods)), 3) if periods.size else None,
            "latency_ms_median": stat(lat, 50),
            "latency_ms_p99": stat(lat, 99),
            "compute_ms_median": stat(compute, 50),
            "compute_ms_p99": stat(compute, 99),
        }


class GcPauses:
    """The cyclic garbage collector's recent pauses in this process (it stops every thread): recorded so
    a late control tick can say whether a collection was behind it. `install()` hooks `gc.callbacks`."""

    def __init__(self, keep: int = GC_PAUSES_KEPT, clock: Callable[[], float] = time.monotonic):
        self.pauses: deque[tuple[float, int, float]] = deque(maxlen=keep)  # (end s, generation, duration s)
        self._clock = clock
        self._started: float | None = None

    def on_gc(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = self._clock()
        elif self._started is not None:
            end = self._clock()
            self.pauses.append((end, int(info.get("generation", -1)), end - self._started))
            self._started = None

    def install(self) -> GcPauses:
        if self.on_gc not in gc.callbacks:
            gc.callbacks.append(self.on_gc)
        return self

    def uninstall(self) -> None:
        if self.on_gc in gc.callbacks:
            gc.callbacks.remove(self.on_gc)

    def since(self, t_s: float) -> list[tuple[int, float]]:
        """(generation, duration s) of the pauses that ended after `t_s`."""
        return [(g, d) for end, g, d in self.pauses if end > t_s]


LATE_TICK_MARK = "ms after the previous one ("  # in every late-tick log line: tools find them by it


@dataclass(frozen=True)
class PolicyStepTiming:
    """One policy step on the control thread: wall time, whether new weights were swapped in just before,
    and (Linux) the thread's user / system CPU time and minor page faults over it: a slow step in user
    time is arithmetic, in system time with page faults is memory being mapped in."""

    wall_s: float
    swapped: bool
    user_s: float | None = None
    system_s: float | None = None
    minor_faults: int | None = None

    def describe(self) -> str:
        text = f"its policy step {self.wall_s * 1e3:.1f} ms"
        if self.user_s is not None:
            text += (f": {self.user_s * 1e3:.1f} ms user, {self.system_s * 1e3:.1f} ms system CPU, "
                     f"{self.minor_faults} page faults")
        return text + (", just after a weight swap" if self.swapped else "")


def _thread_usage() -> tuple[float, float, int] | None:
    """(user s, system s, minor page faults) of the calling thread so far; None where not available."""
    if not hasattr(resource, "RUSAGE_THREAD"):
        return None
    u = resource.getrusage(resource.RUSAGE_THREAD)
    return u.ru_utime, u.ru_stime, u.ru_minflt


def late_tick_message(gap_s: float, missed: int, compute_s: float | None,
                      pauses: list[tuple[int, float]], busy_s: float | None = None,
                      policy_step: PolicyStepTiming | None = None, queued_s: float | None = None) -> str:
    """The log line for a control tick that came `gap_s` after the previous one (`missed` ticks missed).
    `busy_s`: CPU time the control thread used over that gap (its callbacks); `queued_s`: time it waited
    on a run queue for a core meanwhile (`yan_dog.scheduling.thread_schedstat`); the rest of the gap it
    slept (waiting for its next event, or for the GIL). Without `queued_s` the two waits are not told
    apart. `policy_step`: the previous tick's policy step."""
    gc_part = ("garbage collections meanwhile: " + ", ".join(f"gen{g} {d * 1e3:.1f} ms" for g, d in pauses)
               if pauses else "no garbage collection meanwhile")
    compute = f"; the previous tick computed in {compute_s * 1e3:.1f} ms" if compute_s is not None else ""
    if compute_s is not None and policy_step is not None:
        compute += f" ({policy_step.describe()})"
    busy = ""
    if busy_s is not None:
        waited_s = max(0.0, gap_s - busy_s)
        busy = f"; the control thread ran {busy_s * 1e3:.1f} ms of CPU meanwhile"
        if queued_s is None:
            busy += f" and waited {waited_s * 1e3:.1f} ms for a core or the GIL"
        else:
            queued_s = min(queued_s, waited_s)
            busy += (f", waited {queued_s * 1e3:.1f} ms on the run queue for a core and slept "
                     f"{(waited_s - queued_s) * 1e3:.1f} ms (its executor's wait, or the GIL)")
    return f"control tick {gap_s * 1e3:.1f} {LATE_TICK_MARK}{missed} missed){compute}{busy}; {gc_part}"


class PhaseLock:
    """Keeps the control ticks a short lead time after the sensor samples arrive.

    The control timer runs on its own clock (a stale sensor must never stop it), so it has an arbitrary
    phase against the sensor's clock: on average a sample waits half a period for the next tick. The
    node reports, at every tick, the age of the newest sensor sample (tick time - its arrival); once per
    `window` ticks, if the median age is off `target_s` by more than `tolerance_s`, `shift_s()` says how
    much later the tick grid must move (in [0, period)), and the node re-phases its timer once. Sensor
    and control clocks tick at the same nominal rate, so this happens at start-up and after a skipped
    sensor tick, not continually.

    Args:
        period_s: control period (s).
        target_s: wanted age of the newest sample at a tick (s): transport jitter margin.
        tolerance_s: re-phase only when the median age is off the target by more than this (s).
        window: ticks per decision.
    """

    def __init__(self, period_s: float, target_s: float = PHASE_TARGET_S,
                 tolerance_s: float = PHASE_TOLERANCE_S, window: int = PHASE_WINDOW_TICKS):
        if not 0 <= target_s < period_s or not 0 < tolerance_s < period_s / 2 or window < 1:
            raise ValueError(f"need 0 <= target_s < period_s, 0 < tolerance_s < period_s / 2, window >= 1; "
                             f"got {target_s}, {tolerance_s}, {window} for period {period_s}")
        self.period_s, self.target_s, self.tolerance_s, self.window = period_s, target_s, tolerance_s, window
        self._ages: list[float] = []
        self.shifts = 0

    def observe(self, age_s: float) -> None:
        """Age (s) of the newest sensor sample at this tick; ignored unless in [0, period) (a stale or
        missing stream says nothing about the phase)."""
        if 0.0 <= age_s < self.period_s:
            self._ages.append(age_s)

    def shift_s(self) -> float | None:
        """How much later (s) the tick grid should move, once a window is full and the phase is off."""
        if len(self._ages) < self.window:
            return None
        age = float(np.median(self._ages))
        self._ages.clear()
        if abs(age - self.target_s) <= self.tolerance_s:
            return None
        self.shifts += 1
        return (self.target_s - age) % self.period_s


class _DemoRecorder:
    """The ticks of one demonstration, appended by the control loop."""

    def __init__(self, skill: str, cue: str | None, start_s: float, max_ticks: int, gait_gain: float = 1.0):
        self.skill, self.cue, self.start_s, self.max_ticks = skill, cue, start_s, max_ticks
        self.gait_gain = gait_gain  # the robot executes the teach action's gait command times this
        keys = ("camera", "audio", "joints", "imu", "action", "label", "t")
        self.rows: dict[str, list] = {k: [] for k in keys}
        self.truncated = False

    def __len__(self) -> int:
        return len(self.rows["t"])

    def append(self, obs: dict, action: np.ndarray | None, now_s: float) -> None:
        t = now_s - self.start_s
        if len(self) >= self.max_ticks:
            self.truncated = True
            return
        if self.rows["t"] and t <= self.rows["t"][-1]:
            return  # a clock that did not advance: not a new tick
        for k in ("camera", "audio", "joints", "imu"):
            self.rows[k].append(obs[k])
        self.rows["action"].append(HOLD_ACTION if action is None else action)
        self.rows["label"].append(action is not None)
        self.rows["t"].append(t)

    def episode(self, control_hz: float, source: str) -> Episode:
        r = self.rows
        return Episode(
            skill=self.skill,
            action_mode="hybrid",
            control_hz=control_hz,
            stamps_s=np.asarray(r["t"], np.float64),  # (T,)
            camera=np.stack(r["camera"]),  # (T, s, s, 3)
            audio=np.stack(r["audio"]),  # (T, S)
            joints=np.stack(r["joints"]),  # (T, 3, 12)
            imu=np.stack(r["imu"]),  # (T, 10)
            action=np.stack(r["action"]).astype(np.float32),  # (T, 15)
            label_mask=np.asarray(r["label"]),
            cue=self.cue,
            source=source,
            extra={"recorded_by": "yan_brain", "truncated": self.truncated, "gait_gain": self.gait_gain,
                   **teacher_mode_extra(self.skill)},
        )


def process_learner(policy, config: BrainConfig) -> ProcessLearner:
    """The brain's learner process for `policy`: `config.session`'s learner settings, at the brain's CPU
    priority (`learner_nice`, `learner_sched_idle`), with the A1's mirror images (`bench/few_shot.py`'s
    loop part measures the control loop beside it)."""
    return ProcessLearner(policy, learner_config(config.session), nice=config.learner_nice,
                          sched_idle=config.learner_sched_idle, mirror=A1_MIRROR,
                          symmetric=sim.skills.is_mirror_symmetric)


class BrainCore:
    """Teach, try and learn on a robot (see the module docstring).

    Args:
        config: BrainConfig.
        library: the skill library (None: skills live in memory only; `save_skill` then fails). Its
            policy and demonstrations are loaded (demos resized to the policy's camera size).

    Thread safety: `tick` runs on the control thread, the other methods on service threads; one lock
    guards the state machine and is never held during training or file writes.
    """

    def __init__(self, config: BrainConfig | None = None, library: SkillLibrary | None = None):
        self.config = config = config or BrainConfig()
        self.library = library
        if config.learner_process:
            self.learner = process_learner(build_policy(config.session, library), config)
        else:
            self.learner = build_learner(config.session, library, load_demos=False)
        self.spec = TokenSpec.from_tokenizer(self.learner.policy.config.tokenizer)
        if library is not None and library.skills:
            for ep in library.demos():
                # resized before it goes to a learner process (a quarter of the bytes through the pipe)
                self.learner.add_episode(episode_at_image_size(ep, self.spec.image_size))
        self.actor = Actor(self.learner, execute_chunk=config.session.execute_chunk)
        self.gait = TrotController()
        self.dt_s = 1.0 / config.control_hz
        self.max_step_rad = config.max_joint_speed_rad_s * self.dt_s
        self._last_targets: np.ndarray | None = None  # (12,) the previous command (rad)
        self.skill = config.skill
        self.trying = config.trying
        self.learning = False
        self.mode = "idle"
        self._demo: _DemoRecorder | None = None
        self._lock = threading.RLock()
        self._learning_lock = threading.Lock()  # serialises learner start / stop
        self._stopping: threading.Thread | None = None
        self.counts = {"ticks": 0, "stale_holds": 0, "idle_holds": 0, "bad_actions": 0,
                       "teach_missing": 0, "policy_ticks": 0, "demos": 0, "demos_discarded": 0,
                       "speed_limited": 0}
        self.last_event = "started"
        self.last_policy_step: PolicyStepTiming | None = None  # the last tick's policy step (None: no step)
        self.set_learning(config.learning)

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
                    self._last_targets = clamp_to_joint_limits(measured)
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
                return self._decode(executed_teach_action(teach_action, self._demo.gait_gain))
            if not self.trying:
                self.counts["idle_holds"] += 1
                return self._decode(HOLD_ACTION)
            swapped = self.actor.refresh()
            t0_s, usage0 = time.perf_counter(), _thread_usage()
            action = self.actor.act(obs)  # (15,)
            wall_s, usage1 = time.perf_counter() - t0_s, _thread_usage()
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
        return self._limit_speed(clamp_to_joint_limits(targets))

    def _limit_speed(self, targets: np.ndarray) -> np.ndarray:
        """Move each target at most `max_step_rad` from the previous command (inside the limits too)."""
        if self._last_targets is not None:
            step = targets - self._last_targets  # (12,)
            if np.abs(step).max() > self.max_step_rad:
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
            self._demo = _DemoRecorder(self.skill, self.config.cue, now_s, max_ticks, gain)
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
        labelled = int(np.sum(demo.rows["label"])) if len(demo) else 0
        if len(demo) < self.config.min_demo_ticks or labelled == 0:
            self.counts["demos_discarded"] += 1
            return self._event(False, f"demonstration discarded: {len(demo)} ticks, {labelled} with a teach "
                                      f"action (need >= {self.config.min_demo_ticks} ticks and >= 1 action)")
        episode = demo.episode(self.config.control_hz, self.config.demo_source)
        self.learner.focus = episode.skill
        self.learner.add_episode(episode)
        if self.library is not None:
            self.library.add_demo(episode)
        self.counts["demos"] += 1
        return self._event(True, f"demonstration of {episode.skill!r} kept: {len(episode)} ticks, "
                                 f"{labelled} labelled")

    def set_trying(self, on: bool) -> tuple[bool, str]:
        with self._lock:
            if on and not self.trying:
                self.actor.refresh()
                self.actor.reset()  # a fresh recurrent state: a try starts like an episode
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

    def save_skill(self) -> tuple[bool, str]:
        """Commit the newest published policy and the library's skills as a new library version."""
        if self.library is None:
            return False, "no skill library configured (parameter library_dir)"
        if self.skill not in self.library.skills:
            return False, f"no demonstrations of {self.skill!r} in the library yet"
        version, policy = self.learner.latest()  # a frozen copy: safe to save while training goes on
        self.library.skills[self.skill].taught_at = time.time()
        name = self.library.commit(policy)
        return self._event(True, f"saved {self.skill!r} as library version {name} (weights v{version})")

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
                "published_version": self.learner.latest()[0],
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
