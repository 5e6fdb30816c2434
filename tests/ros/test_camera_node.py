"""`camera_node` against video files the test writes with OpenCV: 20 frames of a coloured square moving
over a black background (MJPG .avi, which every OpenCV build reads and writes).

The node must publish them as sim_node publishes its camera: rgb8 (red stays red: the channel order),
resized to width x height, at rate_hz, with a CameraInfo of the same size, frame and stamp; reopen a file
that was replaced, removed and restored without stopping; wait for a source that is not there yet when
told to; and exit with status 2 and one error line on a source that cannot be opened.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
from sensor_msgs.msg import CameraInfo, Image
from yan_dog_ros import msgs
from yan_dog_ros.camera_node import EXIT_NO_SOURCE

from tests.ros.sim_graph import VENV_BIN, ros_node, spawn, spin_for, spin_until

FILE_SIZE = (80, 60)  # (width, height) of the written video
OUT_SIZE = (40, 30)  # the node's width x height
FRAMES, FILE_FPS = 20, 20
RATE_HZ = 20.0
SQUARE = 20  # px side of the square in the file
BGR = {"red": (0, 0, 255), "blue": (255, 0, 0)}  # OpenCV writes BGR
RGB_INDEX = {"red": 0, "blue": 2}  # the channel that must dominate in the rgb8 image
STARTUP_TIMEOUT_S = 15.0  # node process start + DDS discovery on a busy 2-core machine
SWITCH_TIMEOUT_S = 5.0  # a replaced / restored file shows up after at most one loop (1 s) + reconnect_s
MEASURE_S = 1.5
RATE_TOLERANCE = (0.7, 1.3)  # achieved / nominal frame rate
EXIT_TIMEOUT_S = 15.0


def write_video(path: Path, colour: str = "red") -> Path:
    """FRAMES frames of a `colour` square moving left to right; written beside `path`, then renamed onto it
    (a reader never sees half a file)."""
    tmp = path.with_name(f".{path.name}.tmp.avi")
    width, height = FILE_SIZE
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"MJPG"), FILE_FPS, FILE_SIZE)
    assert writer.isOpened()
    for i in range(FRAMES):
        frame = np.zeros((height, width, 3), np.uint8)  # (H, W, 3) BGR
        x = i * (width - SQUARE) // (FRAMES - 1)
        frame[20 : 20 + SQUARE, x : x + SQUARE] = BGR[colour]
        writer.write(frame)
    writer.release()
    os.replace(tmp, path)
    return path


def square(rgb: np.ndarray) -> tuple[str, float] | None:
    """(colour, centre x) of the square in an rgb8 frame, or None if there is none."""
    bright = rgb.max(axis=2) > 128  # (H, W)
    if bright.sum() < 4:
        return None
    mean = rgb[bright].mean(axis=0)  # (3,) RGB of the square
    colour = "red" if mean[0] > 2 * mean[2] else "blue" if mean[2] > 2 * mean[0] else "other"
    return colour, float(np.nonzero(bright)[1].mean())


class Probe:
    """Subscribes /camera/image_raw and /camera/camera_info as the preprocessing node would."""

    def __init__(self, node):
        self.images: list[Image] = []
        self.infos: list[CameraInfo] = []
        node.create_subscription(Image, msgs.CAMERA_TOPIC, self.images.append, msgs.SENSOR_QOS)
        node.create_subscription(CameraInfo, msgs.CAMERA_INFO_TOPIC, self.infos.append, msgs.SENSOR_QOS)

    def colours(self) -> set[str]:
        return {s[0] for m in self.images if (s := square(msgs.rgb8_from_msg(m))) is not None}


def camera(source: Path | str, *ros_args: str):
    width, height = OUT_SIZE
    return spawn("camera_node", "-p", f"source:={source}", "-p", f"rate_hz:={RATE_HZ}",
                 "-p", f"width:={width}", "-p", f"height:={height}", *ros_args,
                 params_file="camera_node.yaml")  # fmt: skip


def test_camera_node_publishes_a_video_file_as_rgb8_with_camera_info(tmp_path):
    video = write_video(tmp_path / "square.avi")
    with camera(video, "-p", "frame_id:=test_camera") as cam, ros_node("probe") as (node, ex):
        probe = Probe(node)
        assert spin_until(ex, lambda: len(probe.images) >= 5, STARTUP_TIMEOUT_S), f"no images\n{cam.log()}"
        probe.images.clear()
        spin_for(ex, MEASURE_S)
        got = list(probe.images)
        assert cam.alive(), cam.log()
    lo, hi = RATE_TOLERANCE
    assert lo * RATE_HZ <= len(got) / MEASURE_S <= hi * RATE_HZ, f"{len(got) / MEASURE_S:.1f} frames/s"
    width, height = OUT_SIZE
    for m in got:
        assert (m.encoding, m.width, m.height, m.step) == ("rgb8", width, height, 3 * width)
        assert m.header.frame_id == "test_camera"
    squares = [square(msgs.rgb8_from_msg(m)) for m in got]
    assert all(s is not None and s[0] == "red" for s in squares), squares  # R and B not swapped
    assert len({round(s[1]) for s in squares}) >= 10  # it moves: the frames follow the file
    stamps = [msgs.stamp_to_seconds(m.header.stamp) for m in got]
    assert all(b > a for a, b in zip(stamps, stamps[1:], strict=False))
    infos = {msgs.stamp_to_seconds(i.header.stamp): i for i in probe.infos}
    matched = [infos[t] for t in stamps if t in infos]
    assert len(matched) >= 0.8 * len(got)  # one CameraInfo per image, same stamp (best effort: a few lost)
    for info in matched:
        assert (info.width, info.height, info.header.frame_id) == (width, height, "test_camera")
        assert info.distortion_model == "plumb_bob" and not any(info.k)  # uncalibrated


def test_camera_node_reopens_a_file_replaced_removed_and_restored(tmp_path):
    video = write_video(tmp_path / "square.avi", "red")
    with camera(video, "-p", "reconnect_s:=0.2") as cam, ros_node("probe") as (node, ex):
        probe = Probe(node)
        assert spin_until(ex, lambda: len(probe.images) >= 5, STARTUP_TIMEOUT_S), f"no images\n{cam.log()}"
        assert probe.colours() == {"red"}

        write_video(video, "blue")  # replaced: read from its next loop on
        probe.images.clear()
        assert spin_until(ex, lambda: "blue" in probe.colours(), SWITCH_TIMEOUT_S), cam.log()

        video.unlink()  # removed: lost at the end of the loop, then retried
        assert spin_until(ex, lambda: "lost" in cam.log(), SWITCH_TIMEOUT_S), cam.log()
        spin_for(ex, 0.3)
        probe.images.clear()
        spin_for(ex, 0.5)
        assert not probe.images and cam.alive(), cam.log()

        write_video(video, "red")  # restored
        assert spin_until(ex, lambda: len(probe.images) >= 5, SWITCH_TIMEOUT_S), cam.log()
        assert probe.colours() == {"red"}
        log = cam.log()
    assert log.count("lost (") == 1 and "back after" in log and "Traceback" not in log, log
    assert log.count("still unavailable") <= 1, log  # throttled: one line per 10 s while it is away


def test_camera_node_waits_for_a_source_when_told_to(tmp_path):
    video = tmp_path / "later.avi"
    with camera(video, "-p", "wait_for_source:=true", "-p", "reconnect_s:=0.2") as cam, \
            ros_node("probe") as (node, ex):  # fmt: skip
        probe = Probe(node)
        assert spin_until(ex, lambda: "not there yet" in cam.log(), STARTUP_TIMEOUT_S), cam.log()
        write_video(video)
        assert spin_until(ex, lambda: len(probe.images) >= 3, STARTUP_TIMEOUT_S), cam.log()
        assert cam.alive(), cam.log()


@pytest.mark.parametrize(
    "source, reason",
    [("/no/such/video.avi", "no video file '/no/such/video.avi'"), ("99", "no device /dev/video99")],
)
def test_a_source_that_cannot_be_opened_exits_2_with_one_line(source, reason):
    proc = subprocess.run(
        [str(VENV_BIN / "camera_node"), "--ros-args", "-p", f"source:={source}"], capture_output=True,
        text=True, timeout=EXIT_TIMEOUT_S,
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode == EXIT_NO_SOURCE, out
    assert out.strip().splitlines() == [f"[ERROR] [camera_node]: cannot open the camera source: {reason}"]
