"""The simulator as a Gymnasium env: checker, determinism, actions, sensors, skills registry, video."""

import gymnasium as gym
import imageio.v2 as imageio
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import sim
from robots.kinematics import LEG_SIDE_SIGN, leg_fk, leg_ik
from sim.robot import JOINT_LOWER_RAD, JOINT_UPPER_RAD, STAND_POSE_RAD
from sim.skills import Skill, SkillContext

SMALL_CAMERA = (24, 24)  # keeps rendering cheap where the test does not look at images


def make(skill="sit", **kw):
    kw.setdefault("camera_size", SMALL_CAMERA)
    return gym.make(sim.ENV_ID, skill=skill, **kw)


def teacher_episode(env, seed: int) -> dict:
    """Run one whole episode under the scripted teacher; returns the last info."""
    env.reset(seed=seed)
    done = False
    while not done:
        _, _, term, trunc, info = env.step(env.unwrapped.teacher_action())
        done = term or trunc
    return info


@pytest.mark.parametrize("skill", sim.skills.names())
def test_env_checker_passes_for_every_skill(skill):
    env = make(skill)
    check_env(env.unwrapped, skip_render_check=True)
    env.close()


def test_render_rgb_array_is_a_chase_camera_frame():
    env = make("sit", render_mode="rgb_array", render_size=(60, 80))
    env.reset(seed=0)
    frame = env.render()
    assert frame.shape == (60, 80, 3) and frame.dtype == np.uint8
    assert frame.std() > 5  # a real picture, not a blank
    env.close()


def _rollout(seed, steps=60, skill="walk_forward"):
    env = make(skill, camera_size=(32, 32))
    obs, info = env.reset(seed=seed)
    trace = [obs]
    for _ in range(steps):
        obs, r, term, trunc, info = env.step(env.unwrapped.teacher_action())
        trace.append(obs)
    env.close()
    return trace, info


def test_same_seed_same_episode_and_different_seed_differs():
    a, info_a = _rollout(seed=7)
    b, info_b = _rollout(seed=7)
    c, _ = _rollout(seed=8)
    for oa, ob in zip(a, b, strict=True):
        for key in oa:
            np.testing.assert_array_equal(oa[key], ob[key], err_msg=key)
    np.testing.assert_array_equal(info_a["base_pos_m"], info_b["base_pos_m"])
    assert not np.array_equal(a[-1]["joints"], c[-1]["joints"])
    assert not np.array_equal(a[0]["audio"], c[0]["audio"])


def test_observation_streams_have_documented_shapes_and_units():
    env = make("sit", camera_size=(48, 64), control_hz=50, audio_rate_hz=16000)
    obs, _ = env.reset(seed=0)
    assert obs["camera"].shape == (48, 64, 3) and obs["camera"].dtype == np.uint8
    assert obs["audio"].shape == (320,) and obs["audio"].dtype == np.int16
    assert obs["joints"].shape == (3, 12) and obs["joints"].dtype == np.float32
    np.testing.assert_allclose(obs["joints"][0], STAND_POSE_RAD, atol=0.15)  # standing, rad
    quat, acc = obs["imu"][:4], obs["imu"][7:]
    assert abs(np.linalg.norm(quat) - 1) < 1e-4
    assert 9.0 < acc[2] < 10.6  # at rest the accelerometer reads +g along body z
    env.close()


def test_camera_frames_repeat_between_camera_ticks():
    # Walking from t = 0 moves the head camera, so every fresh frame differs from the last one.
    env = make("walk_forward", camera_hz=10.0, randomize=False, play_cue=False)  # new frame every 5 ticks
    obs, _ = env.reset(seed=0)
    frames = [obs["camera"]]
    for _ in range(10):
        obs, *_ = env.step(env.unwrapped.teacher_action())
        frames.append(obs["camera"])
    same = [np.array_equal(frames[i], frames[i + 1]) for i in range(10)]
    assert same == [True, True, True, True, False] * 2
    env.close()


