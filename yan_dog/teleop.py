"""Keyboard teleoperation of the dog in the 15-D hybrid action space (no ROS; `teleop_keyboard` wires it up).

A person teaches like the scripted teachers do: a gait command for locomotion, joint offsets from the
trot controller's standing targets for postures. Keys:

  w / s     walk forward / backward         a / d   step left / right       q / e   turn left / right
  space, x  stop walking
  1 2 3 4   posture: stand, sit, lie down, shake paw (offsets ramp at POSTURE_RATE_RADPS)
  k         name the skill (type it, Enter; Esc cancels)     [ / ]   pick the previous / next known skill
  u         name the cue (a sound's name or say:<word>, Enter)        (picking a skill picks its cue)
  c         play the cue through the sim        b / n   begin / end a demonstration
  j         junk the demonstration running      t       try on / off (the policy acts)
  v         save the skill to the library       r       reset the sim
  Esc, Ctrl-C  quit

A gait key brings the posture back to standing (the dog cannot trot while sitting); a posture key stops
walking. While a name is typed, keys are text, not commands. The teach loop from the keyboard: name or
pick the skill and its cue, `b`, `c`, show it, `n` (three times), wait for the learner, `t` and `c` to see
it tried, `v` to save. `apply_key` and `step_action` are pure functions of an immutable `TeleopState`; a
posture may also be any joint pose (`with_pose`, the browser panel's pose editor).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np

from robots import skills as skill_specs
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
# key -> event for the node: services on the brain / the sim, teach-desk commands, or quitting
EVENT_KEYS = {
    "b": "start_demo",
    "n": "stop_demo",
    "j": "discard_demo",
    "t": "toggle_try",
    "v": "save_skill",
    "c": "play_cue",
    "r": "reset_sim",
    "\x1b": "quit",
    "\x03": "quit",
}
NAME_KEYS = {"k": "skill", "u": "cue"}  # key -> the name typed next
PICK_KEYS = {"[": -1, "]": 1}  # key -> step through KNOWN_SKILLS
ENTER_KEYS = ("\n", "\r")
BACKSPACE_KEYS = ("\x7f", "\x08")
MAX_NAME_CHARS = 64  # a skill name's limit (yan_policy.data.library); a cue says a short word
CUSTOM_POSTURE = "custom"  # the posture of a pose set with `with_pose`


def known_skills() -> list[tuple[str, str]]:
    """(skill, its cue) for every registered skill spec (`robots.skills`), in registration order."""
    return [(name, skill_specs.get(name).cue) for name in skill_specs.names()]


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
        posture: target posture name (a key of POSTURE_OFFSETS_RAD, or CUSTOM_POSTURE).
        offsets: (12,) joint offsets sent now (rad); they ramp towards the posture's offsets.
        pose: (12,) the custom posture's offsets (rad) when posture is CUSTOM_POSTURE.
        skill, cue: the skill and cue named or picked last ("" = none yet).
        typing: "skill" or "cue" while a name is typed (None otherwise); `text` is what was typed.
    """

    command: tuple[float, float, float] = (0.0, 0.0, 0.0)
    posture: str = "stand"
    offsets: tuple[float, ...] = (0.0,) * NUM_MOTORS
    pose: tuple[float, ...] = (0.0,) * NUM_MOTORS
    skill: str = ""
    cue: str = ""
    typing: str | None = None
    text: str = ""


def apply_key(state: TeleopState, key: str) -> tuple[TeleopState, str | None]:
    """The state after pressing `key`, and the event it asks for (EVENT_KEYS value; "set_skill" /
    "set_cue" with the typed name in the state; "pick_skill" with the picked skill and its cue) or None.

    Unknown keys change nothing. Letters are case-insensitive (except in a typed name)."""
    if state.typing is not None:
        return _type_key(state, key)
    k = key.lower() if len(key) == 1 and key.isalpha() else key
    if k in GAIT_KEYS:
        return replace(state, command=GAIT_KEYS[k], posture="stand"), None
    if k in POSTURE_KEYS:
        return replace(state, command=(0.0, 0.0, 0.0), posture=POSTURE_KEYS[k]), None
    if k in NAME_KEYS:
        return replace(state, typing=NAME_KEYS[k], text=""), None
    if k in PICK_KEYS:
        return _pick(state, PICK_KEYS[k]), "pick_skill"
    return state, EVENT_KEYS.get(k)


def _type_key(state: TeleopState, key: str) -> tuple[TeleopState, str | None]:
    if key in ENTER_KEYS:
        name = state.text.strip()
        done = replace(state, typing=None, text="")
        if not name:
            return done, None
        return replace(done, **{state.typing: name}), f"set_{state.typing}"
    if key in ("\x1b", "\x03"):  # Esc cancels the name, it does not quit
        return replace(state, typing=None, text=""), None
    if key in BACKSPACE_KEYS:
        return replace(state, text=state.text[:-1]), None
    if len(key) == 1 and key.isprintable() and len(state.text) < MAX_NAME_CHARS:
        return replace(state, text=state.text + key), None
    return state, None


def _pick(state: TeleopState, step: int) -> TeleopState:
    """The previous / next known skill after the current one, with its cue."""
    known = known_skills()
    names = [n for n, _ in known]
    i = names.index(state.skill) + step if state.skill in names else (0 if step > 0 else -1)
    skill, cue = known[i % len(known)]
    return replace(state, skill=skill, cue=cue)


def with_pose(state: TeleopState, offsets) -> TeleopState:
    """Hold a custom posture: (12,) joint offsets (rad) from the standing targets; walking stops."""
    pose = np.asarray(offsets, np.float64)  # (12,)
    if pose.shape != (NUM_MOTORS,) or not np.isfinite(pose).all():
        raise ValueError(f"a pose is {NUM_MOTORS} finite joint offsets (rad), got {pose.tolist()}")
    return replace(state, command=(0.0, 0.0, 0.0), posture=CUSTOM_POSTURE, pose=tuple(pose.tolist()))


def step_action(state: TeleopState, dt_s: float,
                postures: Mapping[str, np.ndarray] = POSTURE_OFFSETS_RAD) -> tuple[TeleopState, np.ndarray]:
    """Advance the posture ramp by `dt_s` (s); returns the new state and the (15,) hybrid action.
    `postures`: the robot's posture offsets (`posture_offsets(profile)`; default the A1's)."""
    if dt_s <= 0:
        raise ValueError(f"dt_s must be > 0, got {dt_s}")
    now = np.asarray(state.offsets, np.float64)  # (12,)
    target = np.asarray(state.pose) if state.posture == CUSTOM_POSTURE else postures[state.posture]  # (12,)
    max_step = POSTURE_RATE_RADPS * dt_s
    offsets = now + np.clip(target - now, -max_step, max_step)  # (12,)
    action = np.concatenate([state.command, offsets])  # (15,)
    return replace(state, offsets=tuple(offsets.tolist())), action
