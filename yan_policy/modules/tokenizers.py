"""Sensor streams -> tokens, and the fusion of one control tick's tokens into the backbone input.

Dimension letters: B batch, T time (control ticks), N = B*T frames, W token width, D model width,
S audio samples per tick, F n_fft, M mel bands, J joints (12), Nc / Na camera / audio tokens.

Streams (one 50 Hz control tick, as the sim produces them):
    camera  uint8 (H, W, 3) RGB, any size           -> Nc = camera_grid² (+ 1 keypoint) tokens of width W
    audio   int16 (S,) mono PCM, S = rate / hz      -> Na = S / hop log-mel tokens of width W
    joints  float (3, J): position, velocity, effort \
    imu     float (10,): quat xyzw, gyro, accel      -> 1 proprioceptive token of width W

Fusion order (documented contract): the backbone input of a tick is
    Linear(concat[camera tokens (Nc), audio tokens (Na), proprio token (1)] flattened
           ++ presence flags [camera, audio, joints, imu]) -> D, then RMSNorm.
Concatenation (rather than a sum) keeps every slot's own weights, so no position/type embedding is
needed. A missing stream is never zeros that look like data: its tokens are replaced by a learned
"missing" embedding (camera, audio) or learned missing features (joints, imu inside the proprio
token), and its presence flag is 0.

Audio: a log-mel frame needs a window (n_fft = 32 ms) longer than a tick (20 ms), so the tokenizer
keeps the last n_fft samples in the recurrent state ("audio_context", constant size). Frame j of a
tick ends (j + 1) * hop samples into it; a missing tick is silence in that ring buffer. That is the
"mel_ticks" front end (`TokenizerConfig.audio_frontend`); "utterance" (`modules/utterance.py`) builds on
it and gives one token per tick that embeds the last second as a whole.

IMU heading frame (`TokenizerConfig.imu_heading_frame`): the orientation quaternion is rotated about the
world's vertical axis by minus the yaw of the episode's first IMU reading, which the encoder keeps in
the recurrent state ("imu.heading_rad", "imu.has_heading"). Yaw then reads "turned since the start".

Every tokenizer validates its input and raises a ValueError naming the stream and the problem.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from yan_policy.data.episode import STREAMS, Episode
from yan_policy.modules.configuration_tokenizers import TokenizerConfig
from yan_policy.modules.fastops import linear, rms_norm

IMU_DIM = 10
_LOG_EPS = 1e-8  # floor of the mel power (digital silence would otherwise be log(0))


# --------------------------------------------------------------------------- validation

def _as_tensor(x: Any, name: str) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x
    if isinstance(x, np.ndarray):
        try:
            return torch.from_numpy(np.ascontiguousarray(x))
        except TypeError as e:  # strings, objects: not numbers at all
            raise ValueError(f"{name}: expected a numeric array, got dtype {x.dtype}") from e
    raise ValueError(f"{name}: expected a numpy array or torch tensor, got {type(x).__name__}")


def _shape_str(lead: tuple[str, ...], tail: tuple[Any, ...]) -> str:
    """Python's tuple notation for a shape: ('B',) + (3, 12) -> '(B, 3, 12)', () + (10,) -> '(10,)'."""
    names = [*lead, *map(str, tail)]
    return "(" + ", ".join(names) + ("," if len(names) == 1 else "") + ")"


def _check_float(x: torch.Tensor, name: str, tail: tuple[int, ...], lead: tuple[str, ...],
                 present: torch.Tensor | None, what: str) -> None:
    if x.ndim != len(lead) + len(tail) or tuple(x.shape[len(lead):]) != tail:
        raise ValueError(f"{name}: expected shape {_shape_str(lead, tail)} ({what}), got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"{name}: expected a float array, got dtype {x.dtype}")
    values = x if present is None else x[present]
    if not _all_finite(values):
        raise ValueError(f"{name}: contains NaN or inf")


def _all_finite(x: torch.Tensor) -> bool:
    """`torch.isfinite(x).all()`, through numpy for CPU float tensors (a third of the cost per tick)."""
    if x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64) and not x.requires_grad:
        return bool(np.isfinite(x.numpy()).all())
    return bool(torch.isfinite(x).all())


