"""Simulated microphone: background noise plus scheduled cues, read as int16 PCM (no ROS, numpy only).

It gives the simulated robot the ``/audio/pcm`` stream the real one has: noise that is always there,
cues from :mod:`sim.cues` at a controlled SNR, and a stream that is a pure function of the seed, so an
episode replays sample for sample.

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
2. **scheduled cues**: waveforms from the cue registry (:mod:`sim.cues`) that the scene plays at
   chosen simulation times with :meth:`Microphone.play`. Overlapping cues add linearly.

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
then 320 samples gives exactly the same samples as reading 640 at once.

Varied cues (a spoken word, :mod:`sim.speech`; a folder of WAV takes) sound different at each hearing:
:meth:`Microphone.play` draws the take (`sim.cues.draw_cue`) from a second private generator seeded from
the same draw, for the reset's ``cue_split`` ("demo" or "eval" speakers). A take's ``gain_db`` is added to
the cue's level (its SNR, or its peak with ``snr_db=None``). Fixed cues draw nothing: their streams are
the same as before takes existed.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass

import numpy as np

from sim.cues import CUE_SPLITS, DEFAULT_SAMPLE_RATE_HZ, check_sample_rate, draw_cue

# --------------------------------------------------------------------------------------------------
# Constants
# --------------------------------------------------------------------------------------------------
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
TAKE_STREAM = 1  # the cue-take generator is seeded with (seed, TAKE_STREAM), the noise's with seed


# --------------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------------
def _is_real(x: object) -> bool:
    return isinstance(x, int | float | np.integer | np.floating) and not isinstance(x, bool)


def float_to_int16(x: np.ndarray) -> np.ndarray:
    """Convert full-scale float samples to int16 PCM, rounding and saturating (never wrapping)."""
    scaled = np.rint(np.asarray(x, dtype=np.float64) * INT16_FULL_SCALE)
    return np.clip(scaled, INT16_MIN, INT16_MAX).astype(np.int16)


# --------------------------------------------------------------------------------------------------
# Microphone
# --------------------------------------------------------------------------------------------------
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
        check_sample_rate(self.sample_rate_hz)
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
    those of the scaled cue (full scale). take labels the take heard (a varied cue's speaker or file,
    else the cue's name) and gain_db is its level relative to the configured one.
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
    take: str = ""
    gain_db: float = 0.0

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
        self._take_rng: np.random.Generator | None = None  # draws the take of each varied cue played
        self.cue_split = "demo"  # whose voices varied cues are said in (set by reset)
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

    def reset(self, rng: np.random.Generator, *, cue_split: str = "demo") -> None:
        """Clear the schedule and the clock, and reseed the noise and the cue takes from ``rng`` (one
        draw). Varied cues played until the next reset are said by ``cue_split``'s speakers."""
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        if cue_split not in CUE_SPLITS:
            raise ValueError(f"cue_split must be one of {CUE_SPLITS}, got {cue_split!r}")
        seed = int(rng.integers(0, RNG_SEED_HIGH))
        self._noise_rng = np.random.default_rng(seed)
        self._take_rng = np.random.default_rng([seed, TAKE_STREAM])  # independent of the noise
        self.cue_split = cue_split
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
        take = draw_cue(cue_name, rate, self._take_rng, self.cue_split)  # KeyError for unknown names
        waveform = take.waveform.astype(np.float64)
        scale = self._cue_scale(waveform, snr_db if snr_db is not None else self.config.snr_db)
        scale *= 10.0 ** (take.gain_db / 20.0)
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
            take=take.label,
            gain_db=take.gain_db,
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
