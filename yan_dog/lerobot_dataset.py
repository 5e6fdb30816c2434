"""LeRobotDataset v3.0 in and out: demonstrations as a dataset LeRobot reads, and a LeRobot dataset's
episodes as demonstrations yan-dog learns from.

No ROS, no sim, no lerobot: written and read with pyarrow and PyAV, in the layout of lerobot 0.4.4
(`lerobot/datasets/lerobot_dataset.py`, `utils.py`). tests/test_lerobot_dataset.py loads every export with
lerobot's own `LeRobotDataset` and imports datasets that lerobot wrote.

Layout (what `export_lerobot` writes):
    meta/info.json              codebase_version "v3.0", fps, robot_type, features (dtype, shape, names)
    meta/stats.json             per feature: min max mean std count q01 q10 q50 q90 q99 (video: by channel)
    meta/tasks.parquet          task text (the index) -> task_index
    meta/episodes/chunk-000/file-000.parquet   a row per episode: length, task, where its rows and frames
                                               are, its stats, and yan-dog's metadata (`META_COLUMN`, JSON)
    data/chunk-CCC/file-FFF.parquet            a row per tick
    videos/observation.images.head/chunk-CCC/file-FFF.mp4   the head camera (H.264), episodes in a row

Features (an `Episode` of T ticks is T frames; fps = control_hz):
    observation.state        float32 (36,)  joint positions rad, velocities rad/s, efforts N·m ("<joint>.pos")
    observation.imu          float32 (10,)  quaternion xyzw, gyro rad/s, specific force m/s²
    observation.audio        int16 (S,)     the tick's microphone samples; info: audio.sample_rate = S · fps
    observation.images.head  video (H, W, 3)
    action                   float32 (A,)   in the episode's action mode (names by mode)
    label_mask               bool           False where the action is no teacher label
    stamp_s                  float64        the tick's own stamp (`timestamp` is frame_index / fps: lerobot
                                            finds video frames by it)
    task                     "<skill>: on cue <cue>" ("<skill>" when no cue was played)
A camera or audio stream missing from some episodes is written as zeros and comes back as None; camera
frames of another size than the first episode's are resized to it (INTER_AREA).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import uuid
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from robots.actions import GAIT_COMMAND_NAMES
from robots.joint_map import JointMap
from yan_policy.data.episode import Episode
from yan_policy.data.library import check_skill_name

CODEBASE_VERSION = "v3.0"
ROBOT_TYPE = "unitree_a1"
SAMPLE_RATE_HZ = 16_000  # the microphone (DESIGN.md §4: mono 16 kHz)
STATE, IMU, AUDIO, CAMERA, ACTION = (
    "observation.state", "observation.imu", "observation.audio", "observation.images.head", "action")
LABEL_MASK, STAMP = "label_mask", "stamp_s"
META_COLUMN = "yan_dog/metadata"  # episodes table: Episode.metadata() + the streams it holds, as JSON
JOINT_NAMES = JointMap().names  # the A1's (Unitree's) names, in the project's motor order
IMU_NAMES = ("qx", "qy", "qz", "qw", "gyro_x", "gyro_y", "gyro_z", "acc_x", "acc_y", "acc_z")
REST_IMU = np.array([0, 0, 0, 1, 0, 0, 0, 0, 0, 9.81], np.float32)  # level and still: what import assumes
ACTION_NAMES = {"hybrid": GAIT_COMMAND_NAMES + tuple(f"{j}.offset" for j in JOINT_NAMES),
                "joint": tuple(f"{j}.target" for j in JOINT_NAMES), "gait": GAIT_COMMAND_NAMES}
ACTION_MODE_BY_DIM = {len(v): k for k, v in ACTION_NAMES.items()}
QUANTILES = {"q01": 0.01, "q10": 0.10, "q50": 0.50, "q90": 0.90, "q99": 0.99}
CHUNK_FILE = "chunk-{chunk_index:03d}/file-{file_index:03d}"
DATA_PATH = "data/" + CHUNK_FILE + ".parquet"
VIDEO_PATH = "videos/{video_key}/" + CHUNK_FILE + ".mp4"
EPISODES_PATH = "meta/episodes/" + CHUNK_FILE + ".parquet"
CHUNKS_SIZE = 1000  # files per chunk folder, as lerobot
VIDEO_CODEC, VIDEO_GOP = "h264", 2  # a key frame every 2 frames, as lerobot: any frame decodes quickly
_INDEX_FEATURES = {"timestamp": "float32", "frame_index": "int64", "episode_index": "int64",
                   "index": "int64", "task_index": "int64"}
_TASK_RE = re.compile(r"(?P<skill>[A-Za-z0-9][A-Za-z0-9_-]{0,63}): on cue (?P<cue>\S.*)")


def task_text(skill: str, cue: str | None) -> str:
    return f"{skill}: on cue {cue}" if cue else skill


# ------------------------------------------------------------------------------------------------- export
def export_lerobot(episodes, out_dir: str | os.PathLike, *, crf: int = 18,
                   max_frames_per_file: int = 20_000) -> Path:
    """Write `episodes` as a LeRobotDataset v3.0 folder `out_dir` (new or empty), atomically.

    Args:
        episodes: Episodes of one control rate (an integer fps) and one action width.
        crf: H.264 quality of the camera video (lower is better; 18 is close to lossless to the eye).
        max_frames_per_file: episodes go into the same data and video file until it would hold more.
    Raises ValueError (one line) for episodes one dataset cannot hold."""
    episodes = list(episodes)
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValueError(f"{out} already exists and is not an empty folder")
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    try:
        _write_dataset(episodes, tmp, crf, max_frames_per_file)
        if out.exists():
            out.rmdir()
        os.rename(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _common(episodes: list[Episode], what: str, value, unit: str = ""):
    """The one value `value(ep)` all episodes share, or a ValueError naming the first that differs."""
    values = [value(ep) for ep in episodes if value(ep) is not None]
    for v in values:
        if v != values[0]:
            raise ValueError(f"a LeRobot dataset has one {what}: these episodes have {values[0]}{unit} "
                             f"and {v}{unit}")
    return values[0] if values else None


def _features(episodes: list[Episode]) -> tuple[dict, int, tuple | None, int | None]:
    if not episodes:
        raise ValueError("no episodes to export")
    hz = _common(episodes, "fps", lambda ep: ep.control_hz, " Hz")
    if hz != int(hz):
        raise ValueError(f"a LeRobot dataset's fps is an integer; these episodes run at {hz} Hz")
    fps = int(hz)
    width = _common(episodes, "action width", lambda ep: ep.action.shape[1])
    samples = _common(episodes, "audio block size", lambda ep: None if ep.audio is None else len(ep.audio[0]))
    hw = next((tuple(int(n) for n in ep.camera.shape[1:3]) for ep in episodes if ep.camera is not None), None)
    mode = ACTION_MODE_BY_DIM.get(width)
    state_names = [f"{j}.{q}" for q in ("pos", "vel", "effort") for j in JOINT_NAMES]
    features = {
        STATE: {"dtype": "float32", "shape": [36], "names": state_names},
        IMU: {"dtype": "float32", "shape": [10], "names": list(IMU_NAMES)},
        ACTION: {"dtype": "float32", "shape": [width],
                 "names": list(ACTION_NAMES[mode]) if mode and mode == episodes[0].action_mode else None},
        LABEL_MASK: {"dtype": "bool", "shape": [1], "names": None},
        STAMP: {"dtype": "float64", "shape": [1], "names": None},
    }
    if samples is not None:
        features[AUDIO] = {"dtype": "int16", "shape": [samples], "names": None, "info": {
            "audio.sample_rate": samples * fps, "audio.channels": 1, "audio.samples_per_frame": samples}}
    if hw is not None:
        h, w = hw
        features[CAMERA] = {"dtype": "video", "shape": [h, w, 3], "names": ["height", "width", "channels"],
                            "info": {"video.height": h, "video.width": w, "video.codec": VIDEO_CODEC,
                                     "video.pix_fmt": _pix_fmt(h, w), "video.is_depth_map": False,
                                     "video.fps": fps, "video.channels": 3, "has_audio": False}}
    features.update({k: {"dtype": d, "shape": [1], "names": None} for k, d in _INDEX_FEATURES.items()})
    return features, fps, hw, samples


def _pix_fmt(h: int, w: int) -> str:
    return "yuv420p" if h % 2 == 0 and w % 2 == 0 else "yuv444p"  # 4:2:0 needs even sizes


def _episode_columns(ep: Episode, i: int, start: int, task_index: int, hw, samples) -> dict[str, np.ndarray]:
    t = len(ep)
    cols = {
        STATE: ep.joints.reshape(t, 36),  # (T, 3, 12) -> pos, vel, effort
        IMU: ep.imu,
        ACTION: ep.action,
        LABEL_MASK: ep.label_mask,
        STAMP: ep.stamps_s,
        "frame_index": np.arange(t, dtype=np.int64),
        "episode_index": np.full(t, i, np.int64),
        "index": np.arange(start, start + t, dtype=np.int64),
        "task_index": np.full(t, task_index, np.int64),
    }
    cols["timestamp"] = (cols["frame_index"] / ep.control_hz).astype(np.float32)
    if samples is not None:
        cols[AUDIO] = ep.audio if ep.audio is not None else np.zeros((t, samples), np.int16)
    if hw is not None:
        cols[CAMERA] = _frames_at(ep.camera, hw) if ep.camera is not None else np.zeros((t, *hw, 3), np.uint8)
    return cols


def _frames_at(camera: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    if camera.shape[1:3] == hw:
        return camera
    return np.stack([cv2.resize(f, (hw[1], hw[0]), interpolation=cv2.INTER_AREA) for f in camera])


def _arrow_column(values: np.ndarray, dtype: str) -> pa.Array:
    if values.ndim == 1:
        return pa.array(values, type=pa.from_numpy_dtype(np.dtype(dtype)))
    flat = pa.array(values.reshape(-1), type=pa.from_numpy_dtype(np.dtype(dtype)))
    return pa.FixedSizeListArray.from_arrays(flat, values.shape[1])


def _stats(x: np.ndarray) -> dict[str, list]:
    """LeRobot's statistics of a (N, D) feature, per dimension."""
    x = x.reshape(len(x), -1).astype(np.float64)
    out = {"min": x.min(0), "max": x.max(0), "mean": x.mean(0), "std": x.std(0), "count": np.array([len(x)])}
    out.update({k: np.quantile(x, q, axis=0) for k, q in QUANTILES.items()})
    return {k: v.tolist() for k, v in out.items()}