def check_camera(x: torch.Tensor, lead: tuple[str, ...] = ()) -> None:
    """Raise a ValueError unless x is uint8 RGB shaped lead + (H, W, 3), H, W >= 8."""
    tail = tuple(x.shape[len(lead):])
    if x.ndim != len(lead) + 3:
        expected = _shape_str(lead, ("H", "W", 3))
        raise ValueError(f"camera: expected shape {expected} RGB, got {tuple(x.shape)}")
    if tail[-1] != 3:
        if tail[0] == 3:
            raise ValueError(f"camera: got channel-first shape {tuple(x.shape)}; expected channel-last "
                             f"{_shape_str(lead, ('H', 'W', 3))} RGB")
        raise ValueError(f"camera: expected 3 channels (RGB) in the last axis, got {tail[-1]}")
    if x.dtype != torch.uint8:
        raise ValueError(f"camera: expected dtype uint8 RGB in [0, 255], got {x.dtype}")
    if min(tail[:2]) < 8:
        raise ValueError(f"camera: frame {tail[0]}x{tail[1]} is too small, need at least 8x8")


def check_audio(x: torch.Tensor, samples: int, lead: tuple[str, ...] = ()) -> None:
    """Raise a ValueError unless x is int16 mono PCM shaped lead + (samples,)."""
    if x.ndim != len(lead) + 1:
        raise ValueError(f"audio: expected mono shape {_shape_str(lead, ('S',))}, got {tuple(x.shape)}")
    if x.dtype != torch.int16:
        raise ValueError(f"audio: expected int16 PCM, got dtype {x.dtype}")
    if x.shape[-1] != samples:
        raise ValueError(f"audio: expected {samples} samples per tick, got {x.shape[-1]}")


def check_joints(x: torch.Tensor, n_joints: int, lead: tuple[str, ...] = (),
                 present: torch.Tensor | None = None) -> None:
    _check_float(x, "joints", (3, n_joints), lead, present, "rows position, velocity, effort")


def check_imu(x: torch.Tensor, lead: tuple[str, ...] = (), present: torch.Tensor | None = None) -> None:
    _check_float(x, "imu", (IMU_DIM,), lead, present, "quat xyzw, angular velocity, linear acceleration")


# --------------------------------------------------------------------------- tokenizers

