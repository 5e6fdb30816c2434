"""Configuration of the sensor tokenizers (camera, audio, proprioception), shared by every policy."""

from __future__ import annotations

from dataclasses import dataclass

from yan_policy.validation import positive as _positive

# Standing pose of the A1 (hip, upper, lower) for each leg FR, FL, RR, RL (DESIGN.md section 3).
STANDING_POSE: tuple[float, ...] = (0.0, 0.9, -1.8) * 4
CAMERA_POOLS = ("avg", "max", "avgmax")
AUDIO_FRONTENDS = ("utterance", "mel_ticks")


@dataclass
class TokenizerConfig:
    """Sensor stream -> token settings, shared by every policy.

    Args:
        token_dim: width W of every token (camera, audio and proprioceptive).
        image_size: camera frames of any size are resized (OpenCV, INTER_AREA) to image_size².
        camera_channels: output channels of the two stride-2 conv layers of the light camera stem.
        camera_grid: the stem's feature map is pooled to camera_grid² visual tokens.
        camera_pool: how each of those cells is pooled: "avg", "max", or "avgmax" (both, concatenated
            before the token projection). Averaging an 8x8 map's cells dilutes a small object (the ball
            is ~2x2 px of 32x32 at 1.5 m) to a few percent of its cell; the max keeps it.
        camera_keypoints: P learned keypoints from the stem's feature map (spatial softmax: per
            keypoint the expected image position and how peaked it is), one more visual token. Pooling
            to camera_grid² cells blurs a small object (the ball is ~2x2 px at 32x32) into its cell;
            a keypoint's position is continuous. Off by default: come_to_ball, the skill it was for, did
            not gain from it in closed loop (docs/experiments.md, 2026-11-24: camera keypoints). 0
            disables it.
        sample_rate: audio sample rate in Hz.
        control_hz: control rate; one tick carries sample_rate / control_hz audio samples.
        n_fft: log-mel window (samples); longer than one tick, so the tokenizer keeps the last
            n_fft samples in the recurrent state (a constant-size ring buffer).
        hop: hop between log-mel frames; one audio token per hop, so samples_per_tick // hop tokens.
        n_mels: mel bands per frame.
        f_min, f_max: mel filter bank range in Hz (f_max <= sample_rate / 2).
        audio_frontend: "utterance" (one token per tick embedding the last `utterance_window_s` of log-mel
            frames, `modules/utterance.py`) or "mel_ticks" (each tick's hop-spaced log-mel frames as
            tokens, which the backbone must glue into a word). "mel_ticks" stays the default: in the dev
            probe the utterance conv did not beat 1 s pooling of the tick tokens (docs/experiments.md,
            2026-12-07: audio front end probe).
        utterance_window_s: the utterance front end's pooling window (s), about one spoken word.
        utterance_channels: its conv channels.
        n_joints: motors (12 for the A1: FR, FL, RR, RL x hip, upper, lower).
        joint_offset: subtracted from joint positions (the standing pose) before scaling.
        velocity_scale, effort_scale, gyro_scale, accel_scale: divisors that bring joint velocity
            (rad/s), effort (N·m, the A1 torque clip), angular velocity (rad/s) and linear
            acceleration (m/s², gravity) to order one.
        imu_heading_frame: give the IMU orientation relative to the heading of the episode's first IMU
            reading (the yaw it started with, kept in the recurrent state), instead of the IMU's own
            world frame. The start heading is arbitrary (random in the sim; on a robot, wherever it
            stands), so an absolute yaw says nothing about how far the robot has turned; relative to the
            start, it is exactly that, which a turn must stop on. Roll and pitch are unchanged.
    """

    token_dim: int = 64
    # camera
    # small on purpose (the stem runs every tick), but at 32 the ball 1.5 m away is under one pixel
    # (docs/experiments.md, 2026-11-24: come_to_ball camera, mirror images and batches of 2)
    image_size: int = 64
    camera_channels: tuple[int, int] = (16, 32)
    camera_grid: int = 3  # 3x3 keeps left / centre / right, e.g. where a coloured ball is
    camera_pool: str = "avgmax"
    camera_keypoints: int = 0  # off: no closed-loop gain on come_to_ball (see the docstring)
    # audio
    sample_rate: int = 16000
    control_hz: int = 50
    n_fft: int = 512  # 32 ms at 16 kHz: ~31 Hz bins, enough to tell 1-3 kHz whistle patterns apart
    hop: int = 160  # 10 ms, the usual log-mel hop
    n_mels: int = 40
    f_min: float = 50.0
    f_max: float = 8000.0
    audio_frontend: str = "mel_ticks"  # the probe did not favour "utterance" (see the docstring)
    utterance_window_s: float = 1.0
    utterance_channels: int = 32
    # proprioception
    n_joints: int = 12
    joint_offset: tuple[float, ...] = STANDING_POSE
    velocity_scale: float = 10.0
    effort_scale: float = 33.5
    gyro_scale: float = 4.0
    accel_scale: float = 9.81
    imu_heading_frame: bool = True

    def __post_init__(self) -> None:
        self.camera_channels = tuple(self.camera_channels)
        self.joint_offset = tuple(float(v) for v in self.joint_offset)
        for name in ("token_dim", "image_size", "camera_grid", "sample_rate", "control_hz", "n_fft",
                     "hop", "n_mels", "n_joints", "velocity_scale", "effort_scale", "gyro_scale",
                     "accel_scale", "f_max", "utterance_window_s", "utterance_channels"):
            _positive(name, getattr(self, name))
        if len(self.camera_channels) != 2 or min(self.camera_channels) <= 0:
            raise ValueError(f"camera_channels must be two positive ints, got {self.camera_channels}")
        if self.image_size < 8 or self.image_size % 4:
            raise ValueError(f"image_size must be a multiple of 4 and >= 8, got {self.image_size}")
        if self.camera_pool not in CAMERA_POOLS:
            raise ValueError(f"camera_pool must be one of {CAMERA_POOLS}, got {self.camera_pool!r}")
        if self.camera_keypoints < 0:
            raise ValueError(f"camera_keypoints must be >= 0, got {self.camera_keypoints}")
        if self.camera_grid > self.image_size // 4:
            raise ValueError(f"camera_grid {self.camera_grid} exceeds the stem's {self.image_size // 4}² map")
        if self.sample_rate % self.control_hz:
            raise ValueError(f"sample_rate {self.sample_rate} not a multiple of control_hz {self.control_hz}")
        if self.samples_per_tick % self.hop:
            raise ValueError(f"hop {self.hop} must divide the {self.samples_per_tick} samples of one tick")
        if self.n_fft < self.hop:
            raise ValueError(f"n_fft {self.n_fft} must be >= hop {self.hop}")
        if not 0 <= self.f_min < self.f_max <= self.sample_rate / 2:
            raise ValueError(f"need 0 <= f_min < f_max <= sample_rate/2, got {self.f_min}, {self.f_max}")
        if self.audio_frontend not in AUDIO_FRONTENDS:
            raise ValueError(f"audio_frontend must be one of {AUDIO_FRONTENDS}, got {self.audio_frontend!r}")
        if self.utterance_frames < 2 * (self.samples_per_tick // self.hop):
            raise ValueError(f"utterance_window_s {self.utterance_window_s} must span two ticks or more")
        if len(self.joint_offset) != self.n_joints:
            raise ValueError(f"joint_offset has {len(self.joint_offset)} values, n_joints is {self.n_joints}")

    @property
    def samples_per_tick(self) -> int:
        return self.sample_rate // self.control_hz

    @property
    def utterance_frames(self) -> int:
        """Log-mel frames in the utterance front end's window."""
        return round(self.utterance_window_s * self.sample_rate / self.hop)