def _histogram(frames: np.ndarray) -> np.ndarray:
    """(3, 256) counts of each level in each channel of uint8 frames (N, H, W, 3)."""
    return np.stack([np.bincount(frames[..., c].ravel(), minlength=256) for c in range(3)]).astype(np.float64)


def _image_stats(hist: np.ndarray, frames: int) -> dict[str, list]:
    """Per-channel statistics of frames scaled to 0..1, shaped (3, 1, 1) as lerobot's; exact, from the
    channels' histograms (`_histogram`)."""
    levels, n = np.arange(256) / 255.0, hist[0].sum()
    mean = hist @ levels / n
    cdf = np.cumsum(hist, axis=1)
    out = {"min": levels[(hist > 0).argmax(1)], "max": levels[255 - (hist[:, ::-1] > 0).argmax(1)],
           "mean": mean, "std": np.sqrt(np.maximum(hist @ levels**2 / n - mean**2, 0.0))}
    out.update({k: levels[(cdf >= q * n).argmax(1)] for k, q in QUANTILES.items()})
    stats = {k: v.reshape(3, 1, 1).tolist() for k, v in out.items()}
    stats["count"] = [frames]
    return stats


def _file_slots(lengths: list[int], max_frames: int) -> list[tuple[int, int]]:
    """(chunk, file) of each episode: the next file once the current one would pass max_frames."""
    slots, chunk, file, used = [], 0, 0, 0
    for n in lengths:
        if used and used + n > max_frames:
            chunk, file = (chunk + 1, 0) if file == CHUNKS_SIZE - 1 else (chunk, file + 1)
            used = 0
        slots.append((chunk, file))
        used += n
    return slots


