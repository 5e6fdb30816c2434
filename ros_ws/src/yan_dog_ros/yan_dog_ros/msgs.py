"""Topic names, QoS profiles and numpy <-> ROS 2 message converters shared by every yan-dog node.

Standard message types only (DESIGN.md section 4): no custom .msg builds, no cv_bridge. Builders take
numpy arrays and a stamp, and return a message; readers (`*_from_msg`, `float_array_values`) validate a
received message and raise `ValueError` naming the fault, so a callback can log one line and drop it.

Stamps: every builder accepts a stamp as float seconds or as a `builtin_interfaces/Time`.

QoS choices (publishers and subscribers of a stream use the same profile):
- `SENSOR_QOS` (camera, joints, IMU): best effort, keep last 5, volatile. Only the newest sample matters;
  a late frame is worse than a lost one. A best-effort subscriber also matches a reliable publisher, so
  the same profile works with a real robot's driver whatever that driver offers.
- `AUDIO_QOS`: reliable, keep last 20. Every chunk carries part of a cue; a lost chunk is an audio gap.
  Chunks are small (320 int16 per 20 ms), so reliability costs nothing on loopback.
- `OBS_QOS` (preprocessing outputs, /obs/*): reliable, keep last 10, for the same reason (one audio block
  per tick must reach the brain; camera/proprio matrices are tiny).
- `COMMAND_QOS` (/joint_commands, /cmd_vel, /teach/action): reliable, keep last 10 (the ros2_control
  forward-command convention); a teach action must not be lost from a demonstration.
- `STATUS_QOS` (/sim/status, /brain/status, /clock): reliable, keep last 10.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

import numpy as np
from builtin_interfaces.msg import Time
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, Image, Imu, JointState
from std_msgs.msg import Float64MultiArray, Header, Int16MultiArray, MultiArrayDimension, String

# --- Topic names (DESIGN.md section 4) --------------------------------------------------------------------
CAMERA_TOPIC = "/camera/image_raw"
CAMERA_INFO_TOPIC = "/camera/camera_info"  # image_transport convention: beside image_raw
AUDIO_TOPIC = "/audio/pcm"
JOINT_STATES_TOPIC = "/joint_states"
IMU_TOPIC = "/imu/data"
CLOCK_TOPIC = "/clock"
JOINT_COMMANDS_TOPIC = "/joint_commands"
CMD_VEL_TOPIC = "/cmd_vel"
TEACHER_ACTION_TOPIC = "/sim/teacher_action"  # sim-only oracle: the scripted teacher's 15-D action
SIM_STATUS_TOPIC = "/sim/status"
TEACH_ACTION_TOPIC = "/teach/action"  # the only topic teach commands are accepted from
CAMERA_OBS_TOPIC = "/obs/camera"
AUDIO_OBS_TOPIC = "/obs/audio"
PROPRIO_OBS_TOPIC = "/obs/proprio"
BRAIN_STATUS_TOPIC = "/brain/status"

# --- Frames and encodings ---------------------------------------------------------------------------------
CAMERA_FRAME = "camera"
IMU_FRAME = "base"  # REP 105 body frame of the robot
RGB8 = "rgb8"
OBS_ENCODING = "32FC1"
RGB_CHANNELS = 3
FLOAT32_BYTES = 4
IMU_VECTOR_SIZE = 10  # quaternion xyzw (4), angular velocity rad/s (3), specific force m/s^2 (3)
NUM_JOINTS = 12
NANOSECONDS_PER_SECOND = 1_000_000_000

# --- QoS profiles (see the module docstring for the reasons) ----------------------------------------------
SENSOR_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=5,
    reliability=ReliabilityPolicy.BEST_EFFORT,
    durability=DurabilityPolicy.VOLATILE,
)
AUDIO_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=20, reliability=ReliabilityPolicy.RELIABLE)
OBS_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.RELIABLE)
COMMAND_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.RELIABLE)
STATUS_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.RELIABLE)

StampLike = float | Time

# The robot's sensor streams: key -> (message type, topic, QoS). A robot driver, the sim and test robots
# publish exactly these; `sensor_publishers` makes them.
SENSOR_STREAMS = {
    "camera": (Image, CAMERA_TOPIC, SENSOR_QOS),
    "audio": (Int16MultiArray, AUDIO_TOPIC, AUDIO_QOS),
    "joints": (JointState, JOINT_STATES_TOPIC, SENSOR_QOS),
    "imu": (Imu, IMU_TOPIC, SENSOR_QOS),
}


def sensor_publishers(node) -> dict:
    """One publisher per robot sensor stream on `node` (an rclpy Node): {"camera", "audio", "joints",
    "imu"} -> Publisher, with the streams' message types, topics and QoS (SENSOR_STREAMS)."""
    return {key: node.create_publisher(msg_type, topic, qos) for key, (msg_type, topic, qos) in
            SENSOR_STREAMS.items()}


