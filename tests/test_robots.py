"""`robots`: the profiles (the A1's equal the simulator's constants), leg kinematics per profile, joint
mapping by name, and the brain and stream code importing without the simulator."""

import os
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import robots
from robots.actions import HOLD_ACTION, hybrid_joint_targets
from robots.gait import TrotController
from robots.joint_map import JointMap
from robots.kinematics import LEG_SIDE_SIGN, joints_to_feet, leg_fk, leg_ik, stand_feet_m
from robots.poses import POSTURES, posture_targets
from robots.profile import A1, NUM_MOTORS, PROFILES, RobotProfile, get_profile

REPO = Path(__file__).resolve().parents[1]
PROFILE_NAMES = sorted(PROFILES)


def test_the_three_profiles_are_registered_and_found_by_name():
    assert PROFILE_NAMES == ["a1", "go1", "go2"]
    for name in PROFILE_NAMES:
        p = get_profile(name)
        assert p is robots.PROFILES[name] and p.name == name and get_profile(name.upper()) is p
    with pytest.raises(ValueError, match=r"^unknown robot 'go3'; known robots: a1, go1, go2$"):
        get_profile("go3")


@pytest.mark.parametrize("name", PROFILE_NAMES)
def test_every_profile_is_consistent_and_cites_its_sources(name):
    p = get_profile(name)
    assert p.joint_names == tuple(f"{leg}_{part}_joint" for leg in robots.LEG_NAMES
                                  for part in ("hip", "thigh", "calf"))
    assert p.sim_joint_names[1] == "FR_upper_joint" and p.sim_joint_names[-1] == "RL_lower_joint"
    assert sorted(p.vendor_motor_index) == list(range(NUM_MOTORS))
    lo, hi = np.array(p.joint_lower_rad), np.array(p.joint_upper_rad)
    assert (lo < hi).all()
    for pose in (p.stand_pose_rad, p.lie_pose_rad):
        assert ((lo <= pose) & (pose <= hi)).all()
    assert np.array(p.hip_offsets_m).shape == (4, 3)
    cited = {"joint_names", "vendor_motor_index", "joint_lower_rad", "joint_upper_rad", "stand_pose_rad",
             "lie_pose_rad", "kp_nm_per_rad", "kd_nms_per_rad", "torque_limit_nm", "velocity_limit_radps",
             "hip_offsets_m", "hip_link_m", "thigh_link_m", "calf_link_m"}
    assert cited <= set(p.sources) and all(p.sources[k] for k in cited)


def test_the_a1_profile_is_what_the_simulator_uses():
    import sim.robot as sr

    assert sr.PROFILE is A1
    assert sr.MOTOR_NAMES == A1.sim_joint_names
    np.testing.assert_array_equal(sr.JOINT_LOWER_RAD, [-0.802851455917, -1.0471975512, -2.69653369433] * 4)
    np.testing.assert_array_equal(sr.JOINT_UPPER_RAD, [0.802851455917, 4.18879020479, -0.916297857297] * 4)
    np.testing.assert_array_equal(sr.STAND_POSE_RAD, [0.0, 0.9, -1.8] * 4)
    np.testing.assert_array_equal(sr.KP_NM_PER_RAD, np.full(12, 100.0))
    np.testing.assert_array_equal(sr.KD_NMS_PER_RAD, [1.0, 2.0, 2.0] * 4)
    np.testing.assert_array_equal(sr.TORQUE_LIMIT_NM, np.full(12, 33.5))
    np.testing.assert_array_equal(sr.HIP_OFFSETS_M, [[0.183, -0.047, 0], [0.183, 0.047, 0],
                                                     [-0.183, -0.047, 0], [-0.183, 0.047, 0]])
    assert (A1.hip_link_m, A1.thigh_link_m, A1.calf_link_m) == (0.08505, 0.2, 0.2)
    np.testing.assert_array_equal(A1.lie_pose_rad, [0.0, 1.2, -2.6] * 4)
    # the same facts as the URDF the simulator loads
    import pybullet as pb
    import pybullet_data

    client = pb.connect(pb.DIRECT)
    try:
        pb.setAdditionalSearchPath(pybullet_data.getDataPath(), physicsClientId=client)
        body = pb.loadURDF(sr.URDF_PATH, physicsClientId=client)
        for m, jid in enumerate(sr.MOTOR_JOINT_IDS):
            info = pb.getJointInfo(body, jid, physicsClientId=client)
            assert info[1].decode() == A1.sim_joint_names[m]
            assert (info[8], info[9]) == (A1.joint_lower_rad[m], A1.joint_upper_rad[m])
    finally:
        pb.disconnect(client)


