"""Raw sensor messages -> validated arrays -> observation matrices -> the policy's per-tick observation.

ROS-free: every function reads message-like objects by the standard ROS 2 field names, so the same code
works on rclpy messages (live graph) and on messages decoded from an MCAP bag (`mcap_ros2`), which is how
a recorded session is rebuilt into episodes exactly as the brain saw it.

Stages (S samples per tick, s the policy's image size, J = 12 joints, hop the policy's audio hop):
    decode    Image rgb8/bgr8          -> uint8 (H, W, 3) RGB          `decode_image`
              Int16MultiArray          -> int16 (n,) PCM, any n        `decode_audio`
              JointState (any order)   -> float32 (3, J) policy order  `decode_joint_state` (names: a
                                          `robots.JointMap`, the robot profile's vendor or sim names)
              Imu                      -> float32 (10,) xyzw/gyro/acc  `decode_imu`
    shape     camera frame             -> float32 (s, 3s), 0..255      `camera_matrix`
              audio chunks             -> int16 (S,) blocks            `AudioRechunker`
              one block                -> float32 (S / hop, hop)       `audio_matrix`
              joints + imu             -> float32 (1, 3J + 10)         `proprio_matrix`
    inverse   observation matrices     -> the obs dict `policy.step` takes:     `obs_from_matrices`
              camera uint8 (s, s, 3), audio int16 (S,), joints float32 (3, J), imu float32 (10,)
              (`matrices_from_obs` is the forward path in one call, e.g. for the sim env's observations)
    align     `TickAligner`: keeps the latest observation matrix of each stream (camera zero-order hold, one
              audio block per control tick from a short queue) and hands one observation per tick;
              `InputMonitor` says which streams are stale (age > expected period + N control periods).

The tokenizers (conv stem, log-mel projection, proprio MLP) are in the policy: they learn. This module
does only the sensor-side work, and every step is exactly invertible, so
`obs_from_matrices(matrices_from_obs(obs)) == obs` for a frame already at the policy's size.

Episodes the brain records hold camera frames at the policy's size s (what the matrices carry);
`yan_policy.modules.tokenizers.episode_at_image_size` brings episodes recorded at another size (the
sim's 96x96) to s, so both can share a training batch (the policy resizes every frame to s anyway, with
the same INTER_AREA resize).

Every decode/validate function raises a ValueError naming the stream, the field and the fault.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from robots.joint_map import JointMap
from robots.profile import DEFAULT_ROBOT, get_profile
from yan_policy.modules.tokenizers import IMU_DIM
from yan_policy.policies.config import TokenizerConfig

# The policy's joint order, FR, FL, RR, RL x hip, upper, lower, by the simulator's names (what the sim node
# publishes); `decode_joint_state` also takes the vendor's names ("FR_thigh_joint") in any order.
JOINT_NAMES: tuple[str, ...] = get_profile(DEFAULT_ROBOT).sim_joint_names
DEFAULT_JOINT_MAP = JointMap(get_profile(DEFAULT_ROBOT))
CAMERA_ENCODINGS = ("rgb8", "bgr8")
RGB_CHANNELS = 3
PCM_FULL_SCALE = 32768  # int16 range is [-32768, 32767]
NS_PER_S = 1_000_000_000

# Observation streams (the /obs/<stream> topics) and how often each source publishes (s), as in the sim.
OBS_STREAMS = ("camera", "audio", "proprio")
DEFAULT_PERIODS_S = {"camera": 0.1, "audio": 0.02, "proprio": 0.02}
STALE_CONTROL_PERIODS = 3  # a stream is stale once its age exceeds its period + this many control periods
AUDIO_QUEUE_TICKS = 4  # audio blocks queued beyond this are dropped, oldest first (bounds the latency)
CLOCK_RESTART_S = 1.0  # a source stamp this far behind the last one means the source restarted its clock
MAX_STAMP_AGE_S = 1.0  # a sample older than this on the receiver's clock (in the source's time base) is stale
HELD_STREAMS = ("camera", "proprio")  # one sample per stamp; audio blocks of one chunk share its stamp


# --------------------------------------------------------------------------- helpers

def stamp_to_s(stamp: Any) -> float:
    """builtin_interfaces/Time (sec, nanosec) -> seconds."""
    return float(stamp.sec) + float(stamp.nanosec) / NS_PER_S


def s_to_sec_nanosec(t_s: float) -> tuple[int, int]:
    """Seconds -> (sec, nanosec) for builtin_interfaces/Time (t_s >= 0)."""
    if not math.isfinite(t_s) or t_s < 0:
        raise ValueError(f"stamp: need a finite time >= 0 s, got {t_s}")
    ns = int(round(t_s * NS_PER_S))
    return ns // NS_PER_S, ns % NS_PER_S


def _byte_array(data: Any) -> np.ndarray:
    """Message bytes (bytes, array.array('B'), list of ints, numpy) -> uint8 (n,), no copy if possible."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        return np.frombuffer(data, np.uint8)
    if isinstance(data, np.ndarray):
        return data.astype(np.uint8, copy=False).reshape(-1)
    try:
        return np.frombuffer(data, np.uint8)  # array.array and other buffer objects
    except TypeError:
        return np.asarray(data, np.uint8).reshape(-1)  # a plain list (some decoders)