# --- Stamps -----------------------------------------------------------------------------------------------
def to_stamp(t: StampLike) -> Time:
    """A `builtin_interfaces/Time` from float seconds (>= 0) or an existing Time (returned as is)."""
    if isinstance(t, Time):
        return t
    t = float(t)
    if not math.isfinite(t) or t < 0.0:
        raise ValueError(f"stamp must be finite seconds >= 0, got {t}")
    ns = int(round(t * NANOSECONDS_PER_SECOND))
    return Time(sec=ns // NANOSECONDS_PER_SECOND, nanosec=ns % NANOSECONDS_PER_SECOND)


def stamp_to_seconds(stamp: Time) -> float:
    """Float seconds of a `builtin_interfaces/Time`."""
    return stamp.sec + stamp.nanosec / NANOSECONDS_PER_SECOND


def make_header(stamp: StampLike, frame_id: str) -> Header:
    """A `std_msgs/Header` with the given stamp and frame id."""
    return Header(stamp=to_stamp(stamp), frame_id=frame_id)


def clock_msg(t_s: StampLike) -> Clock:
    """A `rosgraph_msgs/Clock` for simulation time `t_s`."""
    return Clock(clock=to_stamp(t_s))


# --- Camera -----------------------------------------------------------------------------------------------
def image_rgb8(frame: np.ndarray, stamp: StampLike, frame_id: str = CAMERA_FRAME) -> Image:
    """`sensor_msgs/Image` rgb8 from a (H, W, 3) uint8 frame."""
    frame = np.asarray(frame)
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != RGB_CHANNELS:
        raise ValueError(f"frame must be (H, W, 3) uint8, got {frame.shape} {frame.dtype}")
    h, w, _ = frame.shape
    return Image(
        header=make_header(stamp, frame_id),
        height=h,
        width=w,
        encoding=RGB8,
        is_bigendian=0,
        step=w * RGB_CHANNELS,
        data=np.ascontiguousarray(frame).tobytes(),
    )


def camera_info(width: int, height: int, stamp: StampLike, frame_id: str = CAMERA_FRAME) -> CameraInfo:
    """`sensor_msgs/CameraInfo` of an uncalibrated camera (K, P all zero: the message's own convention) of
    the given image size, with the image's stamp and frame."""
    return CameraInfo(header=make_header(stamp, frame_id), width=int(width), height=int(height),
                      distortion_model="plumb_bob", d=[0.0] * 5)


def rgb8_from_msg(msg: Image) -> np.ndarray:
    """(H, W, 3) uint8 frame of an rgb8 Image; `ValueError` on another encoding or an inconsistent size."""
    if msg.encoding != RGB8:
        raise ValueError(f"image encoding must be {RGB8!r}, got {msg.encoding!r}")
    if msg.height == 0 or msg.width == 0:
        raise ValueError(f"image is empty ({msg.height}x{msg.width})")
    row = msg.width * RGB_CHANNELS
    if msg.step < row or len(msg.data) != msg.step * msg.height:
        raise ValueError(
            f"image data size {len(msg.data)} does not match height {msg.height} x step {msg.step}"
            f" (width {msg.width})"
        )
    flat = np.frombuffer(bytes(msg.data), np.uint8).reshape(msg.height, msg.step)  # (H, step)
    return flat[:, :row].reshape(msg.height, msg.width, RGB_CHANNELS).copy()  # (H, W, 3)


# --- Observation matrices (preprocessing outputs) ---------------------------------------------------------
def obs_image(matrix: np.ndarray, stamp: StampLike, stream_name: str) -> Image:
    """`sensor_msgs/Image` 32FC1 carrying a float32 observation matrix (rows, width).

    header.stamp is the SOURCE stamp of the raw sample the matrix came from; header.frame_id names the
    stream ("camera", "audio", "proprio").
    """
    m = np.asarray(matrix)
    if m.ndim != 2 or m.shape[0] == 0 or m.shape[1] == 0:
        raise ValueError(f"observation matrix must be 2-D (rows, width) and non-empty, got shape {m.shape}")
    m = np.ascontiguousarray(m, dtype=np.float32)  # (rows, width)
    return Image(
        header=make_header(stamp, stream_name),
        height=m.shape[0],
        width=m.shape[1],
        encoding=OBS_ENCODING,
        is_bigendian=0,
        step=m.shape[1] * FLOAT32_BYTES,
        data=m.tobytes(),
    )


def obs_matrix_from_msg(msg: Image) -> np.ndarray:
    """(rows, width) float32 matrix of a 32FC1 observation Image; `ValueError` if malformed or non-finite."""
    if msg.encoding != OBS_ENCODING:
        raise ValueError(f"observation image encoding must be {OBS_ENCODING!r}, got {msg.encoding!r}")
    if msg.height == 0 or msg.width == 0:
        raise ValueError(f"observation image is empty ({msg.height}x{msg.width})")
    if msg.step != msg.width * FLOAT32_BYTES or len(msg.data) != msg.step * msg.height:
        raise ValueError(
            f"observation image data size {len(msg.data)} does not match {msg.height} rows x {msg.width} "
            f"floats"
        )
    m = np.frombuffer(bytes(msg.data), np.float32).reshape(msg.height, msg.width).copy()  # (rows, width)
    if not np.isfinite(m).all():
        raise ValueError("observation image contains NaN or inf")
    return m


# --- Audio ------------------------------------------------------------------------------------------------
def audio_chunk(samples: np.ndarray) -> Int16MultiArray:
    """`std_msgs/Int16MultiArray` of one mono PCM chunk (S,) int16 (no header: stamped on arrival)."""
    s = np.asarray(samples)
    if s.ndim != 1 or s.dtype != np.int16:
        raise ValueError(f"audio chunk must be 1-D int16, got {s.shape} {s.dtype}")
    msg = Int16MultiArray()
    msg.layout.dim = [MultiArrayDimension(label="samples", size=s.shape[0], stride=s.shape[0])]
    msg.data = s.tolist()
    return msg


def audio_samples_from_msg(msg: Int16MultiArray) -> np.ndarray:
    """(S,) int16 samples of an audio chunk; `ValueError` if empty."""
    s = np.asarray(msg.data, dtype=np.int16)  # (S,)
    if s.size == 0:
        raise ValueError("audio chunk is empty")
    return s


# --- Joints and IMU ---------------------------------------------------------------------------------------
def joint_state(
    names: Sequence[str],
    position: np.ndarray,
    velocity: np.ndarray,
    effort: np.ndarray,
    stamp: StampLike,
) -> JointState:
    """`sensor_msgs/JointState` (rad, rad/s, N·m) with one entry per name."""
    n = len(names)
    arrays = {"position": position, "velocity": velocity, "effort": effort}
    for field, values in arrays.items():
        if np.shape(values) != (n,):
            raise ValueError(f"joint_state {field} must have shape ({n},), got {np.shape(values)}")
    return JointState(
        header=make_header(stamp, ""),
        name=list(names),
        position=np.asarray(position, np.float64).tolist(),
        velocity=np.asarray(velocity, np.float64).tolist(),
        effort=np.asarray(effort, np.float64).tolist(),
    )


def imu_msg(imu: np.ndarray, stamp: StampLike, frame_id: str = IMU_FRAME) -> Imu:
    """`sensor_msgs/Imu` from the sim's 10-vector: quaternion xyzw, angular velocity, specific force.

    Covariances stay zero ("unknown" per the message definition); all three quantities are provided.
    """
    v = np.asarray(imu, np.float64)
    if v.shape != (IMU_VECTOR_SIZE,):
        raise ValueError(f"imu vector must have shape ({IMU_VECTOR_SIZE},), got {v.shape}")
    msg = Imu(header=make_header(stamp, frame_id))
    msg.orientation.x, msg.orientation.y, msg.orientation.z, msg.orientation.w = (float(x) for x in v[0:4])
    w = msg.angular_velocity
    w.x, w.y, w.z = (float(x) for x in v[4:7])
    a = msg.linear_acceleration
    a.x, a.y, a.z = (float(x) for x in v[7:10])
    return msg


def imu_vector_from_msg(msg: Imu) -> np.ndarray:
    """(10,) float32 [quaternion xyzw, angular velocity, linear acceleration]; `ValueError` if non-finite."""
    o, w, a = msg.orientation, msg.angular_velocity, msg.linear_acceleration
    v = np.array([o.x, o.y, o.z, o.w, w.x, w.y, w.z, a.x, a.y, a.z], np.float32)  # (10,)
    if not np.isfinite(v).all():
        raise ValueError("imu message contains NaN or inf")
    return v


# --- Float arrays (commands, actions) ---------------------------------------------------------------------
def float_array(values: np.ndarray, label: str = "") -> Float64MultiArray:
    """`std_msgs/Float64MultiArray` of a 1-D vector (e.g. 12 joint targets, a 15-D hybrid action)."""
    v = np.asarray(values, np.float64).reshape(-1)  # (N,)
    msg = Float64MultiArray()
    msg.layout.dim = [MultiArrayDimension(label=label, size=v.shape[0], stride=v.shape[0])]
    msg.data = v.tolist()
    return msg


def float_array_values(msg: Float64MultiArray, expected_len: int, what: str) -> np.ndarray:
    """(expected_len,) float64 of a received vector; `ValueError` naming `what` on a bad length or NaN."""
    v = np.asarray(msg.data, np.float64)  # (N,)
    if v.shape != (expected_len,):
        raise ValueError(f"{what} must have {expected_len} values, got {v.size}")
    if not np.isfinite(v).all():
        raise ValueError(f"{what} contains NaN or inf")
    return v


# --- JSON status ------------------------------------------------------------------------------------------
def json_string(payload: dict) -> String:
    """`std_msgs/String` holding `payload` as compact JSON (NaN is not allowed)."""
    return String(data=json.dumps(payload, separators=(",", ":"), allow_nan=False))


def json_from_msg(msg: String) -> dict:
    """The dict in a JSON `std_msgs/String`; `ValueError` if it is not a JSON object."""
    try:
        payload = json.loads(msg.data)
    except json.JSONDecodeError as err:
        raise ValueError(f"status string is not JSON: {err}") from err
    if not isinstance(payload, dict):
        raise ValueError(f"status JSON must be an object, got {type(payload).__name__}")
    return payload


# --- Parameters of other nodes (rcl_interfaces/SetParameters requests) --------------------------------
def parameter_msg(name: str, value: bool | int | float | str | Sequence[float]) -> Parameter:
    """An `rcl_interfaces/Parameter` for a bool, int, float, str or a sequence of floats."""
    if isinstance(value, bool):
        v = ParameterValue(type=ParameterType.PARAMETER_BOOL, bool_value=value)
    elif isinstance(value, int):
        v = ParameterValue(type=ParameterType.PARAMETER_INTEGER, integer_value=value)
    elif isinstance(value, float):
        v = ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=value)
    elif isinstance(value, str):
        v = ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=value)
    elif isinstance(value, Sequence) and all(isinstance(x, (int, float)) for x in value):
        v = ParameterValue(
            type=ParameterType.PARAMETER_DOUBLE_ARRAY, double_array_value=[float(x) for x in value]
        )
    else:
        raise ValueError(f"parameter {name!r}: unsupported value {value!r}")
    return Parameter(name=name, value=v)