def resize_frames(frames: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> uint8 (N, size, size, 3) with OpenCV INTER_AREA (a no-op at that size)."""
    if frames.shape[1] == size and frames.shape[2] == size:
        return frames
    array = frames.numpy()
    out = np.empty((array.shape[0], size, size, 3), dtype=np.uint8)
    for i, frame in enumerate(array):
        out[i] = cv2.resize(frame, (size, size), interpolation=cv2.INTER_AREA)
    return torch.from_numpy(out)


def episode_at_image_size(episode: Episode, size: int) -> Episode:
    """The episode with its camera resized to size² exactly as the policy resizes frames (`resize_frames`),
    so that episodes recorded at any camera size (sim 96x96, brain s x s) share one training batch, and a
    learner that stores them at the policy's size does not resize every frame at every step. Unchanged
    (the same object) when there is no camera or it already has that size."""
    cam = episode.camera
    if cam is None or cam.shape[1:3] == (size, size):
        return episode
    small = resize_frames(torch.from_numpy(cam), size).numpy()  # (T, s, s, 3)
    return dataclasses.replace(episode, camera=small)


class CameraTokenizer(nn.Module):
    """RGB frame -> camera_grid² visual tokens via a light two-layer conv stem, plus (with
    `camera_keypoints` P > 0) one keypoint token: a 1x1 conv scores P maps over the stem's s/4 x s/4
    feature map; a softmax over each map's positions gives its expected position (x, y in [-1, 1]) and
    its peakedness (see `spatial_softmax`), and the 3P numbers are projected to one token.

    Input uint8 (N, image_size, image_size, 3) (see `resize_frames`); output (N, Nc, W).
    Long inputs (training: N = B*T frames) run through the stem in blocks of `CHUNK` frames: every frame
    is computed on its own, so the result is the same, but each block's activations (~2 MB instead of
    ~13 MB per layer for 800 frames) stay in cache and reuse freed memory instead of fresh pages, which
    makes forward + backward ~1.5x faster on one core.
    """

    CHUNK = 128  # frames per block of the stem

    def __init__(self, cfg: TokenizerConfig) -> None:
        super().__init__()
        c1, c2 = cfg.camera_channels
        self.grid = cfg.camera_grid
        self.n_tokens = cfg.camera_grid**2
        self.width = cfg.token_dim
        self.conv1 = nn.Conv2d(3, c1, 3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(c1, c2, 3, stride=2, padding=1)
        self.pool = cfg.camera_pool
        self.proj = nn.Linear(2 * c2 if self.pool == "avgmax" else c2, cfg.token_dim)
        self.keypoints = cfg.camera_keypoints
        if self.keypoints:
            self.n_tokens += 1
            self.kp_score = nn.Conv2d(c2, self.keypoints, 1)
            self.kp_proj = nn.Linear(3 * self.keypoints, cfg.token_dim)
            side = cfg.image_size // 4
            coords = torch.linspace(-1.0, 1.0, side)  # (side,) pixel centres across the map
            pos = torch.stack([coords.repeat(side), coords.repeat_interleave(side)], dim=-1)  # (side², 2)
            self.register_buffer("kp_pos", pos, persistent=False)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        if frames.shape[0] > 1:
            # A camera slower than the control rate repeats its last frame (10 Hz camera, 50 Hz ticks:
            # 4 of 5 frames are repeats, and padding is all one frame): run the stem once per run of
            # equal consecutive frames and repeat its tokens. Exactly the same result, ~5x less work.
            new = torch.ones(frames.shape[0], dtype=torch.bool)  # (N,)
            new[1:] = (frames[1:] != frames[:-1]).flatten(1).any(1)
            if not new.all():
                index = new.cumsum(0) - 1  # (N,) -> row of its run's first frame
                return self._stem_blocks(frames[new])[index]  # (N, Nc, W)
        return self._stem_blocks(frames)

    def _stem_blocks(self, frames: torch.Tensor) -> torch.Tensor:
        if frames.shape[0] > self.CHUNK:
            return torch.cat([self.stem(block) for block in frames.split(self.CHUNK)])  # (N, Nc, W)
        return self.stem(frames)

    def stem(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 (N, s, s, 3) -> (N, Nc, W) in one pass."""
        c1, c2 = self.conv1, self.conv2
        x = frames.permute(0, 3, 1, 2).to(self.proj.weight.dtype) / 255.0 - 0.5  # (N, 3, s, s)
        x = F.silu(F.conv2d(x, c1.weight, c1.bias, c1.stride, c1.padding))  # (N, c1, s/2, s/2)
        x = F.silu(F.conv2d(x, c2.weight, c2.bias, c2.stride, c2.padding))  # (N, c2, s/4, s/4)
        if self.pool == "avg":
            pooled = F.adaptive_avg_pool2d(x, self.grid)  # (N, c2, grid, grid)
        elif self.pool == "max":
            pooled = F.adaptive_max_pool2d(x, self.grid)  # (N, c2, grid, grid)
        else:
            pooled = torch.cat([F.adaptive_avg_pool2d(x, self.grid), F.adaptive_max_pool2d(x, self.grid)], 1)
        pooled = pooled.flatten(2).transpose(1, 2)  # (N, grid², c2 or 2 c2)
        tokens = linear(self.proj, pooled)  # (N, grid², W)
        if not self.keypoints:
            return tokens
        k = self.kp_score
        scores = F.conv2d(x, k.weight, k.bias).flatten(2)  # (N, P, s/4 * s/4)
        where, peak = spatial_softmax(scores, self.kp_pos)  # (N, P, 2), (N, P)
        kp = linear(self.kp_proj, torch.cat([where.flatten(1), peak], dim=1))  # (N, W)
        return torch.cat([tokens, kp[:, None]], dim=1)  # (N, Nc, W)


