"""Keyboard teleoperation: key -> hybrid action mapping (no ROS) and the terminal key reader."""

import os
import pty
import termios

import numpy as np
import pytest

from robots.gait import TrotController
from sim.skills import SIT_POSE_RAD
from yan_dog.teleop import (
    POSTURE_RATE_RADPS,
    WALK_SPEED_MPS,
    TeleopState,
    apply_key,
    step_action,
)


def press(keys: str, state: TeleopState | None = None):
    state, events = state or TeleopState(), []
    for k in keys:
        state, event = apply_key(state, k)
        events.append(event)
    return state, events


def test_gait_keys_set_the_gait_command_and_stop_keys_clear_it():
    state, events = press("w")
    assert state.command == (WALK_SPEED_MPS, 0.0, 0.0) and events == [None]
    _, action = step_action(state, 0.02)
    assert action.shape == (15,) and np.allclose(action[:3], [WALK_SPEED_MPS, 0, 0]) and not action[3:].any()
    assert press("W")[0].command == state.command  # case-insensitive
    assert press("q")[0].command[2] > 0 and press("e")[0].command[2] < 0
    assert press("a")[0].command[1] > 0 and press("d")[0].command[1] < 0
    assert press("w ")[0].command == (0.0, 0.0, 0.0) and press("wx")[0].command == (0.0, 0.0, 0.0)


def test_posture_keys_ramp_the_offsets_to_the_skill_pose():
    state, _ = press("w2")
    assert state.posture == "sit" and state.command == (0.0, 0.0, 0.0)
    dt = 0.02
    state, first = step_action(state, dt)
    assert np.abs(first[3:]).max() <= POSTURE_RATE_RADPS * dt + 1e-12  # no jump
    for _ in range(100):  # 2 s: enough for the largest offset at the ramp rate
        state, action = step_action(state, dt)
    targets = TrotController().stand_targets() + action[3:]  # what the brain / env decode
    assert np.allclose(targets, SIT_POSE_RAD)
    # a gait key brings the dog back to standing
    state, _ = press("w", state)
    assert state.posture == "stand"


def test_event_keys_and_unknown_keys():
    state = TeleopState()
    assert press("bncr")[1] == ["start_demo", "stop_demo", "play_cue", "reset_sim"]
    assert press("\x1b")[1] == ["quit"]
    after, events = press("z?9", state)
    assert after == state and events == [None, None, None]
    with pytest.raises(ValueError, match="dt_s"):
        step_action(state, 0.0)


def test_terminal_keys_reads_single_keys_and_restores_the_terminal():
    from yan_dog_ros.teleop_keyboard import TerminalKeys

    master, slave = pty.openpty()
    stream = os.fdopen(slave, "r")
    try:
        before = termios.tcgetattr(slave)
        with TerminalKeys(stream) as keys:
            assert termios.tcgetattr(slave)[3] & termios.ICANON == 0  # cbreak: no line buffering
            assert keys.read_key() is None
            os.write(master, b"w")
            assert keys.read_key() == "w"
            os.write(master, b"\x1b[A")  # an arrow key is not Esc
            assert keys.read_key() is None and keys.read_key() is None
        assert termios.tcgetattr(slave) == before
    finally:
        stream.close()
        os.close(master)
