"""Tests for the simulated microphone (sim/microphone.py): fast, deterministic, numpy only."""

from __future__ import annotations

import numpy as np
import pytest

from sim.cues import BUILTIN_CUE_DURATIONS_S, CUE_NAMES, DEFAULT_SAMPLE_RATE_HZ, get_cue
from sim.microphone import INT16_FULL_SCALE, Microphone, MicrophoneConfig, float_to_int16

FS = DEFAULT_SAMPLE_RATE_HZ  # Hz


# ---- helpers -------------------------------------------------------------------------------------
def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(np.asarray(x, dtype=np.float64)))))


def make_mic(seed: int = 0, **config) -> Microphone:
    mic = Microphone(MicrophoneConfig(**config))
    mic.reset(np.random.default_rng(seed))
    return mic


def measured_snr_db(mic_cfg: dict, cue: str, at_s: float, seed: int = 4, **play_kw) -> float:
    """SNR in the int16 output: cue component (stream minus the same-seed cue-free stream) vs noise."""
    with_cue, without = make_mic(seed, **mic_cfg), make_mic(seed, **mic_cfg)
    sc = with_cue.play(cue, at_s, **play_kw)
    total = FS  # 1 s
    y = with_cue.read(total).astype(np.float64) / INT16_FULL_SCALE
    noise = without.read(total).astype(np.float64) / INT16_FULL_SCALE
    cue_part = (y - noise)[sc.start_sample : sc.end_sample]
    return 20.0 * np.log10(rms(cue_part) / rms(noise))


# ---- microphone stream ---------------------------------------------------------------------------
def test_chunked_reads_equal_one_read() -> None:
    def scheduled(seed: int) -> Microphone:
        mic = make_mic(seed)
        mic.play("whistle_rising", 0.015)  # spans the 320-sample chunk boundary
        mic.play("clap", 0.05)
        return mic

    whole = scheduled(3).read(4000)
    halves = scheduled(3)
    assert np.array_equal(np.concatenate([halves.read(320), halves.read(320)]), whole[:640])
    odd = scheduled(3)
    sizes = [1, 0, 37, 1000, 1024, 2, 1936]
    chunks = np.concatenate([odd.read(n) for n in sizes])
    assert len(chunks) == sum(sizes) == 4000
    assert np.array_equal(chunks, whole)
    assert odd.time_s == pytest.approx(4000 / FS)


def test_read_until_matches_read_and_does_not_drift() -> None:
    a, b = make_mic(5), make_mic(5)
    control_dt = 1.0 / 60.0  # not a whole number of samples
    pieces = [a.read_until(k * control_dt) for k in range(1, 61)]
    assert a.sample_index == FS
    assert np.array_equal(np.concatenate(pieces), b.read(FS))
    assert len(a.read_until(1.0)) == 0
    with pytest.raises(ValueError, match="before the microphone clock"):
        a.read_until(0.5)


def test_same_seed_same_stream_different_seed_different_noise() -> None:
    def stream(seed: int) -> np.ndarray:
        mic = make_mic(seed)
        mic.play("whistle_trill", 0.1)
        return mic.read(8000)

    assert np.array_equal(stream(11), stream(11))
    assert not np.array_equal(stream(11), stream(12))
    # Re-using a microphone: reset with the same seed restarts the identical stream.
    mic = make_mic(11)
    mic.play("whistle_trill", 0.1)
    first = mic.read(8000)
    mic.reset(np.random.default_rng(11))
    assert mic.schedule == () and mic.time_s == 0.0
    mic.play("whistle_trill", 0.1)
    assert np.array_equal(mic.read(8000), first)


def test_reset_consumes_the_shared_rng_once_and_read_never() -> None:
    rng = np.random.default_rng(9)
    mic = Microphone()
    mic.reset(rng)
    state = rng.bit_generator.state
    mic.read(5000)
    mic.read(17)
    assert rng.bit_generator.state == state