# --------------------------------------------------------------------------- decode + validate

def decode_image(msg: Any) -> np.ndarray:
    """sensor_msgs/Image (rgb8 or bgr8) -> uint8 (H, W, 3) RGB (a copy, safe to keep)."""
    enc = str(msg.encoding).lower()
    if enc not in CAMERA_ENCODINGS:
        raise ValueError(f"camera: encoding {msg.encoding!r} is not supported, expected one of "
                         f"{CAMERA_ENCODINGS}")
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    if h <= 0 or w <= 0:
        raise ValueError(f"camera: height and width must be > 0, got {h}x{w}")
    row_bytes = w * RGB_CHANNELS
    if step < row_bytes:
        raise ValueError(f"camera: step {step} is smaller than width * 3 = {row_bytes} bytes")
    data = _byte_array(msg.data)
    if data.size != step * h:
        raise ValueError(f"camera: data has {data.size} bytes, expected step * height = {step * h}")
    frame = data.reshape(h, step)[:, :row_bytes].reshape(h, w, RGB_CHANNELS)  # (H, W, 3)
    if enc == "bgr8":
        frame = frame[:, :, ::-1]
    return np.ascontiguousarray(frame)


def decode_audio(msg: Any) -> np.ndarray:
    """std_msgs/Int16MultiArray -> int16 (n,) mono PCM (n >= 1, any chunk size)."""
    data = msg.data
    pcm = np.frombuffer(data, np.int16) if isinstance(data, (bytes, bytearray)) else np.asarray(data)
    if pcm.ndim != 1 or pcm.size == 0:
        raise ValueError(f"audio: expected a non-empty 1-D chunk, got shape {pcm.shape}")
    if pcm.dtype != np.int16:
        if pcm.dtype.kind not in "iu" or pcm.min() < -PCM_FULL_SCALE or pcm.max() >= PCM_FULL_SCALE:
            raise ValueError(f"audio: expected int16 samples, got dtype {pcm.dtype}")
        pcm = pcm.astype(np.int16)
    return pcm.copy()


def decode_joint_state(msg: Any, joints: JointMap = DEFAULT_JOINT_MAP) -> np.ndarray:
    """sensor_msgs/JointState in any joint order -> float32 (3, J) rows position, velocity, effort.

    Joints are matched by name through `joints` (default: the A1's vendor names or the simulator's; extra
    joints are ignored). Position is required for every joint; velocity and effort may be empty (then
    zeros, as many drivers leave them out) but, when given, must have one value per name. Missing,
    duplicated or non-finite joints raise a ValueError naming them as the message does.
    """
    msg_names = list(msg.name)
    if len(set(msg_names)) != len(msg_names):
        dups = sorted({n for n in msg_names if msg_names.count(n) > 1})
        raise ValueError(f"joints: duplicated joint names {dups}")
    try:
        order = joints.order(msg_names)  # (J,) index in the message of each motor
    except ValueError as e:
        raise ValueError(f"joints: {e}") from None
    out = np.zeros((3, len(order)), np.float32)
    for row, field_name in enumerate(("position", "velocity", "effort")):
        values = np.asarray(getattr(msg, field_name), np.float64).reshape(-1)
        if values.size == 0 and field_name != "position":
            continue
        if values.size != len(msg_names):
            raise ValueError(f"joints: {field_name} has {values.size} values for {len(msg_names)} names")
        with np.errstate(over="ignore"):
            picked = values[order].astype(np.float32)  # beyond float32's range becomes inf: refused too
        bad = [msg_names[order[i]] for i in np.flatnonzero(~np.isfinite(picked))]
        if bad:
            raise ValueError(f"joints: non-finite {field_name} for {bad}")
        out[row] = picked
    return out