def _write_dataset(episodes: list[Episode], root: Path, crf: int, max_frames: int) -> None:
    features, fps, hw, samples = _features(episodes)
    vectors = [k for k, ft in features.items() if ft["dtype"] != "video"]
    tasks = list(dict.fromkeys(task_text(ep.skill, ep.cue) for ep in episodes))
    slots = _file_slots([len(ep) for ep in episodes], max_frames)
    starts = np.cumsum([0] + [len(ep) for ep in episodes])
    rows, all_cols, hist = [], {k: [] for k in vectors}, np.zeros((3, 256))
    for slot in dict.fromkeys(slots):
        file_cols = {k: [] for k in vectors}
        video_path = root / VIDEO_PATH.format(video_key=CAMERA, chunk_index=slot[0], file_index=slot[1])
        with _VideoWriter(video_path if hw else None, hw, fps, crf) as video:
            for i in (i for i, s in enumerate(slots) if s == slot):
                ep, task = episodes[i], task_text(episodes[i].skill, episodes[i].cue)
                cols = _episode_columns(ep, i, int(starts[i]), tasks.index(task), hw, samples)
                stats = {k: _stats(cols[k]) for k in vectors}
                for k in vectors:
                    file_cols[k].append(cols[k])
                    all_cols[k].append(cols[k])
                row = {"episode_index": i, "tasks": [task], "length": len(ep),
                       "data/chunk_index": slot[0], "data/file_index": slot[1],
                       "dataset_from_index": int(starts[i]), "dataset_to_index": int(starts[i + 1])}
                if hw is not None:
                    ep_hist = _histogram(cols[CAMERA])
                    hist += ep_hist
                    stats[CAMERA] = _image_stats(ep_hist, len(ep))
                    row.update({f"videos/{CAMERA}/chunk_index": slot[0],
                                f"videos/{CAMERA}/file_index": slot[1],
                                f"videos/{CAMERA}/from_timestamp": video.frames / fps,
                                f"videos/{CAMERA}/to_timestamp": (video.frames + len(ep)) / fps})
                    video.add(cols[CAMERA])
                row.update({f"stats/{k}/{name}": v for k, st in stats.items() for name, v in st.items()})
                streams = [k for k in ("camera", "audio") if getattr(ep, k) is not None]
                row.update({"meta/episodes/chunk_index": 0, "meta/episodes/file_index": 0,
                            META_COLUMN: json.dumps(ep.metadata() | {"streams": streams})})
                rows.append(row)
        table = pa.table({k: _arrow_column(np.concatenate(v), features[k]["dtype"])
                          for k, v in file_cols.items()})
        path = root / DATA_PATH.format(chunk_index=slot[0], file_index=slot[1])
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, path, compression="snappy")
    path = root / EPISODES_PATH.format(chunk_index=0, file_index=0)
    path.parent.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows), path, compression="snappy")
    _write_tasks(tasks, root / "meta" / "tasks.parquet")
    stats = {k: _stats(np.concatenate(v)) for k, v in all_cols.items()}
    if hw is not None:
        stats[CAMERA] = _image_stats(hist, int(starts[-1]))
    (root / "meta" / "stats.json").write_text(json.dumps(stats, indent=4))
    info = {"codebase_version": CODEBASE_VERSION, "robot_type": ROBOT_TYPE, "total_episodes": len(episodes),
            "total_frames": int(starts[-1]), "total_tasks": len(tasks), "chunks_size": CHUNKS_SIZE,
            "data_files_size_in_mb": 100, "video_files_size_in_mb": 200, "fps": fps,
            "splits": {"train": f"0:{len(episodes)}"}, "data_path": DATA_PATH,
            "video_path": VIDEO_PATH if hw is not None else None, "features": features}
    (root / "meta" / "info.json").write_text(json.dumps(info, indent=4))


