"""Command safety: every joint target is finite, inside the joint limits and moves at most the maximum joint
speed per tick, whatever the policy or the teacher outputs; a policy that outputs NaN never reaches
/joint_commands (the robot holds instead)."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from robots.actions import HYBRID_OFFSET_LIMIT_RAD
from robots.gait import TrotController
from sim.robot import JOINT_LOWER_RAD, JOINT_UPPER_RAD, clamp_to_joint_limits
from tests.faults import rig as rg
from yan_dog.brain import MAX_JOINT_SPEED_RAD_S, BrainConfig, BrainCore
from yan_dog.teach_setup import SessionConfig
from yan_policy.training.learner import LearnerConfig

DT_S = 0.02
MAX_STEP = MAX_JOINT_SPEED_RAD_S * DT_S + 1e-6  # rad per tick (+ float32 rounding of the joints)
SMALL = SessionConfig(policy_overrides={"d_model": 32, "n_layers": 1},
                      learner=LearnerConfig(batch_episodes=1))
STAND = TrotController().stand_targets()


def obs(rng, joints=STAND):
    return {"camera": rng.integers(0, 256, (32, 32, 3), dtype=np.uint8),
            "audio": rng.integers(-100, 100, 320).astype(np.int16),
            "joints": np.stack([joints, np.zeros(12), np.zeros(12)]).astype(np.float32),
            "imu": np.array([0, 0, 0, 1, 0, 0, 0, 0, 0, 9.81], np.float32)}


@pytest.fixture
def brain():
    b = BrainCore(BrainConfig(session=SMALL, learning=False))
    yield b
    b.close()


def safe(q: np.ndarray) -> bool:
    return q.shape == (12,) and bool(np.isfinite(q).all() and np.all(q >= JOINT_LOWER_RAD)
                                     and np.all(q <= JOINT_UPPER_RAD))


def test_targets_stay_in_the_joint_limits_and_under_the_maximum_joint_speed(brain):
    """Fault: a teacher jumping between extreme postures (offsets ±π, beyond every joint limit).
    Outcome: each command is inside the limits and at most MAX_JOINT_SPEED_RAD_S * dt from the last;
    a held extreme posture is still reached (clamped), only more slowly."""
    rng = np.random.default_rng(0)
    brain.start_demo(0.0)
    prev = brain.tick(obs(rng), np.zeros(15), 0.0)
    extremes = [np.r_[0, 0, 0, np.full(12, s * HYBRID_OFFSET_LIMIT_RAD)] for s in (1, -1)]
    for k in range(1, 60):
        action = extremes[(k // 15) % 2]
        q = brain.tick(obs(rng), action, k * DT_S)
        assert safe(q) and np.abs(q - prev).max() <= MAX_STEP, k
        prev = q
    assert brain.counts["speed_limited"] > 0
    # after 15 ticks at -π offsets the robot is where the clamp puts it
    np.testing.assert_allclose(prev, clamp_to_joint_limits(STAND - HYBRID_OFFSET_LIMIT_RAD), atol=1e-9)


def test_the_switch_to_the_hold_is_speed_limited_too(brain):
    """Fault: inputs go stale while the robot is far from the stand pose (measured joints at a limit).
    Outcome: the hold starts from the measured pose and walks to the stand pose at the speed limit."""
    rng = np.random.default_rng(1)
    crouched = JOINT_UPPER_RAD.copy()
    prev = brain.tick(obs(rng, crouched), None, 0.0)  # first command: from the measured joints
    assert np.abs(prev - crouched).max() <= MAX_STEP
    for k in range(1, 40):
        q = brain.tick(None, None, k * DT_S)  # stale
        assert safe(q) and np.abs(q - prev).max() <= MAX_STEP
        prev = q
    np.testing.assert_allclose(prev, STAND, atol=1e-9)


def test_a_policy_that_outputs_nan_is_caught_and_the_robot_holds(brain):
    """Fault: the acting policy's weights are NaN (a diverged training step reached the actor).
    Outcome: every tick holds the stand pose, finite, and the bad actions are counted."""
    rng = np.random.default_rng(2)
    brain.set_trying(True)
    with torch.no_grad():
        for p in brain.actor.policy.parameters():
            p.fill_(float("nan"))
    for k in range(10):
        q = brain.tick(obs(rng), None, k * DT_S)
        assert safe(q)
        np.testing.assert_allclose(q, STAND, atol=1e-9)
    assert brain.counts["bad_actions"] == 10 and brain.counts["policy_ticks"] == 10


def test_a_nan_policy_never_reaches_joint_commands_of_the_running_node():
    """Fault: the running yan_brain node tries with a policy whose weights are NaN.
    Outcome: /joint_commands carries only finite stand-hold targets, at the control rate."""
    with rg.Rig(seed=3) as r:
        assert r.spin_until(lambda: r.following(r.taught, 0.0), 30.0), r.log
        r.brain.core.stop_demo()
        with torch.no_grad():
            for p in r.brain.core.actor.policy.parameters():
                p.fill_(float("nan"))
        r.brain.core.set_trying(True)
        t0 = time.monotonic()
        r.spin_for(0.6)
        sent = r.commands_between(t0 + 0.1, time.monotonic())
        assert len(sent) >= 0.75 * 0.5 * rg.CONTROL_HZ
        assert all(safe(q) and np.allclose(q, r.stand, atol=1e-6) for q in sent)
        assert r.brain.core.counts["bad_actions"] > 0 and r.brain.core.counts["policy_ticks"] > 0