def decode_imu(msg: Any) -> np.ndarray:
    """sensor_msgs/Imu -> float32 (10,): quaternion xyzw, angular velocity rad/s, linear acceleration m/s²."""
    o, g, a = msg.orientation, msg.angular_velocity, msg.linear_acceleration
    with np.errstate(over="ignore"):  # beyond float32's range becomes inf: refused too
        imu = np.array([o.x, o.y, o.z, o.w, g.x, g.y, g.z, a.x, a.y, a.z], np.float64).astype(np.float32)
    bad = np.flatnonzero(~np.isfinite(imu))
    if bad.size:
        labels = ["qx", "qy", "qz", "qw", "gx", "gy", "gz", "ax", "ay", "az"]
        raise ValueError(f"imu: non-finite fields {[labels[i] for i in bad]}")
    return imu  # (10,) float32


# --------------------------------------------------------------------------- matrix shapes

@dataclass(frozen=True)
class ObsSpec:
    """Shapes of the three observation matrices, derived from the policy's tokenizer settings.

    Args:
        image_size: s, the policy's square camera size (camera matrices are (s, 3s)).
        samples_per_tick: S, audio samples per control tick.
        hop: the policy's audio hop (samples per audio token); S / hop rows per tick.
        n_joints: J.
    """

    image_size: int = TokenizerConfig.image_size
    samples_per_tick: int = TokenizerConfig().samples_per_tick
    hop: int = TokenizerConfig.hop
    n_joints: int = TokenizerConfig.n_joints

    def __post_init__(self):
        for name in ("image_size", "samples_per_tick", "hop", "n_joints"):
            if getattr(self, name) <= 0:
                raise ValueError(f"ObsSpec.{name} must be > 0, got {getattr(self, name)}")
        if self.samples_per_tick % self.hop:
            raise ValueError(f"ObsSpec: hop {self.hop} must divide samples_per_tick "
                             f"{self.samples_per_tick}")

    @classmethod
    def from_tokenizer(cls, cfg: TokenizerConfig) -> ObsSpec:
        return cls(cfg.image_size, cfg.samples_per_tick, cfg.hop, cfg.n_joints)

    def shape(self, stream: str) -> tuple[int, int]:
        if stream == "camera":
            return self.image_size, self.image_size * RGB_CHANNELS
        if stream == "audio":
            return self.samples_per_tick // self.hop, self.hop
        if stream == "proprio":
            return 1, 3 * self.n_joints + IMU_DIM
        raise ValueError(f"unknown observation stream {stream!r}, expected one of {OBS_STREAMS}")


@dataclass(frozen=True)
class ObsMatrix:
    """One observation matrix of one stream: what travels on /obs/<stream> (or directly, in one process)."""

    stream: str
    stamp_s: float  # the source stamp (s)
    data: np.ndarray  # float32 (rows, width)


def check_obs_matrix(stream: str, data: np.ndarray, spec: ObsSpec) -> np.ndarray:
    """Validate an observation matrix against `spec`; returns it as float32 (rows, width)."""
    data = np.asarray(data)
    if data.shape != spec.shape(stream):
        raise ValueError(f"{stream} matrix: expected shape {spec.shape(stream)}, got {data.shape}")
    data = data.astype(np.float32, copy=False)
    if not np.isfinite(data).all():
        raise ValueError(f"{stream} matrix: contains NaN or inf")
    return data


# --------------------------------------------------------------------------- shape / invert

def camera_matrix(frame: np.ndarray, image_size: int) -> np.ndarray:
    """uint8 (H, W, 3) RGB -> float32 (s, 3s), the frame resized as the policy resizes it (INTER_AREA)."""
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != RGB_CHANNELS:
        raise ValueError(f"camera: expected uint8 (H, W, 3), got {frame.dtype} {frame.shape}")
    if frame.shape[:2] != (image_size, image_size):
        frame = cv2.resize(frame, (image_size, image_size), interpolation=cv2.INTER_AREA)  # (s, s, 3)
    return frame.reshape(image_size, image_size * RGB_CHANNELS).astype(np.float32)  # (s, 3s)