def _write_tasks(tasks: list[str], path: Path) -> None:
    """The tasks table as pandas writes a DataFrame indexed by the task text (lerobot reads it with pandas:
    `tasks.loc[text]`), without pandas: the index is a column named in the "pandas" schema metadata
    (Arrow's pandas metadata spec)."""
    index = "__index_level_0__"
    pandas_meta = {
        "index_columns": [index],
        "column_indexes": [{"name": None, "field_name": None, "pandas_type": "unicode",
                            "numpy_type": "object", "metadata": {"encoding": "UTF-8"}}],
        "columns": [{"name": "task_index", "field_name": "task_index", "pandas_type": "int64",
                     "numpy_type": "int64", "metadata": None},
                    {"name": None, "field_name": index, "pandas_type": "unicode", "numpy_type": "object",
                     "metadata": None}],
        "creator": {"library": "pyarrow", "version": pa.__version__},
        "pandas_version": "2.2.0",
    }
    table = pa.table({"task_index": pa.array(range(len(tasks)), pa.int64()), index: pa.array(tasks)})
    pq.write_table(table.replace_schema_metadata({"pandas": json.dumps(pandas_meta)}), path)


class _VideoWriter:
    """An H.264 mp4 of uint8 RGB frames (H, W, 3) added in order; frame i is shown at i / fps s exactly.
    With path None it writes nothing."""

    def __init__(self, path: Path | None, hw: tuple[int, int] | None, fps: int, crf: int):
        self.path, self.hw, self.fps, self.crf, self.frames = path, hw, fps, crf, 0

    def __enter__(self):
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.container = av.open(str(self.path), "w")
            self.stream = self.container.add_stream(
                "libx264", rate=self.fps, options={"crf": str(self.crf), "g": str(VIDEO_GOP)})
            self.stream.height, self.stream.width = self.hw
            self.stream.pix_fmt = _pix_fmt(*self.hw)
            self.stream.codec_context.time_base = Fraction(1, self.fps)
        return self

    def add(self, frames: np.ndarray) -> None:
        for frame in frames:
            video_frame = av.VideoFrame.from_ndarray(frame, format="rgb24")
            video_frame.pts = self.frames
            self.container.mux(self.stream.encode(video_frame))
            self.frames += 1

    def __exit__(self, *exc):
        if self.path is not None:
            if exc[0] is None:
                self.container.mux(self.stream.encode())  # flush the encoder
            self.container.close()


