"""Mirror-image demonstrations (yan_policy.training.augment): the transform is the physics' own mirror."""

import dataclasses

import numpy as np
import pybullet as pb
import pybullet_data
import pytest

import sim
from robots.kinematics import LEG_SIDE_SIGN, leg_fk
from sim.robot import (
    HIP_OFFSETS_M,
    JOINT_LOWER_RAD,
    JOINT_UPPER_RAD,
    MIRROR_MOTOR_PERMUTATION,
    MIRROR_MOTOR_SIGN,
    STAND_POSE_RAD,
    A1Robot,
)
from tests.test_teach_data import ACTION_DIM, fake_episode, small_policy
from yan_dog.teach_setup import MOTOR_MIRROR as A1_MIRROR
from yan_policy.data.episode import Episode
from yan_policy.training.augment import MirrorSpec, mirror_episode
from yan_policy.training.learner import LearnerConfig, OnlineLearner
from yan_policy.training.learner_process import ProcessLearner

MIRROR_Y = np.diag([1.0, -1.0, 1.0])


def _feet_in_body(q: np.ndarray) -> np.ndarray:
    """(4, 3) foot positions in the body frame for 12 joint angles."""
    return np.stack([HIP_OFFSETS_M[i] + leg_fk(q[3 * i: 3 * i + 3], LEG_SIDE_SIGN[i]) for i in range(4)])


def test_mirrored_joint_angles_put_every_foot_at_its_mirror_point():
    rng = np.random.default_rng(0)
    for _ in range(50):
        q = rng.uniform(JOINT_LOWER_RAD, JOINT_UPPER_RAD)
        feet, mirrored = _feet_in_body(q), _feet_in_body(A1_MIRROR.joints(q))
        legs = [0, 1, 2, 3]
        swapped = [1, 0, 3, 2]  # FR <-> FL, RR <-> RL
        np.testing.assert_allclose(mirrored[legs], feet[swapped] @ MIRROR_Y, atol=1e-12)


def _quat_matrix(q: np.ndarray) -> np.ndarray:
    return np.asarray(pb.getMatrixFromQuaternion(q.tolist())).reshape(3, 3)


def test_mirrored_quaternion_is_the_mirrored_rotation():
    rng = np.random.default_rng(1)
    for _ in range(20):
        q = rng.normal(size=4)
        q /= np.linalg.norm(q)
        imu = np.concatenate([q, rng.normal(size=6)]).astype(np.float32)[None]  # (1, 10)
        joints, action = np.zeros((1, 3, 12), np.float32), np.zeros((1, 3), np.float32)
        ep = Episode("walk", "gait", 50, np.zeros(1), joints, imu, action)
        mirrored = mirror_episode(ep, A1_MIRROR).imu[0].astype(np.float64)
        expected = MIRROR_Y @ _quat_matrix(q) @ MIRROR_Y
        np.testing.assert_allclose(_quat_matrix(mirrored[:4]), expected, atol=1e-6)


def _simulate(q0: np.ndarray, targets: np.ndarray, ticks_per_target: int = 10) -> tuple[np.ndarray, ...]:
    """Stand the A1 on a floor at q0, track each row of targets for a control period; -> joints
    (T, 3, 12) and IMU (T, 10), one row per control period."""
    client = pb.connect(pb.DIRECT)
    try:
        dt = 0.002
        pb.setGravity(0, 0, -9.81, physicsClientId=client)
        pb.setTimeStep(dt, physicsClientId=client)
        pb.setAdditionalSearchPath(pybullet_data.getDataPath(), physicsClientId=client)
        pb.loadURDF("plane.urdf", physicsClientId=client)
        robot = A1Robot(client, dt)
        robot.reset([0.0, 0.0, 0.31], 0.0, q0)
        joints, imu = [], []
        for k, target in enumerate(targets):
            robot.set_targets(target)
            for _ in range(ticks_per_target):
                robot.apply_pd()
                pb.stepSimulation(physicsClientId=client)
            robot.after_control_period(ticks_per_target * dt)
            s = robot.state(k * ticks_per_target * dt)
            joints.append(np.stack([s.joint_pos_rad, s.joint_vel_radps, s.joint_torque_nm]))
            imu.append(robot.imu(s))
        return np.asarray(joints, np.float32), np.asarray(imu, np.float32)
    finally:
        pb.disconnect(client)


