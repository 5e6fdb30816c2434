"""A live view of the robot in Rerun (rerun-sdk): what it sees, hears, does and believes, tick by tick.

One `LiveView` streams, per control tick, to a Rerun sink the user picks (`parse_sink`):
    camera/head        Image (JPEG)     the head camera, whenever its frame changes
    camera/chase       Image (JPEG)     the sim's chase camera (sim only, every `chase_every` ticks)
    joints/<name>      Scalars [2]      joint target vs measured position (rad), one plot per joint
    audio/level_db     Scalars          the tick's audio block, RMS level (dBFS; silence -120)
    cue/belief/<cue>   Scalars          the cue head's softmax the actions are mixed by
                                        (`PolicyBase.cue_belief`): one entity per cue the learner knows
                                        (and no_cue), each policy step
    learner/loss       Scalars          the learner's newest action loss, polled ~twice a second
    skill              TextDocument     the current skill and what the robot is doing, when it changes
Timelines: Rerun's wall-clock "log_time" (shown first: a live view), "tick" (the view's own tick count;
every row but the loss's) and "learner_step" (the loss's). A default layout (blueprint) puts the cameras
left, the joints in a grid, the rest right.

Sinks: "spawn" (a viewer window; needs a display), "web" (a web viewer on http://localhost:9090, data
served over gRPC on 127.0.0.1:9876 only), "rerun+http://HOST:PORT/proxy" (a viewer already running,
e.g. on a laptop: `rerun`), or "PATH.rrd" (a file: `rerun PATH.rrd` opens it).

The Rerun calls run on a thread of their own (~1-2 ms a tick), never on the caller's: `log_tick` only
queues the tick. With `blocking=False` (the brain) a full queue drops the tick and counts it, so a slow
viewer never delays the control loop; with `blocking=True` (the sim demo) it waits, so a file holds
every tick. A failing sink (a viewer that went away) is said once and counted, never raised.

Users: `yan-dog demo --view` (`view_session`: the sim session's env wrapped in `ViewedEnv`) and the ROS
brain's `view` parameter (`open_brain_view` + `brain_tick`). No ROS here, and no sim import.
"""

from __future__ import annotations

import math
import os
import queue
import re
import shutil
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import gymnasium as gym
import numpy as np

APPLICATION_ID = "yan-dog"
TICK_TIMELINE, LEARNER_TIMELINE = "tick", "learner_step"
HEAD_CAMERA, CHASE_CAMERA = "camera/head", "camera/chase"
JOINTS = "joints"  # joints/<joint name>: [target, position] (rad)
AUDIO_LEVEL = "audio/level_db"
CUE_BELIEF = "cue/belief"  # cue/belief/<cue name>
LOSS = "learner/loss"
SKILL = "skill"
ENTITIES = (HEAD_CAMERA, CHASE_CAMERA, JOINTS, AUDIO_LEVEL, CUE_BELIEF, LOSS, SKILL)

SINK_KINDS = ("spawn", "web", "connect", "file")
OFF_VALUES = ("", "false", "off", "no", "0", "none")
SPAWN_VALUES = ("spawn", "true", "on", "yes", "1", "viewer")
VIEWER_URL_SCHEMES = ("rerun://", "rerun+http://", "rerun+https://")
GRPC_PORT = 9876  # Rerun's default gRPC port (spawn, web)
WEB_PORT = 9090  # Rerun's default web viewer port
QUEUE_TICKS = 100  # ticks the view may lag behind (2 s at 50 Hz) before `log_tick` drops or waits
JPEG_QUALITY = 80  # camera frames are sent as JPEG: a tenth of the bytes of raw RGB
CHASE_EVERY_TICKS = 5  # the sim renders the chase camera (~20 ms) every this many ticks (10 Hz at 50 Hz)
LOSS_POLL_S = 0.5  # s between reads of the learner's loss
CLOSE_TIMEOUT_S = 10.0  # s `close` waits for the queued ticks and the sink
PCM_FULL_SCALE = 32768.0  # int16 audio: 0 dBFS
SILENCE_DB = -120.0


# --- sinks ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Sink:
    """Where the view goes: kind "spawn" | "web" | "connect" (target: a viewer's URL) | "file" (target: a
    .rrd path)."""

    kind: str
    target: str = ""

    def __post_init__(self):
        if self.kind not in SINK_KINDS:
            raise ValueError(f"sink kind must be one of {SINK_KINDS}, got {self.kind!r}")