# ------------------------------------------------------------------------------------------------- import
def import_lerobot(path: str | os.PathLike, *, skill: str | None = None, cue: str | None = None,
                   camera: str | None = None) -> list[Episode]:
    """The episodes of a LeRobotDataset v3.0 folder, as yan-dog demonstrations.

    What a dataset needs: an `action` (15 values: hybrid, 12: joint targets, 3: gait command), the 12 A1
    joint positions in `observation.state` (named "<joint>.pos" or "<joint>", with Unitree's or the sim's
    joint names, in any order; or exactly 12 values in the project's motor order) and a camera (a video or
    image feature: `camera`, else observation.images.head, else the first). Optional: velocities and
    efforts ("<joint>.vel" / ".effort"; else finite differences of the positions, and zeros),
    `observation.imu` (else `REST_IMU`) and mono 16 kHz audio (a feature named observation.audio*, int16 or
    float in [-1, 1]). Skill and cue come from yan-dog's metadata where yan-dog wrote the dataset, else from
    the task text ("<skill>: on cue <cue>", or the whole text made a skill name); `skill` / `cue` override.
    Raises ValueError (one line, naming what is missing or does not fit)."""
    root = Path(path)
    info = _read_info(root)
    features, fps = info["features"], info["fps"]
    plan = _import_plan(root, features, fps, camera)
    tasks = _read_tasks(root)
    meta_rows = _read_rows(root / "meta" / "episodes", root)
    data = _read_rows(root / "data", root, columns=plan["columns"])
    order = np.lexsort((data["frame_index"], data["episode_index"]))
    data = {k: v[order] for k, v in data.items()}
    bounds = np.flatnonzero(np.diff(data["episode_index"])) + 1
    by_episode = dict(zip(data["episode_index"][np.r_[0, bounds]].tolist(),
                          np.split(np.arange(len(order)), bounds), strict=True))
    videos = _VideoCache(root, info, fps)
    episodes = []
    for row in sorted(meta_rows, key=lambda r: r["episode_index"]):
        e = row["episode_index"]
        if e not in by_episode:
            raise ValueError(f"{root}: episode {e} has no rows in data/")
        cols = {k: v[by_episode[e]] for k, v in data.items()}
        try:
            episodes.append(_episode(cols, row, plan, tasks, videos, fps, skill, cue))
        except ValueError as err:
            raise ValueError(f"{root}: episode {e}: {err}") from None
    if not episodes:
        raise ValueError(f"{root}: the dataset holds no episodes")
    return episodes


def _read_info(root: Path) -> dict:
    if not (root / "meta" / "info.json").is_file():
        raise ValueError(f"{root} is not a LeRobot dataset: meta/info.json is missing")
    try:
        info = json.loads((root / "meta" / "info.json").read_text())
        version, features, fps = info["codebase_version"], info["features"], info["fps"]
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise ValueError(f"{root}: meta/info.json is no LeRobot info ({type(e).__name__}: {e})") from None
    if version != CODEBASE_VERSION:
        raise ValueError(f"{root} is a LeRobot {version} dataset; only {CODEBASE_VERSION} is read (lerobot "
                         f"converts older ones: lerobot/datasets/v30/convert_dataset_v21_to_v30.py)")
    if not isinstance(features, dict) or not isinstance(fps, int | float) or fps <= 0:
        raise ValueError(f"{root}: meta/info.json needs a features object and an fps > 0")
    return info