def spatial_softmax(scores: torch.Tensor, pos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Scores (N, P, HW) over positions pos (HW, 2) -> expected position (N, P, 2) under the softmax of
    each map, and its peakedness (N, P) = logsumexp - mean - log(HW) of the scores (0 for a flat map)."""
    where = torch.softmax(scores, dim=-1) @ pos  # (N, P, 2)
    return where, torch.logsumexp(scores, dim=-1) - scores.mean(-1) - math.log(scores.shape[-1])


def mel_filterbank(cfg: TokenizerConfig) -> np.ndarray:
    """Triangular HTK-mel filters, (n_fft // 2 + 1, n_mels); every filter covers >= 1 FFT bin."""
    def hz_to_mel(f):
        return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)

    def mel_to_hz(m):
        return 700.0 * (10.0 ** (np.asarray(m) / 2595.0) - 1.0)

    edges = mel_to_hz(np.linspace(hz_to_mel(cfg.f_min), hz_to_mel(cfg.f_max), cfg.n_mels + 2))
    freqs = np.fft.rfftfreq(cfg.n_fft, 1.0 / cfg.sample_rate)  # (n_freq,)
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    up = (freqs[None] - lo) / (mid - lo)
    down = (hi - freqs[None]) / (hi - mid)
    fb = np.clip(np.minimum(up, down), 0.0, None)  # (n_mels, n_freq)
    # Low filters can be narrower than one bin: give them the nearest bin instead of nothing.
    for m in np.flatnonzero(fb.sum(1) == 0):
        fb[m, np.argmin(np.abs(freqs - mid[m, 0]))] = 1.0
    return fb.T.astype(np.float32)


class AudioTokenizer(nn.Module):
    """int16 PCM ticks -> log-mel frames -> audio tokens, with an n_fft-sample ring buffer as state.

    `forward(audio (B, T, S) float in [-1, 1), context (B, F))` -> tokens (B, T, Na, W), context.
    """

    def __init__(self, cfg: TokenizerConfig) -> None:
        super().__init__()
        self.n_fft, self.hop = cfg.n_fft, cfg.hop
        self.samples = cfg.samples_per_tick
        self.n_tokens = self.frames_per_tick = cfg.samples_per_tick // cfg.hop
        self.width = cfg.token_dim
        self.state_keys = ("audio_context",)
        self.register_buffer("window", torch.hann_window(cfg.n_fft, periodic=True), persistent=False)
        # the 1 / n_fft power scale is folded into the filter bank
        fb = torch.from_numpy(mel_filterbank(cfg)) / cfg.n_fft  # (F/2+1, M)
        self.register_buffer("mel_fb", fb, persistent=False)
        self.proj = nn.Linear(cfg.n_mels, cfg.token_dim)

    def initial_context(self, batch_size: int, dtype: torch.dtype) -> torch.Tensor:
        return torch.zeros(batch_size, self.n_fft, dtype=dtype)  # (B, F): silence

    def advance(self, audio: torch.Tensor, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Prepend the ring buffer: returns the stream (B, F + T*S) and the new context (B, F)."""
        stream = torch.cat([context, audio.flatten(1)], dim=1)  # (B, F + T*S)
        return stream, stream[:, -self.n_fft:]

    def log_mel(self, stream: torch.Tensor, n_ticks: int) -> torch.Tensor:
        """Frames ending hop, 2*hop, ... samples after the context; (B, T, Na, M)."""
        frames = stream[:, self.hop:].unfold(1, self.n_fft, self.hop)  # (B, T*Na, F)
        spec = torch.fft.rfft(frames * self.window, dim=-1)  # (B, T*Na, F/2+1) complex
        power = torch.addcmul(spec.real.square(), spec.imag, spec.imag)  # |X|² = re² + im² (no square root)
        mel = torch.log(power @ self.mel_fb + _LOG_EPS)  # (B, T*Na, M)
        feats = torch.add(1.5, mel, alpha=0.25)  # (mel + 6) / 4: roughly zero-centred, unit scale
        return feats.unflatten(1, (n_ticks, self.frames_per_tick))  # (B, T, Na, M)

    def forward(self, audio: torch.Tensor, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        stream, context = self.advance(audio, context)
        tokens = linear(self.proj, self.log_mel(stream, audio.shape[1]))  # (B, T, Na, W)
        return tokens, context

    def initial_state(self, batch_size: int, dtype: torch.dtype) -> dict[str, torch.Tensor]:
        """The audio part of the recurrent state, keys `state_keys` (the utterance front end's API too)."""
        return {"audio_context": self.initial_context(batch_size, dtype)}

    def forward_state(self, audio: torch.Tensor, state: dict[str, torch.Tensor]
                      ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """`forward` on the state dict: audio (B, T, S) -> tokens (B, T, Na, W), new audio state."""
        tokens, context = self.forward(audio, state["audio_context"])
        return tokens, {"audio_context": context}

    def skip_state(self, batch_size: int, n_ticks: int, state: dict[str, torch.Tensor]
                   ) -> dict[str, torch.Tensor]:
        """The audio state after n_ticks of a gap, which is silence in the ring buffer."""
        context = state["audio_context"]
        _, context = self.advance(context.new_zeros(batch_size, n_ticks * self.samples), context)
        return {"audio_context": context}


class ProprioTokenizer(nn.Module):
    """Joints (3, J) + IMU (10,) -> one normalised proprioceptive token (N, 1, W).

    A missing joints or IMU reading is replaced by learned missing features (not zeros).
    """

    def __init__(self, cfg: TokenizerConfig) -> None:
        super().__init__()
        self.n_tokens, self.width = 1, cfg.token_dim
        j = cfg.n_joints
        offset = torch.tensor([cfg.joint_offset, [0.0] * j, [0.0] * j])  # (3, J)
        scale = torch.tensor([[1.0] * j, [cfg.velocity_scale] * j, [cfg.effort_scale] * j])  # (3, J)
        imu_scale = torch.tensor([1.0] * 4 + [cfg.gyro_scale] * 3 + [cfg.accel_scale] * 3)  # (10,)
        self.register_buffer("joint_offset", offset, persistent=False)
        self.register_buffer("joint_scale", scale, persistent=False)
        self.register_buffer("imu_scale", imu_scale, persistent=False)
        self.missing_joints = nn.Parameter(torch.zeros(3 * j))
        self.missing_imu = nn.Parameter(torch.zeros(IMU_DIM))
        nn.init.normal_(self.missing_joints, std=0.5)
        nn.init.normal_(self.missing_imu, std=0.5)
        self.mlp = nn.Sequential(nn.Linear(3 * j + IMU_DIM, cfg.token_dim), nn.SiLU(),
                                 nn.Linear(cfg.token_dim, cfg.token_dim))

    def forward(self, n: int, joints: torch.Tensor | None, imu: torch.Tensor | None,
                joints_present: torch.Tensor | None = None, imu_present: torch.Tensor | None = None
                ) -> torch.Tensor:
        """n ticks: joints (N, 3, J), imu (N, 10) -> (N, 1, W).

        A stream given as None is missing in every tick; a presence mask (N,) of None means present
        in every tick.
        """
        dtype = self.missing_joints.dtype
        jf = self.missing_joints.expand(n, -1)  # (N, 3J)
        if joints is not None:
            x = ((joints.to(dtype) - self.joint_offset) / self.joint_scale).flatten(1)  # (N, 3J)
            jf = x if joints_present is None else torch.where(joints_present[:, None], x, jf)
        imf = self.missing_imu.expand(n, -1)  # (N, 10)
        if imu is not None:
            x = imu.to(dtype) / self.imu_scale  # (N, 10)
            imf = x if imu_present is None else torch.where(imu_present[:, None], x, imf)
        first, _, second = self.mlp
        return linear(second, F.silu(linear(first, torch.cat([jf, imf], dim=1))))[:, None]  # (N, 1, W)


# --------------------------------------------------------------------------- IMU heading frame

def quat_yaw_rad(quat: torch.Tensor) -> torch.Tensor:
    """Yaw (rad, about the world's z axis) of quaternions (..., 4) in xyzw order -> (...)."""
    x, y, z, w = quat.unbind(-1)
    return torch.atan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))


def unyaw_quat(quat: torch.Tensor, yaw_rad: torch.Tensor) -> torch.Tensor:
    """Rotate orientations (..., 4) xyzw by -yaw_rad (...) about the world's z axis: r(-yaw) ⊗ q."""
    half = -0.5 * yaw_rad
    s, c = torch.sin(half), torch.cos(half)  # r = (0, 0, s, c)
    x, y, z, w = quat.unbind(-1)
    return torch.stack([c * x - s * y, c * y + s * x, c * z + s * w, c * w - s * z], dim=-1)


def imu_in_heading_frame(imu: torch.Tensor, present: torch.Tensor, heading_rad: torch.Tensor,
                         has_heading: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """imu (B, T, 10), presence (B, T) bool, the state's start heading (B,) and whether it is set (B,)
    bool -> imu with its quaternion relative to the start heading (B, T, 10), new heading, new flag.

    Without a heading yet, a window's first present reading sets it; absent ticks are left as they are
    (the tokenizer replaces them anyway). Of q and -q (one rotation) it gives the one with w >= 0: the
    sign then jumps only at half a turn from the start, where the yaw wraps anyway. Parallel over T and
    tick by tick alike."""
    if bool(has_heading.all()):  # every tick after the first: nothing to set (a third of the cost)
        heading, has = heading_rad, has_heading
    else:
        first = present.to(torch.uint8).argmax(dim=1)  # (B,) the first present tick (0 if none)
        first_yaw = quat_yaw_rad(imu[torch.arange(imu.shape[0]), first, :4])  # (B,)
        heading = torch.where(has_heading, heading_rad, first_yaw)  # (B,)
        has = has_heading | present.any(dim=1)
    quat = unyaw_quat(imu[..., :4], heading[:, None])  # (B, T, 4)
    quat = torch.where(quat[..., 3:] < 0, -quat, quat)  # q and -q are one rotation: the one with w >= 0
    return torch.cat([quat, imu[..., 4:]], dim=-1), heading, has


# --------------------------------------------------------------------------- fusion

_PRESENCE: dict[tuple[bool, ...], torch.Tensor] = {}


def _presence(flags: tuple[bool, ...]) -> torch.Tensor:
    """The (1, 1, 4) bool presence tensor of one tick, cached per pattern (made outside inference mode,
    so it can be used anywhere). Treat it as read-only."""
    present = _PRESENCE.get(flags)
    if present is None:
        with torch.inference_mode(False):
            present = _PRESENCE.setdefault(flags, torch.tensor([[list(flags)]]))
    return present


@dataclass
class Streams:
    """Validated streams of a (B, T) window, presence (B, T, 4) bool in STREAMS order.

    A stream missing in every tick is None. `any_present` / `all_present` summarise the presence per
    stream as Python bools, so the encoder skips work (and masking) that cannot matter.
    """

    camera: torch.Tensor | None  # (B, T, s, s, 3) uint8, already resized
    audio: torch.Tensor | None  # (B, T, S) float in [-1, 1), zero where absent
    joints: torch.Tensor | None  # (B, T, 3, J) float, zero where absent
    imu: torch.Tensor | None  # (B, T, 10) float, zero where absent
    present: torch.Tensor  # (B, T, 4) bool
    any_present: tuple[bool, ...]
    all_present: tuple[bool, ...]


class ObservationEncoder(nn.Module):
    """Tokenize every stream of each tick and fuse them into the backbone input (B, T, D).

    Args:
        cfg: tokenizer settings.
        d_model: backbone width D.
    """

    def __init__(self, cfg: TokenizerConfig, d_model: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.camera = CameraTokenizer(cfg)
        if cfg.audio_frontend == "utterance":
            from yan_policy.modules.utterance import UtteranceTokenizer  # (it builds on AudioTokenizer)

            self.audio = UtteranceTokenizer(cfg)
        else:
            self.audio = AudioTokenizer(cfg)
        self.proprio = ProprioTokenizer(cfg)
        w = cfg.token_dim
        self.missing_camera = nn.Parameter(torch.randn(self.camera.n_tokens, w) * 0.5)
        self.missing_audio = nn.Parameter(torch.randn(self.audio.n_tokens, w) * 0.5)
        self.n_tokens = self.camera.n_tokens + self.audio.n_tokens + self.proprio.n_tokens
        self.fuse = nn.Linear(self.n_tokens * w + len(STREAMS), d_model)
        self.norm = nn.RMSNorm(d_model)

    def initial_state(self, batch_size: int, dtype: torch.dtype) -> dict[str, torch.Tensor]:
        state = self.audio.initial_state(batch_size, dtype)
        if self.cfg.imu_heading_frame:  # no start heading yet
            state["imu.heading_rad"] = torch.zeros(batch_size, dtype=dtype)
            state["imu.has_heading"] = torch.zeros(batch_size, dtype=dtype)
        return state

    # -- input conversion ---------------------------------------------------------------------

    def streams_from_batch(self, batch: Mapping[str, Any]) -> Streams:
        """Validate a training batch: stream tensors with leading (B, T), optional `<stream>_present`."""
        lead = ("B", "T")
        raw = {s: None if batch.get(s) is None else _as_tensor(batch[s], s) for s in STREAMS}
        shaped = [x for x in raw.values() if x is not None]
        if not shaped:
            raise ValueError(f"batch: needs at least one of the streams {STREAMS}")
        if shaped[0].ndim < 2:
            raise ValueError(f"batch: streams need leading (B, T) dims, got shape {tuple(shaped[0].shape)}")
        bt = tuple(shaped[0].shape[:2])
        present = []
        for s in STREAMS:
            flag = batch.get(f"{s}_present")
            if raw[s] is None:
                present.append(torch.zeros(bt, dtype=torch.bool))
                continue
            if tuple(raw[s].shape[:2]) != bt:
                raise ValueError(f"{s}: leading dims {tuple(raw[s].shape[:2])} differ from (B, T) = {bt}")
            flag = torch.ones(bt, dtype=torch.bool) if flag is None else _as_tensor(flag, f"{s}_present")
            if tuple(flag.shape) != bt or flag.dtype != torch.bool:
                raise ValueError(f"{s}_present: expected bool (B, T) = {bt}, "
                                 f"got {flag.dtype} {tuple(flag.shape)}")
            present.append(flag)
        return self._validated(raw, torch.stack(present, dim=-1), lead)

    def streams_from_obs(self, obs: Mapping[str, Any]) -> Streams:
        """Validate one tick's observation dict (no batch dims); a key that is absent or None is missing.

        The same checks and conversions as `streams_from_batch` + `_validated`, but the presence of each
        stream is a Python bool here, so `Streams` is built directly (no presence reductions) with a
        cached presence tensor: this runs on every control tick.
        """
        cam, aud, jnt, imu = (None if obs.get(s) is None else _as_tensor(obs[s], s) for s in STREAMS)
        if cam is not None:
            check_camera(cam)
            size = self.cfg.image_size
            if cam.shape[:2] != (size, size):  # as `resize_frames`, for one frame
                frame = np.ascontiguousarray(cam.numpy())
                cam = torch.from_numpy(cv2.resize(frame, (size, size), interpolation=cv2.INTER_AREA))
            cam = cam.reshape(1, 1, size, size, 3)
        if aud is not None:
            check_audio(aud, self.cfg.samples_per_tick)
            # in numpy: small arrays cost a third of a torch op; the same float32 values as in `_validated`
            aud = torch.from_numpy(aud.numpy().astype(np.float32) / np.float32(32768.0)).view(1, 1, -1)
        if jnt is not None:
            check_joints(jnt, self.cfg.n_joints)
            jnt = jnt.reshape(1, 1, *jnt.shape)  # (1, 1, 3, J)
        if imu is not None:
            check_imu(imu)
            imu = imu.reshape(1, 1, -1)  # (1, 1, 10)
        flags = (cam is not None, aud is not None, jnt is not None, imu is not None)
        return Streams(cam, aud, jnt, imu, _presence(flags), flags, flags)

    def _validated(self, raw: dict[str, torch.Tensor | None], present: torch.Tensor,
                   lead: tuple[str, ...] | None) -> Streams:
        """Check (when lead is given), resize, scale and zero-fill absent entries."""
        flags = present.flatten(0, 1)  # (N, 4)
        any_p = tuple(raw[s] is not None and a for s, a in zip(STREAMS, flags.any(0).tolist(), strict=True))
        all_p = tuple(a and b for a, b in zip(any_p, flags.all(0).tolist(), strict=True))
        cam, aud, jnt, imu = (raw[s] if a else None for s, a in zip(STREAMS, any_p, strict=True))
        p_cam, p_aud, p_jnt, p_imu = present.unbind(-1)
        if lead is not None:  # single observations were checked already, with clearer shapes
            if cam is not None:
                check_camera(cam, lead)
            if aud is not None:
                check_audio(aud, self.cfg.samples_per_tick, lead)
            if jnt is not None:
                check_joints(jnt, self.cfg.n_joints, lead, p_jnt)
            if imu is not None:
                check_imu(imu, lead, p_imu)
        if cam is not None:
            size = self.cfg.image_size
            cam = resize_frames(cam.flatten(0, 1), size).unflatten(0, cam.shape[:2])  # (B, T, s, s, 3)
        if aud is not None:
            aud = aud.to(torch.float32) / 32768.0  # (B, T, S)
            aud = aud if all_p[1] else torch.where(p_aud[..., None], aud, 0.0)
        if jnt is not None and not all_p[2]:
            jnt = torch.where(p_jnt[..., None, None], jnt, 0.0)  # absent entries may hold NaN
        if imu is not None and not all_p[3]:
            imu = torch.where(p_imu[..., None], imu, 0.0)
        return Streams(cam, aud, jnt, imu, present, any_p, all_p)

    # -- tokens ---------------------------------------------------------------------------------

    def forward(self, streams: Streams, state: Mapping[str, torch.Tensor]
                ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Streams of a (B, T) window -> fused backbone input (B, T, D) and the new encoder state."""
        b, t = streams.present.shape[:2]
        n, dtype = b * t, self.fuse.weight.dtype
        flags = streams.present.flatten(0, 1)  # (N, 4)
        any_p, all_p = streams.any_present, streams.all_present

        def fill(tokens: torch.Tensor, i: int, missing: torch.Tensor) -> torch.Tensor:
            return tokens if all_p[i] else torch.where(flags[:, i, None, None], tokens, missing)

        # (the tokenizers' .forward is called directly: Module.__call__ costs ~4 µs a call, see fastops)
        cam = self.missing_camera.expand(n, -1, -1)  # (N, Nc, W)
        if any_p[0]:
            cam = fill(self.camera.forward(streams.camera.flatten(0, 1)), 0, cam)

        aud = self.missing_audio.expand(n, -1, -1)  # (N, Na, W)
        if any_p[1]:
            tokens, audio_state = self.audio.forward_state(streams.audio.to(dtype), state)  # (B, T, Na, W)
            aud = fill(tokens.flatten(0, 1), 1, aud)
        else:  # a gap is silence in the ring buffer
            audio_state = self.audio.skip_state(b, t, state)

        new_state = {}
        imu = streams.imu  # (B, T, 10) or None
        if self.cfg.imu_heading_frame:
            heading, has = state["imu.heading_rad"], state["imu.has_heading"] > 0.5  # (B,), (B,)
            if imu is not None:
                imu, heading, has = imu_in_heading_frame(imu.to(dtype), streams.present[..., 3], heading, has)
            new_state = {"imu.heading_rad": heading, "imu.has_heading": has.to(dtype)}
        joints = None if streams.joints is None else streams.joints.flatten(0, 1)  # (N, 3, J)
        imu = None if imu is None else imu.flatten(0, 1)  # (N, 10)
        masks = [None if all_p[i] else flags[:, i] for i in (2, 3)]  # None: present in every tick
        prop = self.proprio.forward(n, joints, imu, *masks)  # (N, 1, W)

        # [camera tokens, audio tokens, proprio token] flattened ++ flags: (N, n_tokens * W + 4)
        flat = torch.cat([cam.flatten(1), aud.flatten(1), prop.flatten(1), flags.to(dtype)], dim=1)
        x = rms_norm(self.norm, linear(self.fuse, flat)).unflatten(0, (b, t))  # (B, T, D)
        return x, {**audio_state, **new_state}
