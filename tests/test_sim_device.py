"""`sim.device.SimDevice`: the simulated robot as a real-time device (no ROS)."""

import numpy as np
import pytest

from robots.actions import HYBRID_ACTION_DIM, hybrid_joint_targets
from robots.gait import TrotController
from sim.device import (
    CMD_VEL_TIMEOUT_S,
    JOINT_COMMAND_TIMEOUT_S,
    JOINT_NAMES,
    SimDevice,
    SimDeviceConfig,
)
from sim.robot import JOINT_LOWER_RAD, JOINT_UPPER_RAD, STAND_POSE_RAD
from sim.skills import SIT_POSE_RAD

SMALL_CAMERA = (24, 24)


def make(**kw) -> SimDevice:
    kw.setdefault("camera_size", SMALL_CAMERA)
    return SimDevice(SimDeviceConfig(**kw))


def test_joint_names_follow_the_a1_motor_order():
    assert len(JOINT_NAMES) == 12
    assert JOINT_NAMES[:3] == ("FR_hip_joint", "FR_upper_joint", "FR_lower_joint")
    assert JOINT_NAMES[-1] == "RL_lower_joint"


@pytest.mark.parametrize(
    "field, value",
    [
        ("skill", "fly"),
        ("seed", -1),
        ("control_hz", 0),
        ("camera_hz", 80.0),
        ("audio_rate_hz", 16001),
        ("joint_command_timeout_s", 0.0),
        ("camera_size", (4, 4)),
    ],
)
def test_config_rejects_bad_fields_by_name(field, value):
    with pytest.raises(ValueError, match=field):
        SimDeviceConfig(**{field: value})


