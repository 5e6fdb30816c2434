"""Simulated microphone and procedurally synthesised audio cues (no ROS, numpy + stdlib ``wave`` only).

Model of the microphone
-----------------------
The robot carries one mono microphone sampled at ``sample_rate_hz`` (16 kHz by default, as on the
``/audio/pcm`` topic). Everything is expressed in *full-scale units*: a float sample of 1.0 is the
largest value the int16 converter can represent (32767), so a level of 0.01 is -40 dBFS.

What the microphone hears is the sum of

1. **background noise**: zero-mean Gaussian noise with RMS ``noise_level``, either white or
   approximately pink (power ~ 1/f between ``sample_rate_hz / PINK_KERNEL_TAPS`` and Nyquist, made by
   a fixed FIR colouring filter normalised to unit gain so the RMS stays exactly ``noise_level`` in
   expectation). It is always present, whether or not a cue is playing, and it never depends on
   which cues were scheduled;
2. **scheduled cues**: waveforms from the cue registry that the scene plays at chosen simulation
   times with :meth:`Microphone.play`. Overlapping cues add linearly.

The sum is converted to int16 with saturation (values beyond full scale clip to 32767 / -32768; they
never wrap around).

Cue level and the SNR definition
--------------------------------
With ``snr_db`` set (the default), every cue is scaled so that::

    snr_db = 20 * log10( rms(scaled cue over its whole duration) / noise_level )

where the cue RMS is taken over every sample of the cue waveform, internal silences included (so a
double whistle with a gap is measured over the gap too), and ``noise_level`` is the configured
background-noise RMS. The noise realisation's RMS matches ``noise_level`` up to sampling error
(well under 0.1 dB over one second of audio). At the defaults (20 dB over 0.01 RMS, cue RMS 0.1)
every built-in cue peaks below 0.8 full scale; higher SNRs, louder noise or very impulsive user cues
can push the mix past full scale, where it saturates (see ``ScheduledCue.peak``).

With ``snr_db=None`` the SNR is not controlled: each cue is scaled to a fixed peak amplitude
``cue_gain``. Either way the level stored in the registry (built-in cues are unit-peak, WAV files
keep their recorded level) does not matter, only its shape.

Determinism
-----------
The only source of randomness is the ``np.random.Generator`` passed to :meth:`Microphone.reset`
(the environment's ``self.np_random``). ``reset`` draws exactly one integer from it to seed a private
generator, so the shared generator is consumed the same way however the stream is read later.
Noise is generated in fixed blocks of ``NOISE_BLOCK_SAMPLES`` from that private generator and
buffered, so the stream is a pure function of the seed and the absolute sample index: reading 320
then 320 samples gives exactly the same samples as reading 640 at once. Built-in cues are
deterministic too (the clap's noise comes from a fixed internal seed unless an rng is passed).

Cues
----
Built-in cues (``CUE_NAMES``), all unit-peak float32 with raised-cosine fades of ``FADE_S``:

=================== ======== ===========================================================
name                duration pattern
=================== ======== ===========================================================
``whistle_rising``  0.6 s    linear chirp 1.2 -> 2.8 kHz
``whistle_falling`` 0.6 s    linear chirp 2.8 -> 1.2 kHz
``whistle_double``  0.4 s    two 0.15 s tones at 2.0 kHz separated by a 0.1 s gap
``whistle_trill``   0.5 s    2.2 kHz carrier, frequency-modulated +-0.3 kHz at 12 Hz
``clap``            0.35 s   two broadband noise bursts 0.2 s apart, 25 ms exponential decay
``click``           0.3 s    four 3.5 kHz tongue clicks 0.08 s apart, 6 ms exponential decay
=================== ======== ===========================================================

User cues are added with :func:`register_cue` (an array at a given sample rate, or a callable
``f(sample_rate_hz) -> waveform``) or :func:`register_wav_cue` (a PCM WAV file read by
:func:`load_wav`). Resampling everywhere is linear interpolation without an anti-aliasing filter,
which is adequate for cue content well below the lower Nyquist frequency.
"""

from __future__ import annotations

import math
import operator
import wave
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np

# --------------------------------------------------------------------------------------------------
# Constants
# --------------------------------------------------------------------------------------------------
DEFAULT_SAMPLE_RATE_HZ = 16000  # Hz, mono PCM rate of /audio/pcm
MIN_SAMPLE_RATE_HZ = 4000  # Hz, below this the 2.8 kHz whistles alias
MAX_SAMPLE_RATE_HZ = 192000  # Hz

INT16_FULL_SCALE = 32767  # int16 code of a +1.0 full-scale float sample
INT16_MIN = -32768
INT16_MAX = 32767

DEFAULT_SNR_DB = 20.0  # dB, cue RMS over noise RMS
DEFAULT_NOISE_LEVEL = 0.01  # full-scale RMS of the background noise (-40 dBFS)
DEFAULT_CUE_GAIN = 0.5  # full-scale peak of a cue when snr_db is None