def camera_from_matrix(matrix: np.ndarray) -> np.ndarray:
    """float32 (s, 3s) -> uint8 (s, s, 3) RGB."""
    s = matrix.shape[0]
    if matrix.shape != (s, s * RGB_CHANNELS):
        raise ValueError(f"camera matrix: expected shape (s, 3s), got {matrix.shape}")
    if matrix.min() < 0 or matrix.max() > 255:
        raise ValueError("camera matrix: values outside 0..255")
    return np.rint(matrix).astype(np.uint8).reshape(s, s, RGB_CHANNELS)


def audio_matrix(block: np.ndarray, hop: int) -> np.ndarray:
    """int16 (S,) -> float32 (S / hop, hop) (int16 values, unscaled)."""
    if block.dtype != np.int16 or block.ndim != 1 or block.size % hop:
        raise ValueError(f"audio: expected int16 (S,) with S a multiple of {hop}, "
                         f"got {block.dtype} {block.shape}")
    return block.astype(np.float32).reshape(-1, hop)


def audio_from_matrix(matrix: np.ndarray) -> np.ndarray:
    """float32 (S / hop, hop) -> int16 (S,)."""
    if matrix.min() < -PCM_FULL_SCALE or matrix.max() >= PCM_FULL_SCALE:
        raise ValueError("audio matrix: values outside the int16 range")
    return np.rint(matrix).astype(np.int16).reshape(-1)


def proprio_matrix(joints: np.ndarray, imu: np.ndarray) -> np.ndarray:
    """joints (3, J) + imu (10,) -> float32 (1, 3J + 10): [position, velocity, effort, imu]."""
    if joints.ndim != 2 or joints.shape[0] != 3 or imu.shape != (IMU_DIM,):
        raise ValueError(f"proprio: expected joints (3, J) and imu (10,), got {joints.shape}, {imu.shape}")
    return np.concatenate([joints.reshape(-1), imu]).astype(np.float32)[None]  # (1, 3J + 10)


def proprio_from_matrix(matrix: np.ndarray, n_joints: int) -> tuple[np.ndarray, np.ndarray]:
    """float32 (1, 3J + 10) -> joints float32 (3, J), imu float32 (10,)."""
    if matrix.shape != (1, 3 * n_joints + IMU_DIM):
        raise ValueError(f"proprio matrix: expected shape (1, {3 * n_joints + IMU_DIM}), got {matrix.shape}")
    row = matrix[0].astype(np.float32)
    return row[: 3 * n_joints].reshape(3, n_joints).copy(), row[3 * n_joints:].copy()


def obs_from_matrices(camera: np.ndarray | None, audio: np.ndarray | None, proprio: np.ndarray | None,
                      n_joints: int = ObsSpec.n_joints) -> dict[str, np.ndarray]:
    """Observation matrices (None: stream missing) -> the policy's per-tick obs dict."""
    obs: dict[str, np.ndarray] = {}
    if camera is not None:
        obs["camera"] = camera_from_matrix(camera)
    if audio is not None:
        obs["audio"] = audio_from_matrix(audio)
    if proprio is not None:
        obs["joints"], obs["imu"] = proprio_from_matrix(proprio, n_joints)
    return obs


def matrices_from_obs(obs: Mapping[str, np.ndarray], spec: ObsSpec) -> dict[str, np.ndarray]:
    """The policy's obs dict (e.g. from the sim env) -> observation matrices: the forward path in one call."""
    return {
        "camera": camera_matrix(obs["camera"], spec.image_size),
        "audio": audio_matrix(obs["audio"], spec.hop),
        "proprio": proprio_matrix(obs["joints"], obs["imu"]),
    }


# --------------------------------------------------------------------------- audio re-chunking

