"""Spoken cues: words said by the `espeak-ng` text-to-speech engine, in many voices (numpy + stdlib only).

A dog is asked for a skill by a word ("sit!"), said by whoever is in the room. This module speaks a word
with the Debian package `espeak-ng` (run as a subprocess; `make install` installs it) and registers it in
the cue registry (:mod:`sim.cues`) as a cue whose take is spoken anew every episode, by a speaker drawn
from the env's ``np_random`` (through :class:`sim.microphone.Microphone`).

Speaker variation is domain randomisation, with two disjoint speaker sets defined once here:
demonstrations hear ``DEMO_SPEAKERS``, evaluation tries hear ``EVAL_SPEAKERS`` (voices, speaking rates
and pitches that no demonstration uses). Which set an episode draws from is its *cue split*
(``sim.cues.CUE_SPLITS``: the env's ``cue_split``; `yan_dog.recording` sets "demo" for demonstrations
and corrected tries, "eval" for tries the robot makes alone).

Usage::

    from sim.speech import Voice, speak, random_voice, register_spoken_cue
    wave = speak("sit", Voice("en-us+m3", rate_wpm=170, pitch=50, gain_db=0.0))  # float32, 16 kHz
    voice = random_voice(env.np_random, "eval")
    register_spoken_cue("say:sit", "sit")        # then: a skill's cue, or YanDogEnv(cue="say:sit")

Levels: `speak` scales the trimmed utterance to an RMS of ``SPEECH_REF_RMS`` times the voice's gain
(limited to unit peak). The microphone sets a cue's level from its SNR, so there a spoken take's
``gain_db`` shifts the cue's SNR instead: a louder speaker is heard ``gain_db`` above ``snr_db``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from sim.cues import (
    CUE_SPLITS,
    DEFAULT_SAMPLE_RATE_HZ,
    CueTake,
    check_sample_rate,
    register_cue_sampler,
    resample_linear,
)

# --------------------------------------------------------------------------------------------------
# Constants
# --------------------------------------------------------------------------------------------------
ESPEAK_BINARY = "espeak-ng"
ESPEAK_MISSING = (
    "espeak-ng (the text-to-speech engine of spoken cues) is not installed: "
    "run `sudo apt-get install espeak-ng` or `make install`"
)
ESPEAK_TIMEOUT_S = 20.0  # one word takes ~0.05 s; a hung engine must not hang an episode
ESPEAK_RATE_RANGE_WPM = (80, 450)  # what espeak-ng accepts (-s)
ESPEAK_PITCH_RANGE = (0, 99)  # espeak-ng -p
GAIN_RANGE_DB = (-30.0, 30.0)  # accepted Voice.gain_db
MAX_TEXT_CHARS = 200  # a word or a short phrase

SPEECH_REF_RMS = 0.05  # full-scale RMS of a spoken take at 0 dB gain (-26 dBFS; speech peaks ~5x RMS)
TRIM_FRAME_S = 0.01  # s, frames of the silence trim
TRIM_THRESHOLD_DB = -45.0  # frames this far below the loudest frame are silence at either end
TRIM_PAD_S = 0.02  # s of the quiet edge kept on either side
FADE_S = 0.005  # s, raised-cosine fade at both ends so a trimmed take does not click
ANTIALIAS_TAPS = 63  # Hann-windowed sinc low-pass before downsampling
ANTIALIAS_CUTOFF = 0.9  # low-pass cut-off, fraction of the output's Nyquist frequency
CACHE_ENTRIES = 2048  # in-memory cache of synthesised utterances (each ~10-40 kB)

_VOICE_NAME = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]+)*(\+[A-Za-z0-9_]+)?$")  # e.g. en-us+m3, en-gb-x-rp+f2


@dataclass(frozen=True)
class Voice:
    """One speaker: an espeak-ng voice id (language[+variant], e.g. "en-us+m3", "en+f2", "en-gb+m1"),
    speaking rate (words per minute), pitch (0-99, espeak's 50 is its default) and gain (dB)."""

    name: str
    rate_wpm: int = 175
    pitch: int = 50
    gain_db: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _VOICE_NAME.match(self.name):
            raise ValueError(
                f"voice name must be an espeak-ng voice id such as 'en-us+m3', got {self.name!r}"
            )
        for field, value, (lo, hi) in (
            ("rate_wpm", self.rate_wpm, ESPEAK_RATE_RANGE_WPM),
            ("pitch", self.pitch, ESPEAK_PITCH_RANGE),
        ):
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or not lo <= value <= hi:
                raise ValueError(f"{field} must be an int in [{lo}, {hi}], got {value!r}")
        gain = self.gain_db
        if (
            isinstance(gain, bool)
            or not isinstance(gain, int | float | np.integer | np.floating)
            or not (GAIN_RANGE_DB[0] <= gain <= GAIN_RANGE_DB[1])
        ):
            raise ValueError(f"gain_db must be a number in {list(GAIN_RANGE_DB)}, got {gain!r}")

    def __str__(self) -> str:
        return f"{self.name} {self.rate_wpm} wpm pitch {self.pitch} {self.gain_db:+.1f} dB"


@dataclass(frozen=True)
class SpeakerSet:
    """The speakers of one cue split: voice ids, and inclusive integer bands of rates and pitches."""

    voices: tuple[str, ...]
    rate_bands_wpm: tuple[tuple[int, int], ...]
    pitch_bands: tuple[tuple[int, int], ...]
    gain_range_db: tuple[float, float]

    def rates_wpm(self) -> np.ndarray:
        return np.concatenate([np.arange(lo, hi + 1) for lo, hi in self.rate_bands_wpm])

    def pitches(self) -> np.ndarray:
        return np.concatenate([np.arange(lo, hi + 1) for lo, hi in self.pitch_bands])


# Demonstrations and evaluation share no voice id, no espeak variant (the speaker: m1..m8, f1..f5), no
# rate and no pitch; evaluation's rates and pitches lie on both sides of the demonstrations'. Gain (the
# speaker's distance) is drawn from the same range in both: it shifts the SNR the bench sets.
DEMO_SPEAKERS = SpeakerSet(
    voices=("en-us+m1", "en-us+f1", "en+m3", "en+f3", "en-gb-scotland+m5", "en-us-nyc+f5"),
    rate_bands_wpm=((150, 190),),
    pitch_bands=((35, 65),),
    gain_range_db=(-3.0, 3.0),
)
EVAL_SPEAKERS = SpeakerSet(
    voices=("en-us+m2", "en-us+f2", "en+m4", "en+f4", "en-gb-x-rp+m7", "en-029+m6", "en-gb-x-gbcwmd+m8"),
    rate_bands_wpm=((125, 149), (191, 220)),
    pitch_bands=((20, 34), (66, 80)),
    gain_range_db=(-3.0, 3.0),
)
SPEAKERS: dict[str, SpeakerSet] = {"demo": DEMO_SPEAKERS, "eval": EVAL_SPEAKERS}
assert tuple(SPEAKERS) == CUE_SPLITS
NOMINAL_VOICE = Voice(DEMO_SPEAKERS.voices[0], rate_wpm=170, pitch=50, gain_db=0.0)  # get_cue() without rng


# --------------------------------------------------------------------------------------------------
# The engine
# --------------------------------------------------------------------------------------------------
def espeak_available() -> bool:
    """Whether the espeak-ng binary is on PATH."""
    return shutil.which(ESPEAK_BINARY) is not None


def require_espeak() -> str:
    """Path of the espeak-ng binary; RuntimeError (one line, how to install it) if it is missing."""
    path = shutil.which(ESPEAK_BINARY)
    if path is None:
        raise RuntimeError(ESPEAK_MISSING)
    return path


def check_text(text: str) -> str:
    """``text`` stripped; ValueError unless it is a word or short phrase of printable characters."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    stripped = " ".join(text.split())
    if not stripped:
        raise ValueError("text to speak must not be empty")
    if len(stripped) > MAX_TEXT_CHARS or not stripped.isprintable():
        raise ValueError(f"text to speak must be at most {MAX_TEXT_CHARS} printable characters, got {text!r}")
    return stripped


def _parse_wav(data: bytes) -> tuple[np.ndarray, int]:
    """(int16 samples as float64 in [-1, 1), rate Hz) of espeak-ng's 16-bit mono WAV on stdout. Written
    to a pipe, its header carries no real length, so everything after the "data" chunk id is the audio."""
    if len(data) < 44 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise RuntimeError(f"{ESPEAK_BINARY} wrote no WAV audio ({len(data)} bytes)")
    rate = int.from_bytes(data[24:28], "little")
    start = data.find(b"data", 12) + 8
    if start < 8 or rate <= 0:
        raise RuntimeError(f"{ESPEAK_BINARY} wrote a WAV header this reader does not understand")
    pcm = data[start : start + (len(data) - start) // 2 * 2]
    return np.frombuffer(pcm, dtype="<i2").astype(np.float64) / 32768.0, rate


def _synthesise(text: str, voice: Voice) -> tuple[np.ndarray, int]:
    binary = require_espeak()
    cmd = [binary, "-v", voice.name, "-s", str(int(voice.rate_wpm)), "-p", str(int(voice.pitch)), "--stdout"]
    try:  # the text goes on stdin, so a word starting with "-" is never read as an option
        done = subprocess.run(cmd, input=text.encode(), capture_output=True, timeout=ESPEAK_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{ESPEAK_BINARY} did not finish within {ESPEAK_TIMEOUT_S:.0f} s") from None
    if done.returncode != 0:
        why = " ".join(done.stderr.decode(errors="replace").split()) or f"exit status {done.returncode}"
        raise RuntimeError(f"{ESPEAK_BINARY} failed for voice {voice.name!r}: {why}")
    samples, rate = _parse_wav(done.stdout)
    if not np.any(samples):
        raise RuntimeError(f"{ESPEAK_BINARY} produced only silence for {text!r} in voice {voice.name!r}")
    return samples, rate


def _lowpass(x: np.ndarray, cutoff: float) -> np.ndarray:
    """Hann-windowed sinc FIR low-pass, ``cutoff`` as a fraction of the sample rate (< 0.5), same length."""
    n = np.arange(ANTIALIAS_TAPS) - (ANTIALIAS_TAPS - 1) / 2
    taps = 2 * cutoff * np.sinc(2 * cutoff * n) * np.hanning(ANTIALIAS_TAPS)  # (taps,)
    return np.convolve(x, taps / taps.sum(), mode="same")


def _resample(x: np.ndarray, src_hz: int, dst_hz: int) -> np.ndarray:
    if dst_hz < src_hz:  # keep what would alias above the new Nyquist frequency out
        x = _lowpass(x, ANTIALIAS_CUTOFF * 0.5 * dst_hz / src_hz)
    return resample_linear(x, src_hz, dst_hz).astype(np.float64)


def _trim(x: np.ndarray, rate: int) -> np.ndarray:
    """Cut the silence at both ends (frames ``TRIM_THRESHOLD_DB`` below the loudest), keep a short pad."""
    frame = max(1, int(round(TRIM_FRAME_S * rate)))
    n_frames = max(1, len(x) // frame)
    rms = np.sqrt(np.mean(np.square(x[: n_frames * frame]).reshape(n_frames, -1), axis=1))  # (frames,)
    loud = np.flatnonzero(rms >= rms.max() * 10.0 ** (TRIM_THRESHOLD_DB / 20.0))
    pad = int(round(TRIM_PAD_S * rate))
    lo = max(0, loud[0] * frame - pad)
    hi = min(len(x), (loud[-1] + 1) * frame + pad)
    y = x[lo:hi].copy()
    n_fade = min(int(round(FADE_S * rate)), len(y) // 2)
    if n_fade:
        ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(n_fade) + 0.5) / n_fade)
        y[:n_fade] *= ramp
        y[-n_fade:] *= ramp[::-1]
    return y


_cache: OrderedDict[tuple, np.ndarray] = OrderedDict()


def _utterance(text: str, voice: Voice, rate: int) -> np.ndarray:
    """Trimmed take at SPEECH_REF_RMS (before gain), float64, read-only; cached (least recently used out)."""
    key = (text, voice.name, int(voice.rate_wpm), int(voice.pitch), rate)
    if key in _cache:
        _cache.move_to_end(key)
        return _cache[key]
    samples, src_rate = _synthesise(text, voice)
    y = _trim(_resample(samples, src_rate, rate), rate)
    y *= SPEECH_REF_RMS / float(np.sqrt(np.mean(np.square(y))))
    y.setflags(write=False)
    _cache[key] = y
    while len(_cache) > CACHE_ENTRIES:
        _cache.popitem(last=False)
    return y


def speak(
    text: str, voice: Voice = NOMINAL_VOICE, sample_rate_hz: int = DEFAULT_SAMPLE_RATE_HZ
) -> np.ndarray:
    """``text`` said by ``voice``: float32 mono in [-1, 1] at ``sample_rate_hz``, shape (n,).

    Silence is trimmed from both ends; the level is ``SPEECH_REF_RMS`` times ``voice.gain_db`` (scaled
    down to unit peak if louder). espeak-ng is deterministic, and the utterance is cached in memory, so a
    repeated call returns the same samples at once. RuntimeError (one line) if espeak-ng is missing or
    fails; ValueError for empty or overlong text.
    """
    if not isinstance(voice, Voice):
        raise TypeError(f"voice must be a sim.speech.Voice, got {type(voice).__name__}")
    rate = check_sample_rate(sample_rate_hz)
    y = _utterance(check_text(text), voice, rate) * 10.0 ** (voice.gain_db / 20.0)
    peak = float(np.max(np.abs(y)))
    return (y / peak if peak > 1.0 else y).astype(np.float32)


def random_voice(rng: np.random.Generator, split: str) -> Voice:
    """A speaker of cue split ``split`` ("demo" or "eval"), drawn from ``rng``: a voice id, rate, pitch and
    gain of that split's `SpeakerSet` (four draws, whatever the split)."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    if split not in SPEAKERS:
        raise ValueError(f"split must be one of {CUE_SPLITS}, got {split!r}")
    s = SPEAKERS[split]
    rates, pitches = s.rates_wpm(), s.pitches()
    return Voice(
        name=s.voices[int(rng.integers(len(s.voices)))],
        rate_wpm=int(rates[int(rng.integers(len(rates)))]),
        pitch=int(pitches[int(rng.integers(len(pitches)))]),
        gain_db=round(float(rng.uniform(*s.gain_range_db)), 2),
    )


# --------------------------------------------------------------------------------------------------
# Spoken cues in the cue registry
# --------------------------------------------------------------------------------------------------
SPOKEN_CUE_PREFIX = "say:"


def spoken_cue_name(text: str) -> str:
    """The conventional cue name of a spoken word: "say:" + the text in lower case, "_" between words
    ("say:sit", "say:lie_down"; a cue name has no spaces). `spoken_text` inverts it."""
    return SPOKEN_CUE_PREFIX + "_".join(check_text(text).lower().split())


def spoken_text(cue_name: str) -> str | None:
    """The words of a `spoken_cue_name` ("say:lie_down" -> "lie down"); None for any other cue name."""
    if not cue_name.startswith(SPOKEN_CUE_PREFIX) or len(cue_name) == len(SPOKEN_CUE_PREFIX):
        return None
    return cue_name[len(SPOKEN_CUE_PREFIX) :].replace("_", " ")


def register_spoken_cue(name: str, text: str, *, overwrite: bool = False) -> None:
    """Register cue ``name``: ``text`` spoken anew in each episode by a speaker of the episode's cue split.

    The microphone draws the speaker (`random_voice`) from its generator, seeded from the env's
    ``np_random``, so an episode's take is a pure function of its seed and split. `sim.cues.get_cue`
    without a generator gives the take of ``NOMINAL_VOICE``. espeak-ng is run once here, so a missing
    engine (RuntimeError) or bad text (ValueError) fails at registration.
    """
    text = check_text(text)
    speak(text, NOMINAL_VOICE)

    def nominal(rate: int) -> np.ndarray:
        return speak(text, NOMINAL_VOICE, rate)

    def sample(rate: int, rng: np.random.Generator, split: str) -> CueTake:
        voice = random_voice(rng, split)
        return CueTake(speak(text, voice, rate), gain_db=float(voice.gain_db), label=str(voice))

    register_cue_sampler(name, nominal, sample, overwrite=overwrite)


def ensure_spoken_cue(text: str) -> str:
    """Register ``text`` under `spoken_cue_name` unless it already is; returns the cue name."""
    from sim.cues import cue_names

    name = spoken_cue_name(text)
    if name not in cue_names():
        register_spoken_cue(name, text)
    return name
