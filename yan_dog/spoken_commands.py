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
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from robots.wav import read_pcm_wav

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


def spoken_cue_learner(base: LearnerConfig) -> LearnerConfig:
    """`base` with `SPOKEN_CUE_LEARNER`'s settings: what a skill asked for by a spoken word trains with."""
    return dataclasses.replace(base, **SPOKEN_CUE_LEARNER)


def read_wav_mono(path: str | Path) -> tuple[np.ndarray, int]:
    """(float64 mono samples (n,) in [-1, 1), rate in Hz) of an 8/16/24/32-bit integer PCM WAV file
    (channels averaged); a one-line ValueError naming the file for anything else (`robots.wav`)."""
    samples, rate = read_pcm_wav(path)  # (frames, channels)
    return samples.mean(axis=1), rate


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
