"""Procedurally synthesised audio cues and the cue registry (no ROS, numpy + stdlib ``wave`` only).

A cue is the sound a teacher makes to ask the dog for a skill: a whistle pattern, a clap, a click or a
user's own recording. This module makes and stores the waveforms; :mod:`sim.microphone` plays them into
the simulated ``/audio/pcm`` stream. The two are kept apart so that cues can be synthesised, loaded
and registered without a microphone, and the microphone reads cues only through :func:`get_cue`.

Waveforms are float32 in *full-scale units* (1.0 is the largest int16 sample). Their level does not
matter to the microphone, which rescales every cue; only the shape does. Built-in cues are
deterministic (the clap's noise comes from a fixed internal seed unless an rng is passed).

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
``whistle_long``    0.8 s    one steady 1.5 kHz tone
``clap_triple``     0.45 s   three clap bursts 0.15 s apart
=================== ======== ===========================================================

User cues are added with :func:`register_cue` (an array at a given sample rate, or a callable
``f(sample_rate_hz) -> waveform``) or :func:`register_wav_cue` (a PCM WAV file read by
:func:`load_wav`). Resampling everywhere is linear interpolation without an anti-aliasing filter,
which is adequate for cue content well below the lower Nyquist frequency.

Varied cues
-----------
Some cues differ from one hearing to the next: a word spoken by another speaker, another take of a
recording. Such a cue is registered with :func:`register_cue_sampler` (`sim.speech.register_spoken_cue`
does this for words; :func:`register_wav_cue` for a folder of WAV takes): a sampler draws one take,
a :class:`CueTake`, from a generator and a *cue split* (``CUE_SPLITS``: "demo" while demonstrating,
"eval" while evaluating, so evaluation can hear speakers no demonstration used). :func:`draw_cue` draws
a take of any cue (a fixed cue's take is its waveform, drawn without touching the generator);
:func:`get_cue` gives a varied cue's nominal take. The microphone draws a take per cue it plays.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np

from robots.wav import read_pcm_wav

# --------------------------------------------------------------------------------------------------
# Constants
# --------------------------------------------------------------------------------------------------
DEFAULT_SAMPLE_RATE_HZ = 16000  # Hz, mono PCM rate of /audio/pcm
MIN_SAMPLE_RATE_HZ = 4000  # Hz, below this the 2.8 kHz whistles alias
MAX_SAMPLE_RATE_HZ = 192000  # Hz

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



# --------------------------------------------------------------------------------------------------
# Small signal helpers
# --------------------------------------------------------------------------------------------------
def check_sample_rate(sample_rate_hz: int) -> int:
    """``sample_rate_hz`` as an int, Hz; TypeError if not an int, ValueError outside the supported range."""
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


# --------------------------------------------------------------------------------------------------
# Procedural cues: each returns a unit-peak float32 waveform, shape (round(duration * rate),)
# --------------------------------------------------------------------------------------------------
def _chirp(f_start_hz: float, f_end_hz: float, sample_rate_hz: int) -> np.ndarray:
    rate = check_sample_rate(sample_rate_hz)
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
    rate = check_sample_rate(sample_rate_hz)
    n_tone = _n_samples(WHISTLE_DOUBLE_TONE_S, rate)
    n_gap = _n_samples(WHISTLE_DOUBLE_GAP_S, rate)
    tone = _fade(_tone_from_frequency(np.full(n_tone, WHISTLE_DOUBLE_HZ), rate), rate)
    return _unit_peak(np.concatenate([tone, np.zeros(n_gap), tone]))


def whistle_trill(sample_rate_hz: int = DEFAULT_SAMPLE_RATE_HZ) -> np.ndarray:
    """Warble: a WHISTLE_TRILL_CARRIER_HZ tone frequency-modulated at WHISTLE_TRILL_RATE_HZ."""
    rate = check_sample_rate(sample_rate_hz)
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
    rate = check_sample_rate(sample_rate_hz)
    gen = rng if rng is not None else np.random.default_rng(CLAP_NOISE_SEED)
    noise = gen.uniform(-1.0, 1.0, _n_samples(CLAP_DURATION_S, rate))  # flat spectrum, crest sqrt(3)
    bursts = _decaying_bursts(noise, CLAP_ONSETS_S, CLAP_ATTACK_S, CLAP_DECAY_S, rate)
    return _unit_peak(_fade(bursts, rate))


def whistle_long(sample_rate_hz: int = DEFAULT_SAMPLE_RATE_HZ) -> np.ndarray:
    """A steady WHISTLE_LONG_HZ tone held for WHISTLE_LONG_DURATION_S."""
    rate = check_sample_rate(sample_rate_hz)
    freq = np.full(_n_samples(WHISTLE_LONG_DURATION_S, rate), WHISTLE_LONG_HZ)
    return _unit_peak(_fade(_tone_from_frequency(freq, rate), rate))


def clap_triple(
    sample_rate_hz: int = DEFAULT_SAMPLE_RATE_HZ, rng: np.random.Generator | None = None
) -> np.ndarray:
    """Triple hand clap: noise bursts at CLAP_TRIPLE_ONSETS_S (same burst shape as `clap`)."""
    rate = check_sample_rate(sample_rate_hz)
    gen = rng if rng is not None else np.random.default_rng(CLAP_NOISE_SEED + 1)
    noise = gen.uniform(-1.0, 1.0, _n_samples(CLAP_TRIPLE_DURATION_S, rate))
    bursts = _decaying_bursts(noise, CLAP_TRIPLE_ONSETS_S, CLAP_ATTACK_S, CLAP_DECAY_S, rate)
    return _unit_peak(_fade(bursts, rate))


def click(sample_rate_hz: int = DEFAULT_SAMPLE_RATE_HZ) -> np.ndarray:
    """Tongue-click train: CLICK_HZ ringing ticks at CLICK_ONSETS_S with a CLICK_DECAY_S decay."""
    rate = check_sample_rate(sample_rate_hz)
    n = _n_samples(CLICK_DURATION_S, rate)
    carrier = np.sin(2.0 * np.pi * CLICK_HZ * _time_axis(n, rate))
    ticks = _decaying_bursts(carrier, CLICK_ONSETS_S, CLICK_ATTACK_S, CLICK_DECAY_S, rate)
    return _unit_peak(_fade(ticks, rate))


# --------------------------------------------------------------------------------------------------
# WAV files
# --------------------------------------------------------------------------------------------------
def load_wav(path: str | Path, sample_rate_hz: int = DEFAULT_SAMPLE_RATE_HZ) -> np.ndarray:
    """Read an integer-PCM WAV file as mono float32 in [-1, 1] at ``sample_rate_hz``.

    Multi-channel files are mixed down by averaging the channels; the result is resampled from the
    file's rate by linear interpolation. Raises FileNotFoundError if ``path`` does not exist and
    ValueError for anything that is not a readable 8/16/24/32-bit integer PCM WAV file
    (`robots.wav.read_pcm_wav`).
    """
    rate = check_sample_rate(sample_rate_hz)
    samples, file_rate = read_pcm_wav(path)  # (frames, channels)
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

CUE_SPLITS = ("demo", "eval")  # who says a varied cue: demonstration speakers, or held-out ones


@dataclass(frozen=True)
class CueTake:
    """One hearing of a cue: its waveform (float32, (n,)), its level relative to the cue's nominal level
    (dB; the microphone adds it to the cue's SNR) and a label for people (e.g. the speaker)."""

    waveform: np.ndarray
    gain_db: float = 0.0
    label: str = ""


CueSampler = Callable[[int, np.random.Generator, str], CueTake]  # (sample_rate_hz, rng, split) -> take
_samplers: dict[str, CueSampler] = {}


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
    absolute level does not matter: the microphone rescales every cue (see `sim.microphone`).
    """
    _check_cue_name(name, overwrite)
    if callable(waveform_or_callable):
        factory: CueFactory = waveform_or_callable
    else:
        src_rate = check_sample_rate(sample_rate_hz)
        wave_f32 = _validate_waveform(waveform_or_callable, f"cue {name!r}")

        def factory(rate: int, _w: np.ndarray = wave_f32, _src: int = src_rate) -> np.ndarray:
            return resample_linear(_w, _src, rate)

    _registry[name] = factory
    _samplers.pop(name, None)
    for key in [k for k in _cache if k[0] == name]:
        del _cache[key]


def register_wav_cue(name: str, path: str | Path, *, overwrite: bool = False) -> None:
    """Register the WAV file at ``path`` as cue ``name`` (read now, so a bad file fails here).

    ``path`` may also be a folder of WAV files (``*.wav``), several takes of one word by one person: each
    hearing plays one take, drawn per episode (in either cue split); the first by name is the nominal.
    """
    _check_cue_name(name, overwrite)
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() == ".wav" and p.is_file())
        if not files:
            raise ValueError(f"{path}: folder holds no .wav files")
        takes = [
            _validate_waveform(load_wav(f, DEFAULT_SAMPLE_RATE_HZ), f"WAV cue {name!r} ({f})") for f in files
        ]

        def sample(rate: int, rng: np.random.Generator, split: str) -> CueTake:
            i = int(rng.integers(len(takes)))
            return CueTake(resample_linear(takes[i], DEFAULT_SAMPLE_RATE_HZ, rate), label=files[i].name)

        nominal = lambda rate: resample_linear(takes[0], DEFAULT_SAMPLE_RATE_HZ, rate)  # noqa: E731
        register_cue_sampler(name, nominal, sample, overwrite=overwrite)
        return
    waveform = load_wav(path, DEFAULT_SAMPLE_RATE_HZ)
    _validate_waveform(waveform, f"WAV cue {name!r} ({path})")
    register_cue(name, waveform, DEFAULT_SAMPLE_RATE_HZ, overwrite=overwrite)


def register_cue_sampler(
    name: str, nominal: CueFactory, sampler: CueSampler, *, overwrite: bool = False
) -> None:
    """Register a varied cue: ``sampler(sample_rate_hz, rng, split) -> CueTake`` draws one hearing of it
    from ``rng`` (every draw through it, so a take is a pure function of the generator's state and
    ``split``, one of ``CUE_SPLITS``); ``nominal(sample_rate_hz) -> waveform`` is what `get_cue` gives."""
    if not callable(nominal) or not callable(sampler):
        raise TypeError("nominal and sampler must be callables")
    register_cue(name, nominal, overwrite=overwrite)
    _samplers[name] = sampler


def is_varied_cue(name: str) -> bool:
    """Whether cue ``name`` sounds different from one hearing to the next (registered with a sampler)."""
    return name in _samplers


def draw_cue(
    name: str, sample_rate_hz: int, rng: np.random.Generator, split: str = "demo"
) -> CueTake:
    """One hearing of cue ``name`` at ``sample_rate_hz``: a varied cue's take drawn from ``rng`` for cue
    split ``split``; a fixed cue's waveform (`get_cue`, ``rng`` untouched). Waveform float32 in [-1, 1]."""
    if split not in CUE_SPLITS:
        raise ValueError(f"cue split must be one of {CUE_SPLITS}, got {split!r}")
    if name not in _samplers:
        return CueTake(get_cue(name, sample_rate_hz), label=name)
    rate = check_sample_rate(sample_rate_hz)
    take = _samplers[name](rate, rng, split)
    waveform = _validate_waveform(take.waveform, f"take of cue {name!r}")
    peak = float(np.max(np.abs(waveform)))
    waveform = waveform / np.float32(peak) if peak > 1.0 else waveform
    return CueTake(waveform, float(take.gain_db), take.label)


def unregister_cue(name: str) -> None:
    """Remove a user cue. Built-in cues cannot be removed."""
    if name in _BUILTIN_FACTORIES:
        raise ValueError(f"{name!r} is a built-in cue and cannot be removed")
    if name not in _registry:
        raise KeyError(f"unknown cue {name!r}; known cues: {', '.join(cue_names())}")
    del _registry[name]
    _samplers.pop(name, None)
    for key in [k for k in _cache if k[0] == name]:
        del _cache[key]


def get_cue(name: str, sample_rate_hz: int = DEFAULT_SAMPLE_RATE_HZ) -> np.ndarray:
    """Waveform of cue ``name`` at ``sample_rate_hz``: float32 in [-1, 1], shape (n,). Returns a copy.

    A user cue louder than full scale is scaled down to unit peak (not clipped, so its shape is kept).

    Raises KeyError listing the known cues if ``name`` is not registered.
    """
    if name not in _registry:
        raise KeyError(f"unknown cue {name!r}; known cues: {', '.join(cue_names())}")
    rate = check_sample_rate(sample_rate_hz)
    key = (name, rate)
    if key not in _cache:
        waveform = _validate_waveform(_registry[name](rate), f"cue {name!r}")
        peak = float(np.max(np.abs(waveform)))
        _cache[key] = waveform / np.float32(peak) if peak > 1.0 else waveform  # keep in [-1, 1]
    return _cache[key].copy()


def cue_duration_s(name: str, sample_rate_hz: int = DEFAULT_SAMPLE_RATE_HZ) -> float:
    """Duration of cue ``name`` in seconds (at ``sample_rate_hz``)."""
    rate = check_sample_rate(sample_rate_hz)
    return len(get_cue(name, rate)) / rate