def parse_sink(text: str | bool | None) -> Sink | None:
    """A `--view` / `view:=` value -> the sink, or None for off ('', false, off).

    spawn (or true): a viewer window; web: a web viewer; rerun+http://HOST:PORT/proxy: a running viewer;
    PATH.rrd: a file. ValueError on anything else."""
    value = str(text if text is not None else "").strip()
    low = value.lower()
    if low in OFF_VALUES:
        return None
    if low in SPAWN_VALUES:
        return Sink("spawn")
    if low == "web":
        return Sink("web")
    if low.startswith(VIEWER_URL_SCHEMES):
        return Sink("connect", value)
    if low.endswith(".rrd"):
        return Sink("file", os.path.expanduser(value))
    raise ValueError(f"live view: expected spawn, web, a viewer URL (rerun+http://HOST:{GRPC_PORT}/proxy) "
                     f"or a file PATH.rrd, got {value!r}")


def _has_display() -> bool:
    return not sys.platform.startswith("linux") or bool(os.environ.get("DISPLAY")
                                                        or os.environ.get("WAYLAND_DISPLAY"))


def _viewer_executable() -> str | None:
    """The `rerun` viewer of this environment (next to this Python), else None (PATH)."""
    here = Path(sys.executable).parent / "rerun"
    return str(here) if here.is_file() else shutil.which("rerun")


# --- one tick ---------------------------------------------------------------------------------------------
@dataclass
class ViewTick:
    """What one control tick shows; every field may be None (not shown this tick).

    camera, chase: uint8 (H, W, 3) RGB; joint_targets, joint_positions: (J,) rad; audio: int16 (S,) the
    tick's block; cue_belief: (C,) the cue head's softmax (shown when it is a new array: a policy step);
    cue_names: a name per cue class shown (class 0 "no cue"); skill: a line of text (shown when it changes).
    """

    camera: np.ndarray | None = None
    chase: np.ndarray | None = None
    joint_targets: np.ndarray | None = None
    joint_positions: np.ndarray | None = None
    audio: np.ndarray | None = None
    cue_belief: np.ndarray | None = None
    cue_names: Sequence[str] | None = None
    skill: str | None = None


def audio_level_db(block: np.ndarray) -> float:
    """RMS level of an int16 audio block in dBFS (0 = full scale; SILENCE_DB for silence or no samples)."""
    x = np.asarray(block, np.float64)
    if x.size == 0:
        return SILENCE_DB
    rms = math.sqrt(float(np.mean(np.square(x)))) / PCM_FULL_SCALE
    return max(SILENCE_DB, 20.0 * math.log10(rms)) if rms > 0 else SILENCE_DB


def cue_class_names(cue_ids: Mapping[str, int] | None) -> tuple[str, ...] | None:
    """A learner's cue classes (cue name -> class >= 1) as names by class, "no cue" first; None if unknown."""
    if cue_ids is None:
        return None
    names = ["no cue"] + [""] * len(cue_ids)
    for cue, k in cue_ids.items():
        if 0 < k < len(names):
            names[k] = cue
    return tuple(names)


def entity_part(name: str) -> str:
    """A name as one entity-path part ('no cue' -> 'no_cue')."""
    return re.sub(r"[^A-Za-z0-9_\-]", "_", str(name)) or "_"


def learner_loss(learner) -> tuple[int, float] | None:
    """(step, action loss) of a learner's newest training step (`last_loss`), or None before the first."""
    return getattr(learner, "last_loss", None)