@pytest.mark.parametrize("bad, match", [
    ({"joint_lower_rad": (0.5,) * 12, "joint_upper_rad": (0.4,) * 12},
     "joint_lower_rad must be < joint_upper_rad"),
    ({"kp_nm_per_rad": (1.0,) * 11}, "kp_nm_per_rad must be 12 finite values"),
    ({"joint_names": A1.joint_names[:11] + ("FR_hip_joint",)}, "12 distinct non-empty names"),
    ({"vendor_motor_index": (0,) * 12}, "vendor_motor_index must be 12 distinct slots"),
    ({"stand_pose_rad": (0.0, 9.0, -1.8) * 4}, "stand_pose_rad is outside the joint limits"),
    ({"hip_offsets_m": ((0.1, 0.0, 0.0),) * 3}, "hip_offsets_m must be 4 x 3"),
    ({"calf_link_m": 0.0}, "calf_link_m must be > 0"),
    ({"sources": {"wheel_radius_m": "?"}}, "sources names unknown fields"),
])
def test_a_bad_profile_is_refused_in_one_line(bad, match):
    with pytest.raises(ValueError, match=match) as e:
        replace(A1, **bad)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("name", PROFILE_NAMES)
def test_leg_ik_inverts_leg_fk_on_every_profile(name):
    p, rng = get_profile(name), np.random.default_rng(0)
    lo, hi = np.array(p.joint_lower_rad), np.array(p.joint_upper_rad)
    checked = 0
    for _ in range(300):
        q = rng.uniform(lo, hi)  # (12,)
        for leg in range(4):
            angles = q[3 * leg: 3 * leg + 3]
            # the IK's branch: knee bent backwards, the foot below the hip in the leg plane
            if not -2.6 < angles[2] < -0.2 or abs(angles[1] + angles[2] / 2) > 1.4:
                continue
            foot = leg_fk(angles, LEG_SIDE_SIGN[leg], p)
            np.testing.assert_allclose(leg_ik(foot, LEG_SIDE_SIGN[leg], p), angles, atol=1e-9)
            checked += 1
    assert checked > 200
    feet = stand_feet_m(p)  # (4, 3)
    np.testing.assert_allclose(joints_to_feet(robots.kinematics.feet_to_joints(feet, p), p), feet, atol=1e-9)
    # the legs are as long as the profile says: a straight leg reaches thigh + calf below the hip plane
    straight = leg_fk(np.zeros(3), 1.0, p)
    np.testing.assert_allclose(straight, [0.0, p.hip_link_m, -(p.thigh_link_m + p.calf_link_m)], atol=1e-12)


@pytest.mark.parametrize("name", PROFILE_NAMES)
def test_the_trot_and_hybrid_decoding_stay_inside_each_robots_limits(name):
    p = get_profile(name)
    gait = TrotController(profile=p)
    assert gait.config == robots.GaitConfig.for_profile(p)  # the stance scaled to the legs; the A1's: default
    assert (gait.config == robots.GaitConfig()) == (name == "a1")
    lo, hi = np.array(p.joint_lower_rad), np.array(p.joint_upper_rad)
    rng = np.random.default_rng(1)
    for k in range(100):
        action = np.r_[rng.uniform(-1, 1, 3), rng.uniform(-4, 4, 12)] if k % 2 else HOLD_ACTION
        q = hybrid_joint_targets(gait, action, 0.02)
        assert q.shape == (12,) and ((lo <= q) & (q <= hi)).all()
    for posture in POSTURES:
        q = posture_targets(p)[posture]
        assert ((lo <= q) & (q <= hi)).all(), posture


def test_the_a1_posture_targets_are_the_skills_poses():
    import sim.skills

    targets = posture_targets()
    np.testing.assert_array_equal(targets["sit"], sim.skills.SIT_POSE_RAD)
    np.testing.assert_array_equal(targets["lie_down"], sim.skills.LIE_POSE_RAD)
    np.testing.assert_array_equal(targets["shake_paw"], sim.skills.SHAKE_POSE_RAD)
    np.testing.assert_array_equal(targets["stand"], sim.robot.STAND_POSE_RAD)


# --- joint mapping -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("naming", ["joint_names", "sim_joint_names"])
def test_joint_states_are_matched_by_vendor_names_or_sim_aliases_in_any_order(naming):
    names = list(getattr(A1, naming))
    rng = np.random.default_rng(2)
    shuffled = [names[i] for i in rng.permutation(12)] + ["head_joint"]
    order = JointMap(A1).order(shuffled)
    assert [shuffled[i] for i in order] == names


def test_go2_ros2_sdk_leg_order_maps_back_to_the_project_order():
    legs = ("FL", "FR", "RL", "RR")  # go2_ros2_sdk's joint_states
    names = [f"{leg}_{part}_joint" for leg in legs for part in ("hip", "thigh", "calf")]
    order = JointMap(get_profile("go2")).order(names)
    assert [names[i] for i in order] == list(get_profile("go2").joint_names)


def test_missing_and_doubly_named_joints_are_named_as_the_message_names_them():
    jm = JointMap(A1)
    with pytest.raises(ValueError, match=r"^missing joints \['RL_lower_joint'\]$"):
        jm.order(A1.sim_joint_names[:11])
    with pytest.raises(ValueError, match=r"^missing joints \['RL_calf_joint'\]$"):
        jm.order(A1.joint_names[:11])
    with pytest.raises(ValueError, match=r"^one joint named twice: 'FR_thigh_joint' and 'FR_upper_joint'$"):
        jm.order([*A1.joint_names, "FR_upper_joint"])