def _names(ft: dict) -> list[str]:
    names = ft.get("names")
    if isinstance(names, dict):  # e.g. {"motors": [...]}
        names = next(iter(names.values()), None)
    return [str(n) for n in names] if isinstance(names, list) else []


def _width(ft: dict) -> int:
    shape = ft.get("shape") or [1]
    return int(np.prod(shape))


def _import_plan(root: Path, features: dict, fps: float, camera: str | None) -> dict:
    """Which feature (and columns of it) each Episode stream comes from; ValueError when one cannot."""
    if ACTION not in features:
        raise ValueError(f"{root}: no '{ACTION}' feature")
    width = _width(features[ACTION])
    if width not in ACTION_MODE_BY_DIM:
        raise ValueError(f"{root}: '{ACTION}' has {width} values; yan-dog learns 15 (hybrid: gait command + "
                         f"joint offsets), 12 (joint targets) or 3 (gait command)")
    if STATE not in features:
        raise ValueError(f"{root}: no '{STATE}' feature (the 12 joint positions)")
    names, n_state = _names(features[STATE]), _width(features[STATE])

    def pick(suffix: str) -> list[int] | None:
        """The state's column of each motor, by the names ending in `suffix` (Unitree's or the sim's)."""
        named = {n.removesuffix(suffix): i for i, n in enumerate(names) if n.endswith(suffix)}
        try:
            return [list(named.values())[k] for k in JointMap().order(list(named))]
        except ValueError:
            return None

    unnamed = n_state == 12 or (n_state == 36 and not names)  # then in our order (and layout)
    pos = pick(".pos") or pick("") or (list(range(12)) if unnamed else None)
    if pos is None:
        raise ValueError(f"{root}: '{STATE}' has {n_state} values and no names of the 12 A1 joints "
                         f"({JOINT_NAMES[0]}.pos ...); it needs them by name, or exactly 12 positions")
    vel = pick(".vel") or (list(range(12, 24)) if n_state == 36 and not names else None)
    effort = pick(".effort") or (list(range(24, 36)) if n_state == 36 and not names else None)
    cameras = [k for k, ft in features.items() if ft.get("dtype") in ("video", "image")]
    if camera is not None and camera not in cameras:
        raise ValueError(f"{root}: no camera feature '{camera}'; it has: {', '.join(cameras) or 'none'}")
    if not cameras:
        raise ValueError(f"{root}: no camera (a feature of dtype video or image)")
    cam = camera or (CAMERA if CAMERA in cameras else cameras[0])
    audio = next((k for k in features if k == AUDIO), None) or next(
        (k for k in features if k.startswith(AUDIO)), None)
    if audio is not None:
        ft = features[audio]
        if len(ft.get("shape") or []) != 1:
            raise ValueError(f"{root}: '{audio}' has shape {ft.get('shape')}; yan-dog hears mono (S,) blocks")
        rate = (ft.get("info") or {}).get("audio.sample_rate", _width(ft) * fps)
        if rate != SAMPLE_RATE_HZ or _width(ft) * fps != rate:
            raise ValueError(f"{root}: '{audio}' holds {_width(ft)} samples a frame at {fps} fps, sampled at "
                             f"{rate} Hz; yan-dog hears {SAMPLE_RATE_HZ} Hz, one frame's samples a frame")
    columns = [STATE, ACTION, "episode_index", "frame_index", "timestamp", "task_index"]
    columns += [k for k in (IMU, LABEL_MASK, STAMP, audio) if k in features and k is not None]
    if features[cam]["dtype"] == "image":
        columns.append(cam)
    return {"pos": pos, "vel": vel, "effort": effort, "camera": cam, "camera_dtype": features[cam]["dtype"],
            "audio": audio, "columns": columns, "imu": IMU in features and _width(features[IMU]) == 10}


def _read_tasks(root: Path) -> dict[int, str]:
    path = root / "meta" / "tasks.parquet"
    if not path.is_file():
        raise ValueError(f"{root}: meta/tasks.parquet is missing")
    table = pq.read_table(path)
    pandas_meta = json.loads((table.schema.metadata or {}).get(b"pandas", b"{}"))
    text_col = next((c for c in ["task", *pandas_meta.get("index_columns", [])]
                     if isinstance(c, str) and c in table.column_names), None)
    if text_col is None or "task_index" not in table.column_names:
        raise ValueError(f"{root}: meta/tasks.parquet has no task text and task_index columns")
    return dict(sorted(zip(table["task_index"].to_pylist(), table[text_col].to_pylist(), strict=True)))


