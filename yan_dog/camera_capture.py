"""Camera capture without ROS: a V4L2 device, a video file or a stream URL, read by OpenCV in a thread.

`camera_node` (yan_dog_ros) is a thin ROS 2 node over this module: `CameraCapture` owns the
`cv2.VideoCapture`, reads it in its own thread and hands each frame it keeps to `on_frame` as uint8
(H, W, 3) RGB, resized to the requested size, at most `rate_hz` frames a second: a live source (device,
stream) is read as fast as it delivers and only the frames due are kept (the newest, never a backlog); a
file is paced to `rate_hz` (its own frame rate when 0) and, with `loop`, reopened at its end, which also
picks up a file that was replaced.

Losses: a read that fails (a device unplugged, a stream that dropped, a file gone at its end) closes the
source and reopens it every `reconnect_s` until it works again; `on_event(kind, detail)` reports "lost",
"retry_failed", "reconnected" and "ended" (a file at its end with loop off) for the node to log.

Sources (`parse_source`): an integer index ("0") or a device path ("/dev/video0",
"/dev/v4l/by-id/...") opened through V4L2; "scheme://..." (rtsp, http, udp, ...) through FFmpeg with
open/read timeouts; anything else is a video file path.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

DEVICE, FILE, STREAM = "device", "file", "stream"
STREAM_TIMEOUT_MS = 5000  # FFmpeg open / read timeout of a stream URL: a hung stream counts as lost
DEFAULT_FILE_FPS = 30.0  # a file's pace with rate_hz 0 when it does not say its own frame rate
RGB_CHANNELS = 3


class CameraSourceError(RuntimeError):
    """A camera source that cannot be opened: no such device or file, or OpenCV cannot read it."""


@dataclass(frozen=True)
class Source:
    """A parsed `source` parameter: kind (DEVICE, FILE, STREAM) and what OpenCV opens (index or string)."""

    kind: str
    target: int | str
    text: str


def parse_source(text: str | int) -> Source:
    """A source from its parameter: "0" or 0 (V4L2 index), "/dev/..." (device path), "x://..." (stream URL),
    else a video file path (`~` expanded). ValueError on an empty one."""
    t = str(text).strip()
    if not t:
        raise ValueError("camera source is empty: give a device index, /dev/videoN, a video file or a URL")
    if t.isdigit():
        return Source(DEVICE, int(t), t)
    if t.startswith("/dev/"):
        return Source(DEVICE, t, t)
    if "://" in t:
        return Source(STREAM, t, t)
    return Source(FILE, str(Path(t).expanduser()), t)


def open_capture(source: Source, size: tuple[int, int] = (0, 0)) -> cv2.VideoCapture:
    """An open VideoCapture of `source`; CameraSourceError saying why not. A device is asked for `size`
    (width, height; 0 = its default) and a one-frame buffer, so a read returns a fresh frame."""
    if source.kind == FILE and not Path(source.target).is_file():
        raise CameraSourceError(f"no video file {source.target!r}")
    if source.kind == DEVICE:
        path = source.target if isinstance(source.target, str) else f"/dev/video{source.target}"
        if sys.platform.startswith("linux") and not Path(path).exists():
            raise CameraSourceError(f"no device {path}")
    if source.kind == DEVICE:
        cap = cv2.VideoCapture(source.target, cv2.CAP_V4L2)
    elif source.kind == STREAM:
        timeouts = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, STREAM_TIMEOUT_MS, cv2.CAP_PROP_READ_TIMEOUT_MSEC,
                    STREAM_TIMEOUT_MS]  # fmt: skip
        cap = cv2.VideoCapture(source.target, cv2.CAP_FFMPEG, timeouts)
    else:
        cap = cv2.VideoCapture(source.target)
    if not cap.isOpened():
        cap.release()
        raise CameraSourceError(f"OpenCV cannot open {source.kind} {source.text!r}")
    if source.kind == DEVICE:
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        width, height = size
        if width > 0 and height > 0:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
    return cap


def to_rgb(frame: np.ndarray, size: tuple[int, int] = (0, 0)) -> np.ndarray:
    """An OpenCV frame (BGR (H, W, 3), BGRA (H, W, 4) or gray (H, W)) -> uint8 RGB (h, w, 3), resized to
    `size` (width, height; 0 = as it is) with INTER_AREA when shrinking, INTER_LINEAR when growing."""
    if frame.ndim == 2:
        rgb = cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB)  # (H, W, 3)
    elif frame.shape[2] == 4:
        rgb = cv2.cvtColor(frame, cv2.COLOR_BGRA2RGB)
    else:
        rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    if rgb.dtype != np.uint8:  # 16-bit sources
        rgb = cv2.convertScaleAbs(rgb, alpha=255.0 / max(float(rgb.max()), 1.0))
    width, height = size
    if width > 0 and height > 0 and (rgb.shape[1], rgb.shape[0]) != (width, height):
        shrink = width * height < rgb.shape[0] * rgb.shape[1]
        rgb = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return np.ascontiguousarray(rgb)  # (h, w, 3)


@dataclass
class CaptureStats:
    frames: int = 0  # frames handed to on_frame
    losses: int = 0  # times the source was lost
    reconnects: int = 0  # times it came back


class CameraCapture:
    """A camera source read in a thread of its own (see the module docstring).

    Args:
        source: what to open (`parse_source`).
        on_frame: called from the capture thread with (uint8 (H, W, 3) RGB, time.time() of the read).
        on_event: called from the capture thread with (kind, detail): "lost", "retry_failed",
            "reconnected", "ended".
        rate_hz: at most this many frames a second (0: every frame of a live source; a file at its own
            rate).
        size: (width, height) of the frames handed on; 0 = the source's own.
        loop: a file starts again at its end (reopened); else it ends there.
        reconnect_s: seconds between attempts to reopen a lost source.
    """

    def __init__(
        self,
        source: Source,
        on_frame: Callable[[np.ndarray, float], None],
        on_event: Callable[[str, str], None] = lambda kind, detail: None,
        rate_hz: float = 0.0,
        size: tuple[int, int] = (0, 0),
        loop: bool = True,
        reconnect_s: float = 1.0,
    ):
        if rate_hz < 0 or reconnect_s <= 0:
            raise ValueError(f"rate_hz must be >= 0 and reconnect_s > 0, got {rate_hz}, {reconnect_s}")
        self.source, self.on_frame, self.on_event = source, on_frame, on_event
        self.rate_hz, self.size, self.loop, self.reconnect_s = float(rate_hz), size, loop, float(reconnect_s)
        self.stats = CaptureStats()
        self._cap: cv2.VideoCapture | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lost_since: float | None = None  # monotonic time of the loss being recovered from
        self._tries = 0

    # --- life cycle ---------------------------------------------------------------------------------------
    def open(self) -> None:
        """Open the source now (CameraSourceError if it cannot be), before `start`."""
        self._cap = open_capture(self.source, self.size)

    def start(self) -> None:
        """Read in a thread until `stop`; a source not open yet is opened there (retried every
        reconnect_s)."""
        if self._cap is None:
            self._lost_since = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="camera_capture", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 2.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)  # a read blocked in a driver ends at its timeout; daemon anyway
        self._release()

    def _release(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    # --- the capture thread -------------------------------------------------------------------------------
    def _period_s(self) -> float:
        if self.rate_hz > 0:
            return 1.0 / self.rate_hz
        if self.source.kind == FILE and self._cap is not None:
            fps = self._cap.get(cv2.CAP_PROP_FPS)
            return 1.0 / (fps if fps and fps > 0 else DEFAULT_FILE_FPS)
        return 0.0

    def _reopen(self) -> bool:
        try:
            self._cap = open_capture(self.source, self.size)
        except CameraSourceError as err:
            self._tries += 1
            self.on_event("retry_failed", str(err))
            return False
        if self._lost_since is not None:
            self.stats.reconnects += 1
            self.on_event("reconnected", f"after {time.monotonic() - self._lost_since:.1f} s, "
                          f"{self._tries + 1} tries")  # fmt: skip
            self._lost_since, self._tries = None, 0
        return True

    def _lose(self, detail: str) -> None:
        self._release()
        self.stats.losses += 1
        self._lost_since = time.monotonic()
        self.on_event("lost", detail)

    def _run(self) -> None:
        next_due = time.monotonic()
        read_since_open = 0  # frames read since the source was (re)opened
        while not self._stop.is_set():
            if self._cap is None:
                if not self._reopen():
                    self._stop.wait(self.reconnect_s)
                    continue
                read_since_open = 0
            ok, frame = self._cap.read()
            if not ok or frame is None:
                if self.source.kind == FILE and read_since_open > 0:  # the end of the file
                    self._release()
                    if not self.loop:
                        self.on_event("ended", f"end of {self.source.text!r} (loop is off): no more frames")
                        return
                    try:  # reopened at once: a replaced file is read from now on
                        self._cap, read_since_open = open_capture(self.source, self.size), 0
                        continue
                    except CameraSourceError as err:
                        self._lose(str(err))
                else:
                    self._lose(f"no frame from {self.source.kind} {self.source.text!r}")
                self._stop.wait(self.reconnect_s)
                continue
            read_since_open += 1
            period = self._period_s()
            now = time.monotonic()
            if self.source.kind == FILE:  # paced: one frame a period
                if next_due > now:
                    self._stop.wait(next_due - now)
                next_due = max(next_due + period, time.monotonic() - period)
            elif now < next_due:  # a live source faster than rate_hz: keep only the frames due
                continue
            else:
                next_due = max(next_due + period, now - period / 2)
            if self._stop.is_set():
                return
            self.stats.frames += 1
            self.on_frame(to_rgb(frame, self.size), time.time())