NOISE_COLORS = ("white", "pink")
DEFAULT_NOISE_COLOR = "pink"
PINK_KERNEL_TAPS = 64  # FIR length of the pink-noise colouring filter (1/f above fs / taps)
NOISE_BLOCK_SAMPLES = 1024  # noise is drawn from the private generator in blocks of this many samples
RNG_SEED_HIGH = 2**63  # exclusive upper bound of the seed drawn from the caller's generator

FADE_S = 0.01  # s, raised-cosine fade-in/out applied to every tone so it does not click

# Rising / falling chirps.
WHISTLE_CHIRP_DURATION_S = 0.6  # s
WHISTLE_LOW_HZ = 1200.0  # Hz
WHISTLE_HIGH_HZ = 2800.0  # Hz

# Double whistle: tone, gap, tone at a fixed pitch.
WHISTLE_DOUBLE_TONE_S = 0.15  # s, each tone
WHISTLE_DOUBLE_GAP_S = 0.10  # s, silence between the tones
WHISTLE_DOUBLE_HZ = 2000.0  # Hz
WHISTLE_DOUBLE_DURATION_S = 2 * WHISTLE_DOUBLE_TONE_S + WHISTLE_DOUBLE_GAP_S  # s, 0.4

# Trill: frequency-modulated warble.
WHISTLE_TRILL_DURATION_S = 0.5  # s
WHISTLE_TRILL_CARRIER_HZ = 2200.0  # Hz
WHISTLE_TRILL_DEVIATION_HZ = 300.0  # Hz, peak frequency deviation
WHISTLE_TRILL_RATE_HZ = 12.0  # Hz, warble (modulation) rate

# Clap: broadband noise bursts with a fast exponential decay. Uniform (not Gaussian) noise and a
# decay that includes some room ring keep the crest factor (peak / RMS) near 6, so a clap at the
# default 20 dB SNR over the default noise peaks around 0.6 full scale instead of clipping.
CLAP_DURATION_S = 0.35  # s
CLAP_ONSETS_S = (0.0, 0.2)  # s, burst start times within the cue
CLAP_DECAY_S = 0.025  # s, exponential decay time constant of each burst
CLAP_ATTACK_S = 0.001  # s, linear attack of each burst (avoids a single-sample step)
CLAP_NOISE_SEED = 20240611  # fixed seed of the clap's noise when no rng is passed

# Click: a train of short decaying tonal ticks (tongue clicks); crest factor about 7.
CLICK_DURATION_S = 0.3  # s
CLICK_ONSETS_S = (0.0, 0.08, 0.16, 0.24)  # s
CLICK_HZ = 3500.0  # Hz, ringing frequency of each click
CLICK_DECAY_S = 0.006  # s, exponential decay time constant
CLICK_ATTACK_S = 0.0005  # s

# Long whistle: one steady tone, longer than the others.
WHISTLE_LONG_DURATION_S = 0.8  # s
WHISTLE_LONG_HZ = 1500.0  # Hz

# Triple clap: three bursts, faster than the double clap.
CLAP_TRIPLE_ONSETS_S = (0.0, 0.15, 0.3)  # s
CLAP_TRIPLE_DURATION_S = 0.45  # s

CUE_NAMES: tuple[str, ...] = (
    "whistle_rising",
    "whistle_falling",
    "whistle_double",
    "whistle_trill",
    "clap",
    "click",
    "whistle_long",
    "clap_triple",
)
BUILTIN_CUE_DURATIONS_S: Mapping[str, float] = MappingProxyType(
    {
        "whistle_rising": WHISTLE_CHIRP_DURATION_S,
        "whistle_falling": WHISTLE_CHIRP_DURATION_S,
        "whistle_double": WHISTLE_DOUBLE_DURATION_S,
        "whistle_trill": WHISTLE_TRILL_DURATION_S,
        "clap": CLAP_DURATION_S,
        "click": CLICK_DURATION_S,
        "whistle_long": WHISTLE_LONG_DURATION_S,
        "clap_triple": CLAP_TRIPLE_DURATION_S,
    }
)

WAV_SAMPLE_WIDTHS_BYTES = (1, 2, 3, 4)  # 8-, 16-, 24- and 32-bit integer PCM


# --------------------------------------------------------------------------------------------------
# Small signal helpers
# --------------------------------------------------------------------------------------------------
def _check_sample_rate(sample_rate_hz: int) -> int:
    if isinstance(sample_rate_hz, bool) or not isinstance(sample_rate_hz, int | np.integer):
        raise TypeError(f"sample_rate_hz must be an int, got {type(sample_rate_hz).__name__}")
    rate = int(sample_rate_hz)
    if not MIN_SAMPLE_RATE_HZ <= rate <= MAX_SAMPLE_RATE_HZ:
        raise ValueError(
            f"sample_rate_hz must be in [{MIN_SAMPLE_RATE_HZ}, {MAX_SAMPLE_RATE_HZ}] Hz, got {rate}"
        )
    return rate