def test_cue_is_heard_in_the_audio_stream():
    env = make("sit", randomize=False, snr_db=20.0)
    obs, info = env.reset(seed=0)
    dt = 1 / 50
    rms = []
    for _ in range(60):
        obs, *_, info = env.step(env.unwrapped.teacher_action())
        rms.append((info["time_s"], np.sqrt(np.mean(obs["audio"].astype(float) ** 2))))
    cue_t = info["cue_time_s"]
    quiet = [r for t, r in rms if t < cue_t - dt]
    loud = [r for t, r in rms if cue_t + 2 * dt < t < cue_t + 0.3]
    assert np.median(loud) > 5 * np.median(quiet)
    assert info["go_time_s"] > cue_t  # the skill is asked for once the cue has been heard
    env.close()


def test_the_cue_tick_is_the_first_observation_that_hears_the_cue():
    env = make("sit", snr_db=20.0)
    obs, info = env.reset(seed=3)
    rms = [float(np.sqrt(np.mean(obs["audio"].astype(float) ** 2)))]  # (tick 0)
    for _ in range(40):
        obs, *_, info = env.step(env.unwrapped.teacher_action())
        rms.append(float(np.sqrt(np.mean(obs["audio"].astype(float) ** 2))))
    tick = info["cue_tick"]
    assert tick == int(info["cue_time_s"] * 50) + 1 and info["release_time_s"] == info["cue_time_s"]
    assert info["cue_schedule"] == [["whistle_falling", info["cue_time_s"], "cue"]]
    assert max(rms[tick: tick + 3]) > 5 * max(rms[:tick])  # silence (noise) before it, the cue from it on
    env.close()


def test_the_env_id_is_v1_with_a_version_history():
    assert sim.ENV_ID == "YanDog-v1" and gym.spec("YanDog-v1").entry_point == "sim.env:YanDogEnv"
    with pytest.raises(gym.error.Error):  # v0 (checks before issue 30) is no longer registered
        gym.spec("YanDog-v0")
    doc = sim.YanDogEnv.__doc__
    assert "## Version History" in doc and "- v1:" in doc and "- v0:" in doc


def test_play_cue_false_means_silence_and_immediate_go():
    env = make("sit", play_cue=False)
    _, info = env.reset(seed=0)
    assert info["cue"] is None and info["go_time_s"] == 0.0
    env.close()


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_joint_action_is_rejected_and_names_the_joint(bad):
    env = make("sit", action_mode="joint")
    env.reset(seed=0)
    before = env.unwrapped.state.joint_pos_rad.copy()
    action = STAND_POSE_RAD.copy()
    action[4] = bad
    with pytest.raises(ValueError, match=r"non-finite action entries \['joint 4'\]"):
        env.step(action)
    np.testing.assert_array_equal(env.unwrapped.state.joint_pos_rad, before)  # nothing applied
    env.step(STAND_POSE_RAD)  # still usable
    env.close()


def test_non_finite_gait_action_names_the_command():
    env = make("walk_forward", action_mode="gait")
    env.reset(seed=0)
    with pytest.raises(ValueError, match="yaw_rate_radps"):
        env.step(np.array([0.1, 0.0, np.nan]))
    env.close()


@pytest.mark.parametrize("shape", [(11,), (12, 1), (3,), ()])
def test_wrong_action_shape_is_rejected(shape):
    env = make("sit", action_mode="joint")
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"must have shape \(12,\)"):
        env.step(np.zeros(shape))
    env.close()


def test_out_of_limit_targets_are_clamped():
    env = make("sit", action_mode="joint")
    env.reset(seed=0)
    _, _, _, _, info = env.step(np.full(12, 100.0))
    np.testing.assert_allclose(info["joint_targets"], JOINT_UPPER_RAD.astype(np.float32))
    _, _, _, _, info = env.step(np.full(12, -100.0))
    np.testing.assert_allclose(info["joint_targets"], JOINT_LOWER_RAD.astype(np.float32))
    env.close()


def test_step_before_reset_is_a_clear_error():
    env = sim.YanDogEnv(skill="sit", camera_size=SMALL_CAMERA)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(STAND_POSE_RAD)
    env.close()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"skill": "backflip"}, "unknown skill 'backflip'"),
        ({"action_mode": "torque"}, "action_mode"),
        ({"control_hz": 30}, "multiple of control_hz"),
        ({"camera_hz": 0}, "camera_hz"),
        ({"camera_size": (4, 4)}, "camera_size"),
        ({"render_mode": "human"}, "render_mode"),
    ],
)
def test_bad_env_arguments_give_clear_errors(kwargs, match):
    kwargs = {"skill": "sit", **kwargs}
    with pytest.raises((ValueError, KeyError), match=match):
        sim.YanDogEnv(**kwargs)


