"""The delayed command `sit_on_go`: a skill that needs memory (issue 30).

The owner says "wait" (the cue `whistle_wait`, a low then high whistle), then 2-4 s later gives the go
(`snap`, one sharp clap); the dog should sit at the go, not at the cue and not before. In half the
episodes a decoy go sounds first, with no cue before it, at the time a go would come after a cue: the
dog must not sit on it. So at a go the dog has to know whether it heard the cue 2-4 s (100-200 control
ticks) earlier: a policy that forgets the cue within that time cannot beat one half of the episodes
(sit on every go: the decoy episodes fail; on none: all fail). Doing it before the go (on the cue, or on
the decoy) fails by the rule every check keeps (`sim.skills.SuccessTracker`); not doing it after fails
the sit check.

Why this task of the issue's three: it needs only what the robot already hears and does (two sounds and a
posture), its check is the sit check the others are measured with, and how long the cue must be kept is
a number we set (`GoSignal.delay_range_s`), so a memory's reach can be measured against it.
Registered on `import sim`: its cues in `sim.cues`, the skill in `sim.skills`.
"""

from __future__ import annotations

import numpy as np

from robots.poses import SIT_POSE_RAD
from robots.skills import SkillSpec
from sim import cues
from sim.schedule import GoSignal
from sim.skills import Skill, _posture_teacher, check_sit, register

WAIT_CUE = "whistle_wait"
GO_CUE = "snap"

# "wait": two steady tones, low then high, lower than every built-in whistle (1.2-2.8 kHz).
WAIT_TONE_HZ = (900.0, 2400.0)
WAIT_TONE_S = 0.2  # each tone
WAIT_FADE_S = 0.01  # raised-cosine fade in and out of each tone, so it does not click
# "go": one broadband noise burst (a single sharp clap), shorter than the built-in claps.
SNAP_DURATION_S = 0.15
SNAP_ATTACK_S = 0.001
SNAP_DECAY_S = 0.02
SNAP_NOISE_SEED = 20261207  # fixed, so the go sounds the same every time

SIT_ON_GO_DURATION_S = 12.5  # the latest go (0.6 + 4 + 1 + 4 s) + sitting down (1 s) + the hold (1 s) + slack
GO_SIGNAL = GoSignal(GO_CUE, delay_range_s=(2.0, 4.0), nominal_delay_s=3.0, decoy_probability=0.5,
                     decoy_gap_range_s=(0.5, 1.0))


def whistle_wait(sample_rate_hz: int = cues.DEFAULT_SAMPLE_RATE_HZ) -> np.ndarray:
    """The wait cue: WAIT_TONE_HZ[0] then WAIT_TONE_HZ[1], WAIT_TONE_S each, faded; unit peak (n,)."""
    n = int(round(WAIT_TONE_S * sample_rate_hz))
    t = np.arange(n) / sample_rate_hz  # (n,) s
    n_fade = max(1, int(round(WAIT_FADE_S * sample_rate_hz)))
    fade = np.ones(n)  # (n,)
    fade[:n_fade] = 0.5 - 0.5 * np.cos(np.pi * (np.arange(n_fade) + 0.5) / n_fade)
    fade[-n_fade:] = fade[:n_fade][::-1]
    x = np.concatenate([np.sin(2 * np.pi * f * t) * fade for f in WAIT_TONE_HZ])  # (2n,)
    return (x / np.max(np.abs(x))).astype(np.float32)


def snap(sample_rate_hz: int = cues.DEFAULT_SAMPLE_RATE_HZ) -> np.ndarray:
    """The go signal: one decaying uniform-noise burst of SNAP_DURATION_S; unit peak (n,)."""
    n = int(round(SNAP_DURATION_S * sample_rate_hz))
    t = np.arange(n) / sample_rate_hz  # (n,) s
    noise = np.random.default_rng(SNAP_NOISE_SEED).uniform(-1.0, 1.0, n)  # (n,)
    decay = np.exp(-np.maximum(t - SNAP_ATTACK_S, 0.0) / SNAP_DECAY_S)  # (n,)
    x = noise * np.clip(t / SNAP_ATTACK_S, 0.0, 1.0) * decay  # (n,)
    return (x / np.max(np.abs(x))).astype(np.float32)


SIT_ON_GO = Skill.from_spec(
    SkillSpec("sit_on_go", WAIT_CUE, duration_s=SIT_ON_GO_DURATION_S, mirror_symmetric=True,
              description="sit at the go that follows the wait cue, not before it and not at a decoy go"),
    _posture_teacher(SIT_POSE_RAD), check_sit, go_signal=GO_SIGNAL,
)


def register_builtin() -> None:
    """Register the task's cues and skill (once; `import sim` does it)."""
    if WAIT_CUE not in cues.cue_names():
        cues.register_cue(WAIT_CUE, whistle_wait)
    if GO_CUE not in cues.cue_names():
        cues.register_cue(GO_CUE, snap)
    register(SIT_ON_GO, overwrite=True)
