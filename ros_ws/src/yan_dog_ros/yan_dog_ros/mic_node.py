"""`mic_node`: a microphone as the robot's audio stream (a thin node over `yan_dog.audio_capture`).

  /audio/pcm   std_msgs/Int16MultiArray   mono audio_rate_hz (16 kHz) chunks of audio_rate_hz / control_hz
                                          samples (320 at 50 Hz), AUDIO_QOS: exactly what sim_node publishes

PortAudio (`sounddevice`) captures `device` at `sample_rate_hz` in blocks of one control period; each block
wakes the executor (a guard condition), which resamples it to audio_rate_hz, mixes it down to mono and
publishes every whole chunk. A device at another rate (44.1 or 48 kHz) is resampled by a polyphase
anti-aliasing filter; nothing is dropped or padded.

Faults: input overflows (PortAudio), blocks dropped because the executor fell behind, and stalls (no block
for `stall_s`, or none `start_timeout_s` after opening: the device or the sound server went away; the
stream is reopened) are counted and reported in one throttled WARN line per `stats_log_period_s`; a stall
never joins audio across the gap. With no input device, or none matching `device`, the node logs one
line listing the devices there are and the process exits with status 2.

Parameters (config/mic_node.yaml): device ('' = the default input; an index; or a name, exact or a
unique substring), sample_rate_hz (0 = the device's default rate), channels, audio_rate_hz, control_hz,
stall_s, start_timeout_s, stats_log_period_s. Read once at start-up.
"""

from __future__ import annotations

import time

import rclpy.logging
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.clock import Clock, ClockType
from rclpy.node import Node

from yan_dog import audio_capture
from yan_dog.audio_capture import AudioDeviceError, MicCapture
from yan_dog_ros import msgs
from yan_dog_ros.spin import spin_device_node

NODE_NAME = "mic_node"
EXIT_NO_DEVICE = 2
WATCHDOG_HZ = 10.0  # how often stalls are checked and the stream reopened

# name: default (config/mic_node.yaml sets the same values)
PARAMETERS = {
    "device": "",
    "sample_rate_hz": 0,
    "channels": 1,
    "audio_rate_hz": 16000,
    "control_hz": 50,
    "stall_s": 0.5,
    "start_timeout_s": 5.0,
    "stats_log_period_s": 5.0,
}