def _n_samples(duration_s: float, sample_rate_hz: int) -> int:
    return int(round(duration_s * sample_rate_hz))


def _time_axis(n: int, sample_rate_hz: int) -> np.ndarray:
    """Sample times in seconds, shape (n,)."""
    return np.arange(n, dtype=np.float64) / sample_rate_hz


def _fade(x: np.ndarray, sample_rate_hz: int, fade_s: float = FADE_S) -> np.ndarray:
    """Apply a raised-cosine fade-in and fade-out of ``fade_s`` seconds to ``x`` (copy)."""
    n_fade = min(_n_samples(fade_s, sample_rate_hz), len(x) // 2)
    y = np.array(x, dtype=np.float64)
    if n_fade > 0:
        ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(n_fade) + 0.5) / n_fade)  # (n_fade,), 0 -> 1
        y[:n_fade] *= ramp
        y[-n_fade:] *= ramp[::-1]
    return y


def _tone_from_frequency(freq_hz: np.ndarray, sample_rate_hz: int) -> np.ndarray:
    """Sine wave whose instantaneous frequency follows ``freq_hz`` (Hz, one per sample)."""
    phase = 2.0 * np.pi * np.cumsum(freq_hz) / sample_rate_hz  # rad
    phase -= phase[0]  # start at zero phase
    return np.sin(phase)


def _unit_peak(x: np.ndarray) -> np.ndarray:
    """Scale to peak |x| = 1 and cast to float32."""
    peak = float(np.max(np.abs(x)))
    if peak <= 0.0:
        raise ValueError("cannot normalise a silent waveform")
    return (x / peak).astype(np.float32)


def _decaying_bursts(
    carrier: np.ndarray,
    onsets_s: tuple[float, ...],
    attack_s: float,
    decay_s: float,
    sample_rate_hz: int,
) -> np.ndarray:
    """Multiply ``carrier`` by a sum of attack + exponential-decay envelopes starting at ``onsets_s``."""
    t = _time_axis(len(carrier), sample_rate_hz)
    envelope = np.zeros_like(t)
    for onset in onsets_s:
        dt = t - onset  # s since this burst began
        attack = np.clip(dt / attack_s, 0.0, 1.0)
        decay = np.exp(-np.maximum(dt - attack_s, 0.0) / decay_s)
        envelope += np.where(dt >= 0.0, attack * decay, 0.0)
    return carrier * envelope