def test_leg_ik_inverts_fk_over_the_workspace():
    rng = np.random.default_rng(0)
    for _ in range(200):
        leg = rng.integers(4)
        q = np.array([rng.uniform(-0.5, 0.5), rng.uniform(-0.3, 1.8), rng.uniform(-2.5, -1.0)])
        foot = leg_fk(q, LEG_SIDE_SIGN[leg])
        np.testing.assert_allclose(
            leg_fk(leg_ik(foot, LEG_SIDE_SIGN[leg]), LEG_SIDE_SIGN[leg]), foot, atol=1e-9
        )


def test_user_skill_plugs_in_without_editing_sim():
    def teacher(ctx: SkillContext):
        return STAND_POSE_RAD + np.array([0.3, 0, 0, -0.3, 0, 0, 0.3, 0, 0, -0.3, 0, 0]) * (
            ctx.since_go_s > 0
        )

    def check(ctx: SkillContext):
        return abs(ctx.state.joint_pos_rad[0] - 0.3) < 0.1  # FR hip abducted

    sim.skills.register(Skill("splay", teacher, check, cue="click", duration_s=3.0, hold_s=0.5))
    try:
        assert "splay" in sim.skills.names()
        env = make("splay")
        assert teacher_episode(env, seed=0)["success"]
        env.close()
        with pytest.raises(ValueError, match="already registered"):
            sim.skills.register(Skill("splay", teacher, check, cue="click"))
    finally:
        sim.skills.unregister("splay")
    assert "splay" not in sim.skills.names()


def test_skill_validates_itself():
    with pytest.raises(ValueError, match="action_mode"):
        Skill("x", lambda c: 0, lambda c: True, cue="clap", action_mode="fly")
    with pytest.raises(ValueError, match="hold_s"):
        Skill("x", lambda c: 0, lambda c: True, cue="clap", duration_s=1.0, hold_s=2.0)


def test_reset_option_switches_skill_and_teacher_converts_gait_to_joints():
    env = make("sit", action_mode="joint")
    _, info = env.reset(seed=0, options={"skill": "walk_forward"})
    assert info["skill"] == "walk_forward" and env.action_space.shape == (12,)
    for _ in range(int(info["go_time_s"] * 50) + 30):
        a = env.unwrapped.teacher_action()
        assert a.shape == (12,)
        env.step(a)
    assert env.unwrapped.state.base_pos_m[:2] @ env.unwrapped.start_state.heading_xy > 0.05  # it walks
    env.close()


def test_record_episode_writes_a_playable_mp4(tmp_path):
    from sim.video import record_episode

    env = make("sit", render_mode="rgb_array", render_size=(64, 80), episode_s=1.0)
    info = record_episode(env, lambda obs: env.unwrapped.teacher_action(), tmp_path / "ep.mp4", seed=0)
    env.close()
    frames = imageio.mimread(tmp_path / "ep.mp4")
    assert len(frames) == 25 and frames[0].shape[:2] == (64, 80)
    assert info["time_s"] == pytest.approx(1.0)


@pytest.mark.parametrize("skill", sim.skills.names())
def test_every_teacher_succeeds_in_hybrid_mode(skill):
    # One action space for every skill: what a multi-skill policy learns in.
    env = make(skill, action_mode="hybrid")
    assert env.action_space.shape == (15,)
    assert teacher_episode(env, seed=3)["success"]
    env.close()


def test_hybrid_zero_action_stands_still():
    env = make("sit", action_mode="hybrid", play_cue=False)
    env.reset(seed=0)
    for _ in range(50):
        _, _, _, _, info = env.step(np.zeros(15, np.float32))
    s = env.unwrapped.state
    assert s.base_pos_m[2] > 0.24 and np.abs(s.base_rpy_rad[:2]).max() < 0.1
    assert np.linalg.norm(s.base_pos_m[:2] - env.unwrapped.start_state.base_pos_m[:2]) < 0.05
    env.close()