# --- the view ---------------------------------------------------------------------------------------------
class LiveView:
    """Streams ticks to a Rerun sink from a thread of its own (see the module docstring).

    Args:
        sink: a `Sink`, its text (`parse_sink`) or a .rrd path; off is not accepted here.
        joint_names: one per joint, in the order of the joint arrays (default: the policy's, 12).
        loss: called ~every LOSS_POLL_S on the view's thread: (step, loss) or None (e.g. `learner_loss`).
        blocking: `log_tick` waits when the queue is full (True) or drops the tick (False).
        queue_ticks: ticks the view may lag behind.
        recording_id: Rerun's recording id (default: a new one).
        web_port, grpc_port: the "web" and "spawn" sinks' ports.
        log: where the view says where it goes and what failed (a line of text).
    """

    def __init__(
        self,
        sink: Sink | str | os.PathLike,
        joint_names: Sequence[str] | None = None,
        loss: Callable[[], tuple[int, float] | None] | None = None,
        blocking: bool = False,
        queue_ticks: int = QUEUE_TICKS,
        recording_id: str | None = None,
        web_port: int = WEB_PORT,
        grpc_port: int = GRPC_PORT,
        log: Callable[[str], None] = print,
    ):
        import rerun as rr  # ~2 s: only when a view is asked for

        parsed = sink if isinstance(sink, Sink) else parse_sink(os.fspath(sink))
        if parsed is None:
            raise ValueError("LiveView needs a sink; the view is off")
        if queue_ticks < 1:
            raise ValueError(f"queue_ticks must be >= 1, got {queue_ticks}")
        if joint_names is None:
            from yan_dog.streams import JOINT_NAMES

            joint_names = JOINT_NAMES
        self._rr, self.sink, self.log = rr, parsed, log
        self.joint_names = tuple(joint_names)
        self.loss, self.blocking = loss, blocking
        self.rec = rr.RecordingStream(APPLICATION_ID, recording_id=recording_id or str(uuid.uuid4()))
        self.url = self._open(web_port, grpc_port)
        self.ticks = 0  # ticks given to log_tick (the "tick" timeline)
        self.dropped = 0  # ticks dropped because the view lagged (blocking=False)
        self.errors = 0  # ticks the sink refused
        self._shown: dict[str, Any] = {}  # what each entity shows now (to send only changes)
        self._tick_now = 0
        self._series_names()
        self._queue: queue.Queue = queue.Queue(maxsize=queue_ticks)
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="yan-live-view", daemon=True)
        self._thread.start()

    # --- setup ----------------------------------------------------------------------------------------
    def _open(self, web_port: int, grpc_port: int) -> str:
        """Attach the sink; returns what a person opens (a URL or a path)."""
        rr, kind, blueprint = self._rr, self.sink.kind, self._blueprint()
        if kind == "file":
            path = Path(self.sink.target)
            path.parent.mkdir(parents=True, exist_ok=True)
            self.rec.set_sinks(rr.FileSink(str(path)), default_blueprint=blueprint)
            where = str(path)
        elif kind == "spawn":
            if not _has_display():
                raise ValueError("live view: no display for a viewer window (DISPLAY unset): use web, a "
                                 "viewer URL or a file PATH.rrd")
            rr.spawn(port=grpc_port, connect=True, hide_welcome_screen=True,
                     executable_path=_viewer_executable(), default_blueprint=blueprint, recording=self.rec)
            where = f"a Rerun viewer window (rerun+http://127.0.0.1:{grpc_port}/proxy)"
        elif kind == "web":
            server = rr.GrpcServerSink(bind_ip="127.0.0.1", port=grpc_port)  # the data stays on this host
            self.rec.set_sinks(server, default_blueprint=blueprint)
            rr.serve_web_viewer(web_port=web_port, open_browser=False, connect_to=server.uri)
            where = f"http://localhost:{web_port}/?url={quote(server.uri, safe='')}"
        else:  # connect
            self.rec.set_sinks(rr.GrpcSink(self.sink.target), default_blueprint=blueprint)
            where = self.sink.target
        self.log(f"live view: {where}")
        return where

    def _blueprint(self):
        rrb = self._rr.blueprint
        joints = [rrb.TimeSeriesView(origin=f"{JOINTS}/{name}", name=name) for name in self.joint_names]
        return rrb.Blueprint(
            rrb.Horizontal(
                rrb.Vertical(rrb.Spatial2DView(origin=HEAD_CAMERA, name="head camera"),
                             rrb.Spatial2DView(origin=CHASE_CAMERA, name="chase camera")),
                rrb.Grid(*joints, grid_columns=3, name="joint target vs position (rad)"),
                rrb.Vertical(rrb.TextDocumentView(origin=SKILL, name="skill"),
                             rrb.TimeSeriesView(origin=CUE_BELIEF, name="cue belief"),
                             rrb.TimeSeriesView(origin=AUDIO_LEVEL, name="audio level (dBFS)"),
                             rrb.TimeSeriesView(origin=LOSS, name="learner loss")),
                column_shares=[1, 2, 1],
            ),
            rrb.TimePanel(timeline="log_time", state="collapsed"),  # the bar: timeline, play, scrub
            collapse_panels=True,
        )

    def _series_names(self) -> None:
        rr = self._rr
        for name in self.joint_names:
            self.rec.log(f"{JOINTS}/{name}", rr.SeriesLines(names=["target", "position"]), static=True)
        self.rec.log(AUDIO_LEVEL, rr.SeriesLines(names=["RMS level"]), static=True)
        self.rec.log(LOSS, rr.SeriesLines(names=["action loss"]), static=True)

    # --- the caller's side ----------------------------------------------------------------------------
    def log_tick(self, tick: ViewTick) -> bool:
        """Queue one tick (the next on the "tick" timeline); False if it was dropped (the view lags)."""
        if self._closed:
            return False
        self.ticks += 1
        try:
            self._queue.put((self.ticks, tick), block=self.blocking)
            return True
        except queue.Full:
            self.dropped += 1
            return False

    def close(self, timeout_s: float = CLOSE_TIMEOUT_S) -> None:
        """Send what is queued, then finish the sink (a file gets its footer); idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            self._queue.put(None, timeout=timeout_s)
        except queue.Full:
            pass
        self._thread.join(timeout_s)
        try:
            self.rec.flush(timeout_sec=timeout_s)
        except Exception as e:  # noqa: BLE001 (a viewer that went away: nothing to finish)
            self._failed(e)
        try:
            self.rec.disconnect()
        except Exception as e:  # noqa: BLE001
            self._failed(e)
        if self.dropped or self.errors:
            self.log(f"live view: {self.dropped} ticks dropped (the view lagged), {self.errors} failed sends")

    def __enter__(self) -> LiveView:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- the view's thread ----------------------------------------------------------------------------
    def _run(self) -> None:
        next_poll = 0.0
        while True:
            try:
                item = self._queue.get(timeout=LOSS_POLL_S)
            except queue.Empty:
                item = ()
            if item is None:
                self._poll_loss()
                return
            if item:
                try:
                    self._write(*item)
                except Exception as e:  # noqa: BLE001 (never stop the view: say it, count it)
                    self._failed(e)
            now = time.monotonic()
            if now >= next_poll:
                next_poll = now + LOSS_POLL_S
                self._poll_loss()

    def _failed(self, error: Exception) -> None:
        self.errors += 1
        if self.errors == 1:
            self.log(f"live view: sending failed ({type(error).__name__}: {error}); going on without it")

    def _changed(self, entity: str, value: Any) -> bool:
        """Whether `value` differs from what `entity` shows (then it is remembered)."""
        old = self._shown.get(entity)
        same = old is value or (
            isinstance(value, np.ndarray) and isinstance(old, np.ndarray) and old.shape == value.shape
            and np.array_equal(old, value)) or (not isinstance(value, np.ndarray) and old == value)
        if not same:
            self._shown[entity] = value
        return not same

    def _image(self, entity: str, frame: np.ndarray) -> None:
        frame = np.ascontiguousarray(frame, np.uint8)  # (H, W, 3)
        self.rec.log(entity, self._rr.Image(frame, color_model="RGB").compress(jpeg_quality=JPEG_QUALITY))

    def _write(self, k: int, tick: ViewTick) -> None:
        rr, rec = self._rr, self.rec
        self._tick_now = k
        rec.set_time(TICK_TIMELINE, sequence=k)
        if tick.camera is not None and self._changed(HEAD_CAMERA, tick.camera):
            self._image(HEAD_CAMERA, tick.camera)
        if tick.chase is not None:
            self._image(CHASE_CAMERA, tick.chase)
        if tick.joint_targets is not None or tick.joint_positions is not None:
            missing = np.full(len(self.joint_names), np.nan)  # (J,) a gap in the plot
            target = missing if tick.joint_targets is None else np.asarray(tick.joint_targets, float)  # (J,)
            pos = missing if tick.joint_positions is None else np.asarray(tick.joint_positions, float)  # (J,)
            for i, name in enumerate(self.joint_names):
                rec.log(f"{JOINTS}/{name}", rr.Scalars([target[i], pos[i]]))
        if tick.audio is not None:
            rec.log(AUDIO_LEVEL, rr.Scalars(audio_level_db(tick.audio)))
        if tick.cue_belief is not None and self._shown.get(CUE_BELIEF) is not tick.cue_belief:
            self._shown[CUE_BELIEF] = tick.cue_belief
            belief = np.asarray(tick.cue_belief, float).reshape(-1)  # (C,)
            names = tick.cue_names or [f"class {i}" for i in range(belief.size)]
            for name, p in zip(names, belief, strict=False):  # the classes the learner has given a cue
                rec.log(f"{CUE_BELIEF}/{entity_part(name)}", rr.Scalars(float(p)))
        if tick.skill is not None and self._changed(SKILL, tick.skill):
            rec.log(SKILL, rr.TextDocument(tick.skill))

    def _poll_loss(self) -> None:
        if self.loss is None:
            return
        try:
            latest = self.loss()
            if latest is None or not self._changed(LOSS, int(latest[0])):
                return
            step, value = latest
            # on the learner's steps (and the wall clock), not on "tick": the learner trains between
            # episodes too, when no tick comes
            self.rec.disable_timeline(TICK_TIMELINE)
            self.rec.set_time(LEARNER_TIMELINE, sequence=int(step))
            self.rec.log(LOSS, self._rr.Scalars(float(value)))
            self.rec.disable_timeline(LEARNER_TIMELINE)
            self.rec.set_time(TICK_TIMELINE, sequence=self._tick_now)
        except Exception as e:  # noqa: BLE001
            self._failed(e)


# --- the sim: `yan-dog demo --view` -----------------------------------------------------------------------
class ViewedEnv(gym.Wrapper):
    """A YanDog env whose every reset and step is shown in a `LiveView`: the head camera, the chase camera
    (`env.render()`, every `chase_every` ticks, when the env renders "rgb_array"), the joint targets
    (`info["joint_targets"]`) vs positions (`obs["joints"][0]`), the audio block, the skill, its cue and
    success, and, with a `learner` (an `OnlineLearner`), the cue belief of its published policy (the one
    a sim session's actor steps)."""

    def __init__(self, env: gym.Env, view: LiveView, learner=None, chase_every: int = CHASE_EVERY_TICKS):
        super().__init__(env)
        if chase_every < 0:
            raise ValueError(f"chase_every must be >= 0 (0: no chase camera), got {chase_every}")
        self.view, self.learner, self.chase_every = view, learner, chase_every
        self._k = 0

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        self._k = 0
        self._show(obs, info)
        return obs, info

    def step(self, action):
        out = self.env.step(action)
        self._k += 1
        self._show(out[0], out[4])
        return out

    def _show(self, obs: dict, info: dict) -> None:
        chase = None
        renders = self.env.unwrapped.render_mode == "rgb_array"
        if renders and self.chase_every and self._k % self.chase_every == 0:
            chase = self.env.render()
        belief = names = None
        if self.learner is not None:
            belief = getattr(self.learner.latest()[1], "cue_belief", None)
            names = cue_class_names(getattr(self.learner, "cue_ids", None))
        cue = info.get("cue") or "none"
        self.view.log_tick(ViewTick(
            camera=obs.get("camera"), chase=chase, joint_targets=info.get("joint_targets"),
            joint_positions=np.asarray(obs["joints"])[0] if obs.get("joints") is not None else None,
            audio=obs.get("audio"), cue_belief=belief, cue_names=names,
            skill=f"{info.get('skill')} (cue: {cue}){' - success' if info.get('success') else ''}",
        ))


def view_session(session, sink: str | Sink, log: Callable[[str], None] = print) -> LiveView:
    """Show a sim `TeachSession` live: its env wrapped in `ViewedEnv` (every episode it runs in this
    process) and its learner's loss. Blocking: the session waits for a slow sink rather than skip ticks.
    Close the view when done."""
    view = LiveView(sink, loss=lambda: learner_loss(session.learner), blocking=True, log=log)
    session.env = ViewedEnv(session.env, view, session.learner)
    return view


# --- the ROS brain: `view` parameter ----------------------------------------------------------------------
def open_brain_view(value: str | bool | None, core, log: Callable[[str], None] = print) -> LiveView | None:
    """The brain's live view for its `view` parameter (None: off): the learner's loss polled, ticks dropped
    rather than ever delaying the control loop."""
    sink = parse_sink(value)
    if sink is None:
        return None
    return LiveView(sink, loss=lambda: learner_loss(core.learner), blocking=False, log=log)


def brain_tick(core, obs: Mapping[str, np.ndarray] | None, targets: np.ndarray) -> ViewTick:
    """One tick of a `yan_dog.brain.BrainCore` as the view shows it: the observation it got (None: stale),
    the joint targets it commanded, its actor's cue belief, and its skill and mode."""
    obs = obs or {}
    joints = obs.get("joints")
    mode = core.mode if core.mode != "idle" else ("trying" if core.trying else "holding")
    return ViewTick(
        camera=obs.get("camera"), joint_targets=targets,
        joint_positions=np.asarray(joints)[0] if joints is not None else None, audio=obs.get("audio"),
        cue_belief=getattr(core.actor.policy, "cue_belief", None),
        cue_names=cue_class_names(getattr(core.learner, "cue_ids", None)),
        skill=f"{core.skill}: {mode}" + ("" if obs else " (inputs stale)"),
    )
