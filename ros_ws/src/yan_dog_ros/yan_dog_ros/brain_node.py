"""`yan_brain`: the train–inference loop over ROS 2 (a thin node over `yan_dog.brain.BrainCore`).

Every control period the node (`tick_trigger`: `proprio`, the default, ticks as each joint-state sample
arrives, with a deadline timer on the steady clock for when none comes; `timer`, a timer at `control_hz` on
the steady clock; never the simulator's /clock)
1. takes the latest observation matrix of each stream (`yan_dog.streams.TickAligner`: camera zero-order hold,
   one audio block per tick, latest proprio row) and rebuilds the policy's observation;
2. hands it, with the latest fresh teach action, to `BrainCore.tick` (policy through the Actor, or the
   teach action during a demonstration; safe hold on stale inputs or when idle) -> 12 joint targets;
3. publishes them on /joint_commands (std_msgs/Float64MultiArray, rad), in the order the driver wants
   (parameter command_joint_names; default the project's motor order FR, FL, RR, RL x hip, thigh, calf).

Inputs: /obs/camera, /obs/audio, /obs/proprio (sensor_msgs/Image 32FC1, from the preprocessing
nodes; or directly through `on_obs` when composed in one process), /teach/action (15-D hybrid action,
std_msgs/Float64MultiArray: the only place teach commands are accepted from).
Outputs: /joint_commands, /brain/status (std_msgs/String JSON: mode, skill, learner steps, weights
version, stale streams, tick timing; the latency is from the joint state's source stamp to the command's
publication, meaningful when the sources stamp with this node's clock, e.g. both on sim time).
Services: ~/start_demo, ~/stop_demo, ~/save_skill, ~/reset_memory (forget the native memory, at the next
tick boundary) (std_srvs/Trigger); ~/set_trying, ~/set_learning (std_srvs/SetBool).
Health: /diagnostics (diagnostic_msgs/DiagnosticArray at diagnostics_hz): control rate, missed ticks, latency
and compute p50 / p99, each input's age (WARN stale, ERROR never or long stale), the learner, the native
memory's norm, the mode (`yan_dog.brain_health`).
Teach desk (`yan_dog.teach_desk`, for the browser panel and `teleop_keyboard`): JSON commands on
/teach/command (std_msgs/String: skill, cue, discard the running demonstration, list / rename / delete /
export skills), answered in the latched /teach/state (std_msgs/String JSON: skill, cue, learner steps and
loss, each demonstration's length, the skills, the last command's result).
Parameters (config/yan_brain.yaml): skill, cue, demo_source, demo_gait_gain, trying, learning (these six
may also be set at run time; the teacher node sets skill and demo_gait_gain before each demonstration, and
~/stop_demo sets demo_gait_gain back to 1),
library_dir ("" = in memory), control_hz, policy, d_model, n_layers, execute_chunk, seed,
batch_episodes, learner_threads, learner_process, learner_nice, learner_sched_idle,
negative_prob, cue_audio_augment, non_command_wavs (spoken commands: `BrainConfig`; off by default),
control_rt_priority, stale_control_periods,
camera_period_s, audio_period_s, proprio_period_s, audio_queue_ticks, max_stamp_age_s,
teach_timeout_periods, tick_trigger, phase_lock, phase_target_ms, status_hz, subscribe_obs,
late_tick_summary_s, diagnostics_hz, gc_freeze_s,
robot, joint_names, command_joint_names (the robot's profile and its joint names: `yan_dog_ros.robot_params`),
view (the brain live in Rerun, `yan_dog.live_view`: "" off, true/spawn a viewer window, web a browser
viewer, rerun+http://HOST:9876/proxy a running viewer, PATH.rrd a file; ticks are queued to the view's
own thread and dropped, never waited for, when it lags; a view that cannot open is logged and skipped).

Tick trigger (`yan_dog.tick_timing.SampleTrigger`): with `proprio` a tick runs in the callback that brings
the joint state (at most one per 0.6 period), so no sample waits for a timer edge: the state-to-command
latency is the transport and the tick's compute. The robot's state stream sets the rate (the sim and the
bridge publish it at control_hz); a deadline timer ticks 1.5 periods after the last tick when no sample
comes, then every period until samples come back (inputs go stale and the robot holds, as before), and a
stream faster than 1.25 x control_hz is refused as a clock: the node says so once and goes back to `timer`.
Phase lock (`yan_dog.tick_timing.PhaseLock`, `timer` only): the control timer keeps its own clock, but
about once a second the node checks how old the newest joint state is when a tick runs, and if the ticks
are out of phase with the sensor it moves the tick grid once so that ticks run ~phase_target_ms after the
samples arrive (a sample otherwise waits half a period on average). The timer never waits for a sensor:
when a stream stops, ticks go on and hold.

Threads: one SingleThreadedExecutor runs every callback; the first control tick puts the thread that runs
it under SCHED_FIFO at `control_rt_priority` (`yan_dog.scheduling.set_realtime`; 0 = off; without the
privilege it says so once and goes on at normal priority), so a timer that fires gets a core ahead of
every normal thread. Every `gc_freeze_s` (30 s; 0: off) the objects that survived the young garbage
collections are frozen (`yan_dog.tick_timing.freeze_survivors`), so no full collection walks minutes of
them while the robot waits for its next command. Late ticks are said in one WARN line per
`late_tick_summary_s` (10 s), not one per tick (`yan_dog.tick_timing.LateTickSummary`): how many were
missed, and for the worst how long the thread waited on the run queue and how long it slept (on the
2-core VM these are mostly the platform's own stalls: bench/jitter.py, README "Real-time priority"); the
learner trains in a child process
(ProcessLearner; `learner_process: false` keeps it in a thread of this process, OnlineLearner) and the
control timer never waits for it: new weights are copied in from shared memory between ticks, and stopping
the learner happens off the executor thread. In a thread, the learner shared the interpreter lock with the
control loop: most of the soak's late ticks were the control thread waiting for it. Measured here: rclpy's
MultiThreadedExecutor took about twice the CPU (0.6 vs 0.33 of a core for the composed brain at 50 Hz),
which on 2 cores shared with the simulator costs more ticks than it saves. Two services write files and may
delay one tick while they do: ~/stop_demo (the demonstration into the library, when library_dir is set) and
~/save_skill (a new library version).
"""