def resample_linear(x: np.ndarray, src_rate_hz: int, dst_rate_hz: int) -> np.ndarray:
    """Resample a 1-D signal by linear interpolation; output length is round(len(x) * dst / src).

    No anti-aliasing filter is applied when downsampling.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"expected a 1-D signal, got shape {x.shape}")
    if src_rate_hz <= 0 or dst_rate_hz <= 0:
        raise ValueError(f"sample rates must be positive, got {src_rate_hz} -> {dst_rate_hz}")
    if src_rate_hz == dst_rate_hz or len(x) == 0:
        return x.astype(np.float32)
    n_out = max(1, int(round(len(x) * dst_rate_hz / src_rate_hz)))
    positions = np.arange(n_out, dtype=np.float64) * (src_rate_hz / dst_rate_hz)  # in input samples
    return np.interp(positions, np.arange(len(x), dtype=np.float64), x).astype(np.float32)


def float_to_int16(x: np.ndarray) -> np.ndarray:
    """Convert full-scale float samples to int16 PCM, rounding and saturating (never wrapping)."""
    scaled = np.rint(np.asarray(x, dtype=np.float64) * INT16_FULL_SCALE)
    return np.clip(scaled, INT16_MIN, INT16_MAX).astype(np.int16)


# --------------------------------------------------------------------------------------------------
# Procedural cues: each returns a unit-peak float32 waveform, shape (round(duration * rate),)
# --------------------------------------------------------------------------------------------------
def _chirp(f_start_hz: float, f_end_hz: float, sample_rate_hz: int) -> np.ndarray:
    rate = _check_sample_rate(sample_rate_hz)
    n = _n_samples(WHISTLE_CHIRP_DURATION_S, rate)
    freq = np.linspace(f_start_hz, f_end_hz, n)  # Hz, linear sweep
    return _unit_peak(_fade(_tone_from_frequency(freq, rate), rate))


def whistle_rising(sample_rate_hz: int = DEFAULT_SAMPLE_RATE_HZ) -> np.ndarray:
    """Upward whistle: linear chirp WHISTLE_LOW_HZ -> WHISTLE_HIGH_HZ over WHISTLE_CHIRP_DURATION_S."""
    return _chirp(WHISTLE_LOW_HZ, WHISTLE_HIGH_HZ, sample_rate_hz)


def whistle_falling(sample_rate_hz: int = DEFAULT_SAMPLE_RATE_HZ) -> np.ndarray:
    """Downward whistle: linear chirp WHISTLE_HIGH_HZ -> WHISTLE_LOW_HZ over WHISTLE_CHIRP_DURATION_S."""
    return _chirp(WHISTLE_HIGH_HZ, WHISTLE_LOW_HZ, sample_rate_hz)


def whistle_double(sample_rate_hz: int = DEFAULT_SAMPLE_RATE_HZ) -> np.ndarray:
    """Two short WHISTLE_DOUBLE_HZ tones separated by a WHISTLE_DOUBLE_GAP_S silence."""
    rate = _check_sample_rate(sample_rate_hz)
    n_tone = _n_samples(WHISTLE_DOUBLE_TONE_S, rate)
    n_gap = _n_samples(WHISTLE_DOUBLE_GAP_S, rate)
    tone = _fade(_tone_from_frequency(np.full(n_tone, WHISTLE_DOUBLE_HZ), rate), rate)
    return _unit_peak(np.concatenate([tone, np.zeros(n_gap), tone]))


def whistle_trill(sample_rate_hz: int = DEFAULT_SAMPLE_RATE_HZ) -> np.ndarray:
    """Warble: a WHISTLE_TRILL_CARRIER_HZ tone frequency-modulated at WHISTLE_TRILL_RATE_HZ."""
    rate = _check_sample_rate(sample_rate_hz)
    t = _time_axis(_n_samples(WHISTLE_TRILL_DURATION_S, rate), rate)
    freq = WHISTLE_TRILL_CARRIER_HZ + WHISTLE_TRILL_DEVIATION_HZ * np.sin(
        2.0 * np.pi * WHISTLE_TRILL_RATE_HZ * t
    )
    return _unit_peak(_fade(_tone_from_frequency(freq, rate), rate))


def clap(sample_rate_hz: int = DEFAULT_SAMPLE_RATE_HZ, rng: np.random.Generator | None = None) -> np.ndarray:
    """Double hand clap: uniform white-noise bursts at CLAP_ONSETS_S, CLAP_DECAY_S exponential decay.

    The noise comes from ``rng`` if given, otherwise from a generator seeded with CLAP_NOISE_SEED, so
    the registered ``clap`` cue is the same waveform every time.
    """
    rate = _check_sample_rate(sample_rate_hz)
    gen = rng if rng is not None else np.random.default_rng(CLAP_NOISE_SEED)
    noise = gen.uniform(-1.0, 1.0, _n_samples(CLAP_DURATION_S, rate))  # flat spectrum, crest sqrt(3)
    bursts = _decaying_bursts(noise, CLAP_ONSETS_S, CLAP_ATTACK_S, CLAP_DECAY_S, rate)
    return _unit_peak(_fade(bursts, rate))


def whistle_long(sample_rate_hz: int = DEFAULT_SAMPLE_RATE_HZ) -> np.ndarray:
    """A steady WHISTLE_LONG_HZ tone held for WHISTLE_LONG_DURATION_S."""
    rate = _check_sample_rate(sample_rate_hz)
    freq = np.full(_n_samples(WHISTLE_LONG_DURATION_S, rate), WHISTLE_LONG_HZ)
    return _unit_peak(_fade(_tone_from_frequency(freq, rate), rate))


def clap_triple(
    sample_rate_hz: int = DEFAULT_SAMPLE_RATE_HZ, rng: np.random.Generator | None = None
) -> np.ndarray:
    """Triple hand clap: noise bursts at CLAP_TRIPLE_ONSETS_S (same burst shape as `clap`)."""
    rate = _check_sample_rate(sample_rate_hz)
    gen = rng if rng is not None else np.random.default_rng(CLAP_NOISE_SEED + 1)
    noise = gen.uniform(-1.0, 1.0, _n_samples(CLAP_TRIPLE_DURATION_S, rate))
    bursts = _decaying_bursts(noise, CLAP_TRIPLE_ONSETS_S, CLAP_ATTACK_S, CLAP_DECAY_S, rate)
    return _unit_peak(_fade(bursts, rate))


def click(sample_rate_hz: int = DEFAULT_SAMPLE_RATE_HZ) -> np.ndarray:
    """Tongue-click train: CLICK_HZ ringing ticks at CLICK_ONSETS_S with a CLICK_DECAY_S decay."""
    rate = _check_sample_rate(sample_rate_hz)
    n = _n_samples(CLICK_DURATION_S, rate)
    carrier = np.sin(2.0 * np.pi * CLICK_HZ * _time_axis(n, rate))
    ticks = _decaying_bursts(carrier, CLICK_ONSETS_S, CLICK_ATTACK_S, CLICK_DECAY_S, rate)
    return _unit_peak(_fade(ticks, rate))


# --------------------------------------------------------------------------------------------------
# WAV files
# --------------------------------------------------------------------------------------------------
def _pcm_bytes_to_float(frames: bytes, sample_width: int) -> np.ndarray:
    """Decode little-endian integer PCM bytes to float64 in [-1, 1), interleaved channels kept flat."""
    if sample_width == 1:  # unsigned 8-bit, 128 = silence
        return (np.frombuffer(frames, dtype=np.uint8).astype(np.float64) - 128.0) / 128.0
    if sample_width == 2:
        return np.frombuffer(frames, dtype="<i2").astype(np.float64) / 32768.0
    if sample_width == 3:  # 24-bit: sign-extend three bytes into an int32
        raw = np.frombuffer(frames, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        value = raw[:, 0] | (raw[:, 1] << 8) | (raw[:, 2] << 16)
        value = np.where(value >= 1 << 23, value - (1 << 24), value)
        return value.astype(np.float64) / float(1 << 23)
    if sample_width == 4:
        return np.frombuffer(frames, dtype="<i4").astype(np.float64) / float(1 << 31)
    raise ValueError(
        f"unsupported WAV sample width {8 * sample_width} bit; supported: "
        f"{[8 * w for w in WAV_SAMPLE_WIDTHS_BYTES]} bit integer PCM"
    )


def load_wav(path: str | Path, sample_rate_hz: int = DEFAULT_SAMPLE_RATE_HZ) -> np.ndarray:
    """Read an integer-PCM WAV file as mono float32 in [-1, 1] at ``sample_rate_hz``.

    Multi-channel files are mixed down by averaging the channels; the result is resampled from the
    file's rate by linear interpolation. Raises FileNotFoundError if ``path`` does not exist and
    ValueError for anything that is not a readable 8/16/24/32-bit integer PCM WAV file.
    """
    rate = _check_sample_rate(sample_rate_hz)
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"WAV file not found: {path}")
    try:
        with wave.open(str(path), "rb") as wav:
            n_channels = wav.getnchannels()
            sample_width = wav.getsampwidth()
            file_rate = wav.getframerate()
            compression = wav.getcomptype()
            frames = wav.readframes(wav.getnframes())
    except (wave.Error, EOFError) as err:
        raise ValueError(
            f"{path} is not a supported WAV file ({err}); expected uncompressed integer PCM"
        ) from err
    if compression != "NONE":
        raise ValueError(f"{path}: compressed WAV ({compression}) is not supported")
    if n_channels < 1 or file_rate <= 0:
        raise ValueError(f"{path}: invalid header ({n_channels} channels, {file_rate} Hz)")
    if len(frames) % (n_channels * sample_width) != 0:
        raise ValueError(f"{path}: truncated sample data")
    samples = _pcm_bytes_to_float(frames, sample_width).reshape(-1, n_channels)  # (frames, channels)
    if samples.shape[0] == 0:
        raise ValueError(f"{path}: WAV file contains no samples")
    mono = samples.mean(axis=1)  # (frames,)
    return np.clip(resample_linear(mono, file_rate, rate), -1.0, 1.0).astype(np.float32)


# --------------------------------------------------------------------------------------------------
# Cue registry
# --------------------------------------------------------------------------------------------------
CueFactory = Callable[[int], np.ndarray]  # sample_rate_hz -> waveform, shape (n,)

_BUILTIN_FACTORIES: dict[str, CueFactory] = {
    "whistle_rising": whistle_rising,
    "whistle_falling": whistle_falling,
    "whistle_double": whistle_double,
    "whistle_trill": whistle_trill,
    "clap": clap,
    "click": click,
    "whistle_long": whistle_long,
    "clap_triple": clap_triple,
}
_registry: dict[str, CueFactory] = dict(_BUILTIN_FACTORIES)
_cache: dict[tuple[str, int], np.ndarray] = {}


def cue_names() -> tuple[str, ...]:
    """Names of all registered cues: the built-ins (CUE_NAMES) then user cues in registration order."""
    return tuple(_registry)


def _validate_waveform(x: np.ndarray, what: str) -> np.ndarray:
    """Check a waveform is 1-D, non-empty, finite and not silent; return it as float32."""
    arr = np.asarray(x)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{what} must be a non-empty 1-D waveform, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise ValueError(f"{what} must be a real numeric waveform, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} contains NaN or inf")
    if not np.any(arr != 0.0):
        raise ValueError(f"{what} is silent (all zeros)")
    return arr.astype(np.float32)


def _check_cue_name(name: str, overwrite: bool) -> None:
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"cue name must be a non-empty string, got {name!r}")
    if name in _BUILTIN_FACTORIES:
        raise ValueError(f"{name!r} is a built-in cue and cannot be replaced")
    if name in _registry and not overwrite:
        raise ValueError(f"cue {name!r} is already registered (pass overwrite=True to replace it)")


def register_cue(
    name: str,
    waveform_or_callable: np.ndarray | CueFactory,
    sample_rate_hz: int = DEFAULT_SAMPLE_RATE_HZ,
    *,
    overwrite: bool = False,
) -> None:
    """Register a user cue under ``name``.

    ``waveform_or_callable`` is either a 1-D waveform sampled at ``sample_rate_hz`` (resampled
    linearly when requested at another rate) or a callable ``f(sample_rate_hz) -> waveform``. Its
    absolute level does not matter: the microphone rescales every cue (see the module docstring).
    """
    _check_cue_name(name, overwrite)
    if callable(waveform_or_callable):
        factory: CueFactory = waveform_or_callable
    else:
        src_rate = _check_sample_rate(sample_rate_hz)
        wave_f32 = _validate_waveform(waveform_or_callable, f"cue {name!r}")

        def factory(rate: int, _w: np.ndarray = wave_f32, _src: int = src_rate) -> np.ndarray:
            return resample_linear(_w, _src, rate)

    _registry[name] = factory
    for key in [k for k in _cache if k[0] == name]:
        del _cache[key]


def register_wav_cue(name: str, path: str | Path, *, overwrite: bool = False) -> None:
    """Register the WAV file at ``path`` as cue ``name`` (read now, so a bad file fails here)."""
    _check_cue_name(name, overwrite)
    path = Path(path)
    waveform = load_wav(path, DEFAULT_SAMPLE_RATE_HZ)
    _validate_waveform(waveform, f"WAV cue {name!r} ({path})")
    register_cue(name, waveform, DEFAULT_SAMPLE_RATE_HZ, overwrite=overwrite)


def unregister_cue(name: str) -> None:
    """Remove a user cue. Built-in cues cannot be removed."""
    if name in _BUILTIN_FACTORIES:
        raise ValueError(f"{name!r} is a built-in cue and cannot be removed")
    if name not in _registry:
        raise KeyError(f"unknown cue {name!r}; known cues: {', '.join(cue_names())}")
    del _registry[name]
    for key in [k for k in _cache if k[0] == name]:
        del _cache[key]


def get_cue(name: str, sample_rate_hz: int = DEFAULT_SAMPLE_RATE_HZ) -> np.ndarray:
    """Waveform of cue ``name`` at ``sample_rate_hz``: float32 in [-1, 1], shape (n,). Returns a copy.

    A user cue louder than full scale is scaled down to unit peak (not clipped, so its shape is kept).

    Raises KeyError listing the known cues if ``name`` is not registered.
    """
    if name not in _registry:
        raise KeyError(f"unknown cue {name!r}; known cues: {', '.join(cue_names())}")
    rate = _check_sample_rate(sample_rate_hz)
    key = (name, rate)
    if key not in _cache:
        waveform = _validate_waveform(_registry[name](rate), f"cue {name!r}")
        peak = float(np.max(np.abs(waveform)))
        _cache[key] = waveform / np.float32(peak) if peak > 1.0 else waveform  # keep in [-1, 1]
    return _cache[key].copy()


def cue_duration_s(name: str, sample_rate_hz: int = DEFAULT_SAMPLE_RATE_HZ) -> float:
    """Duration of cue ``name`` in seconds (at ``sample_rate_hz``)."""
    rate = _check_sample_rate(sample_rate_hz)
    return len(get_cue(name, rate)) / rate


# --------------------------------------------------------------------------------------------------
# Microphone
# --------------------------------------------------------------------------------------------------
def _is_real(x: object) -> bool:
    return isinstance(x, int | float | np.integer | np.floating) and not isinstance(x, bool)


@dataclass(frozen=True)
class MicrophoneConfig:
    """Microphone settings (validated on construction).

    sample_rate_hz: PCM sample rate, Hz.
    snr_db: cue-to-noise ratio in dB, 20*log10(cue RMS over its duration / noise_level); None plays
        every cue at a fixed peak ``cue_gain`` instead.
    noise_level: background-noise RMS in full-scale units (0 = silent background; must be > 0
        when snr_db is set, since the cue level is defined relative to it).
    cue_gain: cue peak amplitude in full-scale units, used only when snr_db is None.
    noise_color: "white" or "pink" background noise.
    enabled: when False, read() returns silence (the clock and schedule still advance).
    """

    sample_rate_hz: int = DEFAULT_SAMPLE_RATE_HZ
    snr_db: float | None = DEFAULT_SNR_DB
    noise_level: float = DEFAULT_NOISE_LEVEL
    cue_gain: float = DEFAULT_CUE_GAIN
    noise_color: str = DEFAULT_NOISE_COLOR
    enabled: bool = True

    def __post_init__(self) -> None:
        _check_sample_rate(self.sample_rate_hz)
        if self.snr_db is not None and (not _is_real(self.snr_db) or not math.isfinite(self.snr_db)):
            raise ValueError(f"snr_db must be a finite number or None, got {self.snr_db!r}")
        if not _is_real(self.noise_level) or not 0.0 <= self.noise_level <= 1.0:
            raise ValueError(f"noise_level must be an RMS in [0, 1] full scale, got {self.noise_level!r}")
        if self.snr_db is not None and self.noise_level == 0.0:
            raise ValueError("noise_level must be > 0 when snr_db is set (cue level is relative to it)")
        if not _is_real(self.cue_gain) or not 0.0 < self.cue_gain <= 1.0:
            raise ValueError(f"cue_gain must be a peak amplitude in (0, 1], got {self.cue_gain!r}")
        if self.noise_color not in NOISE_COLORS:
            raise ValueError(f"noise_color must be one of {NOISE_COLORS}, got {self.noise_color!r}")
        if not isinstance(self.enabled, bool):
            raise TypeError(f"enabled must be a bool, got {type(self.enabled).__name__}")


@dataclass(frozen=True)
class ScheduledCue:
    """One cue scheduled on the microphone (information only).

    start_sample / n_samples are in microphone samples; scheduled_at_sample is the microphone clock
    when play() was called (samples before it were already read, so that part of a cue scheduled in
    the past is never heard); scale is the factor applied to the registry waveform; rms and peak are
    those of the scaled cue (full scale).
    """

    name: str
    start_s: float
    duration_s: float
    start_sample: int
    n_samples: int
    scheduled_at_sample: int
    scale: float
    rms: float
    peak: float

    @property
    def audible_from_sample(self) -> int:
        """First sample of this cue that reaches the stream."""
        return max(self.start_sample, self.scheduled_at_sample)

    @property
    def end_sample(self) -> int:
        return self.start_sample + self.n_samples

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s


def _colouring_kernel(noise_color: str) -> np.ndarray:
    """Unit-L2-norm FIR kernel turning unit white noise into unit-RMS noise of the given colour."""
    if noise_color == "white":
        return np.ones(1)
    taps = 1.0 / np.sqrt(np.arange(1, PINK_KERNEL_TAPS + 1, dtype=np.float64))  # ~1/f power
    return taps / np.linalg.norm(taps)


class Microphone:
    """Simulated mono microphone: background noise plus scheduled cues, read as int16 chunks.

    Usage::

        mic = Microphone(MicrophoneConfig(snr_db=15.0))
        mic.reset(env.np_random)
        mic.play("whistle_rising", at_time_s=1.0)
        pcm = mic.read(320)          # int16, shape (320,): the next 20 ms at 16 kHz
        mic.read_until(sim_time_s)   # or: everything up to a simulation time
    """

    def __init__(self, config: MicrophoneConfig | None = None) -> None:
        self.config = config if config is not None else MicrophoneConfig()
        self._kernel = _colouring_kernel(self.config.noise_color)  # (taps,)
        self._noise_rng: np.random.Generator | None = None
        self._white_tail = np.zeros(0)  # (taps - 1,) last white samples, for FIR continuity
        self._noise_buf = np.zeros(0)  # generated but unread coloured noise, full scale
        self._sample = 0  # samples read since reset
        self._cues: list[tuple[ScheduledCue, np.ndarray]] = []  # with scaled float64 waveform

    # ---- state -------------------------------------------------------------------------------
    @property
    def sample_rate_hz(self) -> int:
        return self.config.sample_rate_hz

    @property
    def sample_index(self) -> int:
        """Number of samples read since reset (the index of the next sample)."""
        return self._sample

    @property
    def time_s(self) -> float:
        """Microphone clock: duration of audio read since reset, s."""
        return self._sample / self.config.sample_rate_hz

    @property
    def schedule(self) -> tuple[ScheduledCue, ...]:
        """All cues scheduled since reset, ordered by start time (then scheduling order)."""
        return tuple(sc for sc, _ in sorted(self._cues, key=lambda item: item[0].start_sample))

    def reset(self, rng: np.random.Generator) -> None:
        """Clear the schedule and the clock, and reseed the noise from ``rng`` (one draw)."""
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        seed = int(rng.integers(0, RNG_SEED_HIGH))
        self._noise_rng = np.random.default_rng(seed)
        # Warm the colouring filter so the noise is stationary from sample 0.
        self._white_tail = self._noise_rng.standard_normal(len(self._kernel) - 1)
        self._noise_buf = np.zeros(0)
        self._sample = 0
        self._cues = []

    # ---- scheduling --------------------------------------------------------------------------
    def _cue_scale(self, waveform: np.ndarray, snr_db: float | None) -> float:
        if snr_db is None:
            return self.config.cue_gain / float(np.max(np.abs(waveform)))
        target_rms = self.config.noise_level * 10.0 ** (snr_db / 20.0)
        return target_rms / float(np.sqrt(np.mean(np.square(waveform, dtype=np.float64))))

    def play(self, cue_name: str, at_time_s: float, *, snr_db: float | None = None) -> ScheduledCue:
        """Schedule ``cue_name`` to start at simulation time ``at_time_s`` (s, >= 0).

        The time may be in the future, now, or in the past; the part of a cue before the current
        clock has already gone unheard and only the rest plays. Overlapping cues add. ``snr_db``
        overrides the configured SNR for this cue only (requires the config's snr_db mode).
        """
        if self._noise_rng is None:
            raise RuntimeError("call Microphone.reset(rng) before play()")
        if not _is_real(at_time_s) or not math.isfinite(at_time_s) or at_time_s < 0.0:
            raise ValueError(f"at_time_s must be a finite time >= 0 s, got {at_time_s!r}")
        if snr_db is not None:
            if self.config.snr_db is None:
                raise ValueError("per-cue snr_db needs a config with snr_db set (noise-relative levels)")
            if not _is_real(snr_db) or not math.isfinite(snr_db):
                raise ValueError(f"snr_db must be a finite number, got {snr_db!r}")
        rate = self.config.sample_rate_hz
        waveform = get_cue(cue_name, rate).astype(np.float64)  # raises KeyError for unknown names
        scale = self._cue_scale(waveform, snr_db if snr_db is not None else self.config.snr_db)
        scaled = waveform * scale
        start_sample = int(round(at_time_s * rate))
        info = ScheduledCue(
            name=cue_name,
            start_s=start_sample / rate,
            duration_s=len(scaled) / rate,
            start_sample=start_sample,
            n_samples=len(scaled),
            scheduled_at_sample=self._sample,
            scale=scale,
            rms=float(np.sqrt(np.mean(np.square(scaled)))),
            peak=float(np.max(np.abs(scaled))),
        )
        self._cues.append((info, scaled))
        return info

    def active_cue(self, at_time_s: float | None = None) -> str | None:
        """Name of the cue sounding at ``at_time_s`` (default: the last sample read), or None.

        A cue sounds over [start_s, end_s), minus any part that was already in the past when it was
        scheduled. If several overlap, the most recently started one wins.
        """
        if at_time_s is None:
            if self._sample == 0:
                return None
            sample = self._sample - 1
        else:
            if not _is_real(at_time_s) or not math.isfinite(at_time_s):
                raise ValueError(f"at_time_s must be a finite number, got {at_time_s!r}")
            sample = int(math.floor(at_time_s * self.config.sample_rate_hz))
        sounding = [sc for sc in self.schedule if sc.audible_from_sample <= sample < sc.end_sample]
        return sounding[-1].name if sounding else None

    def cues_heard(self) -> tuple[str, ...]:
        """Names of cues of which at least one sample has been read, in start order.

        A cue scheduled entirely in the past (before the clock when play() was called) is not heard.
        """
        return tuple(
            sc.name for sc in self.schedule if sc.audible_from_sample < min(sc.end_sample, self._sample)
        )

    # ---- reading -----------------------------------------------------------------------------
    def _take_noise(self, n: int) -> np.ndarray:
        """Next ``n`` samples of background noise (full scale), generated block by block."""
        assert self._noise_rng is not None
        while len(self._noise_buf) < n:
            white = self._noise_rng.standard_normal(NOISE_BLOCK_SAMPLES)  # (block,)
            padded = np.concatenate([self._white_tail, white])  # (taps - 1 + block,)
            coloured = np.convolve(padded, self._kernel, mode="valid")  # (block,)
            self._white_tail = padded[len(padded) - (len(self._kernel) - 1) :]
            self._noise_buf = np.concatenate([self._noise_buf, coloured * self.config.noise_level])
        out, self._noise_buf = self._noise_buf[:n], self._noise_buf[n:]
        return out

    def read_float(self, n_samples: int) -> np.ndarray:
        """Next ``n_samples`` of the stream as full-scale float64 before int16 conversion, shape (n,)."""
        if self._noise_rng is None:
            raise RuntimeError("call Microphone.reset(rng) before read()")
        try:
            n = operator.index(n_samples)
        except TypeError as err:
            raise TypeError(f"n_samples must be an int, got {type(n_samples).__name__}") from err
        if n < 0:
            raise ValueError(f"n_samples must be >= 0, got {n}")
        start, stop = self._sample, self._sample + n
        noise = self._take_noise(n)
        self._sample = stop
        if not self.config.enabled:
            return np.zeros(n)
        mix = noise.copy()
        for sc, scaled in self._cues:
            lo, hi = max(start, sc.start_sample), min(stop, sc.end_sample)
            if lo < hi:
                mix[lo - start : hi - start] += scaled[lo - sc.start_sample : hi - sc.start_sample]
        return mix

    def read(self, n_samples: int) -> np.ndarray:
        """Next ``n_samples`` of the microphone stream as int16 PCM, shape (n_samples,).

        Advances the clock. Consecutive reads are contiguous: read(a) then read(b) equals read(a + b).
        """
        return float_to_int16(self.read_float(n_samples))

    def read_until(self, time_s: float) -> np.ndarray:
        """Read every sample up to simulation time ``time_s`` (s); int16, possibly empty.

        Rounds ``time_s`` to the nearest sample, so calling it every control step never drifts.
        """
        if not _is_real(time_s) or not math.isfinite(time_s):
            raise ValueError(f"time_s must be a finite number, got {time_s!r}")
        target = int(round(time_s * self.config.sample_rate_hz))
        if target < self._sample:
            raise ValueError(f"time_s={time_s} is before the microphone clock ({self.time_s:.6f} s)")
        return self.read(target - self._sample)