class AudioRechunker:
    """Turns audio chunks of any size into blocks of exactly `samples_per_tick` samples.

    `push(chunk, stamp_s)` returns the blocks completed by this chunk, each stamped with the stamp of
    the chunk that completed it; the remainder waits for the next chunk. `gap()` drops the remainder
    (call it when the stream had a dropout, so samples from before and after are never joined).
    """

    def __init__(self, samples_per_tick: int):
        if samples_per_tick <= 0:
            raise ValueError(f"samples_per_tick must be > 0, got {samples_per_tick}")
        self.samples_per_tick = samples_per_tick
        self._pending = np.zeros(0, np.int16)

    @property
    def pending(self) -> int:
        return int(self._pending.size)

    def push(self, chunk: np.ndarray, stamp_s: float) -> list[tuple[float, np.ndarray]]:
        if chunk.dtype != np.int16 or chunk.ndim != 1:
            raise ValueError(f"audio: expected an int16 (n,) chunk, got {chunk.dtype} {chunk.shape}")
        buf = np.concatenate([self._pending, chunk])
        n = buf.size // self.samples_per_tick
        s = self.samples_per_tick
        blocks = [(stamp_s, buf[i * s:(i + 1) * s].copy()) for i in range(n)]  # n x (S,)
        self._pending = buf[n * s:].copy()
        return blocks

    def gap(self) -> None:
        self._pending = np.zeros(0, np.int16)


# --------------------------------------------------------------------------- staleness and alignment

class InputMonitor:
    """When each stream last delivered (receiver clock), and which are stale.

    Args:
        control_hz: the control rate.
        periods_s: expected period (s) of each stream.
        stale_control_periods: a stream is stale once its age exceeds its period + this many control
            periods; a stream that never delivered is stale.
    """

    def __init__(self, control_hz: float, periods_s: Mapping[str, float] | None = None,
                 stale_control_periods: int = STALE_CONTROL_PERIODS):
        if control_hz <= 0:
            raise ValueError(f"control_hz must be > 0, got {control_hz}")
        if stale_control_periods < 1:
            raise ValueError(f"stale_control_periods must be >= 1, got {stale_control_periods}")
        self.periods_s = dict(DEFAULT_PERIODS_S if periods_s is None else periods_s)
        for name, p in self.periods_s.items():
            if not p > 0:
                raise ValueError(f"period of stream {name!r} must be > 0 s, got {p}")
        self.control_period_s = 1.0 / control_hz
        self.stale_control_periods = stale_control_periods
        self.last_s: dict[str, float | None] = dict.fromkeys(self.periods_s)

    def limit_s(self, stream: str) -> float:
        """Age (s) beyond which `stream` is stale."""
        return self.periods_s[stream] + self.stale_control_periods * self.control_period_s

    def seen(self, stream: str, now_s: float) -> None:
        self.last_s[stream] = now_s

    def age_s(self, stream: str, now_s: float) -> float:
        last = self.last_s[stream]
        return math.inf if last is None else now_s - last

    def stale(self, now_s: float) -> list[str]:
        return [s for s in self.periods_s if self.age_s(s, now_s) > self.limit_s(s)]


@dataclass
class AlignedTick:
    """What `TickAligner.tick` hands the control loop for one tick.

    obs is None when a stream is stale (the robot must hold); `stamps_s` are the source stamps of the
    observation matrices used; `audio_gap` is True when no audio block was queued (silence was used).
    """

    obs: dict[str, np.ndarray] | None
    stale: list[str]
    stamps_s: dict[str, float] = field(default_factory=dict)
    audio_gap: bool = False


