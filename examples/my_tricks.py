"""An example skill plug-in: teach the dog to wave its front-left paw, asked for by a wolf whistle.

Copy this file, change the teacher, the check and the cue, and give it to every yan-dog command:

    yan-dog --skills examples/my_tricks.py teach --skill wave --demos 3
    yan-dog --skills examples/my_tricks.py eval --skill wave
    yan-dog --skills examples/my_tricks.py teach --skill wave --say "wave"   # asked for by a spoken word
    python bench/few_shot.py --plugins examples/my_tricks.py --parts single --skills wave

A plug-in is a Python file that registers skills (`sim.skills.register`) and the cues that ask for them
(`sim.register_cue`, `sim.register_wav_cue`, `sim.register_spoken_cue`) when it is imported. Its
names must be new: a built-in skill or cue cannot be replaced. `yan-dog --skills` also exports the file
in $YAN_DOG_PLUGINS, so the processes yan-dog starts (evaluation and bench workers, `yan-dog up
--processes` nodes) load it too. An installed package can do the same through the entry-point group
`yan_dog.plugins` (docs/teaching.md, "Your own skill").

A skill has a scripted **teacher** (privileged simulator state -> 12 joint targets, rad, here) and a
**success check** on simulator state that must hold for `hold_s` seconds after its cue. Why a scripted
teacher: it demonstrates the skill the same way every time, so a test can tell learning from luck.
"""

from __future__ import annotations

import numpy as np

import sim
from robots.poses import SHAKE_POSE_RAD, SIT_POSE_RAD
from robots.profile import MIRROR_MOTOR_PERMUTATION, MIRROR_MOTOR_SIGN, clamp_to_joint_limits
from sim.skills import (
    FOOT_ON_FLOOR_M,
    POSTURE_RAMP_S,
    SHAKE_LIFT_DELAY_S,
    SHAKE_LIFT_RAMP_S,
    Skill,
    SkillContext,
)

FL = 1  # leg index of the front-left leg (legs FR, FL, RR, RL)
FL_THIGH = 3 * FL + 1  # its thigh motor (motors hip, thigh, calf per leg)

# --- the posture: sitting, front-left paw raised (shake_paw's pose, mirrored left for right) ----------
WAVE_POSE_RAD = SHAKE_POSE_RAD[list(MIRROR_MOTOR_PERMUTATION)] * np.array(MIRROR_MOTOR_SIGN)  # (12,)

# --- the wave: the raised leg's thigh swings about its raised angle --------------------------------------
WAVE_AMPLITUDE_RAD = 0.3  # thigh swing either side of the raised pose
WAVE_FREQUENCY_HZ = 1.5  # waves a second
WAVE_START_S = SHAKE_LIFT_DELAY_S + SHAKE_LIFT_RAMP_S  # after the cue: sit, lift the paw, then wave
WAVE_DURATION_S = 6.0  # episode length: the cue (~1 s), 2 s to sit and lift, waves until the check has held
WAVE_HOLD_S = 1.0  # how long the check must hold

# --- the check (thresholds with their units) -------------------------------------------------------------
WAVE_MIN_PAW_HEIGHT_M = 0.08  # the front-left toe stays at least this high while it waves (teacher: >= 0.11)
WAVE_MIN_SWING_M = 0.05  # ... and its height spans at least this much over the last wave (teacher: ~0.19)
WAVE_WINDOW_S = 1.0 / WAVE_FREQUENCY_HZ  # one wave
WAVE_MAX_ROLL_RAD = 0.35  # the trunk does not tip over sideways

# --- the cue: a wolf whistle (up, then down), synthesised here so it needs no recording ------------------
CUE_NAME = "wolf_whistle"
WHISTLE_UP_S = 0.25  # rising part
WHISTLE_DOWN_S = 0.45  # falling part
WHISTLE_LOW_HZ = 1000.0
WHISTLE_HIGH_HZ = 2600.0
WHISTLE_FADE_S = 0.01  # raised-cosine fade at both ends, so it does not click


def wolf_whistle(sample_rate_hz: int) -> np.ndarray:
    """The cue's waveform (float32, (n,)) at `sample_rate_hz`: a chirp up, then a longer one down."""
    f_up = np.linspace(WHISTLE_LOW_HZ, WHISTLE_HIGH_HZ, round(WHISTLE_UP_S * sample_rate_hz))
    f_down = np.linspace(WHISTLE_HIGH_HZ, WHISTLE_LOW_HZ, round(WHISTLE_DOWN_S * sample_rate_hz))
    freq_hz = np.concatenate([f_up, f_down])  # (n,)
    wave = np.sin(2 * np.pi * np.cumsum(freq_hz) / sample_rate_hz)  # (n,)
    n_fade = round(WHISTLE_FADE_S * sample_rate_hz)
    fade = 0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, n_fade))  # (n_fade,) 0 -> 1
    wave[:n_fade] *= fade
    wave[-n_fade:] *= fade[::-1]
    return wave.astype(np.float32)


def _ramp(t_s: float, duration_s: float) -> float:
    return float(np.clip(t_s / duration_s, 0.0, 1.0))


def wave_teacher(ctx: SkillContext) -> np.ndarray:
    """Hold the start pose until the cue, sit, raise the front-left paw, then wave it (12 targets, rad)."""
    sit = _ramp(ctx.since_go_s, POSTURE_RAMP_S)
    targets = (1 - sit) * ctx.start.joint_pos_rad + sit * SIT_POSE_RAD
    lift = _ramp(ctx.since_go_s - SHAKE_LIFT_DELAY_S, SHAKE_LIFT_RAMP_S)
    targets = (1 - lift) * targets + lift * WAVE_POSE_RAD
    waving_s = max(0.0, ctx.since_go_s - WAVE_START_S)
    targets[FL_THIGH] += WAVE_AMPLITUDE_RAD * np.sin(2 * np.pi * WAVE_FREQUENCY_HZ * waving_s)
    return clamp_to_joint_limits(targets)


def check_wave(ctx: SkillContext) -> bool:
    """The front-left paw is up and has moved up and down by WAVE_MIN_SWING_M over the last wave, the
    other feet on the floor, the trunk not tipped over. A paw held still (shake_paw's) is not a wave."""
    s = ctx.state
    window = [p for p in ctx.history if p.time_s >= s.time_s - WAVE_WINDOW_S] or [s]
    heights_m = np.array([p.foot_pos_m[FL, 2] for p in window])  # (ticks,)
    others_down = all(s.foot_pos_m[leg, 2] < FOOT_ON_FLOOR_M for leg in (0, 2, 3))
    return bool(
        heights_m.min() >= WAVE_MIN_PAW_HEIGHT_M
        and np.ptp(heights_m) >= WAVE_MIN_SWING_M
        and others_down
        and abs(s.base_rpy_rad[0]) < WAVE_MAX_ROLL_RAD
    )


sim.register_cue(CUE_NAME, wolf_whistle)
sim.skills.register(
    Skill(
        "wave",
        wave_teacher,
        check_wave,
        cue=CUE_NAME,
        duration_s=WAVE_DURATION_S,
        hold_s=WAVE_HOLD_S,
        description=f"sit and wave the front-left paw (up >= {WAVE_MIN_PAW_HEIGHT_M} m, swinging "
        f">= {WAVE_MIN_SWING_M} m) for {WAVE_HOLD_S:g} s",
    )
)