from __future__ import annotations

import gc
import os
import sys
import threading
import time

import numpy as np
import torch
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import Image
from std_msgs.msg import Float64MultiArray, String
from std_srvs.srv import SetBool, Trigger

from robots.actions import HYBRID_ACTION_DIM
from yan_dog.bag import DEMO_ABORT, DEMO_START, DEMO_STOP, SKILL_SAVED, TEACH_EVENTS_TOPIC, teach_event
from yan_dog.brain import BrainConfig, BrainCore
from yan_dog.brain_health import DIAGNOSTICS_HZ, BrainHealth, LearnerHealth
from yan_dog.live_view import brain_tick, open_brain_view
from yan_dog.plugins import load_plugins_from_env
from yan_dog.runtime import GIL_SWITCH_S
from yan_dog.scheduling import (
    CONTROL_RT_PRIORITY,
    DDS_THREAD_PREFIX,
    check_rt_priority,
    set_realtime,
    set_realtime_threads,
    thread_schedstat,
)
from yan_dog.streams import (
    AUDIO_QUEUE_TICKS,
    DEFAULT_PERIODS_S,
    MAX_STAMP_AGE_S,
    STALE_CONTROL_PERIODS,
    ObsMatrix,
    TickAligner,
)
from yan_dog.teach_desk import TeachDesk
from yan_dog.teach_setup import SessionConfig
from yan_dog.tick_timing import (
    GC_FREEZE_S,
    LATE_TICK_SUMMARY_S,
    PHASE_TARGET_S,
    GcPauses,
    LateTickSummary,
    PhaseLock,
    SampleTrigger,
    TickStats,
    freeze_survivors,
    late_tick_message,
)
from yan_dog_ros import msgs
from yan_dog_ros.robot_params import declare_joint_map
from yan_dog_ros.spin import spin_nodes
from yan_dog_ros.teach_topics import (
    TEACH_COMMAND_QOS,
    TEACH_COMMAND_TOPIC,
    TEACH_STATE_QOS,
    TEACH_STATE_TOPIC,
)
from yan_policy.data.library import SkillLibrary
from yan_policy.policies.config import PolicyConfig
from yan_policy.training.learner import LearnerConfig