class TickAligner:
    """Keeps the latest observation matrix of each stream and hands one observation per control tick.

    camera: the latest frame (zero-order hold between refreshes, as the sim env does);
    audio: one block per tick, first in first out, from a queue of at most `audio_queue_ticks` blocks
           (a tick with an empty queue gets silence: an audio gap is silence, as in the policy's own
           ring buffer); proprio: the latest row.

    Args:
        spec: matrix shapes.
        control_hz: control rate.
        periods_s: expected period of each stream (default: the sim's rates).
        stale_control_periods: see `InputMonitor`.
        audio_queue_ticks: bound on queued audio blocks (older ones are dropped: bounded latency).
        max_stamp_age_s: `put` with `source_now_s` drops a sample whose stamp is older than this (a driver
            re-sending old data keeps arriving but must still count as stale); 0 turns the check off.
    """

    def __init__(self, spec: ObsSpec, control_hz: float, periods_s: Mapping[str, float] | None = None,
                 stale_control_periods: int = STALE_CONTROL_PERIODS,
                 audio_queue_ticks: int = AUDIO_QUEUE_TICKS, max_stamp_age_s: float = MAX_STAMP_AGE_S):
        if audio_queue_ticks < 1:
            raise ValueError(f"audio_queue_ticks must be >= 1, got {audio_queue_ticks}")
        if not max_stamp_age_s >= 0:
            raise ValueError(f"max_stamp_age_s must be >= 0 (0: off), got {max_stamp_age_s}")
        self.max_stamp_age_s = max_stamp_age_s
        self.spec = spec
        self.monitor = InputMonitor(control_hz, periods_s, stale_control_periods)
        unknown = set(self.monitor.periods_s) - set(OBS_STREAMS)
        if unknown:
            raise ValueError(f"periods_s: unknown streams {sorted(unknown)}, expected {OBS_STREAMS}")
        self._latest: dict[str, ObsMatrix | None] = dict.fromkeys(OBS_STREAMS)
        self._audio: deque[ObsMatrix] = deque(maxlen=audio_queue_ticks)
        self.counts = {"audio_gaps": 0, "audio_dropped": 0, "out_of_order": 0, "duplicated": 0,
                       "stale_stamps": 0}

    def put(self, obs: ObsMatrix, now_s: float, source_now_s: float | None = None) -> None:
        """Accept one observation matrix (received at `now_s`, monotonic s); a ValueError names a bad one,
        which is dropped. `source_now_s`: the receiver's clock in the stamps' time base (ROS time), to drop
        samples with stale stamps; None skips that check (no common clock)."""
        if obs.stream not in OBS_STREAMS:
            raise ValueError(f"unknown observation stream {obs.stream!r}, expected one of {OBS_STREAMS}")
        data = check_obs_matrix(obs.stream, obs.data, self.spec)
        if not math.isfinite(obs.stamp_s):
            raise ValueError(f"{obs.stream} matrix: stamp {obs.stamp_s} is not finite")
        age_s = None if source_now_s is None else source_now_s - obs.stamp_s
        if self.max_stamp_age_s and age_s is not None and age_s > self.max_stamp_age_s:
            self.counts["stale_stamps"] += 1
            raise ValueError(f"{obs.stream} matrix: stale stamp, {age_s:.3f} s old (limit "
                             f"{self.max_stamp_age_s} s)")
        last = self._latest[obs.stream]
        behind_s = -math.inf if last is None else last.stamp_s - obs.stamp_s
        if behind_s == 0 and obs.stream in HELD_STREAMS:
            self.counts["duplicated"] += 1
            raise ValueError(f"{obs.stream} matrix: duplicated stamp {obs.stamp_s:.3f} s (the same "
                             f"sample again)")
        if 0 < behind_s < CLOCK_RESTART_S:
            self.counts["out_of_order"] += 1
            raise ValueError(f"{obs.stream} matrix: stamp {obs.stamp_s:.3f} s is older than the last "
                             f"one {last.stamp_s:.3f} s (out of order)")
        obs = ObsMatrix(obs.stream, obs.stamp_s, data)
        self._latest[obs.stream] = obs
        if obs.stream == "audio":
            if len(self._audio) == self._audio.maxlen:
                self.counts["audio_dropped"] += 1
            self._audio.append(obs)
        self.monitor.seen(obs.stream, now_s)

    def stale(self, now_s: float) -> list[str]:
        return self.monitor.stale(now_s)

    @property
    def queued_audio(self) -> int:
        """Audio blocks waiting for their tick (at most `audio_queue_ticks`)."""
        return len(self._audio)

    def tick(self, now_s: float) -> AlignedTick:
        """The observation of this tick, or obs=None with the stale streams."""
        stale = self.stale(now_s)
        if stale:
            self._audio.clear()  # audio from before a dropout is not replayed after it
            return AlignedTick(None, stale)
        cam, prop = self._latest["camera"], self._latest["proprio"]
        gap = not self._audio
        if gap:
            self.counts["audio_gaps"] += 1
            audio, audio_stamp = np.zeros(self.spec.shape("audio"), np.float32), self._latest["audio"].stamp_s
        else:
            block = self._audio.popleft()
            audio, audio_stamp = block.data, block.stamp_s
        obs = obs_from_matrices(cam.data, audio, prop.data, self.spec.n_joints)
        stamps = {"camera": cam.stamp_s, "audio": audio_stamp, "proprio": prop.stamp_s}
        return AlignedTick(obs, [], stamps, gap)
