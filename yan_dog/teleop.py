"""Keyboard teleoperation of the dog in the 15-D hybrid action space (no ROS; `teleop_keyboard` wires it up).

A person teaches like the scripted teachers do: a gait command for locomotion, joint offsets from the
trot controller's standing targets for postures. Keys:

  w / s     walk forward / backward         a / d   step left / right       q / e   turn left / right
  space, x  stop walking
  1 2 3 4   posture: stand, sit, lie down, shake paw (offsets ramp at POSTURE_RATE_RADPS)
  b / n     begin / end a demonstration on the brain
  c         play the skill's cue through the sim      r   reset the sim
  Esc, Ctrl-C  quit

A gait key brings the posture back to standing (the dog cannot trot while sitting); a posture key stops
walking. `apply_key` and `step_action` are pure functions of an immutable `TeleopState`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np

from robots.gait import TrotController
from robots.poses import posture_targets
from robots.profile import A1, NUM_MOTORS, RobotProfile

WALK_SPEED_MPS = 0.5  # forward / backward command
STRAFE_SPEED_MPS = 0.3  # sideways command
TURN_RATE_RADPS = 1.0  # yaw-rate command
POSTURE_RATE_RADPS = 1.5  # joint offsets move towards a posture at most this fast (the teachers take ~1 s)

# key -> gait command (vx m/s, vy m/s, yaw rate rad/s)
GAIT_KEYS = {
    "w": (WALK_SPEED_MPS, 0.0, 0.0),
    "s": (-WALK_SPEED_MPS, 0.0, 0.0),
    "a": (0.0, STRAFE_SPEED_MPS, 0.0),
    "d": (0.0, -STRAFE_SPEED_MPS, 0.0),
    "q": (0.0, 0.0, TURN_RATE_RADPS),
    "e": (0.0, 0.0, -TURN_RATE_RADPS),
    " ": (0.0, 0.0, 0.0),
    "x": (0.0, 0.0, 0.0),
}
POSTURE_KEYS = {"1": "stand", "2": "sit", "3": "lie_down", "4": "shake_paw"}
# key -> event for the node: services on the brain / the sim, or quitting
EVENT_KEYS = {
    "b": "start_demo",
    "n": "stop_demo",
    "c": "play_cue",
    "r": "reset_sim",
    "\x1b": "quit",
    "\x03": "quit",
}


def posture_offsets(profile: RobotProfile = A1) -> dict[str, np.ndarray]:
    """Posture -> joint offsets (12,) from the trot controller's standing targets (what a zero hybrid
    action holds) to the posture's targets (rad), for `profile`'s robot. Standing is zero offsets."""
    stand = TrotController(profile=profile).stand_targets()  # (12,)
    postures = posture_targets(profile)
    return {k: np.zeros(NUM_MOTORS) if k == "stand" else postures[k] - stand for k in POSTURE_KEYS.values()}


POSTURE_OFFSETS_RAD = posture_offsets()  # the A1's

HELP = __doc__.split("Keys:")[1].split("A gait key")[0].rstrip()


@dataclass(frozen=True)
class TeleopState:
    """What the person is asking for now.

    Args:
        command: (3,) gait command (vx m/s, vy m/s, yaw rate rad/s).
        posture: target posture name (a key of POSTURE_OFFSETS_RAD).
        offsets: (12,) joint offsets sent now (rad); they ramp towards the posture's offsets.
    """

    command: tuple[float, float, float] = (0.0, 0.0, 0.0)
    posture: str = "stand"
    offsets: tuple[float, ...] = (0.0,) * NUM_MOTORS


def apply_key(state: TeleopState, key: str) -> tuple[TeleopState, str | None]:
    """The state after pressing `key`, and the event it asks for (EVENT_KEYS value) or None.

    Unknown keys change nothing. Letters are case-insensitive."""
    k = key.lower() if len(key) == 1 and key.isalpha() else key
    if k in GAIT_KEYS:
        return replace(state, command=GAIT_KEYS[k], posture="stand"), None
    if k in POSTURE_KEYS:
        return replace(state, command=(0.0, 0.0, 0.0), posture=POSTURE_KEYS[k]), None
    return state, EVENT_KEYS.get(k)


def step_action(state: TeleopState, dt_s: float,
                postures: Mapping[str, np.ndarray] = POSTURE_OFFSETS_RAD) -> tuple[TeleopState, np.ndarray]:
    """Advance the posture ramp by `dt_s` (s); returns the new state and the (15,) hybrid action.
    `postures`: the robot's posture offsets (`posture_offsets(profile)`; default the A1's)."""
    if dt_s <= 0:
        raise ValueError(f"dt_s must be > 0, got {dt_s}")
    now = np.asarray(state.offsets, np.float64)  # (12,)
    target = postures[state.posture]  # (12,)
    max_step = POSTURE_RATE_RADPS * dt_s
    offsets = now + np.clip(target - now, -max_step, max_step)  # (12,)
    action = np.concatenate([state.command, offsets])  # (15,)
    return replace(state, offsets=tuple(offsets.tolist())), action