def _read_rows(folder: Path, root: Path, columns: list[str] | None = None):
    """The chunk-*/file-*.parquet tables in `folder`: a list of row dicts (episodes), or numpy `columns`."""
    paths = sorted(folder.glob("chunk-*/file-*.parquet"))
    if not paths:
        raise ValueError(f"{root}: no {folder.relative_to(root)}/chunk-*/file-*.parquet")
    tables = []
    for p in paths:
        table = pq.read_table(p)
        if columns is not None:
            missing = [c for c in columns if c not in table.column_names]
            if missing:
                raise ValueError(f"{root}: {p.relative_to(root)} has no column {missing[0]!r}")
            table = table.select(columns)
        else:
            table = table.select([c for c in table.column_names if not c.startswith("stats/")])
        tables.append(table)
    table = pa.concat_tables(tables, promote_options="permissive")
    if columns is None:
        return table.to_pylist()
    return {c: _numpy_column(table[c]) for c in columns}


def _numpy_column(col: pa.ChunkedArray) -> np.ndarray:
    arr = col.combine_chunks()
    if pa.types.is_struct(arr.type):  # image features: {bytes, path}
        return np.array(arr.field("bytes").to_pylist(), dtype=object)
    if pa.types.is_fixed_size_list(arr.type) or pa.types.is_list(arr.type):
        flat = arr.flatten().to_numpy(zero_copy_only=False)
        return flat.reshape(len(arr), -1)
    return arr.to_numpy(zero_copy_only=False)


class _VideoCache:
    """Decodes one video file at a time (episodes are stored in file order) into frames and their times."""

    def __init__(self, root: Path, info: dict, fps: float):
        self.root, self.info, self.tolerance_s = root, info, 0.5 / fps
        self.path, self.times, self.frames = None, np.zeros(0), []

    def frames_at(self, key: str, row: dict, timestamps: np.ndarray) -> np.ndarray:
        missing = [c for c in ("chunk_index", "file_index", "from_timestamp")
                   if f"videos/{key}/{c}" not in row]
        if missing:
            raise ValueError(f"meta/episodes has no column videos/{key}/{missing[0]}")
        where = {k: row[f"videos/{key}/{k}"] for k in ("chunk_index", "file_index")}
        path = self.root / self.info["video_path"].format(video_key=key, **where)
        if path != self.path:
            if not path.is_file():
                raise ValueError(f"video {path.relative_to(self.root)} is missing")
            self.path, self.frames, times = path, [], []
            with av.open(str(path)) as container:
                for frame in container.decode(video=0):
                    times.append(float(frame.pts * frame.time_base))
                    self.frames.append(frame.to_ndarray(format="rgb24"))
            self.times = np.array(times)
        want = row[f"videos/{key}/from_timestamp"] + timestamps
        nearest = np.abs(self.times[None, :] - want[:, None]).argmin(1)
        late = np.abs(self.times[nearest] - want) > self.tolerance_s
        if late.any():
            raise ValueError(f"{path.relative_to(self.root)} has no frame at {want[late][0]:.3f} s")
        return np.stack([self.frames[i] for i in nearest])