@pytest.mark.parametrize("color", ["white", "pink"])
def test_noise_level_and_colour(color: str) -> None:
    mic = make_mic(2, noise_level=0.05, noise_color=color)
    x = mic.read_float(2 * FS)
    assert rms(x) == pytest.approx(0.05, rel=0.05)
    assert abs(np.mean(x)) < 0.005
    power = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(len(x), 1.0 / FS)
    low = power[(freqs > 300) & (freqs < 1000)].mean()
    high = power[(freqs > 4000) & (freqs < 7000)].mean()
    if color == "white":
        assert 0.8 < low / high < 1.25
    else:
        assert low / high > 3.0  # 1/f: more power at low frequencies


@pytest.mark.parametrize("name", CUE_NAMES)
def test_output_snr_matches_config(name: str) -> None:
    assert measured_snr_db({"snr_db": 20.0}, name, 0.2) == pytest.approx(20.0, abs=0.5)


@pytest.mark.parametrize(("snr_db", "color"), [(0.0, "white"), (10.0, "pink"), (-6.0, "pink")])
def test_output_snr_other_levels(snr_db: float, color: str) -> None:
    cfg = {"snr_db": snr_db, "noise_color": color, "noise_level": 0.02}
    assert measured_snr_db(cfg, "whistle_double", 0.3) == pytest.approx(snr_db, abs=0.5)


def test_snr_measured_blind_from_the_mixture() -> None:
    """Without a clean reference: (power in the cue window - noise power) / noise power."""
    mic = make_mic(8, snr_db=6.0, noise_color="white")
    sc = mic.play("whistle_falling", 0.5)
    y = mic.read(2 * FS).astype(np.float64) / INT16_FULL_SCALE
    window = y[sc.start_sample : sc.end_sample]
    noise_only = np.concatenate([y[: sc.start_sample], y[sc.end_sample :]])
    p_noise = np.mean(noise_only**2)
    snr = 10.0 * np.log10((np.mean(window**2) - p_noise) / p_noise)
    assert snr == pytest.approx(6.0, abs=1.0)


def test_per_cue_snr_override_and_peak_mode() -> None:
    assert measured_snr_db({"snr_db": 20.0}, "clap", 0.1, snr_db=3.0) == pytest.approx(3.0, abs=0.5)
    mic = make_mic(1, snr_db=None, cue_gain=0.3)
    sc = mic.play("whistle_rising", 0.0)
    assert sc.peak == pytest.approx(0.3)
    ref = make_mic(1, snr_db=None, cue_gain=0.3)
    cue_part = (mic.read_float(FS) - ref.read_float(FS))[: sc.n_samples]
    assert np.max(np.abs(cue_part)) == pytest.approx(0.3, rel=1e-6)
    with pytest.raises(ValueError, match="snr_db"):
        mic.play("clap", 0.5, snr_db=10.0)  # peak mode has no noise-relative level


def test_overlapping_cues_add() -> None:
    both, a_only, b_only, neither = (make_mic(6) for _ in range(4))
    both.play("whistle_rising", 0.1)
    both.play("clap", 0.3)
    a_only.play("whistle_rising", 0.1)
    b_only.play("clap", 0.3)
    y = [m.read_float(FS) for m in (both, a_only, b_only, neither)]
    np.testing.assert_allclose(y[0] - y[3], (y[1] - y[3]) + (y[2] - y[3]), atol=1e-12)


def test_int16_conversion_saturates_instead_of_wrapping() -> None:
    out = float_to_int16(np.array([0.0, 0.5, 1.0, -1.0, 1.5, -1.5, 40.0, -40.0, 1.00002]))
    assert out.dtype == np.int16
    assert out.tolist() == [0, 16384, 32767, -32767, 32767, -32768, 32767, -32768, 32767]
    # A cue far above full scale: the stream pins at the rails and keeps the sign of the cue.
    mic = make_mic(0, snr_db=40.0, noise_level=0.1)  # cue RMS 10 x full scale
    sc = mic.play("whistle_double", 0.0)
    y = mic.read(sc.n_samples)
    cue = get_cue("whistle_double").astype(np.float64)
    assert y.max() == 32767 and y.min() == -32768
    assert np.all(y[cue > 0.2] == 32767) and np.all(y[cue < -0.2] == -32768)