def test_streams_are_due_at_their_rates():
    dev = make(skill="sit", seed=0, control_hz=50, camera_hz=10.0)
    ticks = [dev.tick() for _ in range(50)]  # one second
    cameras = [t for t in ticks if t.camera is not None]
    assert len(cameras) == 10  # 10 Hz
    assert all(t.camera.shape == (*SMALL_CAMERA, 3) and t.camera.dtype == np.uint8 for t in cameras)
    assert all("camera" in t.fields_due for t in cameras)
    for t in ticks:
        assert t.audio.shape == (16000 // 50,) and t.audio.dtype == np.int16
        assert t.joints.shape == (3, 12) and t.imu.shape == (10,)
        assert t.teacher_action.shape == (HYBRID_ACTION_DIM,) and np.isfinite(t.teacher_action).all()
    stamps = np.array([t.sim_time_s for t in ticks])
    assert np.allclose(np.diff(stamps), 0.02)
    dev.close()


def test_idle_device_has_no_teacher_and_no_cue():
    dev = make(skill="")
    out = dev.tick()
    assert out.teacher_action is None and "teacher_action" not in out.fields_due
    assert out.status["skill"] == "" and out.status["cue"] is None
    with pytest.raises(RuntimeError, match="no skill"):
        dev.play_cue()
    dev.close()


def test_absolute_joint_targets_are_applied_and_clamped():
    dev = make(skill="sit", seed=0, randomize=False, play_cue=False)
    target = STAND_POSE_RAD.copy()
    target[1] = 1.3  # FR upper joint
    target[2] = -5.0  # FR lower joint: beyond its limit, clamped
    out = None
    for _ in range(40):  # 0.8 s, re-sent every tick like a controller
        out = dev.tick(joint_targets=target)
    assert out.control_source == "joint_commands"
    assert np.allclose(dev.env.joint_targets, np.clip(target, JOINT_LOWER_RAD, JOINT_UPPER_RAD))
    assert abs(out.joints[0, 1] - 1.3) < 0.1
    assert abs(out.joints[0, 2] - JOINT_LOWER_RAD[2]) < 0.15
    dev.close()


def test_bad_commands_raise_before_anything_is_applied():
    dev = make(skill="sit", seed=0)
    t0 = dev.sim_time_s
    with pytest.raises(ValueError, match="joint_targets"):
        dev.tick(joint_targets=np.full(12, np.nan))
    with pytest.raises(ValueError, match="joint_targets"):
        dev.tick(joint_targets=np.zeros(11))
    with pytest.raises(ValueError, match="cmd_vel"):
        dev.tick(cmd_vel=np.array([np.inf, 0.0, 0.0]))
    assert dev.sim_time_s == t0
    dev.close()


def test_command_timeouts_and_precedence():
    dev = make(skill="sit", seed=0, randomize=False, play_cue=False)
    ticks_joint = round(JOINT_COMMAND_TIMEOUT_S * 50)
    assert dev.tick(joint_targets=STAND_POSE_RAD).control_source == "joint_commands"
    # a cmd_vel does not override a fresh joint command
    assert dev.tick(cmd_vel=np.array([0.4, 0.0, 0.0])).control_source == "joint_commands"
    for _ in range(ticks_joint):
        out = dev.tick()
    assert out.control_source == "cmd_vel"  # joint command stale, twist still fresh
    for _ in range(round(CMD_VEL_TIMEOUT_S * 50)):
        out = dev.tick()
    assert out.control_source == "hold"
    assert np.allclose(dev.env.joint_targets, TrotController().stand_targets())  # stopped trotting
    dev.close()


def test_cmd_vel_walks_the_dog_forward():
    dev = make(skill="", seed=0, randomize=False)
    start = dev.env.state.base_pos_m.copy()
    for _ in range(100):  # 2 s
        dev.tick(cmd_vel=np.array([0.6, 0.0, 0.0]))
    assert dev.env.state.base_pos_m[0] - start[0] > 0.3
    dev.close()


def test_reset_keeps_the_device_clock_and_counts_episodes():
    dev = make(skill="sit", seed=0)
    for _ in range(5):
        dev.tick()
    t = dev.sim_time_s
    status = dev.reset(skill="lie_down", seed=7)
    assert status["skill"] == "lie_down" and status["seed"] == 7 and status["episode"] == 2
    assert status["time_s"] == 0.0 and dev.sim_time_s == t
    with pytest.raises(KeyError):
        dev.reset(skill="fly")
    dev.close()


def test_play_cue_now_is_heard_and_starts_the_teacher():
    dev = make(skill="sit", seed=0, randomize=False, play_cue=False)
    quiet = np.concatenate([dev.tick().audio for _ in range(10)])
    assert dev.status()["cue"] is None
    assert dev.play_cue() == "whistle_falling"
    loud = np.concatenate([dev.tick().audio for _ in range(10)])
    assert np.abs(loud.astype(float)).mean() > 3 * np.abs(quiet.astype(float)).mean()
    status = dev.status()
    assert status["cue"] == "whistle_falling" and status["go_time_s"] > status["cue_time_s"] > 0
    dev.close()


def test_place_ball_moves_the_ball():
    dev = make(skill="come_to_ball", seed=0)
    dev.place_ball([0.8, -0.5])
    assert np.allclose(dev.env.scene.ball_position()[:2], [0.8, -0.5], atol=1e-6)
    with pytest.raises(ValueError, match="ball position"):
        dev.place_ball([1.0])
    dev.close()


def test_teacher_driven_sit_episode_succeeds_through_joint_commands():
    dev = make(skill="sit", seed=3)
    gait = TrotController()
    out = dev.tick()
    while out.status["time_s"] < out.status["episode_s"] - 1e-9:
        targets = hybrid_joint_targets(gait, out.teacher_action.astype(np.float64), dev.dt_s)  # (12,)
        out = dev.tick(joint_targets=targets)
    assert out.control_source == "joint_commands"
    assert out.status["success"] and not out.status["fallen"]
    dev.close()


def test_env_step_joint_targets_equals_a_joint_mode_step():
    """The env method behind absolute targets: same physics as `step` in joint mode, any action mode."""
    from sim.env import YanDogEnv

    hybrid = YanDogEnv(skill="sit", action_mode="hybrid", camera_size=SMALL_CAMERA)
    joint = YanDogEnv(skill="sit", action_mode="joint", camera_size=SMALL_CAMERA)
    hybrid.reset(seed=5)
    joint.reset(seed=5)
    target = SIT_POSE_RAD + np.array([0.0, 0.0, -3.0] + [0.0] * 9)  # FR lower beyond its limit
    for _ in range(10):
        a = hybrid.step_joint_targets(target)
        b = joint.step(target)
        for key in ("camera", "audio", "joints", "imu"):
            assert np.array_equal(a[0][key], b[0][key]), key
        assert a[1:4] == b[1:4]
    with pytest.raises(ValueError, match="shape"):
        hybrid.step_joint_targets(np.zeros(15))
    with pytest.raises(ValueError, match="non-finite"):
        hybrid.step_joint_targets(np.full(12, np.nan))
    hybrid.close()
    joint.close()


def test_set_clock_rebases_the_device_clock_before_the_first_tick_only():
    dev = make(skill="sit", seed=0, time_origin_s=100.0)
    assert dev.sim_time_s == 100.0
    dev.set_clock(5000.0)  # e.g. the wall clock once a real-time runner starts its tick grid
    assert dev.tick().sim_time_s == pytest.approx(5000.02)
    with pytest.raises(RuntimeError, match="before the first tick"):
        dev.set_clock(6000.0)
    dev.close()
    fresh = make(skill="sit", seed=0)
    with pytest.raises(ValueError, match="now_s"):
        fresh.set_clock(float("nan"))
    fresh.close()


def test_skip_ticks_moves_only_the_clock():
    dev = make(skill="sit", seed=0, time_origin_s=100.0)
    dev.tick()
    time_s = dev.env.time_s
    dev.skip_ticks(10)
    assert dev.sim_time_s == pytest.approx(100.0 + 11 * 0.02) and dev.env.time_s == time_s
    with pytest.raises(ValueError, match="n must be"):
        dev.skip_ticks(-1)
    dev.close()
