"""Skill checks must be meaningful: the scripted teachers pass them, idle or random policies do not."""

import gymnasium as gym
import numpy as np
import pytest

import sim

TEACHER_SEEDS = range(1000, 1020)  # 20 randomised seeds
BASELINE_SEEDS = range(2000, 2010)
TEACHER_MIN_SUCCESS = 0.95
BASELINE_MAX_SUCCESS = 0.10
# The teachers and checks look at simulator state, not at images: a tiny camera keeps this fast.
TINY_CAMERA = (16, 16)
SPIN_RADPS = sim.skills.TURN_RATE_RADPS


def episode_success(skill: str, seed: int, policy: str) -> bool:
    env = gym.make(sim.ENV_ID, skill=skill, camera_size=TINY_CAMERA, camera_hz=1.0)
    env.action_space.seed(seed)
    env.reset(seed=seed)
    done, info = False, {}
    while not done:
        if policy == "teacher":
            action = env.unwrapped.teacher_action()
        elif policy == "spin":  # gait command: keep turning in the skill's direction at the teacher's rate
            action = np.array([0.0, 0.0, SPIN_RADPS if skill == "turn_left" else -SPIN_RADPS], np.float32)
        elif policy == "zero":
            action = np.zeros(env.action_space.shape, np.float32)
        else:
            action = env.action_space.sample()
        _, _, terminated, truncated, info = env.step(action)
        done = terminated or truncated
    env.close()
    return bool(info["success"])


@pytest.mark.parametrize("skill", sim.skills.names())
def test_scripted_teacher_succeeds_on_randomised_seeds(skill):
    results = [episode_success(skill, seed, "teacher") for seed in TEACHER_SEEDS]
    rate = float(np.mean(results))
    failed = [s for s, ok in zip(TEACHER_SEEDS, results, strict=True) if not ok]
    assert rate >= TEACHER_MIN_SUCCESS, f"{skill}: teacher success {rate:.2f}, failed seeds {failed}"


@pytest.mark.parametrize("policy", ["zero", "random"])
@pytest.mark.parametrize("skill", [s for s in sim.skills.names() if s != "stand"])
def test_idle_and_random_policies_fail_the_check(skill, policy):
    rate = float(np.mean([episode_success(skill, seed, policy) for seed in BASELINE_SEEDS]))
    assert rate <= BASELINE_MAX_SUCCESS, f"{skill}: {policy} policy succeeds {rate:.2f} of the time"


@pytest.mark.parametrize("skill", ["turn_left", "turn_right"])
def test_a_robot_that_spins_on_does_not_pass_a_quarter_turn(skill):
    """It is past 90° for most of the episode, but never stops in the quarter-turn range."""
    rate = float(np.mean([episode_success(skill, seed, "spin") for seed in BASELINE_SEEDS]))
    assert rate <= BASELINE_MAX_SUCCESS, f"{skill}: a spinning robot succeeds {rate:.2f} of the time"