def test_a_mirrored_simulation_records_the_mirror_image_of_the_original():
    """Run the A1 once with left-right asymmetric targets and once with their mirror image: the second
    recording is the first one mirrored, so a mirrored demonstration is physically a demonstration."""
    rng = np.random.default_rng(2)
    q0 = STAND_POSE_RAD + rng.normal(0.0, 0.05, 12)
    sway = np.cumsum(rng.normal(0.0, 0.02, (40, 12)), axis=0)  # (40, 12) a random walk of targets
    targets = np.clip(STAND_POSE_RAD + sway, JOINT_LOWER_RAD, JOINT_UPPER_RAD)
    joints, imu = _simulate(q0, targets)
    joints_m, imu_m = _simulate(A1_MIRROR.joints(q0), A1_MIRROR.joints(targets))
    ep = Episode("x", "joint", 50, np.arange(40) / 50.0, joints, imu, targets.astype(np.float32))
    mirrored = mirror_episode(ep, A1_MIRROR)
    # positions (rad); contacts are solved in order, so the two runs differ by a few mrad
    np.testing.assert_allclose(mirrored.joints[:, 0], joints_m[:, 0], atol=1e-2)
    np.testing.assert_allclose(mirrored.imu[:, :4], imu_m[:, :4], atol=2e-3)  # orientation
    # angular velocity (rad/s): impacts make single ticks differ, the typical tick agrees
    assert np.median(np.abs(mirrored.imu[:, 4:7] - imu_m[:, 4:7])) < 0.02 < np.median(np.abs(imu_m[:, 4:7]))
    # a wrong mirror (no hip sign flip) is far off: the check above can fail
    wrong = MirrorSpec(MIRROR_MOTOR_PERMUTATION, (1.0,) * 12)
    assert np.abs(wrong.joints(joints[:, 0]) - joints_m[:, 0]).max() > 0.05


def test_mirror_episode_flips_camera_and_commands_and_is_its_own_inverse():
    ep = fake_episode(t=12)
    m = mirror_episode(ep, A1_MIRROR)
    np.testing.assert_array_equal(m.camera, ep.camera[:, :, ::-1])
    np.testing.assert_array_equal(m.action[:, :3], ep.action[:, :3] * [1, -1, -1])  # vx, -vy, -yaw rate
    np.testing.assert_array_equal(m.audio, ep.audio)
    assert m.extra["mirrored"] and m.skill == ep.skill and m.cue == ep.cue
    back = mirror_episode(m, A1_MIRROR)
    for key in ("camera", "joints", "imu", "action"):
        np.testing.assert_array_equal(getattr(back, key), getattr(ep, key), err_msg=key)
    assert not back.extra["mirrored"]


@pytest.mark.parametrize(
    "perm, sign, match",
    [
        ((0, 0, 1), (1, 1, 1), "permutation"),
        ((1, 2, 0), (1, 1, 1), "own inverse"),
        ((1, 0, 2), (1, 1), "entries"),
        ((1, 0, 2), (1, 2, 1), "entries"),
        ((1, 0, 2), (1, -1, 1), "pair"),
    ],
)
def test_mirror_spec_validates_itself(perm, sign, match):
    with pytest.raises(ValueError, match=match):
        MirrorSpec(perm, sign)


def test_mirror_needs_the_episode_to_match_the_robot():
    ep = dataclasses.replace(fake_episode(t=5), action_mode="joint")  # 15 dims is not a joint action
    with pytest.raises(ValueError, match="action dims"):
        mirror_episode(ep, A1_MIRROR)


def test_builtin_symmetric_skills_are_the_left_right_symmetric_ones():
    symmetric = {n for n in sim.skills.names() if sim.skills.is_mirror_symmetric(n)}
    assert {"sit", "walk_forward", "come_to_ball"} <= symmetric
    assert not symmetric & {"turn_left", "turn_right", "shake_paw"}  # their mirrors are other skills
    assert not sim.skills.is_mirror_symmetric("no_such_skill")
    assert MIRROR_MOTOR_SIGN[0] == -1.0  # the hips


def test_learner_trains_on_mirror_images_of_symmetric_skills_only():
    def batch_of(skill: str, prob: float) -> list[bool]:
        learner = OnlineLearner(small_policy(), LearnerConfig(batch_episodes=8, mirror_prob=prob, seed=0),
                                A1_MIRROR, lambda name: name == "sit")
        learner.add_episode(fake_episode(skill, t=6))
        seen = []
        original = learner.policy.forward

        def spy(batch):
            seen.append(batch["action"][:, 0, 2].copy())  # (B,) yaw rate of the first tick
            return original(batch)

        learner.policy.forward = spy
        learner.train_step()
        return list(seen[0] != fake_episode(skill, t=6).action[0, 2])

    assert not any(batch_of("sit", 0.0)) and all(batch_of("sit", 1.0))
    mixed = batch_of("sit", 0.5)
    assert any(mixed) and not all(mixed)
    assert not any(batch_of("shake_paw", 1.0))
    with pytest.raises(ValueError, match="both"):
        OnlineLearner(small_policy(), mirror=A1_MIRROR)
    with pytest.raises(ValueError, match="joints"):  # a learner process refuses it in its caller too
        ProcessLearner(small_policy(), mirror=MirrorSpec((1, 0), (1.0, 1.0)), symmetric=bool)
    with pytest.raises(ValueError, match="mirror_prob"):
        LearnerConfig(mirror_prob=1.5)
    assert ACTION_DIM == 15
