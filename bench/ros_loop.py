"""The brain's control loop over a real ROS 2 graph: end-to-end latency, achieved rate, missed ticks.

    python bench/ros_loop.py --json bench_out/ros_loop.json            # 4 configurations, ~2.5 min
    python bench/ros_loop.py --measure-s 5 --json /tmp/ros_loop.json   # quicker

Configurations: the brain composed in one process (`brain_composed`: preprocessing nodes + yan_brain,
observations handed over directly) vs four processes (three preprocessing nodes + `yan_brain`, /obs/* over
DDS), each with learning off and on. "Learning on": a 3 s demonstration is recorded first, so the
background learner trains throughout the measurement (the policy acts meanwhile: trying on).

The robot is this script: it publishes the raw streams as the sim does (96x96 rgb8 camera at 10 Hz,
320-sample audio chunks, joint states and IMU at 50 Hz), stamped with the wall clock (the brain's ROS
clock), so stamp -> command latency is measurable. It is a light publisher, not the PyBullet sim: the
benchmark measures the brain, and the sim's rendering would only add noise on 2 cores.

Measured by yan_brain itself (its /brain/status tick_stats over the last MEASURE window):
    latency_ms_*   joint-state source stamp -> /joint_commands publish of the tick that used it; this
                   includes the wait for the next tick (sensor and control timers are not phase-locked:
                   uniform in [0, 20) ms, 10 ms on average) and the DDS hops robot -> preprocessing -> brain
    compute_ms_*   the tick's own work (alignment, policy step, decode, publish)
    rate_hz        achieved control rate; missed_ticks: ticks that started a whole period late, counted
                   over the measurement window only
Also measured here: commands_hz, the rate at which /joint_commands arrive in this process.

JSON: {"configurations": [{"name", "composed", "learning", "latency_ms_median", "latency_ms_p99",
       "compute_ms_median", "compute_ms_p99", "rate_hz", "missed_ticks", "ticks", "learner_steps",
       "commands_hz", "phase_shifts", "load_average_1min"}, ...], "params", "targets", "machine"}
(load_average_1min: the machine's load when the configuration finished; on 2 cores anything above 2
means other processes competed for the CPU and the timings are not the brain's alone.)
Targets (issue #5): median latency <= 10 ms, p99 <= 20 ms, 50 Hz with no missed ticks on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import rclpy  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.node import Node  # noqa: E402
from std_msgs.msg import Float64MultiArray, String  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402
from yan_dog_ros import msgs  # noqa: E402

from bench._common import format_table, machine_info, write_json  # noqa: E402
from robots.profile import A1  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = REPO / ".venv" / "bin"
CONFIG = REPO / "ros_ws" / "src" / "yan_dog_ros" / "config"
CONTROL_HZ = 50.0
CAMERA_EVERY = 5  # camera at 10 Hz
CAMERA_SIZE = 96
AUDIO_SAMPLES = 320
DEMO_S = 3.0  # demonstration recorded before a learning-on measurement
SETTLE_S = 3.0  # after start-up (and after the demo) before the window opens
STARTUP_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
TEACH_OFFSET_RAD = 0.2
TARGETS = {"latency_ms_median": 10.0, "latency_ms_p99": 20.0, "rate_hz": 50.0, "missed_ticks": 0}
CONFIGURATIONS = [(composed, learning) for composed in (True, False) for learning in (False, True)]


class FakeRobot(Node):
    """Publishes the raw streams at the sim's rates, stamped with the wall clock; records commands.
    `joints=False` leaves /joint_states and /imu/data to a driver (bench/robot_loop.py: unitree_bridge)."""

    def __init__(self, context, joints: bool = True):
        super().__init__("bench_robot", context=context)
        self.joints = joints
        self.pubs = {
            **msgs.sensor_publishers(self),
            "teach": self.create_publisher(Float64MultiArray, msgs.TEACH_ACTION_TOPIC, msgs.COMMAND_QOS),
        }
        rng = np.random.default_rng(0)
        self.frame = rng.integers(0, 256, (CAMERA_SIZE, CAMERA_SIZE, 3), dtype=np.uint8)
        self.audio = [rng.integers(-2000, 2000, AUDIO_SAMPLES).astype(np.int16) for _ in range(50)]
        self.teaching = False
        self.k = 0
        self.commands: list[float] = []  # arrival times (monotonic s)
        self.status: dict | None = None
        self.create_subscription(Float64MultiArray, msgs.JOINT_COMMANDS_TOPIC,
                                 lambda m: self.commands.append(time.monotonic()), msgs.COMMAND_QOS)
        self.create_subscription(String, msgs.BRAIN_STATUS_TOPIC, self._on_status, msgs.STATUS_QOS)
        self.create_timer(1.0 / CONTROL_HZ, self.tick)

    def _on_status(self, msg: String) -> None:
        self.status = json.loads(msg.data)

    def tick(self) -> None:
        now = time.time()
        if self.k % CAMERA_EVERY == 0:
            self.pubs["camera"].publish(msgs.image_rgb8(self.frame, now))
        self.pubs["audio"].publish(msgs.audio_chunk(self.audio[self.k % len(self.audio)]))
        if self.joints:
            self.pubs["imu"].publish(msgs.imu_msg(np.array([0, 0, 0, 1, 0, 0, 0, 0, 0, 9.81]), now))
            position = np.array(A1.stand_pose_rad) + 0.05 * np.sin(self.k / 10)  # (12,) a wiggle (rad)
            zeros = np.zeros(12)
            self.pubs["joints"].publish(msgs.joint_state(A1.joint_names, position, zeros, zeros, now))
        if self.teaching:
            action = np.r_[0.0, 0.0, 0.0, np.full(12, TEACH_OFFSET_RAD * np.sin(self.k / 25))]
            self.pubs["teach"].publish(msgs.float_array(action))
        self.k += 1


def spawn(args: list[str], log_dir: str) -> subprocess.Popen:
    log = open(Path(log_dir) / f"{Path(args[0]).name}.log", "w")  # noqa: SIM115 — closed with the process
    return subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)


def stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
    for p in procs:
        try:
            p.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def brain_processes(composed: bool, learning: bool, log_dir: str,
                    extra_args: tuple[str, ...] = ()) -> list[subprocess.Popen]:
    """The brain as `brain_composed` or as four processes, YAML defaults; `extra_args` are more ROS
    arguments for the brain node (e.g. ("-p", "control_rt_priority:=0"))."""
    brain_args = ["-p", f"learning:={str(learning).lower()}", "-p", "trying:=true", "-p", "status_hz:=2.0",
                  *extra_args]
    preprocess = ("camera_preprocess", "audio_preprocess", "joint_preprocess")
    if composed:
        files = [a for t in (*preprocess, "yan_brain") for a in ("--params-file", str(CONFIG / f"{t}.yaml"))]
        return [spawn([str(VENV_BIN / "brain_composed"), "--ros-args", *files, *brain_args], log_dir)]
    procs = [spawn([str(VENV_BIN / t), "--ros-args", "--params-file", str(CONFIG / f"{t}.yaml")], log_dir)
             for t in preprocess]
    brain_file = str(CONFIG / "yan_brain.yaml")
    procs.append(spawn([str(VENV_BIN / "yan_brain"), "--ros-args", "--params-file", brain_file, *brain_args],
                       log_dir))
    return procs


def spin_until(executor, predicate, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        executor.spin_once(timeout_sec=0.01)
    return predicate()


def trigger(node, executor, name: str) -> None:
    client = node.create_client(Trigger, name)
    if not spin_until(executor, client.service_is_ready, STARTUP_TIMEOUT_S):
        raise RuntimeError(f"service {name} did not appear")
    future = client.call_async(Trigger.Request())
    if not spin_until(executor, future.done, STARTUP_TIMEOUT_S) or not future.result().success:
        raise RuntimeError(f"{name} failed: {future.result()}")
    node.destroy_client(client)


def bring_up(robot: FakeRobot, executor, name: str, learning: bool, log_dir: str) -> None:
    """Wait for the brain's inputs to be fresh; with `learning`, record a DEMO_S demonstration (the
    learner then trains throughout the measurement); then let it settle for SETTLE_S."""
    if not spin_until(executor, lambda: robot.status is not None and not robot.status["stale"],
                      STARTUP_TIMEOUT_S):
        raise RuntimeError(f"{name}: the brain did not come up (logs in {log_dir})")
    if learning:
        trigger(robot, executor, "/yan_brain/start_demo")
        robot.teaching = True
        spin_until(executor, lambda: False, DEMO_S)
        robot.teaching = False
        trigger(robot, executor, "/yan_brain/stop_demo")
    spin_until(executor, lambda: False, SETTLE_S)


def measure(composed: bool, learning: bool, measure_s: float, log_dir: str) -> dict:
    name = f"{'composed' if composed else 'multi-process'}, learning {'on' if learning else 'off'}"
    context = rclpy.Context()
    rclpy.init(context=context)
    robot = FakeRobot(context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(robot)
    procs = brain_processes(composed, learning, log_dir)
    try:
        bring_up(robot, executor, name, learning, log_dir)
        before, n_before = robot.status, len(robot.commands)
        t0 = time.monotonic()
        spin_until(executor, lambda: False, measure_s)
        elapsed = time.monotonic() - t0
        n_commands = len(robot.commands) - n_before
        spin_until(executor, lambda: robot.status is not before, 2.0)
        after = robot.status
    finally:
        stop(procs)
        executor.shutdown()
        robot.destroy_node()
        rclpy.try_shutdown(context=context)
    s = after["tick_stats"]
    return {
        "name": name,
        "composed": composed,
        "learning": learning,
        "latency_ms_median": s["latency_ms_median"],
        "latency_ms_p99": s["latency_ms_p99"],
        "compute_ms_median": s["compute_ms_median"],
        "compute_ms_p99": s["compute_ms_p99"],
        **loop_counts(before, after),
        "commands_hz": n_commands / elapsed,
        "phase_shifts": after["phase_shifts"],
        "load_average_1min": os.getloadavg()[0],
    }


def loop_counts(before: dict, after: dict) -> dict:
    """The brain's control loop between two /brain/status messages: rate, missed ticks, ticks, learner
    steps."""
    s = after["tick_stats"]
    return {
        "rate_hz": s["rate_hz"],
        "missed_ticks": s["missed_ticks"] - before["tick_stats"]["missed_ticks"],
        "ticks": s["ticks"] - before["tick_stats"]["ticks"],
        "learner_steps": after["learner_steps"] - before["learner_steps"],
    }


def parse_args(argv, description: str, more=None) -> argparse.Namespace:
    """--json and --measure-s (and what `more(parser)` adds); keeps DDS discovery on this host."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--json", type=Path, required=True, help="write the results here")
    ap.add_argument("--measure-s", type=float, default=10.0, help="measurement window per configuration (s)")
    if more is not None:
        more(ap)
    args = ap.parse_args(argv)
    if not 1.0 <= args.measure_s <= 10.0:
        raise SystemExit("--measure-s must be in [1, 10] (the brain's stats window is 500 ticks)")
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    return args


