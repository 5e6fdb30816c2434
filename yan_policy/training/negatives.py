"""Non-command training data: copies of demonstrations in which the robot hears something that is not a
command (another word, talk, music, noise) and holds still.

Why: taught only from episodes that each contain a command, a policy learns "a loud sound, then move";
other words triggered a skill 57-93 % of the time (docs/experiments.md, 2026-12-07: audio probe). With
`LearnerConfig.negative_prob`, each episode sampled into a training batch is, with that probability,
trained on as its *negative copy* (`make_negative_row`, on the collated batch row):

- body streams (joints, IMU, camera): the episode's first tick at every tick (the robot at rest in its
  start pose, as before the cue);
- action labels: the episode's first labelled action at every labelled tick (the teacher's hold);
- audio: the episode's own recording with its cue cut out (replaced by the episode's background noise,
  `audio_augment.find_cue_segment`), and one non-command sound mixed in at a random time, at the removed
  cue's level (or `FALLBACK_SNR_DB` above the noise floor when no cue stands out) times a gain in
  +-`NEGATIVE_GAIN_DB`;
- cue labels: the cue head's "no cue heard" class (`NO_CUE_CLASS`) at every labelled tick;
- loss weight: 1 at every tick (no onset: nothing is started).

The sounds: `synthetic_sounds` (numpy only: music-like tone sequences, noise bursts, hums, clicks),
always; plus whatever the caller adds with `OnlineLearner.set_non_command_sounds` (or `ProcessLearner`'s,
which forwards them to its child): a simulated teach session adds other words and babble said by
espeak-ng's demonstration voices (`sim.non_command`), the robot's brain a folder of WAV files
(`yan_dog.brain.BrainConfig.non_command_wavs`). Who turns the copies on: `yan_dog.spoken_commands`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from yan_policy.training.audio_augment import find_cue_segment, noise_floor
from yan_policy.training.batching import NO_CUE_CLASS

NEGATIVE_GAIN_DB = 6.0  # the non-command sound's level varies by up to this many dB around the cue's
FALLBACK_SNR_DB = 20.0  # dB above the noise floor when the episode has no cue segment to match
SYNTHETIC_SOUNDS = 24  # numpy-made sounds in the bank (a quarter of each kind)
MUSIC_NOTES = (3, 7)  # notes per music-like sequence, [low, high)
MUSIC_NOTE_S = (0.1, 0.3)  # s, each note's length
MUSIC_BASE_HZ = 196.0  # Hz, lowest note (G3); notes span two octaves above it
MUSIC_HARMONICS = 4
BURST_S = (0.1, 0.7)  # s, noise bursts' length
HUM_S = (0.4, 1.2)  # s, hums' length
HUM_HZ = (90.0, 300.0)  # Hz, a hum's fundamental
CLICK_TRAIN = (2, 6)  # clicks per train, [low, high)
CLICK_GAP_S = (0.05, 0.2)  # s between clicks
CLICK_HZ = (1500.0, 4500.0)  # Hz, each click's ringing
CLICK_DECAY_S = 0.005  # s
SOUND_KINDS = ("music", "noise", "hum", "clicks")
BODY_STREAMS = ("joints", "imu", "camera")


@dataclass(frozen=True)
class NonCommandSound:
    """One non-command sound: float mono samples (n,) in full-scale units at `rate_hz`, and what it is
    ("music", "noise", "hum", "clicks", "word:<text>", "babble:<text>+<text>")."""

    samples: np.ndarray
    rate_hz: int
    label: str

    def __post_init__(self):
        if self.samples.ndim != 1 or self.samples.size == 0 or not np.isfinite(self.samples).all():
            raise ValueError(f"{self.label}: samples must be a non-empty finite 1-D array, got shape "
                             f"{self.samples.shape}")
        if self.rate_hz <= 0:
            raise ValueError(f"{self.label}: rate_hz must be > 0, got {self.rate_hz}")


def _music(rng: np.random.Generator, rate: int) -> np.ndarray:
    notes = []
    for _ in range(int(rng.integers(*MUSIC_NOTES))):
        f0 = MUSIC_BASE_HZ * 2.0 ** (int(rng.integers(0, 24)) / 12.0)
        t = np.arange(round(rng.uniform(*MUSIC_NOTE_S) * rate)) / rate
        tone = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, MUSIC_HARMONICS + 1))
        notes.append(tone * np.hanning(len(t)))
    return np.concatenate(notes)


def _noise(rng: np.random.Generator, rate: int) -> np.ndarray:
    n = round(rng.uniform(*BURST_S) * rate)
    return rng.standard_normal(n) * np.hanning(n)


def _hum(rng: np.random.Generator, rate: int) -> np.ndarray:
    t = np.arange(round(rng.uniform(*HUM_S) * rate)) / rate
    f0 = rng.uniform(*HUM_HZ)
    vibrato = 1.0 + 0.02 * np.sin(2 * np.pi * rng.uniform(3.0, 7.0) * t)  # a voiced, wavering tone
    phase = 2 * np.pi * f0 * np.cumsum(vibrato) / rate
    return sum(np.sin(k * phase) / k**1.5 for k in range(1, 8)) * np.hanning(len(t))


def _clicks(rng: np.random.Generator, rate: int) -> np.ndarray:
    gaps = rng.uniform(*CLICK_GAP_S, size=int(rng.integers(*CLICK_TRAIN)))
    onsets = np.round(np.concatenate([[0.0], np.cumsum(gaps)]) * rate).astype(int)
    out = np.zeros(onsets[-1] + round(8 * CLICK_DECAY_S * rate))
    t = np.arange(len(out) - onsets[-1]) / rate
    for a in onsets:
        click = np.sin(2 * np.pi * rng.uniform(*CLICK_HZ) * t) * np.exp(-t / CLICK_DECAY_S)
        out[a:a + len(click)] += click[: len(out) - a]
    return out


_MAKERS = {"music": _music, "noise": _noise, "hum": _hum, "clicks": _clicks}


def synthetic_sounds(seed: int, rate_hz: int, n: int = SYNTHETIC_SOUNDS) -> list[NonCommandSound]:
    """`n` non-speech sounds (the kinds of `SOUND_KINDS` in turn), unit peak, a pure function of `seed`."""
    if n < 1 or rate_hz <= 0:
        raise ValueError(f"need n >= 1 and rate_hz > 0, got {n}, {rate_hz}")
    rng = np.random.default_rng([seed, 29])
    out = []
    for i in range(n):
        kind = SOUND_KINDS[i % len(SOUND_KINDS)]
        x = _MAKERS[kind](rng, rate_hz)
        out.append(NonCommandSound(x / max(float(np.abs(x).max()), 1e-9), rate_hz, kind))
    return out


def _at_rate(sound: NonCommandSound, rate: int) -> np.ndarray:
    if sound.rate_hz == rate:
        return sound.samples
    n = max(2, round(len(sound.samples) * rate / sound.rate_hz))
    return np.interp(np.arange(n) * sound.rate_hz / rate, np.arange(len(sound.samples)), sound.samples)


def non_command_audio(x: np.ndarray, sound: NonCommandSound, rate: int,
                      rng: np.random.Generator) -> np.ndarray:
    """Float audio x (n,) of an episode -> the same length with its cue cut out and `sound` mixed in (see
    the module docstring). Draws from rng in a fixed order."""
    gain = 10.0 ** (rng.uniform(-NEGATIVE_GAIN_DB, NEGATIVE_GAIN_DB) / 20.0)
    where = rng.random()
    floor = noise_floor(x, rate)
    segment = find_cue_segment(x, rate)
    out = x.copy()
    if segment is None:
        level = floor * 10.0 ** (FALLBACK_SNR_DB / 20.0)
    else:
        a, b = segment
        level = float(np.sqrt(np.mean(np.square(x[a:b]))))  # the cue's RMS (with the noise under it)
        background = np.concatenate([x[:a], x[b:]])
        out[a:b] = np.resize(background, b - a) if background.size else 0.0
    s = _at_rate(sound, rate)[: len(x)]
    s = s * gain * level / max(float(np.sqrt(np.mean(np.square(s)))), 1e-12)
    start = int(where * (len(x) - len(s) + 1))
    out[start:start + len(s)] += s
    return out


def make_negative_row(batch: dict[str, np.ndarray], i: int, sound: NonCommandSound, rate: int,
                      rng: np.random.Generator) -> bool:
    """In place: row i of a collated batch (`batching.collate`) becomes its non-command copy (module
    docstring) over its ticks; False (nothing changed) when the row has no labelled tick or no audio."""
    labelled = np.flatnonzero(batch["mask"][i])
    if labelled.size == 0 or "audio" not in batch or not batch["audio_present"][i].any():
        return False
    n = int(np.flatnonzero(batch["audio_present"][i])[-1]) + 1  # the row's ticks (padding after)
    for stream in BODY_STREAMS:
        if stream in batch and batch[f"{stream}_present"][i, :n].all():
            batch[stream][i, :n] = batch[stream][i, 0]  # (n, ...) the first tick, held
    batch["action"][i, :n][batch["mask"][i, :n]] = batch["action"][i, labelled[0]]  # (A,) the hold
    x = batch["audio"][i, :n].reshape(-1).astype(np.float64) / 32768.0  # (n S,)
    y = non_command_audio(x, sound, rate, rng)
    batch["audio"][i, :n] = np.clip(np.rint(y * 32768.0), -32768, 32767).astype(np.int16).reshape(n, -1)
    if "cue_target" in batch:
        batch["cue_target"][i] = np.where(batch["mask"][i], NO_CUE_CLASS, -1)  # (T,)
    if "weight" in batch:
        batch["weight"][i] = 1.0
    return True


def negative_rows(batch: dict[str, np.ndarray], prob: float, sounds: Sequence[NonCommandSound], rate: int,
                  rng: np.random.Generator) -> list[int]:
    """In place: each row of `batch` becomes a non-command copy with probability `prob`, with a sound drawn
    uniformly from `sounds`; returns the rows changed. Draws from rng in a fixed order."""
    if not 0.0 <= prob <= 1.0:
        raise ValueError(f"prob must be in [0, 1], got {prob}")
    if not sounds:
        raise ValueError("no non-command sounds to train on")
    done = []
    for i in range(batch["mask"].shape[0]):
        if rng.random() < prob:
            sound = sounds[int(rng.integers(len(sounds)))]
            if make_negative_row(batch, i, sound, rate, rng):
                done.append(i)
    return done
