"""`unitree_bridge` against the fake robot on the vendor interface (`sim.fake_unitree`: the PyBullet A1
behind unitree-sdk2's LowState_/LowCmd_ over CycloneDDS on loopback), each in its own process, as on a dog.

The fake robot reports in a JSON file what it applied (per motor slot: mode, q, kp, kd; crc errors;
damping); this test's probe node plays the brain (/joint_commands) and reads /joint_states and /diagnostics.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from sensor_msgs.msg import Imu, JointState
from std_msgs.msg import Float64MultiArray
from std_srvs.srv import SetBool
from yan_dog_ros import msgs, unitree_bridge

from robots.unitree_lowlevel import (
    INSTALL_HINT,
    MOTOR_MODE_SERVO,
    NUM_VENDOR_MOTORS,
    SdkMissingError,
    sdk_available,
)
from tests.ros.sim_graph import REPO, call_client, ros_node, spawn, spin_for, spin_until, stop_process

needs_sdk = pytest.mark.skipif(not sdk_available(), reason=f"bridge extra not installed: {INSTALL_HINT}")

ROBOT = "a1"
VENDOR_DOMAIN_OFFSET = 110  # vendor (CycloneDDS) domain = this test's ROS domain (1..100) + this: 111..210
RATE_HZ = 200  # LowState and LowCmd (a dog runs 500 Hz; lower here to spare the test machine's cores)
RAMP_S = 1.0
WATCHDOG_MS = 250.0  # the default 100 ms is 5 brain periods; a loaded 2-core test machine stalls longer
DAMPING_KD = 2.0
STARTUP_S = 30.0  # two processes, PyBullet, both DDS stacks, on a busy 2-core machine
COMMAND_PERIOD_S = 0.02  # the brain's 50 Hz
F32_TOL = 1e-5  # LowCmd carries float32
RATE_WINDOW_S = 2.0
RATE_TOLERANCE = (0.4, 1.2)  # achieved / nominal rate (the test machine may be loaded)


def profile():
    import robots

    return robots.get_profile(ROBOT)


class FakeRobot:
    """`python -m sim.fake_unitree` in its own process, read through its status file."""

    def __init__(self, proc: subprocess.Popen, status_path, log_path):
        self.proc, self.status_path, self.log_path = proc, status_path, log_path

    def status(self) -> dict:
        try:
            return json.loads(self.status_path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@contextlib.contextmanager
def fake_robot(domain: int, tmp_path, fault: str = "none"):
    status, log = tmp_path / f"fake_{fault}.json", tmp_path / f"fake_{fault}.log"
    args = [sys.executable, "-m", "sim.fake_unitree", "--robot", ROBOT, "--domain", str(domain),
            "--interface", "lo", "--rate-hz", str(RATE_HZ), "--fault", fault, "--status-file", str(status)]
    with open(log, "w") as f:
        proc = subprocess.Popen(args, stdout=f, stderr=subprocess.STDOUT, cwd=REPO,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        yield FakeRobot(proc, status, log)
    finally:
        stop_process(proc, signal.SIGTERM, timeout_s=10)


def bridge(domain: int):
    params = {"robot": ROBOT, "domain_id": domain, "network_interface": "lo", "rate_hz": float(RATE_HZ),
              "ramp_s": RAMP_S, "watchdog_ms": WATCHDOG_MS, "damping_kd": DAMPING_KD, "diagnostics_hz": 5.0}
    args = [a for k, v in params.items() for a in ("-p", f"{k}:={v}")]
    return spawn("unitree_bridge", *args, params_file="unitree_bridge.yaml")


def diagnostics(msg: DiagnosticArray) -> dict:
    """{short name: (level, message, {key: value})}."""
    return {s.name.split(": ", 1)[1]: (s.level[0], s.message, {kv.key: kv.value for kv in s.values})
            for s in msg.status}


class Brain:
    """The probe's stand-in for the brain: publishes `target` on /joint_commands at 50 Hz while the
    executor spins (None: publishes nothing, as a brain that stopped)."""

    def __init__(self, node):
        self.target = None
        self._pub = node.create_publisher(Float64MultiArray, msgs.JOINT_COMMANDS_TOPIC, msgs.COMMAND_QOS)
        node.create_timer(COMMAND_PERIOD_S, self._publish)

    def _publish(self) -> None:
        if self.target is not None:
            self._pub.publish(msgs.float_array(self.target))

    def connected(self) -> bool:
        return self._pub.get_subscription_count() > 0


def applied(status: dict, slots) -> dict:
    """The fake's applied command in project order (via the profile's motor slots)."""
    c = status["command"]
    return {k: np.asarray(c[k])[slots] for k in ("mode", "q", "kp", "kd")}


@needs_sdk
def test_bridge_drives_the_fake_robot_through_its_safety(ros_domain, tmp_path):
    prof = profile()
    slots = np.asarray(prof.vendor_motor_index)
    vendor = ros_domain + VENDOR_DOMAIN_OFFSET
    with (
        fake_robot(vendor, tmp_path) as fake,
        bridge(vendor) as br,
        ros_node("brain_probe") as (node, ex),
    ):
        joints, imus, diags = [], [], []
        node.create_subscription(JointState, msgs.JOINT_STATES_TOPIC, joints.append, msgs.SENSOR_QOS)
        node.create_subscription(Imu, msgs.IMU_TOPIC, imus.append, msgs.SENSOR_QOS)
        node.create_subscription(
            DiagnosticArray, "/diagnostics", lambda m: diags.append(diagnostics(m)), msgs.STATUS_QOS
        )
        brain = Brain(node)
        estop = node.create_client(SetBool, "/unitree_bridge/estop")  # made early: discovered with the node
        logs = lambda: f"--- bridge\n{br.log()}\n--- fake\n{fake.log()}"  # noqa: E731

        # 1. LowState -> /joint_states under the profile's names, /imu/data; nothing sent before a command
        assert spin_until(ex, lambda: joints and imus and diags and brain.connected(), STARTUP_S), logs()
        js = joints[-1]
        assert tuple(js.name) == tuple(prof.joint_names)
        def same_pose() -> bool:  # the fake's pose and the newest /joint_states (the limp dog settles)
            return np.abs(np.asarray(joints[-1].position) - fake.status()["joint_pos_rad"]).max() < 0.05

        assert spin_until(ex, same_pose, 5.0)
        assert abs(np.linalg.norm(msgs.imu_vector_from_msg(imus[-1])[:4]) - 1.0) < 1e-3
        waiting = lambda: diags[-1]["safety"][2]["mode"] == "waiting"  # noqa: E731
        assert spin_until(ex, waiting, 5.0), diags[-1]["safety"]
        assert fake.status()["commands"] == 0

        # 2. /joint_commands -> LowCmd: the right motor slots, the profile's kp/kd, servo mode, a valid crc
        target = np.asarray(prof.stand_pose_rad, float) + 0.004 * np.arange(12)  # 12 distinct targets
        reached = lambda t: (  # noqa: E731
            fake.status().get("command") is not None
            and np.abs(applied(fake.status(), slots)["q"] - t).max() < F32_TOL
        )
        brain.target = target
        assert spin_until(ex, lambda: reached(target), RAMP_S + 10.0), (fake.status(), logs())
        st = fake.status()
        a = applied(st, slots)
        assert (a["mode"] == MOTOR_MODE_SERVO).all() and not st["damping"] and st["crc_errors"] == 0
        assert np.allclose(a["kp"], prof.kp_nm_per_rad) and np.allclose(a["kd"], prof.kd_nms_per_rad)
        unused = np.setdiff1d(np.arange(NUM_VENDOR_MOTORS), slots)
        assert (np.asarray(st["command"]["mode"])[unused] == 0).all()
        assert np.abs(np.asarray(st["joint_pos_rad"]) - target).max() < 0.15  # the dog stands

        # 3. an out-of-limit command is clamped to the soft limits
        margin = 0.05  # config/unitree_bridge.yaml soft_limit_margin_rad
        wild = target.copy()
        wild[0] = prof.joint_upper_rad[0] + 1.0  # FR hip far beyond its upper limit
        soft_upper = prof.joint_upper_rad[0] - margin
        sent_hip = []

        def at_soft_limit() -> bool:
            sent_hip.append(applied(fake.status(), slots)["q"][0])
            return abs(sent_hip[-1] - soft_upper) < 1e-4

        brain.target = wild
        ok = spin_until(ex, at_soft_limit, 10.0)
        assert ok, (sent_hip[-5:], logs())
        assert max(sent_hip) <= soft_upper + F32_TOL
        assert spin_until(ex, lambda: int(diags[-1]["safety"][2]["position_clamped"]) > 0, 2.0)
        brain.target = target
        assert spin_until(ex, lambda: reached(target), 10.0)
        assert spin_until(ex, lambda: diags[-1]["safety"][2]["mode"] == "active", 2.0)

        # 4. commands stop: the watchdog drops the robot to damping (kp = 0, kd = damping_kd)
        brain.target, stopped = None, time.time()
        assert spin_until(ex, lambda: fake.status()["damping"], 3.0), logs()
        st = fake.status()
        a = applied(st, slots)
        assert (a["kp"] == 0).all() and np.allclose(a["kd"], DAMPING_KD)
        assert st["damping_since"] - stopped < WATCHDOG_MS / 1000 + 0.5  # the watchdog, and delivery
        assert spin_until(ex, lambda: diags[-1]["safety"][2]["mode"] == "damping", 2.0)
        assert "watchdog" in diags[-1]["safety"][1]

        # 5. fresh commands ramp back from the current pose
        brain.target = target
        assert spin_until(ex, lambda: reached(target), RAMP_S + 10.0), logs()

        # 6. the e-stop latches damping while commands keep coming, until it is released
        response = call_client(estop, ex, SetBool.Request(data=True))
        assert response.success and response.message.startswith("estop")
        assert spin_until(ex, lambda: fake.status()["damping"], 2.0)
        spin_for(ex, 1.0)  # commands keep coming
        assert fake.status()["damping"] and diags[-1]["safety"][0] == 2  # ERROR while e-stopped
        response = call_client(estop, ex, SetBool.Request(data=False))
        assert response.success
        assert spin_until(ex, lambda: reached(target), RAMP_S + 10.0), logs()

        # 7. /diagnostics: the streams' rates, from the totals over RATE_WINDOW_S
        first, t0 = diags[-1], time.monotonic()
        spin_for(ex, RATE_WINDOW_S)
        last, seconds = diags[-1], time.monotonic() - t0
        rates = {stream: (int(last[stream][2][key]) - int(first[stream][2][key])) / seconds / hz
                 for stream, key, hz in (("lowstate", "received", RATE_HZ), ("lowcmd", "sent", RATE_HZ),
                                         ("joint_commands", "received", 1 / COMMAND_PERIOD_S))}
        lo, hi = RATE_TOLERANCE
        assert all(lo < r < hi for r in rates.values()), rates  # achieved / nominal
        assert last["lowstate"][0] == 0 and last["lowcmd"][2]["write_failures"] == "0"
        assert fake.status()["crc_errors"] == 0
        assert br.alive() and fake.proc.poll() is None

        # 8. a bridge stopped while in control leaves the motors in damping (they keep the last command)
        assert not fake.status()["damping"]
        br.proc.send_signal(signal.SIGINT)
        assert br.proc.wait(10) == 0, br.log()
        time.sleep(0.2)  # the fake's status file is rewritten every 50 ms
        assert fake.status()["damping"], br.log()


@needs_sdk
@pytest.mark.parametrize("fault, reason", [("nan", "NaN"), ("out_of_limits", "outside its limits"),
                                           ("stale", "stale")])
def test_bridge_refuses_to_start_on_an_implausible_state(ros_domain, tmp_path, fault, reason):
    prof = profile()
    vendor = ros_domain + VENDOR_DOMAIN_OFFSET
    with (
        fake_robot(vendor, tmp_path, fault=fault) as fake,
        bridge(vendor) as br,
        ros_node("brain_probe") as (node, ex),
    ):
        diags = []
        node.create_subscription(
            DiagnosticArray, "/diagnostics", lambda m: diags.append(diagnostics(m)), msgs.STATUS_QOS
        )
        brain = Brain(node)
        brain.target = np.asarray(prof.stand_pose_rad)
        refused = lambda: diags and reason in diags[-1]["safety"][1]  # noqa: E731
        assert spin_until(ex, lambda: brain.connected() and fake.status(), STARTUP_S), br.log()
        assert spin_until(ex, refused, STARTUP_S), (diags[-1:], br.log())
        spin_for(ex, 1.0)  # commands keep coming
        level, message, values = diags[-1]["safety"]
        assert level == 2 and message.startswith("refused: start refused"), (diags[-1], br.log())
        assert fake.status()["commands"] == 0  # not one LowCmd reached the robot


def test_without_the_sdk_the_bridge_exits_with_the_install_hint(monkeypatch, capsys):
    def missing():
        raise SdkMissingError(INSTALL_HINT)

    monkeypatch.setattr(unitree_bridge, "import_sdk", missing)
    with pytest.raises(SystemExit) as exit_:
        unitree_bridge.main([])
    assert exit_.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("unitree_bridge: ") and "make install" in line