def _episode(cols: dict, row: dict, plan: dict, tasks: dict, videos: _VideoCache, fps: float,
             skill: str | None, cue: str | None) -> Episode:
    t = len(cols["frame_index"])
    if t != row.get("length", t):
        raise ValueError(f"{t} rows in data/, length {row['length']} in meta/episodes")
    state = cols[STATE].astype(np.float32)
    pos = state[:, plan["pos"]]
    vel = np.gradient(pos, 1.0 / fps, axis=0) if t > 1 else np.zeros_like(pos)  # rad/s, when not recorded
    vel = state[:, plan["vel"]] if plan["vel"] else vel
    effort = state[:, plan["effort"]] if plan["effort"] else np.zeros_like(pos)
    key = plan["camera"]
    if plan["camera_dtype"] == "video":
        camera = videos.frames_at(key, row, cols["timestamp"].astype(np.float64))
    else:
        images = [cv2.imdecode(np.frombuffer(b or b"", np.uint8), cv2.IMREAD_COLOR) for b in cols[key]]
        if any(image is None for image in images):
            raise ValueError(f"'{key}' holds a frame that is no image file")
        camera = np.stack([cv2.cvtColor(image, cv2.COLOR_BGR2RGB) for image in images])
    audio = None
    if plan["audio"] is not None:
        raw = cols[plan["audio"]]
        audio = raw if raw.dtype == np.int16 else np.clip(np.round(raw * 32767.0), -32768, 32767)
    meta = json.loads(row[META_COLUMN]) if row.get(META_COLUMN) else None
    if meta is not None:
        streams = set(meta.get("streams", ("camera", "audio")))
        camera, audio = (camera if "camera" in streams else None), (audio if "audio" in streams else None)
        try:
            kwargs = {k: meta[k] for k in ("skill", "cue", "action_mode", "source", "success", "seed",
                                           "extra")}
        except (KeyError, TypeError) as e:
            raise ValueError(f"{META_COLUMN} is not yan-dog's episode metadata (no {e})") from None
    else:
        task = tasks.get(int(cols["task_index"][0])) or (row.get("tasks") or [""])[0]
        m = _TASK_RE.fullmatch(task)
        kwargs = {"skill": m["skill"] if m else _skill_name(task), "cue": m["cue"] if m else None,
                  "action_mode": ACTION_MODE_BY_DIM[cols[ACTION].shape[1]], "source": "teleop",
                  "extra": {"lerobot": {"episode_index": int(row["episode_index"]), "task": task}}}
    kwargs["skill"] = check_skill_name(skill or kwargs["skill"])
    kwargs["cue"] = cue or kwargs["cue"]
    return Episode(
        control_hz=float(fps),
        stamps_s=cols[STAMP] if STAMP in cols else cols["timestamp"].astype(np.float64),
        joints=np.stack([pos, vel, effort], axis=1),
        imu=cols[IMU] if plan["imu"] else np.tile(REST_IMU, (t, 1)),
        action=cols[ACTION],
        camera=camera,
        audio=audio,
        label_mask=cols[LABEL_MASK].astype(bool).reshape(t) if LABEL_MASK in cols else None,
        **kwargs,
    )


def _skill_name(task: str) -> str:
    """A task text made a valid skill name: "Pick up the cube." -> "pick_up_the_cube"."""
    name = re.sub(r"[^a-z0-9_-]+", "_", task.lower()).strip("_-")[:64]
    return name or "lerobot_task"


def as_hybrid(episode: Episode, stand_targets_rad: np.ndarray) -> Episode:
    """The episode in the hybrid action space the teach policy learns (gait command + joint offsets from the
    gait's standing targets): joint targets q become (0, 0, 0, q - stand), a gait command c becomes
    (c, 0 ... 0). Exact: a zero gait command gives the standing targets (`robots.gait.TrotController`)."""
    if episode.action_mode == "hybrid":
        return episode
    t = len(episode)
    if episode.action_mode == "joint":
        action = np.concatenate([np.zeros((t, 3)), episode.action - stand_targets_rad], axis=1)
    else:
        action = np.concatenate([episode.action, np.zeros((t, 12))], axis=1)
    extra = {"teacher_action_mode": episode.action_mode} | episode.extra
    fields = {k: getattr(episode, k) for k in ("skill", "control_hz", "stamps_s", "joints", "imu", "camera",
                                               "audio", "label_mask", "cue", "source", "success", "seed")}
    return Episode(action_mode="hybrid", action=action, extra=extra, **fields)


# ---------------------------------------------------------------------------------------- lerobot itself
def lerobot_dataset_class():
    """lerobot's own `LeRobotDataset` class, imported to work offline in this venv (see docs/ecosystem.md).

    PyPI's torchvision is a CUDA build: its ops library cannot load beside the CPU torch, and its import
    then fails registering a fake kernel for `torchvision::nms`, an op never defined. Declaring that op's
    schema first lets the pure-Python parts lerobot uses import (transforms; VideoReader, lerobot's "pyav"
    backend). A torchvision whose ops library loads is left alone."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing is downloaded at run time
    if "torchvision" not in sys.modules:
        import importlib.util

        import torch

        spec = importlib.util.find_spec("torchvision")
        if spec is not None and not hasattr(torch.ops.torchvision, "nms"):
            lib = next(Path(spec.submodule_search_locations[0]).glob("_C*.so"), None)
            try:
                if lib is None:
                    raise OSError("no ops library")
                torch.ops.load_library(str(lib))
            except (OSError, RuntimeError):
                schema = "(Tensor dets, Tensor scores, float iou_threshold) -> Tensor"
                torch.library.define("torchvision::nms", schema)
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    return LeRobotDataset
