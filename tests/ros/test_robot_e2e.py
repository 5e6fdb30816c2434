"""Acceptance (issue 31): the `robot` graph against the fake robot on the vendor interface, end to end.

Processes: `sim.fake_unitree` (the PyBullet A1 behind unitree-sdk2's LowState_/LowCmd_ over CycloneDDS on
loopback) and `yan-dog up robot --processes` (unitree_bridge, the composed brain, the session recorder;
mic:=false camera:=false). This test plays the person and the two drivers it leaves out: it publishes
/camera/image_raw (a still frame) and /audio/pcm (silence, and a rising whistle as the cue), and teaches
over the brain's services and /teach/action, as `teleop_keyboard` does.

1. Teach: DEMOS demonstrations of a posture (lie down: the profile's lying pose as offsets from the
   stand) — silence and the hold, then the cue, then the teach action ramps to the posture. The brain
   executes the teach action, so the fake robot lies down through the bridge while the brain records.
2. Learn LEARN_STEPS optimizer steps in the brain's learner, then learning off (fixed weights).
3. Try: trying on, silence (the robot must stay near the stand), then the cue: the fake robot must receive
   LowCmd position targets that move toward the lying pose (and the recorder's bag holds the demos).
4. Safety: the brain stopped (SIGSTOP) -> the bridge's watchdog drops the robot to damping; an
   out-of-limit command (published here while the brain is stopped) reaches the robot clamped to the soft
   limit; the brain resumed -> servo again; the e-stop latches damping while the brain's commands keep
   coming, until released.

Learning budget: a small Yan policy (d_model 64, one MCSD layer); the learner runs at normal priority
(nice 10) rather than SCHED_IDLE so it gets CPU on a busy 2-core machine.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from std_msgs.msg import Float64MultiArray, String
from std_srvs.srv import SetBool, Trigger
from yan_dog_ros import msgs

from robots.actions import GAIT_DIMS, HOLD_ACTION, HYBRID_ACTION_DIM, hybrid_joint_targets
from robots.gait import TrotController
from sim.cues import DEFAULT_SAMPLE_RATE_HZ, whistle_rising
from tests.ros.sim_graph import (
    REPO,
    VENV_BIN,
    call,
    call_client,
    recorder_listens,
    ros_node,
    spin_for,
    spin_until,
    stop_process,
)
from tests.ros.test_unitree_bridge import (
    DAMPING_KD,
    F32_TOL,
    VENDOR_DOMAIN_OFFSET,
    applied,
    fake_robot,
    needs_sdk,
    profile,
)
from yan_dog import bag

SKILL = "lie_down"
DEMOS = 3
# one demonstration: hold in silence (longer than the 1 s the try waits), cue + ramp, posture
HOLD_S, RAMP_S, POSE_S = 1.5, 1.0, 1.4
LEARN_STEPS = 400  # at 200 steps (0.6 s holds) it lay down before the cue in 3 of 7 runs (2026-12-07)
STARTUP_TIMEOUT_S = 90.0  # fake robot + bridge + composed brain (torch) + recorder on 2 busy cores
LEARN_TIMEOUT_S = 240.0
BRIDGE_RATE_HZ = 200
BRIDGE_RAMP_S = 1.0
WATCHDOG_MS = 250.0
CONTROL_PERIOD_S = 0.02
AUDIO_CHUNK = 320  # 20 ms at 16 kHz
CAMERA_EVERY = 5  # 10 Hz
CAMERA_SIZE = 96
SOFT_MARGIN_RAD = 0.05  # config/unitree_bridge.yaml soft_limit_margin_rad
TOWARD_FRACTION = 0.5  # after its cue the commanded pose covers at least this much of stand -> lying
EARLY_FRACTION = 0.25  # ... and before it at most this much (it waits for the cue)
TRY_S = 4.0


def _params_yaml(path: Path, vendor_domain: int, bags: Path) -> Path:
    path.write_text(f"""\
