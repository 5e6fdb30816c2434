"""session_recorder: writes every teach session as a rosbag2-compatible MCAP bag.

Subscribes the raw streams, the commands, /teach/action and /teach/events with `raw=True`, so messages
arrive as the CDR bytes that travelled on the wire and are written without re-encoding
(`yan_dog.bag.BagWriter`). `yan_dog.bag.SessionBags` decides the files: one bag per teach session, opened
at a demo_start (with a few seconds of pre-roll of every stream) and closed when teaching has been idle
for `session_idle_s`, or at shutdown. Log times are this node's ROS clock (sim time with
use_sim_time), so they share a time base with the header stamps of the streams.

Parameters (config/session_recorder.yaml):
    output_dir       folder of the bags (`~` expanded; created if missing)
    topics           topics to record (each must be in yan_dog.bag.RECORDED_TOPICS, which gives its type)
    split_sessions   true: one bag per teach session; false: one bag for the whole run
    preroll_s        seconds of every stream written ahead of a session's first demo_start
    session_idle_s   seconds after the last demo_stop without a new demo_start that end a session
    flush_interval_s complete chunks reach the disk at least this often (a crash loses at most this)
    compression      "zstd", "lz4" or "none"
"""

from __future__ import annotations

import importlib
import time

import rclpy
from rclpy.node import Node
from rclpy.qos import QoSProfile

from yan_dog.bag import DEFAULT_FLUSH_INTERVAL_S, RECORDED_TOPICS, SessionBags
from yan_dog_ros import msgs
from yan_dog_ros.spin import init, until_shutdown

NODE_NAME = "session_recorder"
POLL_PERIOD_S = 0.5  # s, how often the recorder checks whether a session has gone idle
ERROR_LOG_PERIOD_S = 1.0  # s, at most one error line this often (a full disk fails every write)
RECORDER_QUEUE_DEPTH = 50  # a busy disk must not make the recorder drop messages
DEFAULT_OUTPUT_DIR = "~/.local/share/yan-dog/bags"
# Each topic is subscribed with the QoS its publishers use (yan_dog_ros.msgs), so they always match.
TOPIC_QOS = {
    msgs.CAMERA_TOPIC: msgs.SENSOR_QOS,
    msgs.JOINT_STATES_TOPIC: msgs.SENSOR_QOS,
    msgs.IMU_TOPIC: msgs.SENSOR_QOS,
    msgs.AUDIO_TOPIC: msgs.AUDIO_QOS,
}


def message_class(type_name: str):
    """'sensor_msgs/msg/Image' -> the rclpy message class."""
    pkg, sub, name = type_name.split("/")
    return getattr(importlib.import_module(f"{pkg}.{sub}"), name)


def _qos(topic: str) -> QoSProfile:
    base = TOPIC_QOS.get(topic, msgs.COMMAND_QOS)
    return QoSProfile(history=base.history, depth=RECORDER_QUEUE_DEPTH, reliability=base.reliability,
                      durability=base.durability)  # fmt: skip


class SessionRecorder(Node):
    """Records the teach sessions of a running graph (see the module docstring)."""

    def __init__(self, **node_kwargs):
        super().__init__(NODE_NAME, **node_kwargs)
        p = {
            "output_dir": self.declare_parameter("output_dir", DEFAULT_OUTPUT_DIR).value,
            "topics": self.declare_parameter("topics", list(RECORDED_TOPICS)).value,
            "split_sessions": self.declare_parameter("split_sessions", True).value,
            "preroll_s": self.declare_parameter("preroll_s", 2.0).value,
            "session_idle_s": self.declare_parameter("session_idle_s", 15.0).value,
            "flush_interval_s": self.declare_parameter("flush_interval_s", DEFAULT_FLUSH_INTERVAL_S).value,
            "compression": self.declare_parameter("compression", "zstd").value,
        }
        unknown = [t for t in p["topics"] if t not in RECORDED_TOPICS]
        if unknown:
            raise ValueError(f"topics: {unknown} are not recordable; known: {sorted(RECORDED_TOPICS)}")
        self.bags = SessionBags(
            p["output_dir"],
            preroll_s=float(p["preroll_s"]),
            session_idle_s=float(p["session_idle_s"]),
            split_sessions=bool(p["split_sessions"]),
            flush_interval_s=float(p["flush_interval_s"]),
            compression=p["compression"],
        )
        self.counts = dict.fromkeys(p["topics"], 0)
        for topic in p["topics"]:
            type_name = RECORDED_TOPICS[topic]
            self.create_subscription(
                message_class(type_name), topic, self._callback(topic, type_name), _qos(topic), raw=True
            )
        self.create_timer(POLL_PERIOD_S, self._poll)
        self.get_logger().info(
            f"recording {len(p['topics'])} topics into {self.bags.out_dir} "
            f"({'one bag per teach session' if self.bags.split_sessions else 'one bag'})"
        )

    def _callback(self, topic: str, type_name: str):
        def record(data: bytes) -> None:
            now_ns = self.get_clock().now().nanoseconds
            try:
                opened = self.bags.writer
                self.bags.write(topic, type_name, data, now_ns, time.monotonic())
                self.counts[topic] += 1
                if opened is None and self.bags.writer is not None:
                    self.get_logger().info(f"session bag opened: {self.bags.writer.part_path}")
            except (ValueError, OSError) as e:  # a bad event or a full disk: one line, keep running
                self.get_logger().error(f"{topic}: {e}", throttle_duration_sec=ERROR_LOG_PERIOD_S)

        return record

    def _poll(self) -> None:
        try:
            path = self.bags.poll(time.monotonic())
        except OSError as e:
            self.get_logger().error(f"closing the session bag failed: {e}")
            return
        if path is not None:
            self.get_logger().info(f"session bag closed: {path}")

    def close(self) -> None:
        """Finish the open bag (summary, fsync, rename); called at shutdown."""
        path = self.bags.close()
        if path is not None:
            self.get_logger().info(f"session bag closed: {path}")

    def destroy_node(self) -> None:
        self.close()
        super().destroy_node()


def main(args=None) -> None:
    init(args)
    node = None
    try:
        with until_shutdown():
            node = SessionRecorder()
            rclpy.spin(node)
    finally:
        if node is not None:
            node.destroy_node()  # closes the bag: the session so far is kept
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()
