"""Integer-PCM WAV files as float samples: the one reader of an owner's recordings, the cue WAVs the
simulator plays (`sim.cues`) and the home's non-command sounds the brain learns to ignore
(`yan_dog.spoken_commands`). It lives here because both import `robots` and it needs numpy alone."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

# bytes per sample -> integer full scale (24-bit samples are read as the top three bytes of an int32)
PCM_FULL_SCALE = {1: 128.0, 2: 32768.0, 3: 2.0**31, 4: 2.0**31}
WAV_SAMPLE_WIDTHS_BYTES = tuple(PCM_FULL_SCALE)  # 8-, 16-, 24- and 32-bit integer PCM
SUPPORTED = f"{[8 * w for w in WAV_SAMPLE_WIDTHS_BYTES]} bit integer PCM"


def pcm_to_float(frames: bytes, width: int) -> np.ndarray:
    """Little-endian integer PCM bytes -> float64 in [-1, 1), channels still interleaved."""
    if width not in PCM_FULL_SCALE:
        raise ValueError(f"unsupported WAV sample width {8 * width} bit; supported: {SUPPORTED}")
    if width == 1:  # unsigned, 128 = silence
        ints = np.frombuffer(frames, np.uint8).astype(np.float64) - 128.0
    elif width == 3:  # 24-bit: three bytes as the top of an int32
        padded = np.zeros((len(frames) // 3, 4), np.uint8)
        padded[:, 1:] = np.frombuffer(frames, np.uint8).reshape(-1, 3)
        ints = padded.view("<i4").reshape(-1).astype(np.float64)
    else:
        ints = np.frombuffer(frames, "<i2" if width == 2 else "<i4").astype(np.float64)
    return ints / PCM_FULL_SCALE[width]


def read_pcm_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """(float64 samples (frames, channels) in [-1, 1), rate in Hz) of an 8/16/24/32-bit integer PCM WAV
    file. FileNotFoundError for a missing file; a one-line ValueError naming the file for anything else
    (not a WAV, compressed, float, an odd sample width or header, truncated, no samples)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"WAV file not found: {path}")
    try:
        with wave.open(str(path), "rb") as w:
            channels, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
            compression = w.getcomptype()
            frames = w.readframes(w.getnframes())
    except (wave.Error, EOFError) as err:
        raise ValueError(f"{path}: not a supported WAV file ({err}); expected uncompressed integer "
                         "PCM") from None
    if compression != "NONE":
        raise ValueError(f"{path}: compressed WAV ({compression}) is not supported")
    if width not in PCM_FULL_SCALE or rate <= 0 or channels < 1:
        raise ValueError(f"{path}: unsupported WAV ({8 * width}-bit, {channels} channels, {rate} Hz); "
                         f"expected {SUPPORTED}")
    if not frames:
        raise ValueError(f"{path}: WAV file contains no samples")
    if len(frames) % (channels * width):
        raise ValueError(f"{path}: truncated sample data")
    return pcm_to_float(frames, width).reshape(-1, channels), rate  # (frames, channels)