class MicNode(Node):
    """A PortAudio input device publishing /audio/pcm (see the module docstring)."""

    NODE_NAME = NODE_NAME

    def __init__(self, **node_kwargs):
        super().__init__(NODE_NAME, **node_kwargs)
        for name, default in PARAMETERS.items():
            # `device` takes an index or a name: `-p device:=2` arrives as an integer
            descriptor = ParameterDescriptor(dynamic_typing=name == "device")
            self.declare_parameter(name, default, descriptor)
        p = self._param
        out_rate, control_hz = int(p("audio_rate_hz")), int(p("control_hz"))
        if control_hz <= 0 or out_rate <= 0 or out_rate % control_hz:
            raise ValueError(f"audio_rate_hz {out_rate} must be a multiple of control_hz {control_hz}")
        self.channels = int(p("channels"))
        if self.channels < 1:
            raise ValueError(f"channels must be >= 1, got {self.channels}")
        self.stall_s = float(p("stall_s"))
        self.start_timeout_s = float(p("start_timeout_s"))
        self.log_period_s = float(p("stats_log_period_s"))

        devices, default = audio_capture.input_devices()
        self.device = audio_capture.find_input_device(p("device"), devices, default)
        self.rate_hz = int(p("sample_rate_hz")) or int(round(self.device.default_rate_hz))
        self.blocksize = max(1, round(self.rate_hz / control_hz))  # one control period of device frames
        self.chunk_samples = out_rate // control_hz

        self.pub = self.create_publisher(*msgs.SENSOR_STREAMS["audio"])
        self._wake = self.create_guard_condition(self._publish_ready)
        self.capture = MicCapture(self.rate_hz, out_rate, self.chunk_samples, on_wake=self._trigger)
        self.stream = None
        self._open()
        self._stalled = False
        self._reported = 0  # capture.stats.problems() at the last stats line
        self._last_report_s = time.monotonic()
        self._timer = self.create_timer(
            1.0 / WATCHDOG_HZ, self._watchdog, clock=Clock(clock_type=ClockType.STEADY_TIME)
        )
        self.get_logger().info(
            f"microphone up: {self.device.describe()} at {self.rate_hz} Hz, {self.channels} ch -> "
            f"{msgs.AUDIO_TOPIC} {out_rate} Hz mono, {self.chunk_samples} samples a chunk at {control_hz} Hz"
        )

    def _param(self, name: str):
        return self.get_parameter(name).value

    def _open(self) -> None:
        self._opened_s = time.monotonic()  # a failed open is retried start_timeout_s later
        self.stream = audio_capture.open_input_stream(
            self.device, self.rate_hz, self.channels, self.blocksize, self.capture.on_block
        )

    def _trigger(self) -> None:  # PortAudio's thread
        try:
            self._wake.trigger()
        except Exception:  # the node is being destroyed: the stream stops right after
            pass

    # --- publishing ---------------------------------------------------------------------------------------
    def _publish_ready(self) -> None:
        for chunk in self.capture.chunks():
            self.pub.publish(msgs.audio_chunk(chunk))

    # --- faults -------------------------------------------------------------------------------------------
    def _watchdog(self) -> None:
        """Count a stall (no block for stall_s, or none start_timeout_s after opening) as one gap and
        reopen the device, then again every start_timeout_s until audio flows."""
        now = time.monotonic()
        last = self.capture.last_block_s
        flowing = last is not None and last >= self._opened_s  # audio came since the last (re)open
        if flowing:
            silent_s, limit = now - last, self.stall_s
        else:
            silent_s, limit = now - self._opened_s, self.start_timeout_s
        if silent_s > limit:
            if not self._stalled:  # one gap per stall; audio is never joined across it
                self._stalled = True
                self.capture.gap()
                self.get_logger().error(
                    f"no audio from the microphone for {silent_s:.1f} s: reopening it",
                    throttle_duration_sec=self.log_period_s,
                )
            self._reopen()
        elif flowing:
            self._stalled = False
        if now - self._last_report_s >= self.log_period_s:
            self._last_report_s = now
            if self.capture.stats.problems() != self._reported:
                self._reported = self.capture.stats.problems()
                self.get_logger().warning(self._stats_line())

    def _reopen(self) -> None:
        self._close_stream()
        try:
            self._open()
        except AudioDeviceError as err:
            self.get_logger().error(f"reopening the microphone failed: {err}", throttle_duration_sec=5.0)

    def _stats_line(self) -> str:
        s = self.capture.stats
        return (
            f"audio capture: {s.overflows} input overflows, {s.dropped_blocks} blocks dropped (node behind), "
            f"{s.gaps} stalls; {s.chunks} chunks published from {s.blocks} device blocks"
        )

    def _close_stream(self) -> None:
        if self.stream is not None:
            try:
                self.stream.abort()
                self.stream.close()
            except Exception as err:  # a device that vanished may refuse even this
                self.get_logger().warning(f"closing the microphone stream: {err}")
            self.stream = None

    def destroy_node(self):
        self._close_stream()
        # not the node's logger: after Ctrl-C its context is gone and /rosout with it
        rclpy.logging.get_logger(f"{NODE_NAME}.capture").info(f"microphone stopped: {self._stats_line()}")
        super().destroy_node()


def main(args=None) -> None:
    spin_device_node(MicNode, AudioDeviceError, EXIT_NO_DEVICE, args=args)


if __name__ == "__main__":
    main()