DEFAULT_STATUS_HZ = 5.0
DEFAULT_TEACH_TIMEOUT_PERIODS = 3  # a teach action older than this many control periods is not used
LOG_THROTTLE_S = 1.0
MS_PER_S = 1000.0
DDS_PRIORITY_BELOW_CONTROL = 1  # the middleware's threads run this many SCHED_FIFO steps below control
DIAGNOSTICS_TOPIC = "/diagnostics"
TICK_TRIGGERS = ("proprio", "timer")  # tick as each joint state arrives (deadline timer) / on a timer
_RUNTIME_PARAMS = ("skill", "cue", "demo_source", "demo_gait_gain", "trying", "learning")


class BrainNode(Node):
    """The brain as a ROS 2 node; see the module docstring."""

    def __init__(self, **kwargs):
        load_plugins_from_env()  # a user's skill specs ($YAN_DOG_PLUGINS, entry points): mirror, action mode
        super().__init__("yan_brain", **kwargs)
        p = self._declare_parameters()
        self.joints = declare_joint_map(self, commands=True)  # the robot, and its drivers' joint order
        library = SkillLibrary(p["library_dir"]) if p["library_dir"] else None
        session = SessionConfig(
            policy=p["policy"], seed=p["seed"], execute_chunk=p["execute_chunk"],
            policy_overrides={"d_model": p["d_model"], "n_layers": p["n_layers"]},
            learner=LearnerConfig(batch_episodes=p["batch_episodes"], threads=p["learner_threads"],
                                  lr_anneal_steps=p["lr_anneal_steps"], negative_prob=p["negative_prob"],
                                  cue_audio_augment=p["cue_audio_augment"]),
        )
        self.core = BrainCore(BrainConfig(
            skill=p["skill"], robot=self.joints.profile.name, control_hz=p["control_hz"],
            learning=p["learning"], trying=p["trying"],
            demo_source=p["demo_source"], cue=p["cue"] or None, demo_gait_gain=p["demo_gait_gain"],
            learner_process=p["learner_process"],
            learner_nice=p["learner_nice"], learner_sched_idle=p["learner_sched_idle"],
            session=session, non_command_wavs=p["non_command_wavs"],
        ), library)
        self.desk = TeachDesk(self.core, library)  # the panel's and the keyboard's commands
        self.period_s = 1.0 / p["control_hz"]
        periods = {s: p[f"{s}_period_s"] for s in ("camera", "audio", "proprio")}
        self.aligner = TickAligner(self.core.spec, p["control_hz"], periods, p["stale_control_periods"],
                                   p["audio_queue_ticks"], p["max_stamp_age_s"])
        self.teach_timeout_s = p["teach_timeout_periods"] * self.period_s
        self.stats = TickStats(self.period_s)
        self.late_ticks = LateTickSummary(self.period_s, p["late_tick_summary_s"])
        self.health = BrainHealth(p["control_hz"], self.get_name())
        self.gc_pauses = GcPauses().install()
        self._tick_cpu_s = time.thread_time()  # CPU time of the control (executor) thread at the last tick
        self._tick_sched = thread_schedstat()  # (on-CPU s, run-queue s) of that thread at the last tick
        self._tick_thread = threading.get_ident()  # the thread that ran the last tick
        check_rt_priority(p["control_rt_priority"])
        self._rt_wanted = p["control_rt_priority"]
        self.rt_priority: int | None = None  # set by the first tick: the priority it got (0 = normal)
        if p["tick_trigger"] not in TICK_TRIGGERS:
            raise ValueError(f"tick_trigger must be one of {TICK_TRIGGERS}, got {p['tick_trigger']!r}")
        self.trigger = SampleTrigger(self.period_s) if p["tick_trigger"] == "proprio" else None
        # the timer's phase lock: in use on the timer trigger, kept for a sample stream refused as a clock
        self._timer_phase = (PhaseLock(self.period_s, p["phase_target_ms"] / MS_PER_S)
                             if p["phase_lock"] else None)
        self.phase = self._timer_phase if self.trigger is None else None
        self._rephase_timer = None
        self._inputs_lock = threading.Lock()  # aligner + teach action, should callbacks run in threads
        # The tick, its timers and the sample trigger. In the one-process graph (a multi-threaded executor) a
        # joint state arrives through another node's callback while this node's timer fires on a second
        # thread: a sample's `reset()` met the timer that the deadline callback had just destroyed.
        self._tick_lock = threading.Lock()
        self._teach: tuple[np.ndarray, float] | None = None  # (15,) action, arrival (monotonic s)
        self._was_stale: list[str] = []
        self.dropped = 0
        # dynamic typing: `view:=true` arrives as a bool, `view:=web` as a string
        view = self.declare_parameter("view", "", ParameterDescriptor(dynamic_typing=True)).value
        try:
            self.view = open_brain_view(view, self.core, self.get_logger().info)
        except (ValueError, OSError, RuntimeError) as e:  # the robot runs without its view
            self.get_logger().error(f"view {view!r}: {e}; running without the live view")
            self.view = None

        self.commands = self.create_publisher(Float64MultiArray, msgs.JOINT_COMMANDS_TOPIC, msgs.COMMAND_QOS)
        self.status_pub = self.create_publisher(String, msgs.BRAIN_STATUS_TOPIC, msgs.STATUS_QOS)
        self.diagnostics_pub = self.create_publisher(DiagnosticArray, DIAGNOSTICS_TOPIC, msgs.STATUS_QOS)
        # demonstration boundaries, for the session recorder (and `yan-dog teach --from-bag`)
        self.events_pub = self.create_publisher(String, TEACH_EVENTS_TOPIC, msgs.COMMAND_QOS)
        # the teach desk (yan_dog.teach_desk): JSON commands in, a latched JSON state out
        self.teach_state_pub = self.create_publisher(String, TEACH_STATE_TOPIC, TEACH_STATE_QOS)
        self.create_subscription(String, TEACH_COMMAND_TOPIC, self.on_teach_command, TEACH_COMMAND_QOS)
        if p["subscribe_obs"]:
            for stream, topic in (("camera", msgs.CAMERA_OBS_TOPIC), ("audio", msgs.AUDIO_OBS_TOPIC),
                                  ("proprio", msgs.PROPRIO_OBS_TOPIC)):
                self.create_subscription(Image, topic, lambda m, s=stream: self.on_obs_msg(s, m),
                                         msgs.OBS_QOS)
        self.create_subscription(Float64MultiArray, msgs.TEACH_ACTION_TOPIC, self.on_teach_action,
                                 msgs.COMMAND_QOS)
        for name, kind, handler in (("start_demo", Trigger, self.srv_start_demo),
                                    ("stop_demo", Trigger, self.srv_stop_demo),
                                    ("save_skill", Trigger, self.srv_save_skill),
                                    ("reset_memory", Trigger, self.srv_reset_memory),
                                    ("set_trying", SetBool, self.srv_set_trying),
                                    ("set_learning", SetBool, self.srv_set_learning)):
            self.create_service(kind, f"~/{name}", handler)
        self.add_on_set_parameters_callback(self.on_set_parameters)
        # The control timer keeps the steady clock, never /clock: under use_sim_time a ROS-time timer fires
        # only when the simulator's /clock arrives, so every late simulator tick (a camera render on a busy
        # core) was a late, or missed, control tick. The sim node and the bridge keep their own clocks too.
        self._steady = Clock(clock_type=ClockType.STEADY_TIME)
        # tick_trigger proprio: a deadline timer while samples come, the period once they stop (_on_timer)
        self._timer_is_deadline = self.trigger is not None
        timer_s = self.trigger.deadline_s if self._timer_is_deadline else self.period_s
        self._tick_timer = self.create_timer(timer_s, self._on_timer, clock=self._steady)
        self.create_timer(1.0 / p["status_hz"], self.publish_status)
        self.create_timer(1.0 / p["diagnostics_hz"], self.publish_diagnostics, clock=self._steady)
        if p["gc_freeze_s"] > 0:  # between ticks, on the executor's thread: no full collection over minutes
            self.create_timer(p["gc_freeze_s"], freeze_survivors, clock=self._steady)
        self.get_logger().info(
            f"yan_brain: {p['policy']} policy ({self.core.learner.policy.num_parameters()} parameters) at "
            f"{p['control_hz']} Hz, skill {p['skill']!r}, library {p['library_dir'] or '(in memory)'}")

    def _declare_parameters(self) -> dict:
        b, s, lc = BrainConfig(), SessionConfig(), LearnerConfig()
        defaults = {
            # teaching (may change at run time)
            "skill": b.skill, "cue": "", "demo_source": b.demo_source, "demo_gait_gain": b.demo_gait_gain,
            "trying": b.trying, "learning": b.learning,
            # policy and learner
            "library_dir": "", "control_hz": b.control_hz, "policy": s.policy,
            "d_model": s.policy_overrides["d_model"], "n_layers": PolicyConfig.n_layers,
            "execute_chunk": s.execute_chunk, "seed": s.seed, "batch_episodes": lc.batch_episodes,
            "learner_threads": lc.threads, "lr_anneal_steps": lc.lr_anneal_steps,
            "learner_process": b.learner_process,
            "learner_nice": b.learner_nice, "learner_sched_idle": b.learner_sched_idle,
            "negative_prob": lc.negative_prob, "cue_audio_augment": lc.cue_audio_augment,
            "non_command_wavs": "", "control_rt_priority": CONTROL_RT_PRIORITY,
            # inputs
            "stale_control_periods": STALE_CONTROL_PERIODS, "audio_queue_ticks": AUDIO_QUEUE_TICKS,
            "max_stamp_age_s": MAX_STAMP_AGE_S,
            **{f"{stream}_period_s": period for stream, period in DEFAULT_PERIODS_S.items()},
            "teach_timeout_periods": DEFAULT_TEACH_TIMEOUT_PERIODS, "subscribe_obs": True,
            "tick_trigger": TICK_TRIGGERS[0], "phase_lock": True,
            "phase_target_ms": PHASE_TARGET_S * MS_PER_S, "status_hz": DEFAULT_STATUS_HZ,
            "late_tick_summary_s": LATE_TICK_SUMMARY_S, "diagnostics_hz": DIAGNOSTICS_HZ,
            "gc_freeze_s": GC_FREEZE_S,
        }
        return {k: self.declare_parameter(k, v).value for k, v in defaults.items()}

    # --- inputs ---------------------------------------------------------------------------------------------
    def on_obs(self, obs: ObsMatrix) -> None:
        """Accept one observation matrix (the direct, serialisation-free path of the composed process)."""
        now_ros_s = self.get_clock().now().nanoseconds / msgs.NANOSECONDS_PER_SECOND  # the stamps' time base
        now_s = time.monotonic()
        try:
            with self._inputs_lock:
                self.aligner.put(obs, now_s, now_ros_s)
        except ValueError as e:
            self._drop(f"{obs.stream} observation", e)
            return
        if self.trigger is not None and obs.stream == "proprio":
            self._tick_on_sample(now_s)

    def _tick_on_sample(self, now_s: float) -> None:
        """`tick_trigger: proprio`: tick now (and push the deadline timer back), or, for a stream too fast
        to be the clock, go back to the timer for good."""
        with self._tick_lock:
            self._tick_on_sample_locked(now_s)

    def _tick_on_sample_locked(self, now_s: float) -> None:
        last_s = self.stats.starts_s[-1] if self.stats.starts_s else None
        if self.trigger.on_sample(now_s, last_s):
            if self._timer_is_deadline:
                self._tick_timer.reset()  # the deadline counts from this tick
            else:
                self._set_tick_timer(self.trigger.deadline_s, deadline=True)  # samples are back
            self.on_tick()
        elif self.trigger.active:  # too soon after the last tick (a publisher catching up): tick on time
            self._set_tick_timer(max(0.0, last_s + self.period_s - now_s), deadline=True)
        else:
            self.get_logger().warning(self.trigger.too_fast)
            self.trigger = None
            self._set_tick_timer(self.period_s, deadline=False)
            self.phase = self._timer_phase

    def _on_timer(self) -> None:
        """The tick timer: with the sample trigger, a deadline passed with no joint state: tick, and keep
        ticking at the control period (holding, once the inputs are stale) until samples come back."""
        with self._tick_lock:
            if self._timer_is_deadline:
                self._set_tick_timer(self.period_s, deadline=False)
            self.on_tick()

    def _set_tick_timer(self, period_s: float, deadline: bool) -> None:
        self.destroy_timer(self._tick_timer)
        self._tick_timer = self.create_timer(period_s, self._on_timer, clock=self._steady)
        self._timer_is_deadline = deadline

    def on_obs_msg(self, stream: str, msg: Image) -> None:
        try:
            data = msgs.obs_matrix_from_msg(msg)  # (rows, width)
        except ValueError as e:
            self._drop(f"{stream} observation", e)
            return
        self.on_obs(ObsMatrix(stream, msgs.stamp_to_seconds(msg.header.stamp), data))

    def on_teach_action(self, msg: Float64MultiArray) -> None:
        try:
            action = msgs.float_array_values(msg, HYBRID_ACTION_DIM, "teach action")  # (15,)
        except ValueError as e:
            self._drop("teach action", e)
            return
        with self._inputs_lock:
            self._teach = (action, time.monotonic())

    def _drop(self, what: str, fault: Exception) -> None:
        self.dropped += 1
        self.get_logger().warning(f"dropped {what}: {fault}", throttle_duration_sec=LOG_THROTTLE_S)

    # --- the control tick -----------------------------------------------------------------------------------
    def on_tick(self) -> None:
        if self.rt_priority is None:
            self._raise_priority()
        now_s, cpu_s, sched = time.monotonic(), time.thread_time(), thread_schedstat()
        thread = threading.get_ident()
        previous_s = self.stats.starts_s[-1] if self.stats.starts_s else None
        missed = self.stats.tick(now_s)

        def why() -> str:  # why this tick was late, as far as this process can tell (a collection stops all)
            compute_s = self.stats.compute_s[-1] if self.stats.compute_s else None
            # Per-thread clocks: comparable only when this tick runs on the thread the previous one ran on
            # (in a shared thread-pool executor ticks move between threads).
            same_thread = thread == self._tick_thread
            busy_s = cpu_s - self._tick_cpu_s if same_thread else None
            queued_s = sched[1] - self._tick_sched[1] if same_thread and sched and self._tick_sched else None
            return late_tick_message(now_s - previous_s, missed, compute_s, self.gc_pauses.since(previous_s),
                                     busy_s, self.core.last_policy_step, queued_s)

        gap_s = None if previous_s is None else now_s - previous_s
        summary = self.late_ticks.tick(now_s, gap_s, missed, why)  # one line per interval, not per tick
        if summary is not None:
            self.get_logger().warning(summary)
        self._tick_cpu_s, self._tick_sched, self._tick_thread = cpu_s, sched, thread
        with self._inputs_lock:
            aligned = self.aligner.tick(now_s)
            teach = self._teach
        fresh = teach is not None and now_s - teach[1] <= self.teach_timeout_s
        try:
            targets = self.core.tick(aligned.obs, teach[0] if fresh else None, now_s)  # (12,)
        except Exception as e:  # noqa: BLE001 — never let a policy fault stop the robot's command stream
            self.get_logger().error(f"tick failed, holding: {e!r}", throttle_duration_sec=LOG_THROTTLE_S)
            targets = self.core.tick(None, None, now_s)
        self.commands.publish(msgs.float_array(self.joints.to_command(targets), "joint_targets_rad"))
        self.stats.compute(time.monotonic() - now_s)
        if self.view is not None:  # queued for the view's thread (dropped if it lags)
            self.view.log_tick(brain_tick(self.core, aligned.obs, targets))
        if aligned.obs is not None:  # sensor stamp of the joint state behind this command -> now
            now_ros_s = self.get_clock().now().nanoseconds / msgs.NANOSECONDS_PER_SECOND
            self.stats.latency(now_ros_s - aligned.stamps_s["proprio"])
        if self.phase is not None:
            self._lock_phase(now_s)
        if aligned.stale != self._was_stale:
            if aligned.stale:
                self.get_logger().warning(f"stale inputs {aligned.stale}: holding the stand pose")
            else:
                self.get_logger().info("inputs back: resuming")
            self._was_stale = aligned.stale

    def _raise_priority(self) -> None:
        """Once, from the thread that runs the control timer: real-time priority for it (see the module
        docstring); a missing privilege is said once and the node goes on at normal priority."""
        try:
            self.get_logger().info(set_realtime(self._rt_wanted))
            self.rt_priority = self._rt_wanted
            self._raise_dds_threads()
        except OSError as e:  # PermissionError: no CAP_SYS_NICE / rtprio limit; or not Linux
            self.rt_priority = 0
            self.get_logger().warning(
                f"control thread stays at normal priority: SCHED_FIFO {self._rt_wanted} refused ({e}); grant "
                f"CAP_SYS_NICE or an rtprio limit (README: real-time priority), or set control_rt_priority 0")

    def _raise_dds_threads(self) -> None:
        """The middleware's threads one step below the control thread (`yan_dog.scheduling`): a publish
        waits for their lock, and at normal priority a preempted holder made it wait tens of ms. Called at
        the first tick and with each diagnostics report (threads the middleware starts later)."""
        if not self.rt_priority:
            return
        priority = max(1, self.rt_priority - DDS_PRIORITY_BELOW_CONTROL)
        raised = set_realtime_threads(DDS_THREAD_PREFIX, priority)
        if raised:
            self.get_logger().info(f"DDS threads under SCHED_FIFO {priority}: {', '.join(raised)}")

    def _lock_phase(self, tick_s: float) -> None:
        """Feed the phase lock; when it asks, tick once more `shift` after this tick's start and restart
        the timer there (the tick's own compute time is already behind us: subtract it)."""
        arrived_s = self.aligner.monitor.last_s["proprio"]
        if arrived_s is not None:
            self.phase.observe(tick_s - arrived_s)
        shift_s = self.phase.shift_s()
        if shift_s is None or self._rephase_timer is not None:
            return
        delay_s = (shift_s - (time.monotonic() - tick_s)) % self.period_s
        self._rephase_timer = self.create_timer(delay_s, self._rephase, clock=self._steady)

    def _rephase(self) -> None:
        with self._tick_lock:
            self.destroy_timer(self._rephase_timer)
            self._rephase_timer = None
            self._tick_timer.reset()  # the next regular tick comes one period after this one
            self.on_tick()

    # --- services and parameters ----------------------------------------------------------------------------
    def _answer(self, response, result: tuple[bool, str]):
        response.success, response.message = result
        # One call line per severity: rclpy keys a log call's severity on its line, and a line that logged
        # at one severity raises ValueError ("Logger severity cannot be changed") at another, which took
        # the brain process down on its first refused call after an accepted one.
        if result[0]:
            self.get_logger().info(result[1])
        else:
            self.get_logger().warning(result[1])
        return response

    def _teach_event(self, kind: str, skill: str, **fields) -> None:
        self.events_pub.publish(String(data=teach_event(kind, skill, **fields)))

    def srv_start_demo(self, request, response):
        result = self.core.start_demo(time.monotonic())
        if result[0]:
            self._teach_event(DEMO_START, self.core.skill, source=self.core.config.demo_source,
                              cue=self.core.config.cue)
        return self._answer(response, result)

    def srv_stop_demo(self, request, response):
        running, skill = self.core.mode == "demonstrating", self.core.skill
        result = self.desk.stop_demo()  # the desk remembers the demonstration's length for the panel
        if running:
            self._teach_event(DEMO_STOP if result[0] else DEMO_ABORT, skill)
            # the core applied demo_gait_gain to that demonstration only; the parameter says so too
            gain = self.core.config.demo_gait_gain
            self.set_parameters([Parameter("demo_gait_gain", Parameter.Type.DOUBLE, gain)])
        return self._answer(response, result)

    def srv_save_skill(self, request, response):
        result = self.core.save_skill()
        if result[0]:
            self._teach_event(SKILL_SAVED, self.core.skill, message=result[1])
        return self._answer(response, result)

    def srv_reset_memory(self, request, response):
        """Forget the native memory. The core's lock keeps it off a running tick: it takes effect at the
        next tick boundary, whichever thread answers the call."""
        return self._answer(response, self.core.reset_memory())

    def srv_set_trying(self, request, response):
        return self._answer(response, self.core.set_trying(request.data))

    def srv_set_learning(self, request, response):
        return self._answer(response, self.core.set_learning(request.data))

    def on_set_parameters(self, params) -> SetParametersResult:
        for param in params:
            if param.name not in _RUNTIME_PARAMS:
                continue
            if param.name == "skill":
                ok, message = self.core.set_skill(param.value)
            elif param.name == "trying":
                ok, message = self.core.set_trying(bool(param.value))
            elif param.name == "learning":
                ok, message = self.core.set_learning(bool(param.value))
            elif param.name == "demo_gait_gain":
                ok, message = self.core.set_demo_gait_gain(param.value)
            elif param.name == "cue":
                self.core.config.cue, ok, message = param.value or None, True, f"cue {param.value!r}"
            elif param.value not in ("scripted", "teleop", "bag", "intervention"):
                ok, message = False, f"demo_source {param.value!r} is not an episode source"
            else:
                self.core.config.demo_source, ok, message = param.value, True, f"demo_source {param.value!r}"
            if not ok:
                return SetParametersResult(successful=False, reason=message)
        return SetParametersResult(successful=True)

    def status(self) -> dict:
        with self._inputs_lock:
            stale = self.aligner.stale(time.monotonic())
            counts = dict(self.aligner.counts)
            queued_audio = self.aligner.queued_audio
        # pid: which brain process speaks (a restarted brain's status is told from its killed predecessor's)
        return {**self.core.status(), "pid": os.getpid(), "stale": stale, "dropped": self.dropped, **counts,
                "queued_audio": queued_audio, "control_rt_priority": self.rt_priority,
                "phase_shifts": self.phase.shifts if self.phase else 0, "tick_stats": self.stats.summary()}

    def diagnostics(self) -> list:
        """The brain's health for /diagnostics (`yan_dog.brain_health`), from counters only: no copy of the
        weights (the status's `published_version` deep-copies the policy out of a learner process)."""
        now_s = time.monotonic()
        with self._inputs_lock:
            monitor = self.aligner.monitor
            ages = {s: monitor.age_s(s, now_s) for s in monitor.periods_s}
            limits = {s: monitor.limit_s(s) for s in monitor.periods_s}
        core, actor, learner = self.core, self.core.actor, self.core.learner
        with core._lock:  # a consistent view of the state machine and the memory, between two ticks
            state = {"mode": core.mode, "skill": core.skill, "trying": core.trying,
                     "last_event": core.last_event, **core.counts}
            memory_norm = actor.memory_norm()
        loss = learner.last_loss
        swap_age_s = None if actor.swapped_at_s is None else now_s - actor.swapped_at_s
        health = LearnerHealth(wanted=core.learning, running=learner.running, steps=learner.steps,
                               loss=None if loss is None else loss[1], weights_version=actor.version,
                               swap_age_s=swap_age_s, skipped_steps=getattr(learner, "skipped_steps", 0))
        return self.health.report(now_s, self.stats, ages, limits, state, health, memory_norm,
                                  self.rt_priority)

    def publish_diagnostics(self) -> None:
        self._raise_dds_threads()
        statuses = [DiagnosticStatus(level=bytes([h.level]), name=h.name, message=h.message,
                                     hardware_id=self.get_name(),
                                     values=[KeyValue(key=k, value=v) for k, v in h.values.items()])
                    for h in self.diagnostics()]
        msg = DiagnosticArray(status=statuses)
        msg.header.stamp = self.get_clock().now().to_msg()
        self.diagnostics_pub.publish(msg)

    def publish_status(self) -> None:
        self.status_pub.publish(msgs.json_string(self.status()))
        self.publish_teach_state()

    def on_teach_command(self, msg: String) -> None:
        """One teach-desk command; its answer goes out at once in the teach state (`last_result`)."""
        result = self.desk.handle_text(msg.data)
        op = self.desk.last_result["op"]
        if result[0] and op in ("set_skill", "set_cue"):  # the parameters say what the core does
            value = self.core.skill if op == "set_skill" else self.core.config.cue or ""
            self.set_parameters([Parameter(op[4:], Parameter.Type.STRING, value)])
        self._answer(SetBool.Response(), (result[0], f"teach command {op}: {result[1]}"))
        self.publish_teach_state()

    def publish_teach_state(self) -> None:
        self.teach_state_pub.publish(msgs.json_string(self.desk.state()))

    def close(self) -> None:
        self.gc_pauses.uninstall()
        if self.view is not None:
            self.view.close()
        self.core.close()


def configure_process() -> None:
    """Process settings for a node that runs a control loop beside a learner on 2 cores."""
    torch.set_num_threads(1)
    sys.setswitchinterval(GIL_SWITCH_S)  # the learner thread must not keep the GIL 5 ms past a tick's time


def freeze_startup_objects() -> None:
    """Collect once and move every object built at start-up (torch, the policy, rclpy) out of the
    garbage collector's reach: a full collection over them stalled the control loop ~200 ms (measured in
    the fault tests). Call after the nodes are built, before spinning."""
    gc.collect()
    gc.freeze()


def main(args=None) -> None:
    configure_process()
    spin_nodes(lambda: [BrainNode()], args, before_spin=freeze_startup_objects)
