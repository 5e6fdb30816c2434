"""The demonstration episode format: what a teacher showed, from any source (sim, teleop, a ROS 2 bag).

An `Episode` is one demonstration (or one corrected try) of one skill: the robot's sensor streams tick
by tick, the action that was demonstrated at each tick, and the cue that asked for the skill.

Arrays (T ticks at `control_hz`):
    stamps_s   float64 (T,)          observation time of each tick (s, from the episode start)
    camera     uint8   (T, H, W, 3)  RGB head camera (optional)
    audio      int16   (T, S)        microphone samples of the control period (optional)
    joints     float32 (T, 3, 12)    position rad / velocity rad/s / effort N·m
    imu        float32 (T, 10)       quaternion xyzw, body angular velocity, body specific force
    action     float32 (T, A)        the demonstrated action after observing tick t (robot units)
    label_mask bool    (T,)          False where the action is not a teacher label (e.g. the robot acted
                                     alone before an intervention); those ticks are context only
Metadata: skill, cue (None when no cue was played), action_mode ("joint" | "gait" | "hybrid"),
control_hz, source ("scripted" | "teleop" | "bag" | "intervention"), success (bool | None), seed, and
`extra` (a JSON dict of optional notes). The learner reads one of them: `extra["teacher_action_mode"]`,
"joint" for a teacher that commands joint targets (the postures) or "gait"; "joint" episodes train with
noisier joint positions (`yan_policy.training.learner.LearnerConfig.posture_joint_noise_rad`). Recordings of a
registered sim skill (`yan_dog.recording`, the ROS brain, bags) fill it in.

Every recorder (the sim, the ROS brain, bag replay) builds its episodes tick by tick with `EpisodeBuilder`.

On disk an episode is one safetensors file: the arrays as tensors and the metadata as JSON in the
header (`__metadata__["episode"]`). No pickle anywhere, so an episode file is data only. Writes are
atomic (temp file + rename).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file
from safetensors.numpy import save as safetensors_bytes

from yan_policy.data.checkpoint import atomic_write_bytes

FORMAT_VERSION = 1
SOURCES = ("scripted", "teleop", "bag", "intervention")
ACTION_MODES = ("joint", "gait", "hybrid")
STREAMS = ("camera", "audio", "joints", "imu")
_DTYPES = {
    "stamps_s": np.float64,
    "camera": np.uint8,
    "audio": np.int16,
    "joints": np.float32,
    "imu": np.float32,
    "action": np.float32,
    "label_mask": np.bool_,
}
_TRAILING_SHAPES = {"joints": (3, 12), "imu": (10,)}


@dataclass
class Episode:
    """One demonstration of one skill (see the module docstring for every field)."""

    skill: str
    action_mode: str
    control_hz: float
    stamps_s: np.ndarray
    joints: np.ndarray
    imu: np.ndarray
    action: np.ndarray
    camera: np.ndarray | None = None
    audio: np.ndarray | None = None
    label_mask: np.ndarray | None = None
    cue: str | None = None
    source: str = "scripted"
    success: bool | None = None
    seed: int | None = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        if not self.skill:
            raise ValueError("episode needs a skill name")
        if self.action_mode not in ACTION_MODES:
            raise ValueError(f"action_mode must be one of {ACTION_MODES}, got {self.action_mode!r}")
        if self.source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, got {self.source!r}")
        if self.control_hz <= 0:
            raise ValueError(f"control_hz must be > 0, got {self.control_hz}")
        if self.label_mask is None:
            self.label_mask = np.ones(len(self.stamps_s), bool)
        for name, dtype in _DTYPES.items():
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, np.ascontiguousarray(value, dtype=dtype))
        self.validate()

    def __len__(self) -> int:
        return len(self.stamps_s)

    def validate(self) -> None:
        """Raise ValueError naming the first inconsistent array."""
        t = len(self.stamps_s)
        if t == 0:
            raise ValueError("episode has no ticks")
        if self.stamps_s.ndim != 1 or np.any(np.diff(self.stamps_s) <= 0):
            raise ValueError("stamps_s must be a strictly increasing 1-D array")
        for name in _DTYPES:
            value = getattr(self, name)
            if value is None:
                continue
            if value.shape[0] != t:
                raise ValueError(f"{name} has {value.shape[0]} ticks, stamps_s has {t}")
            if name in _TRAILING_SHAPES and value.shape[1:] != _TRAILING_SHAPES[name]:
                raise ValueError(f"{name} must have shape (T, {_TRAILING_SHAPES[name]}), got {value.shape}")
            if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
                raise ValueError(f"{name} contains NaN or inf")
        if self.action.ndim != 2:
            raise ValueError(f"action must be (T, A), got {self.action.shape}")
        if self.camera is not None and (self.camera.ndim != 4 or self.camera.shape[-1] != 3):
            raise ValueError(f"camera must be (T, H, W, 3) RGB, got {self.camera.shape}")
        if self.audio is not None and self.audio.ndim != 2:
            raise ValueError(f"audio must be (T, S), got {self.audio.shape}")

    @property
    def duration_s(self) -> float:
        return float(self.stamps_s[-1] - self.stamps_s[0] + 1.0 / self.control_hz)

    def observations(self) -> dict[str, np.ndarray]:
        """The sensor streams as a dict (T leading), leaving out absent ones."""
        return {k: getattr(self, k) for k in STREAMS if getattr(self, k) is not None}

    def obs_at(self, t: int) -> dict[str, np.ndarray]:
        """One tick's observation, as a policy's `step` takes it."""
        return {k: v[t] for k, v in self.observations().items()}

    def metadata(self) -> dict:
        return {
            "format_version": FORMAT_VERSION,
            "skill": self.skill,
            "cue": self.cue,
            "action_mode": self.action_mode,
            "control_hz": self.control_hz,
            "source": self.source,
            "success": self.success,
            "seed": self.seed,
            "extra": self.extra,
        }

    # --- files -------------------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write the episode as one safetensors file, atomically."""
        path = Path(path)
        tensors = {k: getattr(self, k) for k in _DTYPES if getattr(self, k) is not None}
        tensors["label_mask"] = tensors["label_mask"].astype(np.uint8)  # safetensors has no numpy bool
        atomic_write_bytes(
            path, safetensors_bytes(tensors, metadata={"episode": json.dumps(self.metadata())})
        )
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Episode:
        """Read an episode file; a damaged or foreign file gives a ValueError naming the file."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"episode file not found: {path}")
        try:
            with safe_open(str(path), framework="numpy") as f:
                meta = json.loads((f.metadata() or {})["episode"])
            arrays = load_file(str(path))
        except Exception as e:  # safetensors raises several types for damaged files
            raise ValueError(f"{path} is not a readable episode file: {e}") from e
        if meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(
                f"{path}: episode format version {meta.get('format_version')} != {FORMAT_VERSION}"
            )
        return cls.from_stored(meta, arrays)

    @classmethod
    def from_stored(cls, meta: dict, arrays: dict[str, np.ndarray]) -> Episode:
        """Rebuild an episode from its `metadata()` and stored arrays (label_mask stored as uint8)."""
        arrays = dict(arrays)
        arrays["label_mask"] = arrays["label_mask"].astype(bool)
        return cls(
            skill=meta["skill"],
            action_mode=meta["action_mode"],
            control_hz=meta["control_hz"],
            cue=meta["cue"],
            source=meta["source"],
            success=meta["success"],
            seed=meta["seed"],
            extra=meta.get("extra", {}),
            **arrays,
        )


class EpisodeBuilder:
    """Records one episode tick by tick and builds its `Episode`.

    The one recorder behind the sim (`yan_dog.recording.run_episode`), the ROS brain's demonstrations
    (`yan_dog.brain`) and bag replay (`yan_dog.bag`), so all three stamp, label and stack ticks alike.
    Each `append` is one tick: the observation's `STREAMS` (a stream missing on every tick is left out of
    the episode), the action to record and the observation time (s, any clock).

    - Stamps are kept relative to `start_s` (default: the first recorded tick's stamp).
    - A tick without an observation (stale inputs) is not recorded, only counted in `stale_ticks`.
    - A tick without an action records `hold_action`, unlabelled (no `hold_action`: ValueError).
    - Ticks beyond `max_ticks` are not recorded; `truncated` says some came.
    - A stamp that does not advance: `repeated_stamps="drop"` skips the tick (a clock that did not move
      gives no new tick); "nominal" keeps it and `build` retimes every tick to k / control_hz.
    - Actions are cast to float32 as they come, the streams to their dtypes by `Episode`.

    Args:
        start_s: the time of the episode's start on the stamps' clock (None: the first tick's stamp).
        max_ticks: record at most this many ticks (None: no cap).
        hold_action: the action recorded for a tick that has none.
        repeated_stamps: "drop" or "nominal" (above).
        **metadata: `Episode` fields known at the start (skill, cue, extra, ...); `build` adds the rest.
    """

    def __init__(
        self,
        start_s: float | None = None,
        max_ticks: int | None = None,
        hold_action: np.ndarray | None = None,
        repeated_stamps: str = "drop",
        **metadata,
    ):
        if repeated_stamps not in ("drop", "nominal"):
            raise ValueError(f"repeated_stamps must be 'drop' or 'nominal', got {repeated_stamps!r}")
        self.start_s, self.max_ticks, self.repeated_stamps = start_s, max_ticks, repeated_stamps
        self.hold_action = None if hold_action is None else np.asarray(hold_action, np.float32)
        self.metadata = metadata
        self.streams: dict[str, list] = {k: [] for k in STREAMS}
        self.actions: list[np.ndarray] = []  # (A,) float32 each
        self.labels: list[bool] = []
        self.stamps_s: list[float] = []  # relative to start_s
        self.stale_ticks = 0
        self.truncated = False

    def __len__(self) -> int:
        return len(self.stamps_s)

    @property
    def labelled(self) -> int:
        """How many recorded ticks carry a teacher label."""
        return sum(self.labels)

    def append(
        self, obs: dict | None, action: np.ndarray | None, stamp_s: float | None, label: bool = True
    ) -> bool:
        """Record one tick (see the class docstring); returns whether it was recorded."""
        if obs is None:
            self.stale_ticks += 1
            return False
        if self.start_s is None:
            self.start_s = stamp_s
        t = stamp_s - self.start_s
        if self.max_ticks is not None and len(self) >= self.max_ticks:
            self.truncated = True
            return False
        if self.repeated_stamps == "drop" and self.stamps_s and t <= self.stamps_s[-1]:
            return False
        if action is None:
            if self.hold_action is None:
                raise ValueError("a tick without an action needs the builder's hold_action")
            action, label = self.hold_action, False
        for k, rows in self.streams.items():
            rows.append(obs.get(k))
        self.actions.append(np.asarray(action, np.float32))
        self.labels.append(bool(label))
        self.stamps_s.append(t)
        return True

    def build(self, **metadata) -> Episode:
        """The recorded ticks as an `Episode`; `metadata` adds to (`extra`: merges into) the builder's."""
        if not self.stamps_s:
            raise ValueError("episode has no ticks")
        fields = {**self.metadata, **metadata}
        fields["extra"] = {**self.metadata.get("extra", {}), **metadata.get("extra", {})}
        stamps = np.asarray(self.stamps_s, np.float64)  # (T,)
        if self.repeated_stamps == "nominal" and np.any(np.diff(stamps) <= 0):
            stamps = np.arange(len(stamps)) / fields["control_hz"]
        arrays = {}
        for k, rows in self.streams.items():
            present = [row is not None for row in rows]
            if any(present) and not all(present):
                raise ValueError(f"stream {k} is missing on {present.count(False)} of {len(rows)} ticks")
            arrays[k] = np.stack(rows) if all(present) else None  # (T, ...)
        return Episode(
            stamps_s=stamps,
            action=np.stack(self.actions),  # (T, A)
            label_mask=np.asarray(self.labels, bool),  # (T,)
            **arrays,
            **fields,
        )