def main(argv=None) -> int:
    args = parse_args(argv, __doc__.split("\n\n")[0])
    results = []
    with tempfile.TemporaryDirectory(prefix="ros_loop_") as log_dir:
        for composed, learning in CONFIGURATIONS:
            results.append(measure(composed, learning, args.measure_s, log_dir))
            print(f"  {results[-1]['name']}: done", flush=True)
    headers = ["configuration", "lat med ms", "lat p99 ms", "tick med ms", "tick p99 ms", "rate Hz",
               "missed", "learner steps", "load"]
    rows = [[r["name"], r["latency_ms_median"], r["latency_ms_p99"], r["compute_ms_median"],
             r["compute_ms_p99"], r["rate_hz"], r["missed_ticks"], r["learner_steps"], r["load_average_1min"]]
            for r in results]
    print(format_table(headers, rows))
    print(f"targets: {TARGETS}")
    write_json(args.json, {
        "configurations": results,
        "params": {"control_hz": CONTROL_HZ, "measure_s": args.measure_s, "demo_s": DEMO_S,
                   "camera": f"{CAMERA_SIZE}x{CAMERA_SIZE} rgb8 at {CONTROL_HZ / CAMERA_EVERY:g} Hz",
                   "policy": "config/yan_brain.yaml defaults"},
        "targets": TARGETS,
        "machine": machine_info(),
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
