"""Non-command speech: words that are no command, and babble, said by espeak-ng voices (`sim.speech`).

What a robot must hear without moving. Two disjoint word lists: `TRAIN_WORDS` for the learner's
non-command copies (`yan_policy.training.negatives`, said by the demonstration speakers) and `EVAL_WORDS`
for measuring false starts (said by the evaluation speakers), so a benchmark measures words, voices,
rates and pitches the robot never trained on. A word that is a taught command is never returned
(`exclude`). Babble: 2-3 words by different speakers, overlapping.

    sounds = spoken_non_commands(seed=0, split="demo", exclude={"sit", "down"})
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from sim.cues import DEFAULT_SAMPLE_RATE_HZ
from sim.speech import random_voice, speak

TRAIN_WORDS = (
    "hello", "dinner", "good dog", "outside", "kitchen", "later", "water", "window", "yesterday",
    "coffee", "telephone", "garden", "okay", "blue", "paper", "monday", "thank you", "where is it",
)
EVAL_WORDS = (
    "breakfast", "music", "tomorrow", "pencil", "seven", "yellow", "computer", "what time is it",
    "nice weather", "bottle", "morning", "listen to this",
)
TAKES_PER_WORD = 2  # each word said by this many speakers
BABBLE_SOUNDS = 8  # babble sounds made from the word list
BABBLE_WORDS = (2, 4)  # words per babble, [low, high)
BABBLE_OVERLAP = (0.3, 0.8)  # each next word starts at this fraction of the previous one's length
assert not set(TRAIN_WORDS) & set(EVAL_WORDS)
WORD_LISTS = {"demo": TRAIN_WORDS, "eval": EVAL_WORDS}


def _normal(text: str) -> str:
    return " ".join(text.lower().replace("_", " ").split())


def non_command_words(split: str, exclude: Iterable[str] = ()) -> list[str]:
    """The split's word list ("demo": training, "eval": measuring) without any word in `exclude` (compared
    case-insensitively, "_" as a space, so a cue name's text "lie_down" excludes "lie down")."""
    if split not in WORD_LISTS:
        raise ValueError(f"split must be one of {tuple(WORD_LISTS)}, got {split!r}")
    banned = {_normal(w) for w in exclude}
    return [w for w in WORD_LISTS[split] if _normal(w) not in banned]


def spoken_non_commands(seed: int, split: str, exclude: Iterable[str] = (),
                        rate_hz: int = DEFAULT_SAMPLE_RATE_HZ) -> list[tuple[str, np.ndarray]]:
    """(label, float64 samples (n,) at rate_hz) of every word of `non_command_words(split, exclude)` said
    `TAKES_PER_WORD` times ("word:<text>"), and of `BABBLE_SOUNDS` babbles ("babble:<text>+<text>"), by
    speakers of the split (`sim.speech.random_voice`); a pure function of its arguments."""
    words = non_command_words(split, exclude)
    if not words:
        raise ValueError(f"every non-command word of split {split!r} is excluded")
    rng = np.random.default_rng([seed, 2929])
    out = [(f"word:{w}", speak(w, random_voice(rng, split), rate_hz).astype(np.float64))
           for w in words for _ in range(TAKES_PER_WORD)]
    for _ in range(BABBLE_SOUNDS):
        picks = [words[int(rng.integers(len(words)))] for _ in range(int(rng.integers(*BABBLE_WORDS)))]
        mix = np.zeros(0)
        start = 0
        for w in picks:
            x = speak(w, random_voice(rng, split), rate_hz).astype(np.float64)
            end = max(len(mix), start + len(x))
            mix = np.pad(mix, (0, end - len(mix)))
            mix[start:start + len(x)] += x
            start += round(len(x) * rng.uniform(*BABBLE_OVERLAP))
        out.append(("babble:" + "+".join(picks), mix))
    return out
