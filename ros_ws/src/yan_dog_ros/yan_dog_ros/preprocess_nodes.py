"""Preprocessing nodes: raw sensor topics in, observation matrices out (sensor_msgs/Image 32FC1).

    camera_preprocess  /camera/image_raw (rgb8|bgr8)     -> /obs/camera   (s, 3s) resized frame, 0..255
    audio_preprocess   /audio/pcm (Int16MultiArray)      -> /obs/audio    (S / hop, hop) per control tick
    joint_preprocess   /joint_states + /imu/data         -> /obs/proprio  (1, 3*12 + 10)

They decode, resize, block and pack; nothing here learns (the learned tokenizers that turn these matrices
into tokens are in the policy, `yan_policy.modules.tokenizers`).

header.stamp of an observation message is the SOURCE stamp (the raw message's stamp; audio chunks have no
header and are stamped on arrival with this node's clock), header.frame_id the stream name. All the
work is in `yan_dog.streams` (ROS-free); these nodes only wire topics to it. A bad message is logged in
one line naming the fault and dropped; a callback never raises.

In one process (`composed.py`) the brain takes the observation matrices directly from `sinks` (no
serialisation); parameter `publish_obs` then decides whether they are also published.

Parameters (all nodes): image_size, audio_rate_hz, control_hz, hop (must match the brain's policy;
defaults are the policy defaults), publish_obs (default true). joint_preprocess: imu_max_age_s (a
joint state is dropped when the newest IMU reading is older than this), robot and joint_names (which
names are which motor: `yan_dog_ros.robot_params`). audio_preprocess: gap_s (an
audio chunk arriving this long after the previous one starts a new stream: the partial block is dropped).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import Image, Imu, JointState
from std_msgs.msg import Int16MultiArray

from yan_dog import streams
from yan_dog_ros import msgs
from yan_dog_ros.robot_params import declare_joint_map
from yan_dog_ros.spin import spin_node
from yan_policy.policies.config import TokenizerConfig

LOG_THROTTLE_S = 1.0  # at most one "dropped" line per second per node (a bad stream must not flood the log)
DEFAULT_IMU_MAX_AGE_S = 0.1  # 5 IMU periods at 50 Hz
DEFAULT_AUDIO_GAP_S = 0.1  # 5 chunk periods at 50 Hz
SLOW_CALLBACK_S = 0.02  # one control period at 50 Hz: a callback this long delays a composed brain's tick
SLOW_CALLBACK_MARK = "slow callback:"  # in every such log line: tools find them by it

ObsSink = Callable[[streams.ObsMatrix], None]
_OBS_TOPICS = {
    "camera": msgs.CAMERA_OBS_TOPIC,
    "audio": msgs.AUDIO_OBS_TOPIC,
    "proprio": msgs.PROPRIO_OBS_TOPIC,
}


class PreprocessNode(Node):
    """Base of the three preprocessing nodes: shape parameters, the output publisher and direct sinks."""

    def __init__(self, node_name: str, stream: str, **kwargs):
        super().__init__(node_name, **kwargs)
        d = TokenizerConfig()
        self.stream = stream
        image_size = self.declare_parameter("image_size", d.image_size).value
        rate = self.declare_parameter("audio_rate_hz", d.sample_rate).value
        control_hz = self.declare_parameter("control_hz", d.control_hz).value
        hop = self.declare_parameter("hop", d.hop).value
        if rate % control_hz:
            raise ValueError(f"audio_rate_hz {rate} must be a multiple of control_hz {control_hz}")
        self.spec = streams.ObsSpec(image_size, rate // control_hz, hop, d.n_joints)
        self.publish_obs = bool(self.declare_parameter("publish_obs", True).value)
        self.sinks: list[ObsSink] = []
        self.counts = {"in": 0, "out": 0, "dropped": 0}
        self._pub = self.create_publisher(Image, _OBS_TOPICS[stream], msgs.OBS_QOS)

    def emit(self, matrix: np.ndarray, stamp) -> None:
        """Hand a (rows, width) observation matrix stamped `stamp` (builtin_interfaces/Time) downstream."""
        if self.sinks:
            obs = streams.ObsMatrix(self.stream, msgs.stamp_to_seconds(stamp), matrix)
            for sink in self.sinks:
                sink(obs)
        if self.publish_obs:
            self._pub.publish(msgs.obs_image(matrix, stamp, self.stream))
        self.counts["out"] += 1

    def timed(self, callback: Callable, what: str) -> Callable:
        """`callback`, logging each call that took longer than SLOW_CALLBACK_S (wall and CPU time): in one
        process with the brain (`composed.py`) it held up the control tick that long."""

        def run(msg) -> None:
            t0_s, cpu0_s = time.monotonic(), time.thread_time()
            callback(msg)
            wall_s = time.monotonic() - t0_s
            if wall_s > SLOW_CALLBACK_S:
                cpu_s = time.thread_time() - cpu0_s
                self.get_logger().warning(
                    f"{SLOW_CALLBACK_MARK} {what} took {wall_s * 1e3:.1f} ms ({cpu_s * 1e3:.1f} ms of CPU)",
                    throttle_duration_sec=LOG_THROTTLE_S)

        return run

    def drop(self, what: str, fault: Exception) -> None:
        self.counts["dropped"] += 1
        self.get_logger().warning(f"dropped {what}: {fault}", throttle_duration_sec=LOG_THROTTLE_S)


class CameraPreprocessNode(PreprocessNode):
    """/camera/image_raw -> /obs/camera."""

    def __init__(self, **kwargs):
        super().__init__("camera_preprocess", "camera", **kwargs)
        self.create_subscription(Image, msgs.CAMERA_TOPIC, self.timed(self.on_image, "camera frame"),
                                 msgs.SENSOR_QOS)

    def on_image(self, msg: Image) -> None:
        self.counts["in"] += 1
        try:
            matrix = streams.camera_matrix(streams.decode_image(msg), self.spec.image_size)  # (s, 3s)
        except ValueError as e:
            self.drop("camera frame", e)
            return
        self.emit(matrix, msg.header.stamp)


class AudioPreprocessNode(PreprocessNode):
    """/audio/pcm chunks of any size -> one /obs/audio matrix per control tick of samples."""

    def __init__(self, **kwargs):
        super().__init__("audio_preprocess", "audio", **kwargs)
        self.gap_s = float(self.declare_parameter("gap_s", DEFAULT_AUDIO_GAP_S).value)
        self.rechunker = streams.AudioRechunker(self.spec.samples_per_tick)
        self._last_arrival_s: float | None = None
        self.create_subscription(Int16MultiArray, msgs.AUDIO_TOPIC, self.timed(self.on_chunk, "audio chunk"),
                                 msgs.AUDIO_QOS)

    def on_chunk(self, msg: Int16MultiArray) -> None:
        self.counts["in"] += 1
        now_s = self.get_clock().now().nanoseconds / msgs.NANOSECONDS_PER_SECOND  # the arrival stamp
        arrival_s = time.monotonic()
        if self._last_arrival_s is not None and arrival_s - self._last_arrival_s > self.gap_s:
            self.rechunker.gap()
        self._last_arrival_s = arrival_s
        try:
            chunk = streams.decode_audio(msg)  # (n,)
        except ValueError as e:
            self.drop("audio chunk", e)
            return
        for stamp_s, block in self.rechunker.push(chunk, now_s):
            self.emit(streams.audio_matrix(block, self.spec.hop), msgs.to_stamp(stamp_s))  # (S / hop, hop)


class JointPreprocessNode(PreprocessNode):
    """/joint_states (any joint order) + the newest /imu/data -> /obs/proprio (joint state's stamp)."""

    def __init__(self, **kwargs):
        super().__init__("joint_preprocess", "proprio", **kwargs)
        self.imu_max_age_s = float(self.declare_parameter("imu_max_age_s", DEFAULT_IMU_MAX_AGE_S).value)
        self.joints = declare_joint_map(self)  # the robot's joint names -> the policy's motor order
        self._imu: np.ndarray | None = None  # (10,)
        self._imu_arrival_s = -np.inf
        self.create_subscription(Imu, msgs.IMU_TOPIC, self.timed(self.on_imu, "IMU reading"), msgs.SENSOR_QOS)
        self.create_subscription(JointState, msgs.JOINT_STATES_TOPIC,
                                 self.timed(self.on_joint_state, "joint state"), msgs.SENSOR_QOS)

    def on_imu(self, msg: Imu) -> None:
        try:
            self._imu = streams.decode_imu(msg)
        except ValueError as e:
            self.drop("IMU reading", e)
            return
        self._imu_arrival_s = time.monotonic()

    def on_joint_state(self, msg: JointState) -> None:
        self.counts["in"] += 1
        try:
            joints = streams.decode_joint_state(msg, self.joints)  # (3, 12) in the policy's order
            age_s = time.monotonic() - self._imu_arrival_s
            if self._imu is None or age_s > self.imu_max_age_s:
                raise ValueError(f"no IMU reading in the last {self.imu_max_age_s} s")
            matrix = streams.proprio_matrix(joints, self._imu)  # (1, 46)
        except ValueError as e:
            self.drop("joint state", e)
            return
        self.emit(matrix, msg.header.stamp)


PREPROCESS_NODES: dict[str, type[PreprocessNode]] = {
    "camera": CameraPreprocessNode,
    "audio": AudioPreprocessNode,
    "proprio": JointPreprocessNode,
}


def camera_main(args=None) -> None:
    spin_node(CameraPreprocessNode, args)


def audio_main(args=None) -> None:
    spin_node(AudioPreprocessNode, args)


def joint_main(args=None) -> None:
    spin_node(JointPreprocessNode, args)
