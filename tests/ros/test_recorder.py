"""The session recorder as a real process: it records a short teach session published over DDS into
one MCAP per session (closed when teaching goes idle, or at shutdown), readable and learnable."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import rclpy
from rclpy.context import Context
from rclpy.serialization import serialize_message
from std_msgs.msg import Float64MultiArray, String
from yan_dog_ros import msgs
from yan_dog_ros.graph import config_dir

from yan_dog import bag
from yan_dog.streams import JOINT_NAMES

REPO = Path(__file__).resolve().parents[2]
RECORDER = REPO / ".venv/bin/session_recorder"
CONTROL_HZ = 50
CAMERA_EVERY = 5  # ticks between camera frames (10 Hz)
DISCOVERY_TIMEOUT_S = 15.0
SESSION_IDLE_S = 0.6


def _wait(predicate, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Robot:
    """Publishes what a robot + teacher would during a teach session (private rclpy context)."""

    def __init__(self, context: Context):
        self.node = rclpy.create_node("fake_robot", context=context)
        n = self.node
        self.pubs = {
            **msgs.sensor_publishers(n),
            "action": n.create_publisher(Float64MultiArray, msgs.TEACH_ACTION_TOPIC, msgs.COMMAND_QOS),
            "events": n.create_publisher(String, bag.TEACH_EVENTS_TOPIC, msgs.COMMAND_QOS),
        }
        self.rng = np.random.default_rng(0)
        self.sent = dict.fromkeys(self.pubs, 0)

    def connected(self) -> bool:
        return all(p.get_subscription_count() > 0 for p in self.pubs.values())

    def _pub(self, key: str, msg) -> None:
        self.pubs[key].publish(msg)
        self.sent[key] += 1

    def event(self, kind: str, skill: str = "sit", **fields) -> None:
        self._pub("events", String(data=bag.teach_event(kind, skill, **fields)))

    def ticks(self, n: int, teach: bool) -> None:
        for k in range(n):
            t = self.node.get_clock().now().nanoseconds / 1e9
            self._pub("imu", msgs.imu_msg(np.r_[0, 0, 0, 1, np.zeros(6)], t))
            pos = self.rng.normal(size=12)
            self._pub("joints", msgs.joint_state(JOINT_NAMES, pos, np.zeros(12), np.zeros(12), t))
            self._pub("audio", msgs.audio_chunk(self.rng.integers(-100, 100, 320).astype(np.int16)))
            if k % CAMERA_EVERY == 0:
                self._pub("camera", msgs.image_rgb8(self.rng.integers(0, 255, (32, 32, 3), np.uint8), t))
            if teach:
                self._pub("action", msgs.float_array(self.rng.normal(size=15)))
            time.sleep(1.0 / CONTROL_HZ)


def test_recorder_writes_one_readable_bag_per_teach_session(tmp_path):
    out = tmp_path / "bags"
    proc = subprocess.Popen([
        str(RECORDER), "--ros-args", "--params-file", str(config_dir() / "session_recorder.yaml"),
        "-p", f"output_dir:={out}", "-p", f"session_idle_s:={SESSION_IDLE_S}", "-p", "preroll_s:=0.5",
        "-p", "flush_interval_s:=0.2",
    ])  # fmt: skip
    context = Context()
    rclpy.init(context=context)
    try:
        robot = Robot(context)
        _wait(robot.connected, DISCOVERY_TIMEOUT_S, "the recorder's subscriptions")
        time.sleep(0.3)  # reliable subscriptions complete their handshake
        robot.ticks(20, teach=False)  # before the session: only the pre-roll is kept
        robot.event("demo_start", source="teleop", cue="whistle_rising")
        robot.ticks(40, teach=True)
        robot.event("demo_stop", success=True)
        _wait(lambda: list(out.glob("*.mcap")), 10.0, "the first session's bag to close after idling")
        first = sorted(out.glob("*.mcap"))
        robot.event("demo_start")  # a second session, cut short by shutdown
        robot.ticks(10, teach=True)
        time.sleep(0.5)
        _stop(proc)
        assert proc.returncode == 0
    finally:
        _stop(proc)
        rclpy.try_shutdown(context=context)

    bags = sorted(out.glob("*.mcap"))
    assert len(first) == 1 and len(bags) == 2 and not list(out.glob("*.part"))
    counts: dict[str, int] = {}
    for topic, _, _ in bag.read_bag(first[0], strict=True):
        counts[topic] = counts.get(topic, 0) + 1
    assert counts[bag.TEACH_ACTION_TOPIC] == 40  # reliable: every teach action of the demo
    assert counts[bag.TEACH_EVENTS_TOPIC] == 2
    assert 40 <= counts[msgs.AUDIO_TOPIC] <= 60  # the demo's chunks + up to 0.5 s of pre-roll
    assert counts[msgs.JOINT_STATES_TOPIC] >= 30 and counts[msgs.CAMERA_TOPIC] >= 5

    (episode,) = bag.episodes_from_bag(first[0])
    assert (episode.skill, episode.cue, episode.success) == ("sit", "whistle_rising", True)
    assert 30 <= len(episode) <= 40  # ticks with stale inputs (if the loopback stalled) are left out

    events = [bag.parse_teach_event(m.data) for _, _, m in bag.read_bag(bags[1], [bag.TEACH_EVENTS_TOPIC])]
    assert [e["event"] for e in events] == ["demo_start"]  # the bag closed at shutdown holds the demo so far


@pytest.mark.parametrize("bad", ["not json", '{"event": "jump", "skill": "sit"}'])
def test_bad_teach_event_is_logged_and_recorded(tmp_path, bad):
    bags = bag.SessionBags(tmp_path, split_sessions=False, compression="none")
    with pytest.raises(ValueError):
        bags.write(bag.TEACH_EVENTS_TOPIC, bag.TEACH_EVENTS_TYPE, serialize_message(String(data=bad)), 1, 0.0)
    path = bags.close()
    assert [m.message.data for m in bag.read_bag(path)] == [bad]