/**/unitree_bridge:
  ros__parameters:
    domain_id: {vendor_domain}
    network_interface: "lo"
    rate_hz: {float(BRIDGE_RATE_HZ)}
    ramp_s: {BRIDGE_RAMP_S}
    watchdog_ms: {WATCHDOG_MS}
    damping_kd: {DAMPING_KD}
    diagnostics_hz: 5.0
/**/yan_brain:
  ros__parameters:
    library_dir: ""
    skill: "{SKILL}"
    d_model: 64
    n_layers: 1
    learning: false
    trying: false
    learner_sched_idle: false
    status_hz: 5.0
/**/session_recorder:
  ros__parameters:
    output_dir: "{bags}"
    split_sessions: false
""")
    return path


@contextlib.contextmanager
def robot_graph(params: Path):
    """`yan-dog up robot --processes` (bridge, composed brain, recorder); its log in a temp file."""
    args = [str(VENV_BIN / "yan-dog"), "up", "--processes", "robot", "mic:=false", "camera:=false",
            "bridge:=true", f"params_file:={params}"]
    fd, log_name = tempfile.mkstemp(prefix="robot_graph_", suffix=".log")
    with os.fdopen(fd, "w") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        yield proc, Path(log_name)
    finally:
        stop_process(proc, signal.SIGINT, timeout_s=30)
        os.unlink(log_name)


def child_pid(parent: int, executable: str) -> int | None:
    """The pid of `parent`'s child process running `executable` (from /proc), or None."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent and any(Path(a.decode(errors="replace")).name == executable for a in cmdline[:2]):
            return int(entry.name)
    return None


class Person:
    """The drivers this graph leaves out and the teacher: a still camera frame at 10 Hz, audio chunks at
    50 Hz (silence, or the cue when `play_cue` is called), and `teach` on /teach/action at 50 Hz."""

    def __init__(self, node):
        self.pubs = msgs.sensor_publishers(node)
        self.teach_pub = node.create_publisher(Float64MultiArray, msgs.TEACH_ACTION_TOPIC, msgs.COMMAND_QOS)
        self.commands_pub = node.create_publisher(Float64MultiArray, msgs.JOINT_COMMANDS_TOPIC,
                                                  msgs.COMMAND_QOS)
        self.frame = np.random.default_rng(0).integers(0, 256, (CAMERA_SIZE, CAMERA_SIZE, 3), dtype=np.uint8)
        self.cue = (whistle_rising(DEFAULT_SAMPLE_RATE_HZ) * 8000).astype(np.int16)
        self.audio = np.zeros(0, np.int16)  # queued samples (the cue), then silence
        self.teach: np.ndarray | None = None  # (15,) hybrid action
        self.command: np.ndarray | None = None  # (12,) joint targets published here (a rogue brain)
        self.k = 0
        node.create_timer(CONTROL_PERIOD_S, self._tick)

    def play_cue(self) -> None:
        self.audio = self.cue.copy()

    def _tick(self) -> None:
        now = time.time()
        if self.k % CAMERA_EVERY == 0:
            self.pubs["camera"].publish(msgs.image_rgb8(self.frame, now))
        chunk, self.audio = self.audio[:AUDIO_CHUNK], self.audio[AUDIO_CHUNK:]
        chunk = np.pad(chunk, (0, AUDIO_CHUNK - len(chunk)))
        self.pubs["audio"].publish(msgs.audio_chunk(chunk))
        if self.teach is not None:
            self.teach_pub.publish(msgs.float_array(self.teach))
        if self.command is not None:
            self.commands_pub.publish(msgs.float_array(self.command))
        self.k += 1


def posture_action(fraction: float) -> np.ndarray:
    """(15,) hybrid action: no gait, joint offsets `fraction` of the way from standing to lying."""
    prof = profile()
    action = np.zeros(HYBRID_ACTION_DIM)
    hold = hybrid_joint_targets(TrotController(profile=prof), HOLD_ACTION, CONTROL_PERIOD_S)  # (12,)
    action[GAIT_DIMS:] = fraction * (np.asarray(prof.lie_pose_rad) - hold)
    return action


