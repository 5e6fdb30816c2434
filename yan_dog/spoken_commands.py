"""What a dog taught to obey spoken words learns besides its words: to hold still on every other sound.

- `SPOKEN_CUE_LEARNER`: the learner settings of a skill asked for by a word (`yan-dog teach --say` /
  `--cue-wav`, bench/voice.py): non-command copies of the demonstrations
  (`LearnerConfig.negative_prob`, `yan_policy.training.negatives`) and the cue-audio augmentation.
- `load_non_command_wavs`: the sounds of the robot's own home (television, talk, other words, music) from a
  folder of WAV files, for the brain's non-command copies (`BrainConfig.non_command_wavs`); a sim session
  uses the demonstration voices' other words instead (`yan_dog.session`).

Why a module of its own: bench/voice.py imports the settings without torch (yan_policy is imported only
when WAV files are loaded), and the brain loads its sounds without the simulator.
"""

from __future__ import annotations

import dataclasses
import wave
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from yan_policy.training.learner import LearnerConfig
    from yan_policy.training.negatives import NonCommandSound

# Without these, Yan started a skill 10 times a minute on non-command audio; with them, 0
# (docs/experiments.md, 2026-12-07: spoken commands, non-command copies, false starts).
SPOKEN_CUE_LEARNER = {"negative_prob": 0.25, "cue_audio_augment": True}
WAV_SUFFIX = ".wav"  # matched case-insensitively
# s; a non-command copy hears only an episode's length (seconds) from a sound's start, so a longer file
# is mostly unheard: cut long recordings into pieces
MAX_NON_COMMAND_WAV_S = 30.0
# bytes per sample -> integer full scale (24-bit samples are read as the top three bytes of an int32)
PCM_FULL_SCALE = {1: 128.0, 2: 32768.0, 3: 2.0**31, 4: 2.0**31}


def spoken_cue_learner(base: LearnerConfig) -> LearnerConfig:
    """`base` with `SPOKEN_CUE_LEARNER`'s settings: what a skill asked for by a spoken word trains with."""
    return dataclasses.replace(base, **SPOKEN_CUE_LEARNER)


def _pcm_to_float(frames: bytes, width: int) -> np.ndarray:
    """Little-endian integer PCM bytes -> float64 in [-1, 1), channels still interleaved."""
    if width == 1:  # unsigned, 128 = silence
        ints = np.frombuffer(frames, np.uint8).astype(np.float64) - 128.0
    elif width == 3:  # 24-bit: three bytes as the top of an int32
        padded = np.zeros((len(frames) // 3, 4), np.uint8)
        padded[:, 1:] = np.frombuffer(frames, np.uint8).reshape(-1, 3)
        ints = padded.view("<i4").reshape(-1).astype(np.float64)
    else:
        ints = np.frombuffer(frames, "<i2" if width == 2 else "<i4").astype(np.float64)
    return ints / PCM_FULL_SCALE[width]


def read_wav_mono(path: str | Path) -> tuple[np.ndarray, int]:
    """(float64 mono samples (n,) in [-1, 1), rate in Hz) of an 8/16/24/32-bit integer PCM WAV file;
    ValueError naming the file for anything else (compressed, float, truncated, empty)."""
    try:
        with wave.open(str(path), "rb") as w:
            channels, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
            frames = w.readframes(w.getnframes())
    except (wave.Error, EOFError) as e:
        raise ValueError(f"{path}: not an integer PCM WAV file ({e})") from None
    if width not in PCM_FULL_SCALE or rate <= 0 or channels < 1:
        raise ValueError(f"{path}: unsupported WAV ({8 * width}-bit, {channels} channels, {rate} Hz)")
    if not frames or len(frames) % (channels * width):
        raise ValueError(f"{path}: no samples, or truncated sample data")
    return _pcm_to_float(frames, width).reshape(-1, channels).mean(axis=1), rate  # (n,)


def load_non_command_wavs(directory: str | Path) -> list[NonCommandSound]:
    """Every WAV file in `directory` (sorted by name) as a `NonCommandSound` labelled "wav:<file name>", at
    its own rate (channels averaged). One-line errors: FileNotFoundError for a missing folder, ValueError
    for a folder without WAV files or a file that is unreadable, silent or over `MAX_NON_COMMAND_WAV_S`."""
    from yan_policy.training.negatives import NonCommandSound

    folder = Path(directory).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"non-command sounds: no folder {folder}")
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() == WAV_SUFFIX and p.is_file())
    if not paths:
        raise ValueError(f"non-command sounds: {folder} holds no {WAV_SUFFIX} files")
    sounds = []
    for path in paths:
        samples, rate = read_wav_mono(path)
        seconds = len(samples) / rate
        if seconds > MAX_NON_COMMAND_WAV_S:
            raise ValueError(f"{path}: {seconds:.1f} s long, at most {MAX_NON_COMMAND_WAV_S:g} s (a "
                             "non-command copy hears a few seconds from its start: cut it into pieces)")
        if not np.abs(samples).max() > 0:
            raise ValueError(f"{path}: silent")
        sounds.append(NonCommandSound(samples, rate, f"wav:{path.name}"))
    return sounds
