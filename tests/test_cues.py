"""Tests for the audio cues and their registry (sim/cues.py): fast, deterministic, numpy only."""

from __future__ import annotations

import struct
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from sim.cues import (
    BUILTIN_CUE_DURATIONS_S,
    CUE_NAMES,
    DEFAULT_SAMPLE_RATE_HZ,
    WHISTLE_DOUBLE_HZ,
    WHISTLE_HIGH_HZ,
    WHISTLE_LOW_HZ,
    WHISTLE_TRILL_CARRIER_HZ,
    clap,
    cue_duration_s,
    cue_names,
    get_cue,
    load_wav,
    register_cue,
    register_wav_cue,
    unregister_cue,
)
from tests.test_microphone import make_mic, measured_snr_db

FS = DEFAULT_SAMPLE_RATE_HZ  # Hz
WHISTLES = ("whistle_rising", "whistle_falling", "whistle_double", "whistle_trill")


# ---- helpers -------------------------------------------------------------------------------------
def dominant_frequencies(x: np.ndarray, frame: int, fs: int = FS) -> tuple[np.ndarray, np.ndarray]:
    """Per non-overlapping frame: (peak frequency of the Hann-windowed spectrum in Hz, frame energy)."""
    n_frames = len(x) // frame
    frames = np.asarray(x[: n_frames * frame], dtype=np.float64).reshape(n_frames, frame)
    power = np.abs(np.fft.rfft(frames * np.hanning(frame), axis=1)) ** 2  # (frames, bins)
    freqs = np.fft.rfftfreq(frame, 1.0 / fs)
    return freqs[np.argmax(power, axis=1)], np.sum(frames**2, axis=1)


def spectral_flatness(x: np.ndarray, lo_hz: float = 200.0, hi_hz: float = 7000.0, fs: int = FS) -> float:
    """Geometric over arithmetic mean of the power spectrum in [lo_hz, hi_hz]: ~0.56 for white noise."""
    power = np.abs(np.fft.rfft(np.asarray(x, dtype=np.float64))) ** 2
    freqs = np.fft.rfftfreq(len(x), 1.0 / fs)
    band = power[(freqs >= lo_hz) & (freqs <= hi_hz)] + 1e-20
    return float(np.exp(np.mean(np.log(band))) / np.mean(band))


def write_wav(path: Path, samples: np.ndarray, rate: int, width: int) -> None:
    """Write int samples, shape (frames, channels), as integer PCM of ``width`` bytes."""
    frames = np.asarray(samples)
    if width == 1:
        data = frames.astype(np.uint8).tobytes()
    elif width == 2:
        data = frames.astype("<i2").tobytes()
    elif width == 3:
        as_i32 = frames.astype("<i4").reshape(-1)
        data = b"".join(int(v).to_bytes(3, "little", signed=True) for v in as_i32)
    else:
        data = frames.astype("<i4").tobytes()
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(frames.shape[1])
        wav.setsampwidth(width)
        wav.setframerate(rate)
        wav.writeframes(data)


@pytest.fixture
def user_cues() -> Iterator[list[str]]:
    """Names registered by a test; unregistered afterwards so the global registry stays clean."""
    names: list[str] = []
    yield names
    for name in names:
        if name in cue_names():
            unregister_cue(name)


# ---- built-in cues -------------------------------------------------------------------------------
def test_registry_has_three_whistles_and_a_clap() -> None:
    assert set(WHISTLES) | {"clap"} <= set(CUE_NAMES)
    assert cue_names()[: len(CUE_NAMES)] == CUE_NAMES
    assert set(BUILTIN_CUE_DURATIONS_S) == set(CUE_NAMES)