def test_explicit_state_names_replace_the_profiles_and_commands_go_out_in_the_drivers_order():
    custom = [f"leg{i // 3}_j{i % 3}" for i in range(12)]
    jm = JointMap(A1, joint_names=custom)
    assert list(jm.order(custom[::-1])) == list(range(11, -1, -1))
    with pytest.raises(ValueError, match=r"missing joints \['leg0_j0'"):
        jm.order(A1.joint_names)  # the profile's names no longer count
    # a driver that lists the legs FL, FR, RL, RR
    driver = [f"{leg}_{part}_joint" for leg in ("FL", "FR", "RL", "RR") for part in ("hip", "thigh", "calf")]
    jm = JointMap(get_profile("go2"), command_joint_names=driver)
    targets = np.arange(12.0)  # project order
    out = jm.to_command(targets)
    assert out[:3].tolist() == [3.0, 4.0, 5.0] and out[3:6].tolist() == [0.0, 1.0, 2.0]  # FL first, then FR
    np.testing.assert_array_equal(jm.from_command(out), targets)
    assert jm.command_names == tuple(driver)
    default = JointMap(A1)
    np.testing.assert_array_equal(default.to_command(targets), targets)
    assert default.command_names == A1.joint_names


@pytest.mark.parametrize("kwargs, match", [
    ({"joint_names": ["a"] * 12}, r"^joint_names: duplicated joint names \['a'\]$"),
    ({"joint_names": ["a", "b"]}, r"^joint_names: need 12 non-empty joint names, got 2"),
    ({"command_joint_names": [*A1.joint_names[:11], "tail_joint"]},
     r"^unknown joint name 'tail_joint' for robot 'a1'; expected one of \['FR_hip_joint'"),
    ({"command_joint_names": [*A1.joint_names[:11], "FR_upper_joint"]},
     r"^command_joint_names: name each motor once; none for \['RL_calf_joint'\]$"),
])
def test_bad_name_maps_give_a_one_line_error(kwargs, match):
    with pytest.raises(ValueError, match=match) as e:
        JointMap(A1, **kwargs)
    assert "\n" not in str(e.value)


def test_a_profile_is_frozen():
    with pytest.raises(AttributeError):
        A1.name = "go2"
    assert isinstance(A1, RobotProfile) and hash(A1) == hash(replace(A1))


# --- no simulator in the brain and the stream code ---------------------------------------------------------

NO_SIM = textwrap.dedent("""
    import importlib.abc, sys

    BLOCKED = ("sim", "pybullet", "pybullet_data", "pybullet_envs")

    class NoSimulator(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"{name} must not be imported here")
            return None

    sys.meta_path.insert(0, NoSimulator())

    import importlib, pkgutil
    import numpy as np
    import yan_dog.brain, yan_dog.streams, yan_dog.teleop
    import yan_dog_ros.brain_node, yan_dog_ros.preprocess_nodes

    # every other module of the application and the nodes imports too, but the simulator's own code paths
    SIM_CODE_PATHS = {"yan_dog.demo", "yan_dog.realtime", "yan_dog.recording", "yan_dog.session",
                      "yan_dog.teaching_protocol", "yan_dog_ros.sim_node", "yan_dog_ros.teacher"}
    for package in (yan_dog, yan_dog_ros):
        for module in pkgutil.iter_modules(package.__path__):
            name = f"{package.__name__}.{module.name}"
            if name not in SIM_CODE_PATHS:
                importlib.import_module(name)
    from yan_dog.brain import BrainConfig, BrainCore
    from yan_dog.teach_setup import SessionConfig
    from yan_policy.training.learner import LearnerConfig

    session = SessionConfig(policy_overrides={"d_model": 32, "n_layers": 1},
                            learner=LearnerConfig(batch_episodes=1, publish_every=1))
    for robot in ("a1", "go2"):
        core = BrainCore(BrainConfig(robot=robot, session=session, learning=False, learner_process=False,
                                     trying=True))
        s, profile = core.spec, core.profile
        lo, hi, stand = (np.array(v) for v in (profile.joint_lower_rad, profile.joint_upper_rad,
                                               profile.stand_pose_rad))
        obs = {"camera": np.zeros((s.image_size, s.image_size, 3), np.uint8),
               "audio": np.zeros(s.samples_per_tick, np.int16),
               "joints": np.stack([stand, np.zeros(12), np.zeros(12)]).astype(np.float32),
               "imu": np.array([0, 0, 0, 1, 0, 0, 0, 0, 0, 9.81], np.float32)}
        for k in range(3):
            q = core.tick(obs if k else None, None, 0.02 * k)
            assert q.shape == (12,) and np.isfinite(q).all() and (lo <= q).all() and (q <= hi).all()
        assert core.counts["policy_ticks"] == 2 and core.counts["stale_holds"] == 1, core.counts
        core.close()
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
    assert not loaded, loaded
    print("ticked without the simulator")
""")


def test_the_brain_and_the_stream_code_import_and_tick_without_the_simulator():
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path}
    out = subprocess.run([sys.executable, "-c", NO_SIM], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "ticked without the simulator" in out.stdout
