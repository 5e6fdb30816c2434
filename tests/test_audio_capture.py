"""yan_dog/audio_capture.py without a device: the resampler, device choice and chunking (numpy only)."""

from __future__ import annotations

import types

import numpy as np
import pytest

from yan_dog.audio_capture import (
    INT16_FULL_SCALE,
    AudioDeviceError,
    InputDevice,
    MicCapture,
    StreamResampler,
    find_input_device,
)

OUT_HZ = 16000


def tone(rate_hz: int, freq_hz: float, seconds: float, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate_hz * seconds)) / rate_hz  # (n,)
    return amplitude * np.sin(2 * np.pi * freq_hz * t)


def peak_hz(x: np.ndarray, rate_hz: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return float(np.fft.rfftfreq(x.size, 1.0 / rate_hz)[spectrum.argmax()])


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x))))


# ---- resampler -----------------------------------------------------------------------------------
@pytest.mark.parametrize("in_hz", [8000, 16000, 22050, 44100, 48000, 96000])
def test_resampler_keeps_a_tone_its_level_and_the_duration(in_hz):
    x = tone(in_hz, 1000.0, 1.0)
    y = StreamResampler(in_hz, OUT_HZ).process(x)
    assert y.size == OUT_HZ  # one second in, one second out
    steady = y[1000:]
    assert abs(peak_hz(steady, OUT_HZ) - 1000.0) <= 1.0
    assert rms(steady) == pytest.approx(0.5 / np.sqrt(2), rel=0.01)


@pytest.mark.parametrize("in_hz", [44100, 48000])
def test_resampler_removes_what_would_alias(in_hz):
    y = StreamResampler(in_hz, OUT_HZ).process(tone(in_hz, 11000.0, 0.5))  # above the new Nyquist
    level_db = 20 * np.log10(rms(y[1000:]) / (0.5 / np.sqrt(2)))
    assert level_db < -50.0, f"an 11 kHz tone leaks at {level_db:.1f} dB"


@pytest.mark.parametrize("in_hz", [8000, 44100, 48000])
def test_resampler_output_does_not_depend_on_the_block_sizes(in_hz):
    x = np.random.default_rng(0).standard_normal(in_hz)  # (in_hz,)
    whole = StreamResampler(in_hz, OUT_HZ).process(x)
    r = StreamResampler(in_hz, OUT_HZ)
    rng, parts, i = np.random.default_rng(1), [], 0
    while i < x.size:
        n = int(rng.integers(0, 2000))
        parts.append(r.process(x[i:i + n]))
        i += n
    assert np.allclose(np.concatenate(parts), whole, atol=1e-12)


def test_resampler_passes_equal_rates_through_and_refuses_bad_rates():
    x = np.arange(10.0)
    assert np.array_equal(StreamResampler(OUT_HZ, OUT_HZ).process(x), x)
    with pytest.raises(ValueError, match="rates"):
        StreamResampler(0, OUT_HZ)


# ---- devices -------------------------------------------------------------------------------------
DEVICES = [
    InputDevice(0, "HDA Intel PCH: ALC257 Analog (hw:0,0)", "ALSA", 2, 44100.0),
    InputDevice(3, "USB PnP Sound Device: Audio (hw:1,0)", "ALSA", 1, 48000.0),
    InputDevice(5, "pulse", "ALSA", 32, 44100.0),
    InputDevice(6, "default", "ALSA", 32, 44100.0),
]


@pytest.mark.parametrize(
    ("spec", "index"),
    [("", 6), (None, 6), ("default", 6), (3, 3), ("3", 3), ("usb", 3), ("pulse", 5), ("HDA", 0)],
)
def test_find_input_device_by_default_index_or_name(spec, index):
    assert find_input_device(spec, DEVICES, default=6).index == index


def test_find_input_device_errors_list_the_devices_there_are():
    with pytest.raises(AudioDeviceError, match="no audio input device found"):
        find_input_device("", [], default=None)
    with pytest.raises(AudioDeviceError, match=r"'no_such_mic' not found; input devices: \[0\] 'HDA.*'pulse"):
        find_input_device("no_such_mic", DEVICES, default=6)
    with pytest.raises(AudioDeviceError, match="device 9 not found"):
        find_input_device(9, DEVICES, default=6)
    with pytest.raises(AudioDeviceError, match="ambiguous"):
        find_input_device("hw:", DEVICES, default=6)


# ---- capture -------------------------------------------------------------------------------------
def test_capture_turns_device_blocks_into_fixed_chunks_and_counts_faults():
    woken = []
    cap = MicCapture(48000, OUT_HZ, 320, max_queued_blocks=4, on_wake=lambda: woken.append(1))
    stereo = np.repeat(tone(48000, 500.0, 0.1)[:, None], 2, axis=1).astype(np.float32)  # (4800, 2)
    for block in np.split(stereo, 5):  # 5 blocks of 960 frames: one is dropped (queue of 4)
        cap.on_block(block, len(block), None, None)
    overflow = types.SimpleNamespace(input_overflow=True)
    chunks = cap.chunks()
    assert len(woken) == 5 and cap.stats.dropped_blocks == 1 and cap.stats.blocks == 5
    assert all(c.dtype == np.int16 and c.shape == (320,) for c in chunks)
    assert len(chunks) == 4  # 4 x 960 frames at 48 kHz = 1280 samples at 16 kHz
    assert rms(np.concatenate(chunks)[200:] / INT16_FULL_SCALE) == pytest.approx(0.5 / np.sqrt(2), rel=0.02)
    cap.on_block(stereo[:960], 960, None, overflow)
    cap.gap()  # a stall: the queued block and any partial chunk are dropped
    assert cap.chunks() == [] and cap.stats.overflows == 1 and cap.stats.gaps == 1
    assert cap.stats.problems() == 3