@needs_sdk
# slow, not in make test: it is a learning outcome over 4 processes and flaked (2026-12-07: 4 of 7 runs passed
# at 200 steps and 0.6 s holds, 2 of 3 at 400 steps and 1.5 s holds, once a demo's pose 0.14 rad short)
@pytest.mark.slow
@pytest.mark.solo
def test_robot_graph_learns_a_posture_and_its_bridge_keeps_the_robot_safe(ros_domain, tmp_path):
    prof = profile()
    slots = np.asarray(prof.vendor_motor_index)
    # the brain's hold: the hybrid zero action, the stand targets of its trot controller
    stand = hybrid_joint_targets(TrotController(profile=prof), HOLD_ACTION, CONTROL_PERIOD_S)  # (12,)
    lie = np.asarray(prof.lie_pose_rad)
    vendor = ros_domain + VENDOR_DOMAIN_OFFSET
    bags = tmp_path / "bags"
    params = _params_yaml(tmp_path / "robot_e2e.yaml", vendor, bags)
    with (
        fake_robot(vendor, tmp_path) as fake,
        robot_graph(params) as (graph, graph_log),
        ros_node("robot_e2e_person") as (node, ex),
    ):
        person = Person(node)
        status: list[dict] = []
        node.create_subscription(String, msgs.BRAIN_STATUS_TOPIC,
                                 lambda m: status.append(msgs.json_from_msg(m)), msgs.STATUS_QOS)
        estop = node.create_client(SetBool, "/unitree_bridge/estop")
        logs = lambda: f"--- graph\n{graph_log.read_text(errors='replace')}\n--- fake\n{fake.log()}"  # noqa: E731
        sent_q = lambda: applied(fake.status(), slots)["q"]  # noqa: E731 — the LowCmd targets, project order
        to_lie = lambda: float(np.abs(sent_q() - lie).max())  # noqa: E731

        ready = lambda: (graph.poll() is not None  # noqa: E731 — or the graph failed
                         or status and not status[-1]["stale"] and fake.status().get("commands", 0) > 0)
        assert spin_until(ex, ready, STARTUP_TIMEOUT_S) and graph.poll() is None, (status[-1:], logs())
        assert spin_until(ex, lambda: np.abs(sent_q() - stand).max() < 0.05, BRIDGE_RAMP_S + 10), logs()
        assert spin_until(ex, lambda: recorder_listens(node), STARTUP_TIMEOUT_S), logs()  # every demo_start

        # 1. demonstrations: hold in silence, then the cue and the posture; the robot lies down meanwhile
        taught: list[np.ndarray] = []
        for _ in range(DEMOS):
            assert call(node, ex, Trigger, "/yan_brain/start_demo", Trigger.Request()).success
            person.teach = posture_action(0.0)
            spin_for(ex, HOLD_S)
            person.play_cue()
            t0 = time.monotonic()
            while (elapsed := time.monotonic() - t0) < RAMP_S + POSE_S:
                person.teach = posture_action(min(1.0, elapsed / RAMP_S))
                spin_for(ex, CONTROL_PERIOD_S)
            assert to_lie() < 0.05, (sent_q(), logs())  # the teach action reached the robot
            taught.append(sent_q())  # the lying targets as commanded
            assert call(node, ex, Trigger, "/yan_brain/stop_demo", Trigger.Request()).success
            person.teach = None
            held = spin_until(ex, lambda: np.abs(sent_q() - stand).max() < 0.05, 5.0)  # idle: the hold
            assert held, (sent_q().round(3), stand, status[-1], logs()[-3000:])
        assert spin_until(ex, lambda: status[-1]["episodes"] == DEMOS, 5.0), status[-1]
        lie = np.mean(taught, axis=0)  # (12,) from here on: the taught pose

        # 2. learning, then fixed weights
        assert call(node, ex, SetBool, "/yan_brain/set_learning", SetBool.Request(data=True)).success
        learned = spin_until(ex, lambda: status[-1]["learner_steps"] >= LEARN_STEPS, LEARN_TIMEOUT_S)
        assert learned, status[-1]
        assert call(node, ex, SetBool, "/yan_brain/set_learning", SetBool.Request(data=False)).success

        # 3. the try: silence, then the cue; the robot's LowCmd targets move toward the lying pose
        assert call(node, ex, SetBool, "/yan_brain/set_trying", SetBool.Request(data=True)).success
        start = float(np.abs(lie - stand).max())
        before = []
        spin_until(ex, lambda: before.append(to_lie()) and False, 1.0)
        person.play_cue()
        after = []
        spin_until(ex, lambda: after.append(to_lie()) and False, TRY_S)
        early, moved = 1.0 - min(before) / start, 1.0 - min(after) / start
        print(f"before the cue: max |q - lie| {min(before):.2f}..{max(before):.2f} rad; after: "
              f"{min(after):.2f} rad (stand -> lie {start:.2f}); learner steps {status[-1]['learner_steps']}")
        assert early <= EARLY_FRACTION, (min(before), start, status[-1])
        assert moved >= TOWARD_FRACTION, (min(before), min(after), start, status[-1])
        assert call(node, ex, SetBool, "/yan_brain/set_trying", SetBool.Request(data=False)).success
        assert spin_until(ex, lambda: np.abs(sent_q() - stand).max() < 0.05, 5.0)

        # 4a. the brain stops (SIGSTOP): the bridge's watchdog drops the robot to damping
        brain_pid = child_pid(graph.pid, "brain_composed")
        assert brain_pid is not None, logs()
        os.kill(brain_pid, signal.SIGSTOP)
        try:
            stopped = time.time()
            assert spin_until(ex, lambda: fake.status()["damping"], 3.0), logs()
            st = fake.status()
            a = applied(st, slots)
            assert (a["kp"] == 0).all() and np.allclose(a["kd"], DAMPING_KD)
            assert st["damping_since"] - stopped < WATCHDOG_MS / 1000 + 0.5

            # 4b. an out-of-limit command reaches the robot clamped to the soft limit
            wild = stand.copy()
            wild[0] = prof.joint_upper_rad[0] + 1.0  # FR hip far beyond its upper limit
            soft_upper = prof.joint_upper_rad[0] - SOFT_MARGIN_RAD
            person.command = wild
            sent_hip = []
            at_limit = lambda: not fake.status()["damping"] and (  # noqa: E731
                sent_hip.append(sent_q()[0]) or abs(sent_hip[-1] - soft_upper) < 1e-4)
            assert spin_until(ex, at_limit, BRIDGE_RAMP_S + 10), (sent_hip[-5:], logs())
            assert max(sent_hip) <= soft_upper + F32_TOL
            person.command = None
        finally:
            os.kill(brain_pid, signal.SIGCONT)

        # 4c. the brain resumes: its hold reaches the robot again
        assert spin_until(ex, lambda: np.abs(sent_q() - stand).max() < 0.05, BRIDGE_RAMP_S + 10), logs()

        # 4d. the e-stop latches damping while the brain's commands keep coming, until released
        assert call_client(estop, ex, SetBool.Request(data=True)).success
        assert spin_until(ex, lambda: fake.status()["damping"], 2.0)
        spin_for(ex, 1.0)
        assert fake.status()["damping"]
        assert call_client(estop, ex, SetBool.Request(data=False)).success
        assert spin_until(ex, lambda: not fake.status()["damping"], BRIDGE_RAMP_S + 5), logs()
        assert spin_until(ex, lambda: np.abs(sent_q() - stand).max() < 0.05, BRIDGE_RAMP_S + 10), logs()
        assert graph.poll() is None and fake.proc.poll() is None, logs()
        assert fake.status()["crc_errors"] == 0

    # 5. the session recorder kept the demonstrations (learnable with `yan-dog teach --from-bag`)
    (path,) = sorted(bags.glob("*.mcap"))
    episodes = bag.episodes_from_bag(path)
    assert [e.skill for e in episodes] == [SKILL] * DEMOS, [(e.skill, len(e)) for e in episodes]
