"""`camera_node`: a camera as the robot's image stream (a thin node over `yan_dog.camera_capture`).

  /camera/image_raw    sensor_msgs/Image rgb8    width x height, at most rate_hz, SENSOR_QOS: what sim_node
                                                 publishes (96 x 96 at 10 Hz by default, as the simulator)
  /camera/camera_info  sensor_msgs/CameraInfo    the same stamp, frame and size; uncalibrated (K, P zero)

OpenCV reads `source` (a V4L2 device: an index or /dev/videoN; a video file; a stream URL) in a thread of
its own; each frame it keeps wakes the executor (a guard condition), which publishes the newest one (a
frame the executor had no time for is replaced, never queued). Frames are stamped with the node's clock
when read.

Faults: a source lost while running (a device unplugged, a stream that dropped, a file removed) is
reopened every `reconnect_s`: one WARN line when it is lost, at most one more every LOG_THROTTLE_S while
it stays away, one INFO line when it is back; the node keeps running. A source that cannot be opened at
start is one error line and exit status 2, unless `wait_for_source` (then it is retried the same way).

Parameters (config/camera_node.yaml): source, rate_hz, width, height, frame_id, loop, reconnect_s,
wait_for_source. Read once at start-up.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np
import rclpy.logging
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo

from yan_dog import camera_capture
from yan_dog.camera_capture import CameraCapture, CameraSourceError
from yan_dog_ros import msgs
from yan_dog_ros.spin import spin_device_node

NODE_NAME = "camera_node"
EXIT_NO_SOURCE = 2
LOG_THROTTLE_S = 10.0  # at most one "still unavailable" line this often while a source stays away

# name: default (config/camera_node.yaml sets the same values)
PARAMETERS = {
    "source": "0",
    "rate_hz": 10.0,
    "width": 96,
    "height": 96,
    "frame_id": msgs.CAMERA_FRAME,
    "loop": True,
    "reconnect_s": 1.0,
    "wait_for_source": False,
}


class CameraNode(Node):
    """An OpenCV camera source publishing /camera/image_raw and /camera/camera_info (module docstring)."""

    NODE_NAME = NODE_NAME

    def __init__(self, **node_kwargs):
        super().__init__(NODE_NAME, **node_kwargs)
        for name, default in PARAMETERS.items():
            # `source` takes an index or a string: `-p source:=0` arrives as an integer
            self.declare_parameter(name, default, ParameterDescriptor(dynamic_typing=name == "source"))
        p = self._param
        self.frame_id = str(p("frame_id"))
        self.reconnect_s = float(p("reconnect_s"))
        size = (int(p("width")), int(p("height")))
        if min(size) < 0 or (0 in size and size != (0, 0)):
            raise ValueError(f"width and height must both be > 0 (or both 0: the source's size), got {size}")
        source = camera_capture.parse_source(p("source"))
        self.source_text = source.text

        self.image_pub = self.create_publisher(*msgs.SENSOR_STREAMS["camera"])
        self.info_pub = self.create_publisher(CameraInfo, msgs.CAMERA_INFO_TOPIC, msgs.SENSOR_QOS)
        self._wake = self.create_guard_condition(self._publish_ready)
        self._lock = threading.Lock()
        self._ready = None  # (Image, CameraInfo) of the newest frame not published yet
        self.replaced = 0  # frames replaced by a newer one before the executor published them
        self.capture = CameraCapture(
            source, self._on_frame, self._on_event, rate_hz=float(p("rate_hz")), size=size,
            loop=bool(p("loop")), reconnect_s=self.reconnect_s,
        )  # fmt: skip
        try:
            self.capture.open()
            state = "open"
        except CameraSourceError as err:
            if not p("wait_for_source"):
                raise
            state = f"not there yet ({err}): retrying every {self.reconnect_s:g} s"
        self.capture.start()
        shown = f"{size[0]}x{size[1]}" if size != (0, 0) else "its own size"
        self.get_logger().info(
            f"camera {source.kind} {source.text!r} {state} -> {msgs.CAMERA_TOPIC} rgb8 {shown}, at most "
            f"{float(p('rate_hz')):g} Hz, frame {self.frame_id!r}"
        )

    def _param(self, name: str):
        return self.get_parameter(name).value

    # --- the capture thread's callbacks -------------------------------------------------------------------
    def _on_frame(self, rgb: np.ndarray, _time_s: float) -> None:
        stamp = self.get_clock().now().to_msg()
        image = msgs.image_rgb8(rgb, stamp, self.frame_id)
        info = msgs.camera_info(image.width, image.height, stamp, self.frame_id)
        with self._lock:
            if self._ready is not None:
                self.replaced += 1
            self._ready = (image, info)
        try:
            self._wake.trigger()
        except Exception:  # the node is being destroyed: the capture stops right after
            pass

    def _on_event(self, kind: str, detail: str) -> None:
        log = self.get_logger()
        if kind == "lost":
            log.warning(f"camera source {self.source_text!r} lost ({detail}): reopening it every "
                        f"{self.reconnect_s:g} s")  # fmt: skip
        elif kind == "retry_failed":
            log.warning(f"camera source {self.source_text!r} still unavailable: {detail}",
                        throttle_duration_sec=LOG_THROTTLE_S)  # fmt: skip
        elif kind == "reconnected":
            log.info(f"camera source {self.source_text!r} back {detail}")
        else:
            log.info(detail)

    # --- publishing (the executor) ------------------------------------------------------------------------
    def _publish_ready(self) -> None:
        with self._lock:
            ready, self._ready = self._ready, None
        if ready is not None:
            self.image_pub.publish(ready[0])
            self.info_pub.publish(ready[1])

    def _stats_line(self) -> str:
        s = self.capture.stats
        return (f"{s.frames} frames, {self.replaced} replaced before publishing, {s.losses} losses, "
                f"{s.reconnects} reconnects")  # fmt: skip

    def destroy_node(self):
        self.capture.stop()
        # not the node's logger: after Ctrl-C its context is gone and /rosout with it
        rclpy.logging.get_logger(f"{NODE_NAME}.capture").info(f"camera stopped: {self._stats_line()}")
        super().destroy_node()


def main(args=None) -> None:
    # no WARN lines from OpenCV's backends: this node's own line says what failed, once
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    spin_device_node(CameraNode, CameraSourceError, EXIT_NO_SOURCE, "cannot open the camera source: ", args)


if __name__ == "__main__":
    main()