def test_disabled_microphone_is_silent_but_keeps_time() -> None:
    mic = make_mic(0, enabled=False)
    mic.play("clap", 0.0)
    y = mic.read(1000)
    assert y.dtype == np.int16 and y.shape == (1000,) and not np.any(y)
    assert mic.time_s == pytest.approx(1000 / FS)
    assert mic.cues_heard() == ("clap",)


def test_active_cue_cues_heard_and_schedule() -> None:
    mic = make_mic(0)
    assert mic.active_cue() is None and mic.cues_heard() == ()
    mic.play("whistle_falling", 0.5)
    mic.play("clap", 0.1)
    assert [sc.name for sc in mic.schedule] == ["clap", "whistle_falling"]  # by start time
    assert mic.schedule[0].start_s == pytest.approx(0.1)
    assert mic.schedule[0].duration_s == pytest.approx(BUILTIN_CUE_DURATIONS_S["clap"])
    assert mic.active_cue(0.2) == "clap" and mic.active_cue(0.7) == "whistle_falling"
    assert mic.active_cue(0.05) is None
    mic.read_until(0.05)
    assert mic.active_cue() is None and mic.cues_heard() == ()
    mic.read_until(0.2)
    assert mic.active_cue() == "clap" and mic.cues_heard() == ("clap",)
    mic.read_until(0.6)
    assert mic.active_cue() == "whistle_falling"
    assert mic.cues_heard() == ("clap", "whistle_falling")
    mic.read_until(2.0)
    assert mic.active_cue() is None
    # Overlap: the most recently started cue is reported.
    mic.play("whistle_double", 2.0)
    mic.play("whistle_trill", 2.1)
    assert mic.active_cue(2.05) == "whistle_double" and mic.active_cue(2.2) == "whistle_trill"


def test_cue_scheduled_in_the_past_plays_only_its_remainder() -> None:
    late, early = make_mic(3), make_mic(3)
    early.play("whistle_rising", 0.3)
    late.read_until(0.5)
    early.read_until(0.5)
    late.play("whistle_rising", 0.3)  # 0.3 .. 0.9 s, the first 0.2 s already passed
    assert np.array_equal(late.read_until(1.0), early.read_until(1.0))
    gone = late.play("clap", 0.1)  # 0.1 .. 0.45 s: entirely before the clock
    assert gone.audible_from_sample >= gone.end_sample
    late.read(100)
    assert late.cues_heard() == ("whistle_rising",)
    assert late.active_cue(0.2) is None  # never sounded: was in the past when scheduled


# ---- bad inputs ----------------------------------------------------------------------------------
@pytest.mark.parametrize("at", [-0.1, float("nan"), float("inf"), "1.0", None])
def test_play_rejects_bad_times(at: object) -> None:
    with pytest.raises(ValueError, match="at_time_s"):
        make_mic(0).play("clap", at)  # type: ignore[arg-type]


def test_read_and_play_need_reset_and_sane_sizes() -> None:
    mic = Microphone()
    with pytest.raises(RuntimeError, match="reset"):
        mic.read(10)
    with pytest.raises(RuntimeError, match="reset"):
        mic.play("clap", 0.0)
    with pytest.raises(TypeError):
        mic.reset(np.random.RandomState(0))  # type: ignore[arg-type]
    mic.reset(np.random.default_rng(0))
    with pytest.raises(ValueError, match=">= 0"):
        mic.read(-1)
    with pytest.raises(TypeError):
        mic.read(3.5)  # type: ignore[arg-type]
    assert mic.read(np.int64(4)).shape == (4,)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"sample_rate_hz": 0},
        {"sample_rate_hz": 16000.0},
        {"sample_rate_hz": True},
        {"snr_db": float("nan")},
        {"noise_level": -0.01},
        {"noise_level": 2.0},
        {"noise_level": 0.0},  # with the default snr_db the cue level would be undefined
        {"cue_gain": 0.0},
        {"cue_gain": 1.5},
        {"noise_color": "purple"},
        {"enabled": 1},
    ],
)
def test_bad_config_rejected(kwargs: dict) -> None:
    with pytest.raises((ValueError, TypeError)):
        MicrophoneConfig(**kwargs)


def test_silent_background_allowed_in_peak_mode() -> None:
    mic = make_mic(0, snr_db=None, noise_level=0.0)
    assert not np.any(mic.read(100))
