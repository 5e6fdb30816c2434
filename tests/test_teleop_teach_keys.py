"""yan_dog.teleop's teach-loop keys: naming and picking the skill and its cue, the loop's events, and a
custom pose (the panel's pose editor) held through the same ramp."""

import numpy as np
import pytest

from robots.gait import TrotController
from yan_dog.teleop import POSTURE_RATE_RADPS, TeleopState, apply_key, known_skills, step_action, with_pose


def press(keys, state=None):
    state, events = state or TeleopState(), []
    for k in keys:
        state, event = apply_key(state, k)
        events.append(event)
    return state, events


def test_a_typed_skill_name_is_text_not_commands_and_enter_sets_it():
    state, events = press(["k", *"head_tilt", "\r"])
    assert state.skill == "head_tilt" and state.typing is None and state.command == (0.0, 0.0, 0.0)
    assert events[:-1] == [None] * 10 and events[-1] == "set_skill"  # "w"-free, but "d" and "e" typed as text
    state, events = press(["u", *"say:tilt", "\x7f", "t", "\n"], state)
    assert state.cue == "say:tilt" and events[-1] == "set_cue"
    state, events = press(["k", *"oops", "\x1b"], state)  # Esc cancels the name; it does not quit
    assert state.skill == "head_tilt" and events == [None] * 6
    assert press(["k", "\r"])[1] == [None, None]  # an empty name sets nothing


def test_brackets_pick_the_known_skills_with_their_cues():
    known = known_skills()
    state, events = press("]")
    assert (state.skill, state.cue) == known[0] and events == ["pick_skill"]
    state, _ = press("]]", state)
    assert (state.skill, state.cue) == known[2]
    state, _ = press("[", state)
    assert (state.skill, state.cue) == known[1]
    assert press("[")[0].skill == known[-1][0]  # wraps around


def test_the_loop_keys_ask_for_their_events():
    assert press("bnjtvcr")[1] == ["start_demo", "stop_demo", "discard_demo", "toggle_try", "save_skill",
                                   "play_cue", "reset_sim"]


def test_a_custom_pose_ramps_like_a_posture_and_bad_poses_are_refused():
    offsets = np.r_[0.3, 0.0, 0.0, -0.3, 0.0, 0.0, np.zeros(6)]  # front hips apart: a head tilt's start
    state = with_pose(press("w")[0], offsets)
    assert state.command == (0.0, 0.0, 0.0) and state.posture == "custom"
    state, first = step_action(state, 0.02)
    assert np.abs(first[3:]).max() <= POSTURE_RATE_RADPS * 0.02 + 1e-12
    for _ in range(20):
        state, action = step_action(state, 0.02)
    np.testing.assert_allclose(action[3:], offsets)
    assert np.isfinite(TrotController().stand_targets() + action[3:]).all()
    with pytest.raises(ValueError, match="12 finite"):
        with_pose(state, [0.0] * 11)
    with pytest.raises(ValueError, match="12 finite"):
        with_pose(state, [np.nan] * 12)