@pytest.mark.parametrize("name", CUE_NAMES)
@pytest.mark.parametrize("fs", [8000, FS, 44100])
def test_builtin_cue_duration_peak_and_fades(name: str, fs: int) -> None:
    w = get_cue(name, fs)
    duration = BUILTIN_CUE_DURATIONS_S[name]
    assert 0.3 <= duration <= 0.8
    assert w.dtype == np.float32 and w.ndim == 1
    assert len(w) == round(duration * fs)
    assert cue_duration_s(name, fs) == pytest.approx(duration, abs=1.0 / fs)
    assert np.all(np.isfinite(w))
    assert np.max(np.abs(w)) <= 1.0
    assert np.max(np.abs(w)) == pytest.approx(1.0)  # unit peak
    edge = max(1, fs // 1000)  # first and last millisecond: faded, no click
    assert np.max(np.abs(w[:edge])) < 0.2 and np.max(np.abs(w[-edge:])) < 0.2


def test_get_cue_is_deterministic_and_returns_copies() -> None:
    a = get_cue("clap")
    a[:] = 0.0
    b, c = get_cue("clap"), get_cue("clap")
    assert np.array_equal(b, c) and np.any(b != 0.0)


def test_clap_uses_passed_rng_and_is_broadband() -> None:
    fixed = clap(FS)
    assert np.array_equal(fixed, clap(FS))
    a, b = clap(FS, np.random.default_rng(1)), clap(FS, np.random.default_rng(2))
    assert np.array_equal(a, clap(FS, np.random.default_rng(1)))
    assert not np.array_equal(a, b)
    # Same envelope: smoothed energy agrees although the noise differs.
    kernel = np.ones(160) / 160
    env_a = np.convolve(a.astype(float) ** 2, kernel, "same")
    env_b = np.convolve(b.astype(float) ** 2, kernel, "same")
    assert np.corrcoef(env_a, env_b)[0, 1] > 0.9


def test_rising_and_falling_chirps_sweep_in_opposite_directions() -> None:
    frame = 512  # 32 ms
    up, _ = dominant_frequencies(get_cue("whistle_rising"), frame)
    down, _ = dominant_frequencies(get_cue("whistle_falling"), frame)
    assert np.all(np.diff(up) > 0) and np.all(np.diff(down) < 0)
    assert up[0] < WHISTLE_LOW_HZ + 150 and up[-1] > WHISTLE_HIGH_HZ - 150
    assert down[0] > WHISTLE_HIGH_HZ - 150 and down[-1] < WHISTLE_LOW_HZ + 150


def test_double_whistle_is_constant_pitch_with_a_gap() -> None:
    frame = 320  # 20 ms
    freqs, energy = dominant_frequencies(get_cue("whistle_double"), frame)
    loud = energy > 0.1 * energy.max()
    assert np.all(np.abs(freqs[loud] - WHISTLE_DOUBLE_HZ) <= FS / frame)
    # Silent gap in the middle, sound on both sides of it.
    mid = len(energy) // 2
    assert energy[mid] < 1e-6 * energy.max()
    assert loud[:mid].any() and loud[mid + 1 :].any()


def test_trill_warbles_around_its_carrier() -> None:
    frame = 256  # 16 ms, several frames per 83 ms modulation period
    freqs, energy = dominant_frequencies(get_cue("whistle_trill"), frame)
    freqs = freqs[energy > 0.5 * energy.max()]
    assert abs(np.mean(freqs) - WHISTLE_TRILL_CARRIER_HZ) < 150
    assert np.ptp(freqs) >= 400
    direction_changes = np.sum(np.diff(np.sign(np.diff(freqs))) != 0)
    assert direction_changes >= 6  # rises and falls repeatedly, unlike a chirp


def test_clap_is_broadband_and_whistles_are_narrowband() -> None:
    assert spectral_flatness(get_cue("clap")) > 0.3
    for name in (*WHISTLES, "click"):
        assert spectral_flatness(get_cue(name)) < 0.05, name


# ---- user cues and WAV files ---------------------------------------------------------------------
def test_load_wav_stereo_8khz_16bit_to_mono_16khz(tmp_path: Path) -> None:
    rate, n = 8000, 4000  # 0.5 s
    t = np.arange(n) / rate
    left, right = 0.5 * np.sin(2 * np.pi * 440 * t), 0.3 * np.sin(2 * np.pi * 440 * t)
    stereo = np.rint(np.stack([left, right], axis=1) * 32767).astype(np.int16)  # (frames, 2)
    path = tmp_path / "tone.wav"
    write_wav(path, stereo, rate, 2)

    x = load_wav(path, 16000)
    assert x.dtype == np.float32 and x.shape == (2 * n,)
    t16 = np.arange(2 * n) / 16000
    expected = 0.4 * np.sin(2 * np.pi * 440 * t16)  # channel average
    np.testing.assert_allclose(x[:-2], expected[:-2], atol=0.01)  # last samples hold the end value
    assert len(load_wav(path, 8000)) == n


@pytest.mark.parametrize(("width", "scale", "offset"), [(1, 127, 128), (3, 2**23 - 1, 0), (4, 2**31 - 1, 0)])
def test_load_wav_other_sample_widths(tmp_path: Path, width: int, scale: int, offset: int) -> None:
    t = np.arange(1600) / 16000
    tone = 0.6 * np.sin(2 * np.pi * 500 * t)
    path = tmp_path / f"w{width}.wav"
    write_wav(path, (np.rint(tone * scale) + offset).astype(np.int64)[:, None], 16000, width)
    x = load_wav(path, 16000)
    np.testing.assert_allclose(x, tone, atol=2.0 / 128 if width == 1 else 1e-5)


def test_register_wav_cue_plays_on_the_microphone(tmp_path: Path, user_cues: list[str]) -> None:
    t = np.arange(3200) / 8000  # 0.4 s at 8 kHz
    tone = np.rint(0.25 * np.sin(2 * np.pi * 1000 * t) * 32767).astype(np.int16)[:, None]
    path = tmp_path / "beep.wav"
    write_wav(path, tone, 8000, 2)
    register_wav_cue("beep", path)
    user_cues.append("beep")
    assert "beep" in cue_names()
    assert cue_duration_s("beep") == pytest.approx(0.4)
    assert measured_snr_db({"snr_db": 15.0}, "beep", 0.1) == pytest.approx(15.0, abs=0.5)
    with pytest.raises(ValueError, match="already registered"):
        register_wav_cue("beep", path)
    register_wav_cue("beep", path, overwrite=True)


def test_register_array_and_callable_cues(user_cues: list[str]) -> None:
    w = np.sin(np.linspace(0, 40 * np.pi, 4000))  # 0.5 s at 8 kHz
    register_cue("user_tone", w, 8000)
    register_cue("user_fn", lambda fs: np.sin(2 * np.pi * 700 * np.arange(fs // 2) / fs))
    user_cues.extend(["user_tone", "user_fn"])
    assert len(get_cue("user_tone", 16000)) == 8000
    assert len(get_cue("user_tone", 8000)) == 4000
    assert len(get_cue("user_fn", 16000)) == 8000
    assert cue_names()[-2:] == ("user_tone", "user_fn")
    register_cue("user_tone", 2 * w, 8000, overwrite=True)  # replaces and clears the cache
    louder = get_cue("user_tone", 8000)  # scaled down to unit peak, shape kept (not clipped)
    np.testing.assert_allclose(louder, w / np.max(np.abs(w)), atol=1e-6)
    unregister_cue("user_fn")
    assert "user_fn" not in cue_names()


# ---- bad inputs ----------------------------------------------------------------------------------
def test_unknown_cue_errors_list_known_cues() -> None:
    with pytest.raises(KeyError, match="whistle_rising"):
        get_cue("woof")
    mic = make_mic(0)
    with pytest.raises(KeyError, match="unknown cue 'woof'"):
        mic.play("woof", 0.0)
    assert mic.schedule == ()
    with pytest.raises(KeyError):
        unregister_cue("woof")


def test_bad_user_cues_rejected(user_cues: list[str]) -> None:
    for bad in (np.zeros(100), np.array([]), np.ones((10, 2)), np.array([0.1, np.nan])):
        with pytest.raises(ValueError):
            register_cue("bad", bad)
    for builtin in ("clap", "whistle_rising"):
        with pytest.raises(ValueError, match="built-in"):
            register_cue(builtin, np.ones(100), overwrite=True)
        with pytest.raises(ValueError, match="built-in"):
            unregister_cue(builtin)
    with pytest.raises(ValueError, match="non-empty"):
        register_cue("", np.ones(100))
    assert "bad" not in cue_names()


def test_bad_wav_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not found"):
        load_wav(tmp_path / "missing.wav")
    text = tmp_path / "notes.wav"
    text.write_text("this is not audio")
    with pytest.raises(ValueError, match="not a supported WAV"):
        load_wav(text)
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="not a supported WAV"):
        load_wav(empty)
    # IEEE-float WAV (format tag 3): a valid file, but not integer PCM.
    data = np.zeros(16, dtype="<f4").tobytes()
    fmt = struct.pack("<HHIIHH", 3, 1, 16000, 64000, 4, 32)
    riff = (
        b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    )
    float_wav = tmp_path / "float.wav"
    float_wav.write_bytes(b"RIFF" + struct.pack("<I", len(riff)) + riff)
    with pytest.raises(ValueError, match="not a supported WAV"):
        load_wav(float_wav)
    silent = tmp_path / "silent.wav"
    write_wav(silent, np.zeros((100, 1), dtype=np.int16), 16000, 2)
    with pytest.raises(ValueError, match="silent"):
        register_wav_cue("quiet", silent)
    assert "quiet" not in cue_names()
