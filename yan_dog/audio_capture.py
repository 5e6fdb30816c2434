"""Microphone capture without ROS: PortAudio devices, a streaming resampler and fixed-size PCM chunks.

`mic_node` (yan_dog_ros) is a thin ROS 2 node over this module: it opens the device `find_input_device`
picks, hands PortAudio's blocks to `MicCapture.on_block` (the PortAudio thread) and publishes what
`MicCapture.chunks()` returns (its own thread): mono int16 chunks of `chunk_samples` at `out_rate_hz`,
the format `sim_node` publishes on /audio/pcm (DESIGN.md section 4).

PortAudio comes from the Debian package `libportaudio2` through the `sounddevice` wheel; both are imported
only when a device is listed or opened, so the resampler and the chunking work (and are tested) anywhere.

Dimensions: F = frames of one PortAudio block, C = device channels, K = taps per polyphase branch,
U / D = the resampler's up / down factors (out_rate / in_rate = U / D in lowest terms).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass

import numpy as np

INT16_FULL_SCALE = 32767.0
DEFAULT_TAPS_PER_PHASE = 64  # K: ~60 dB stop band, transition ~2.7 kHz wide at 48 kHz input
STOPBAND_DB = 60.0  # Kaiser design target of the anti-aliasing filter
CUTOFF_FRACTION = 0.9  # filter cut-off as a fraction of the lower rate's Nyquist frequency
MAX_QUEUED_BLOCKS = 50  # device blocks held for the consumer (1 s at 50 blocks/s); more are dropped


class AudioDeviceError(RuntimeError):
    """No usable audio input: PortAudio missing, no input device, or the requested one absent/unusable."""


# --------------------------------------------------------------------------- resampling

class StreamResampler:
    """Rational polyphase resampler for a mono stream fed in blocks of any size.

    A Kaiser-windowed sinc low-pass (cut-off at CUTOFF_FRACTION of the lower rate's Nyquist) removes what
    would alias; `process` returns every output sample its input completes, so feeding a signal in any
    split gives the same output as feeding it at once. Equal rates pass samples through untouched.
    Latency: K / 2 input samples (0.7 ms at 48 kHz with the default K).
    """

    def __init__(self, in_rate_hz: int, out_rate_hz: int, taps_per_phase: int = DEFAULT_TAPS_PER_PHASE):
        if in_rate_hz <= 0 or out_rate_hz <= 0:
            raise ValueError(f"rates must be > 0 Hz, got {in_rate_hz} -> {out_rate_hz}")
        if taps_per_phase < 2:
            raise ValueError(f"taps_per_phase must be >= 2, got {taps_per_phase}")
        g = math.gcd(int(in_rate_hz), int(out_rate_hz))
        self.in_rate_hz, self.out_rate_hz = int(in_rate_hz), int(out_rate_hz)
        self.up, self.down = self.out_rate_hz // g, self.in_rate_hz // g
        self.passthrough = self.up == self.down
        k = self.taps = int(taps_per_phase)
        n = self.up * k  # prototype length at the up-sampled rate
        cutoff = CUTOFF_FRACTION * 0.5 / max(self.up, self.down)  # cycles per up-sampled sample
        beta = 0.1102 * (STOPBAND_DB - 8.7)
        t = np.arange(n) - (n - 1) / 2.0  # (n,)
        h = 2.0 * cutoff * np.sinc(2.0 * cutoff * t) * np.kaiser(n, beta)  # (n,) unit DC gain per phase
        h *= self.up / h.sum()
        self._bank = h.reshape(k, self.up).T.copy()  # (U, K): bank[p, j] = h[p + j * U]
        self._lags = np.arange(k)  # (K,)
        self.reset()

    def reset(self) -> None:
        """Forget the past (after a gap): the next input starts a new stream."""
        self._buf = np.zeros(self.taps - 1, np.float64)  # history: the last K - 1 inputs
        self._t = (self.taps - 1) * self.up  # up-rate position of the next output relative to _buf[0]

    def process(self, x: np.ndarray) -> np.ndarray:
        """(n,) float input at in_rate -> (m,) float64 output at out_rate."""
        x = np.asarray(x, np.float64).reshape(-1)  # (n,)
        if self.passthrough:
            return x.copy()
        buf = np.concatenate([self._buf, x])  # (L,)
        m = -(-(buf.size * self.up - self._t) // self.down)  # outputs whose newest input is in buf
        if m <= 0:
            self._buf = buf
            return np.zeros(0, np.float64)
        pos = self._t + self.down * np.arange(m)  # (m,) up-rate positions
        newest, phase = pos // self.up, pos % self.up  # (m,), (m,)
        windows = buf[newest[:, None] - self._lags[None, :]]  # (m, K) newest input first
        y = np.einsum("mk,mk->m", windows, self._bank[phase])  # (m,)
        t_next = self._t + m * self.down
        keep_from = min(t_next // self.up - (self.taps - 1), buf.size)  # first input still needed
        self._buf = buf[keep_from:]
        self._t = t_next - keep_from * self.up
        return y


# --------------------------------------------------------------------------- devices

@dataclass(frozen=True)
class InputDevice:
    """A PortAudio device with at least one input channel."""

    index: int
    name: str
    host_api: str
    channels: int  # max input channels
    default_rate_hz: float

    def describe(self) -> str:
        rate = f"{self.default_rate_hz:g} Hz"
        return f"[{self.index}] {self.name!r} ({self.host_api}, {self.channels} in, {rate})"


def portaudio():
    """The `sounddevice` module; AudioDeviceError naming the Debian package when PortAudio is missing."""
    try:
        import sounddevice
    except (ImportError, OSError) as err:
        raise AudioDeviceError(
            f"PortAudio is not available ({err}): install the Debian package libportaudio2 and the Python "
            "package sounddevice (`make install` does both)"
        ) from err
    return sounddevice


def input_devices(sd=None) -> tuple[list[InputDevice], int | None]:
    """Every input device PortAudio lists, and the index of the default input (None if there is none)."""
    sd = sd or portaudio()
    apis = [api["name"] for api in sd.query_hostapis()]
    devices = [
        InputDevice(i, d["name"], apis[d["hostapi"]], int(d["max_input_channels"]),
                    float(d["default_samplerate"]))
        for i, d in enumerate(sd.query_devices())
        if d["max_input_channels"] > 0
    ]  # fmt: skip
    try:
        default = int(sd.query_devices(kind="input")["index"])
    except (sd.PortAudioError, KeyError, TypeError, ValueError):
        default = None
    if default not in {d.index for d in devices}:
        default = devices[0].index if devices else None
    return devices, default


def _listing(devices: list[InputDevice]) -> str:
    return "; ".join(d.describe() for d in devices) if devices else "none"


def find_input_device(spec: str | int | None, devices: list[InputDevice], default: int | None) -> InputDevice:
    """The device `spec` names: ''/None/'default' = the default input, an index (int or digits), or a name
    (exact, else a unique case-insensitive substring). AudioDeviceError listing the devices otherwise."""
    if not devices:
        raise AudioDeviceError(
            "no audio input device found: PortAudio lists none (no sound card, no USB microphone, or no "
            "sound server such as PulseAudio running for this user)"
        )
    by_index = {d.index: d for d in devices}
    text = "" if spec is None else str(spec).strip()
    if text in ("", "default"):
        return by_index[default] if default in by_index else devices[0]
    if text.lstrip("-").isdigit():
        if int(text) in by_index:
            return by_index[int(text)]
        raise AudioDeviceError(f"audio input device {text} not found; input devices: {_listing(devices)}")
    exact = [d for d in devices if d.name == text]
    matches = exact or [d for d in devices if text.lower() in d.name.lower()]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise AudioDeviceError(f"audio input device {text!r} not found; input devices: {_listing(devices)}")
    raise AudioDeviceError(f"audio input device {text!r} is ambiguous: {_listing(matches)}; give its index")


# --------------------------------------------------------------------------- capture

@dataclass
class CaptureStats:
    """Counters since the capture started (all are totals)."""

    blocks: int = 0  # device blocks received
    overflows: int = 0  # blocks PortAudio flagged: the device dropped input (the consumer was too slow)
    dropped_blocks: int = 0  # blocks dropped here: MAX_QUEUED_BLOCKS were waiting already
    gaps: int = 0  # stalls: no block for longer than the node's stall time (device lost, server gone)
    chunks: int = 0  # chunks handed out

    def problems(self) -> int:
        return self.overflows + self.dropped_blocks + self.gaps


class MicCapture:
    """Device blocks (any rate, any channel count) -> mono int16 chunks of `chunk_samples` at `out_rate_hz`.

    `on_block` is a PortAudio callback (its own thread): it only copies the block into a bounded queue.
    `chunks()` (the consumer's thread) mixes down, resamples and cuts the stream into whole chunks.
    `on_wake`, if given, is called after each block (e.g. to wake an executor).
    """

    def __init__(
        self,
        device_rate_hz: int,
        out_rate_hz: int,
        chunk_samples: int,
        max_queued_blocks: int = MAX_QUEUED_BLOCKS,
        taps_per_phase: int = DEFAULT_TAPS_PER_PHASE,
        on_wake=None,
    ):
        if chunk_samples <= 0:
            raise ValueError(f"chunk_samples must be > 0, got {chunk_samples}")
        self.resampler = StreamResampler(device_rate_hz, out_rate_hz, taps_per_phase)
        self.chunk_samples = int(chunk_samples)
        self.stats = CaptureStats()
        self.on_wake = on_wake
        self._queue: deque[np.ndarray] = deque()
        self._max_queued = int(max_queued_blocks)
        self._lock = threading.Lock()
        self._pending = np.zeros(0, np.float64)  # resampled samples short of a whole chunk
        self.last_block_s: float | None = None  # monotonic time of the newest block

    def on_block(self, indata, frames, time_info, status) -> None:
        """PortAudio callback: indata (F, C) float32 in [-1, 1]."""
        block = np.asarray(indata, np.float32)  # (F, C)
        mono = block.mean(axis=1) if block.ndim == 2 else block.reshape(-1)  # (F,)
        with self._lock:
            self.stats.blocks += 1
            if status and getattr(status, "input_overflow", False):
                self.stats.overflows += 1
            if len(self._queue) >= self._max_queued:
                self.stats.dropped_blocks += 1
            else:
                self._queue.append(mono.copy())
            self.last_block_s = time.monotonic()
        if self.on_wake is not None:
            self.on_wake()

    def gap(self) -> None:
        """The stream stalled or restarted: count a gap and never join samples across it."""
        with self._lock:
            self.stats.gaps += 1
            self._queue.clear()
        self._pending = np.zeros(0, np.float64)
        self.resampler.reset()

    def chunks(self) -> list[np.ndarray]:
        """Every whole chunk the queued blocks complete: a list of (chunk_samples,) int16."""
        with self._lock:
            blocks = list(self._queue)
            self._queue.clear()
        if not blocks:
            return []
        y = np.concatenate([self._pending, self.resampler.process(np.concatenate(blocks))])  # (n,)
        n = y.size // self.chunk_samples
        whole = y[: n * self.chunk_samples]
        self._pending = y[n * self.chunk_samples:]
        pcm = np.clip(np.round(whole * INT16_FULL_SCALE), -INT16_FULL_SCALE, INT16_FULL_SCALE)  # (n*S,)
        pcm = pcm.astype(np.int16)
        out = list(pcm.reshape(n, self.chunk_samples))  # n x (chunk_samples,)
        self.stats.chunks += n
        return out


def open_input_stream(device: InputDevice, rate_hz: int, channels: int, blocksize: int, callback, sd=None):
    """A started PortAudio input stream (float32) on `device`; AudioDeviceError if the device refuses the
    rate or channel count, or cannot be opened."""
    sd = sd or portaudio()
    try:
        sd.check_input_settings(device=device.index, samplerate=rate_hz, channels=channels, dtype="float32")
        stream = sd.InputStream(
            device=device.index, samplerate=rate_hz, channels=channels, dtype="float32",
            blocksize=blocksize, callback=callback,
        )  # fmt: skip
        stream.start()
    except sd.PortAudioError as err:
        raise AudioDeviceError(
            f"cannot capture from {device.describe()} at {rate_hz} Hz, {channels} ch: {err}"
        ) from err
    return stream
