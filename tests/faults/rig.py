"""A running brain for fault injection: the real composed nodes (3 preprocessing nodes + yan_brain, wired
in-process exactly as `brain_composed`) plus a probe node that plays the robot, all in one private rclpy
context on one executor, in a DDS domain of its own on localhost.

The probe publishes the raw sensor streams at their nominal rates (camera 10 Hz, audio, joints and IMU
50 Hz) from one 50 Hz timer, and a teach action while the brain demonstrates, so the brain's commands
follow the teacher (`taught`) whenever its inputs are good and fall back to the stand hold (`stand`)
when they are not. A test replaces one stream's message maker with a faulty one and watches
/joint_commands, the nodes' log calls and the control loop's tick count.
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable

import numpy as np
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Float64MultiArray, Int16MultiArray
from yan_dog_ros import msgs
from yan_dog_ros.composed import compose

from robots.actions import hybrid_joint_targets
from robots.gait import TrotController
from sim.robot import MOTOR_NAMES
from tests.ros.conftest import _worker_index as worker_index

CONTROL_HZ = 50.0
PERIOD_S = 1.0 / CONTROL_HZ
CAMERA_EVERY = 5  # ticks: 10 Hz
SAMPLES_PER_TICK = 320
TEACH = np.r_[0.0, 0.0, 0.0, np.full(12, 0.3)]  # a posture far from the stand pose (rad offsets)
IMU = np.array([0, 0, 0, 1, 0, 0, 0, 0, 0, 9.81])
# Domains 91..100 (tests/ros uses 1..90): 5 for each of two pytest-xdist workers, spread over concurrent
# pytest runs by process id (two rigs in one domain would hear each other's commands).
FIRST_DOMAIN, DOMAINS_PER_WORKER = 91, 5
# small, no learning, no re-phasing: these tests check the input path and the loop, not learning
# control_rt_priority 0: the rig spins the brain in pytest's own thread, which must not stay SCHED_FIFO
# for the rest of the test session (a real brain process puts its control thread there).
BRAIN_ARGS = ["--ros-args", "-p", "d_model:=32", "-p", "n_layers:=1", "-p", "learning:=false",
              "-p", "phase_lock:=false", "-p", "teach_timeout_periods:=25", "-p", "status_hz:=1.0",
              "-p", "control_rt_priority:=0"]

Maker = Callable[[float, int], list]  # (now_s, tick index of the fault) -> messages to publish this tick


class LogSpy:
    """A node logger that records every message it is asked to log (then logs it as usual)."""

    def __init__(self, inner, lines: list[str]):
        self._inner, self._lines = inner, lines

    # rclpy keys a log call's severity and filters (throttling) on the calling line: one line for each
    def info(self, message, **kwargs):
        self._lines.append(f"info: {message}")
        return self._inner.info(message, **kwargs) if kwargs else self._inner.info(message)

    def warning(self, message, **kwargs):
        self._lines.append(f"warning: {message}")
        return self._inner.warning(message, **kwargs) if kwargs else self._inner.warning(message)

    def error(self, message, **kwargs):
        self._lines.append(f"error: {message}")
        return self._inner.error(message, **kwargs) if kwargs else self._inner.error(message)

    def __getattr__(self, name):
        return getattr(self._inner, name)


class Rig:
    """The composed brain + a probe robot (see the module docstring). Use as a context manager."""

    def __init__(self, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.frame = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)  # resized by camera_preprocess
        self.pcm = rng.integers(-2000, 2000, SAMPLES_PER_TICK).astype(np.int16)
        self.stand = TrotController().stand_targets()
        self.taught = hybrid_joint_targets(TrotController(), TEACH, PERIOD_S)
        self.positions = self.stand.copy()
        self.makers: dict[str, Maker] = {}  # stream -> faulty maker (else the good one)
        self.fault_ticks = 0
        self.frozen_s = 0.0  # a stamp a fault may repeat (set by the test when the fault starts)
        self.teach_enabled = True  # publish TEACH on /teach/action every tick
        self.last_sent: dict[str, float] = {}  # stream -> when its last message went out (monotonic s)
        self.k = 0
        self.log: list[str] = []
        self.commands: list[tuple[float, np.ndarray]] = []  # (arrival monotonic s, (12,) targets)

    # --- good messages ---------------------------------------------------------------------------------
    def now_s(self) -> float:
        return self.probe.get_clock().now().nanoseconds / msgs.NANOSECONDS_PER_SECOND

    def image(self, stamp_s: float) -> Image:
        return msgs.image_rgb8(self.frame, stamp_s)

    def joints(self, stamp_s: float, names=MOTOR_NAMES, position=None) -> JointState:
        n = len(names)
        pos = self.positions[:n] if position is None else position
        return msgs.joint_state(list(names), pos, np.zeros(n), np.zeros(n), stamp_s)

    def chunk(self, samples: np.ndarray | None = None) -> Int16MultiArray:
        return msgs.audio_chunk(self.pcm if samples is None else samples)

    def good(self, stream: str, now_s: float, k: int) -> list:
        if stream == "camera":
            return [self.image(now_s)] if k % CAMERA_EVERY == 0 else []
        if stream == "audio":
            return [self.chunk()]
        if stream == "imu":
            return [msgs.imu_msg(IMU, now_s)]
        return [self.joints(now_s)]

    # --- the probe's 50 Hz timer --------------------------------------------------------------------------
    def _pump(self) -> None:
        now_s = self.now_s()
        for stream in ("imu", "joints", "audio", "camera"):
            maker = self.makers.get(stream)
            batch = self.good(stream, now_s, self.k) if maker is None else maker(now_s, self.fault_ticks)
            for msg in batch:
                self.pubs[stream].publish(msg)
            if batch:
                self.last_sent[stream] = time.monotonic()
        if self.makers:
            self.fault_ticks += 1
        if self.teach_enabled:
            self.pubs["teach"].publish(msgs.float_array(TEACH))
        self.k += 1

    # --- set-up / tear-down -------------------------------------------------------------------------------
    def __enter__(self) -> Rig:
        self._env = {k: os.environ.get(k) for k in ("ROS_DOMAIN_ID", "ROS_AUTOMATIC_DISCOVERY_RANGE")}
        slot = (worker_index() % 2) * DOMAINS_PER_WORKER + os.getpid() % DOMAINS_PER_WORKER
        os.environ["ROS_DOMAIN_ID"] = str(FIRST_DOMAIN + slot)
        os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
        self.ctx = rclpy.Context()
        rclpy.init(context=self.ctx, args=BRAIN_ARGS)
        self.brain, self.preprocess = compose(context=self.ctx)
        self.probe = Node("fault_probe", context=self.ctx)
        self.nodes = [self.brain, *self.preprocess, self.probe]
        for node in self.nodes[:-1]:
            node._logger = LogSpy(node.get_logger(), self.log)
        self.executor = SingleThreadedExecutor(context=self.ctx)
        for node in self.nodes:
            self.executor.add_node(node)
        p = self.probe
        self.pubs = {
            **msgs.sensor_publishers(p),
            "teach": p.create_publisher(Float64MultiArray, msgs.TEACH_ACTION_TOPIC, msgs.COMMAND_QOS),
        }
        p.create_subscription(Float64MultiArray, msgs.JOINT_COMMANDS_TOPIC,
                              lambda m: self.commands.append((time.monotonic(), np.asarray(m.data))),
                              msgs.COMMAND_QOS)
        p.create_timer(PERIOD_S, self._pump)
        ok, message = self.brain.core.start_demo(time.monotonic())
        assert ok, message
        # Everything built so far (pytest, the imported test modules, torch, the nodes) goes to the
        # permanent generation: otherwise one full collection of this big heap stalls the shared executor
        # ~0.2 s (measured), which a robot process would avoid the same way after its start-up.
        gc.collect()
        gc.freeze()
        return self

    def __exit__(self, *exc) -> None:
        gc.unfreeze()
        self.executor.shutdown()
        self.brain.close()
        for node in self.nodes:
            node.destroy_node()
        rclpy.try_shutdown(context=self.ctx)
        for k, v in self._env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v

    # --- watching -----------------------------------------------------------------------------------------
    def spin_for(self, seconds: float) -> None:
        """Spin (an exception escaping any callback would be raised here)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.executor.spin_once(timeout_sec=0.01)

    def spin_until(self, predicate, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if predicate():
                return True
            self.executor.spin_once(timeout_sec=0.01)
        return predicate()

    def following(self, targets: np.ndarray, since: float, n: int = 3) -> bool:
        """The last n commands, all received after `since`, equal `targets`."""
        last = [q for t, q in self.commands[-n:] if t >= since]
        return len(last) == n and all(np.allclose(q, targets, atol=1e-6) for q in last)

    def commands_between(self, t0: float, t1: float) -> list[np.ndarray]:
        return [q for t, q in self.commands if t0 <= t <= t1]
