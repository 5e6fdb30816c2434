"""yan_dog.brain.BrainCore: the control tick, safety holds, the teaching state machine, saving skills."""

import numpy as np
import pytest
import torch

import sim.skills
from robots.actions import HYBRID_OFFSET_LIMIT_RAD, hybrid_joint_targets
from robots.gait import TrotController
from sim.robot import JOINT_LOWER_RAD, JOINT_UPPER_RAD
from yan_dog.brain import BrainConfig, BrainCore
from yan_dog.teach_setup import SessionConfig
from yan_policy.data.library import SkillLibrary
from yan_policy.training.learner import LearnerConfig

DT_S = 0.02
STAND = np.array([0.0, 0.9, -1.8] * 4)
# A small policy: these tests check wiring, not learning.
SMALL = SessionConfig(policy_overrides={"d_model": 32, "n_layers": 1},
                      learner=LearnerConfig(batch_episodes=1, publish_every=1))


def obs(rng):
    return {"camera": rng.integers(0, 256, (32, 32, 3), dtype=np.uint8),
            "audio": rng.integers(-100, 100, 320).astype(np.int16),
            "joints": np.stack([STAND, np.zeros(12), np.zeros(12)]).astype(np.float32),
            "imu": np.array([0, 0, 0, 1, 0, 0, 0, 0, 0, 9.81], np.float32)}


def brain(tmp_path=None, **kw):
    library = SkillLibrary(tmp_path / "lib") if tmp_path is not None else None
    return BrainCore(BrainConfig(session=SMALL, **{"learning": False, **kw}), library)


def sit_action(k):
    return np.r_[0.0, 0.0, 0.0, np.full(12, 0.3 * np.sin(k / 5))]


def test_idle_and_stale_ticks_hold_the_stand_pose():
    b, rng = brain(), np.random.default_rng(0)
    stand = TrotController().stand_targets()
    np.testing.assert_allclose(b.tick(obs(rng), None, 0.0), stand)  # idle, not trying
    b.set_trying(True)
    np.testing.assert_allclose(b.tick(None, None, 0.02), stand)  # a stale stream
    assert b.counts["idle_holds"] == 1 and b.counts["stale_holds"] == 1
    b.close()


def test_teach_actions_are_decoded_exactly_like_the_env_hybrid_mode():
    # decoding only: the joint speed limit (tests/faults/test_command_safety.py) would smooth the jump
    b, rng = brain(max_joint_speed_rad_s=np.inf), np.random.default_rng(1)
    ref = TrotController()
    b.start_demo(0.0)
    for k, action in enumerate([np.r_[0.5, 0.0, 0.3, np.zeros(12)], np.r_[0.5, 0.1, 0.0, np.full(12, 0.2)],
                                np.r_[0.0, 0.0, 0.0, np.full(12, 9.0)]]):  # offsets beyond the limit
        expected = hybrid_joint_targets(ref, action, DT_S)
        np.testing.assert_allclose(b.tick(obs(rng), action, k * DT_S), expected)
    out = b.tick(obs(rng), np.r_[0, 0, 0, np.full(12, HYBRID_OFFSET_LIMIT_RAD)], 0.1)
    assert np.all(out >= JOINT_LOWER_RAD) and np.all(out <= JOINT_UPPER_RAD)
    b.close()


@pytest.mark.parametrize("source, executed_gain", [("scripted", 0.8), ("teleop", 1.0)])
def test_a_slowed_scripted_demonstration_executes_the_scaled_gait_and_records_the_teachers(
        tmp_path, source, executed_gain):
    """demo_gait_gain slows the scripted teacher's gait command on the robot (the same DART-style
    demonstrations as a sim TeachSession's); the label stays the command as it came. A person's
    demonstrations (any other source) are never scaled."""
    b, rng = brain(tmp_path, max_joint_speed_rad_s=np.inf, demo_source=source), np.random.default_rng(7)
    assert b.set_demo_gait_gain(0.8)[0]
    ref = TrotController()
    b.start_demo(0.0)
    teach = [np.r_[0.5, 0.1, 0.6, np.full(12, 0.05 * k)] for k in range(12)]
    for k, action in enumerate(teach):
        executed = np.r_[action[:3] * executed_gain, action[3:]]
        expected = hybrid_joint_targets(ref, executed, DT_S)  # (12,)
        np.testing.assert_allclose(b.tick(obs(rng), action, k * DT_S), expected, rtol=1e-6, atol=1e-7)
    assert b.stop_demo()[0]
    (ep,) = b.library.demos()
    np.testing.assert_allclose(ep.action, np.stack(teach), rtol=1e-6)  # the teacher's command
    assert ep.extra["gait_gain"] == executed_gain
    assert ep.extra["teacher_action_mode"] == sim.skills.get(ep.skill).action_mode  # for the learner's noise
    assert b.config.demo_gait_gain == 1.0  # for that demonstration only
    b.close()


@pytest.mark.parametrize("gain", [0.0, -1.0, 1.6, float("nan")])
def test_an_impossible_gait_gain_is_refused_by_name(gain):
    b = brain()
    ok, message = b.set_demo_gait_gain(gain)
    assert not ok and "demo_gait_gain" in message and b.config.demo_gait_gain == 1.0
    b.close()
    with pytest.raises(ValueError, match="demo_gait_gain"):
        BrainConfig(demo_gait_gain=gain)


def test_bad_actions_hold_instead_of_reaching_the_robot():
    b, rng = brain(), np.random.default_rng(2)
    stand = TrotController().stand_targets()
    b.start_demo(0.0)
    np.testing.assert_allclose(b.tick(obs(rng), np.full(15, np.nan), 0.0), stand)
    np.testing.assert_allclose(b.tick(obs(rng), np.zeros(12), 0.02), stand)  # wrong size
    assert b.counts["bad_actions"] == 2 and b.counts["teach_missing"] == 2
    b.close()


def test_policy_acts_when_trying_and_outputs_are_finite_and_clamped():
    b, rng = brain(trying=True), np.random.default_rng(3)
    for k in range(10):
        q = b.tick(obs(rng), None, k * DT_S)
        assert q.shape == (12,) and np.isfinite(q).all()
        assert np.all(q >= JOINT_LOWER_RAD) and np.all(q <= JOINT_UPPER_RAD)
    assert b.counts["policy_ticks"] == 10
    b.close()


def test_a_demonstration_becomes_a_labelled_episode_for_the_learner(tmp_path):
    b, rng = brain(tmp_path, cue="whistle_falling", demo_source="scripted"), np.random.default_rng(4)
    assert b.stop_demo() == (False, "no demonstration is running")
    assert b.start_demo(1.0)[0] and not b.start_demo(1.0)[0]
    assert not b.set_skill("walk_forward")[0]  # not during a demonstration
    b.tick(obs(rng), None, 1.0)  # the first teach action has not arrived yet: context only
    for k in range(1, 30):
        b.tick(obs(rng), sit_action(k), 1.0 + k * DT_S)
    b.tick(obs(rng), sit_action(30), 1.0 + 29 * DT_S)  # the clock did not advance: not a new tick
    ok, message = b.stop_demo()
    assert ok, message
    (ep,) = b.library.demos()  # what the learner got too (a learner process keeps its own copy)
    assert len(ep) == 30 and ep.skill == "sit" and ep.cue == "whistle_falling" and ep.source == "scripted"
    assert ep.action_mode == "hybrid" and ep.camera.shape == (30, 32, 32, 3) and ep.audio.shape == (30, 320)
    assert not ep.label_mask[0] and ep.label_mask[1:].all()
    np.testing.assert_allclose(ep.action[5], sit_action(5), rtol=1e-6)
    np.testing.assert_allclose(ep.stamps_s, np.arange(30) * DT_S, atol=1e-9)
    assert b.library.skills["sit"].demos  # stored in the library too
    assert b.status()["episodes"] == 1 and b.status()["mode"] == "idle"


def test_short_or_unlabelled_demonstrations_are_discarded():
    b, rng = brain(), np.random.default_rng(5)
    b.start_demo(0.0)
    for k in range(3):
        b.tick(obs(rng), sit_action(k), k * DT_S)
    ok, message = b.stop_demo()
    assert not ok and "discarded" in message
    b.start_demo(1.0)
    for k in range(20):
        b.tick(obs(rng), None, 1.0 + k * DT_S)
    assert not b.stop_demo()[0] and len(b.learner.buffer) == 0 and b.counts["demos_discarded"] == 2
    b.close()


def test_learning_runs_in_the_background_and_the_skill_is_saved(tmp_path):
    # normal scheduling for the learner child: under SCHED_IDLE it got no CPU at all while the other test
    # worker (and anything else) kept both cores busy, 0 steps in 30 s (this test is about learning and
    # saving; tests/ros covers the priorities)
    b, rng = brain(tmp_path, learner_sched_idle=False), np.random.default_rng(6)
    assert b.save_skill() == (False, "no demonstrations of 'sit' in the library yet")
    b.start_demo(0.0)
    for k in range(20):
        b.tick(obs(rng), sit_action(k), k * DT_S)
    b.stop_demo()
    b.set_learning(True)
    import time
    deadline = time.monotonic() + 30.0
    while b.learner.steps < 3 and time.monotonic() < deadline:
        b.tick(obs(rng), None, 1.0)  # the control loop keeps ticking while the learner trains
        time.sleep(0.01)
    assert b.learner.steps >= 3 and b.status()["learning"]
    b.set_learning(False)
    assert not b.status()["learning"]
    b.wait_learner_stopped()
    assert not b.learner.running
    ok, message = b.save_skill()
    assert ok and "library version" in message
    # a new brain on the same library knows the skill and rehearses its demonstrations
    again = BrainCore(BrainConfig(session=SMALL, learning=False), SkillLibrary(tmp_path / "lib"))
    assert again.learner.buffer.skills() == ["sit"] and again.learner.steps == 0
    again.close()


def test_save_without_a_library_fails_clearly():
    b = brain()
    assert b.save_skill() == (False, "no skill library configured (parameter library_dir)")
    b.close()


def test_config_validates_itself():
    with pytest.raises(ValueError, match="control_hz"):
        BrainConfig(control_hz=0)
    with pytest.raises(ValueError, match="demo_source"):
        BrainConfig(demo_source="robot")
    with pytest.raises(ValueError, match="skill"):
        BrainConfig(skill="")
    assert BrainConfig(cue="").cue is None


def test_each_tick_records_its_own_policy_step_or_none():
    b, rng = brain(trying=True), np.random.default_rng(3)
    b.tick(obs(rng), None, 0.0)
    step = b.last_policy_step
    assert step is not None and step.wall_s > 0 and step.swapped is False
    b.tick(None, None, 0.02)  # a stale tick holds without stepping the policy
    assert b.last_policy_step is None
    b.close()


def test_the_warm_up_steps_the_policy_on_blank_observations_and_leaves_the_actors_state_alone():
    b = brain(trying=True)  # warmed up once already, in the constructor
    policy = b.actor.policy
    before = {k: v.clone() for k, v in b.actor.state.items()}
    calls = []
    step_chunk = policy.step_chunk
    policy.step_chunk = lambda o, st: calls.append(sorted(o)) or step_chunk(o, st)
    try:
        b.warm_up(steps=2)
    finally:
        del policy.step_chunk  # back to the class's method
    assert calls == [["audio", "camera", "imu", "joints"]] * 2  # every input the policy reads
    assert all(torch.equal(before[k], b.actor.state[k]) for k in before)
    b.close()


def test_the_native_memory_lives_across_tries_saves_and_a_restart(tmp_path):
    """A new try starts the per-episode state afresh and carries the native memory; save_skill commits it
    with the weights; a brain restarted on the library acts from it; only reset_memory forgets it."""
    import torch

    b, rng = brain(tmp_path), np.random.default_rng(8)
    b.start_demo(0.0)
    for k in range(12):
        b.tick(obs(rng), sit_action(k), k * DT_S)
    assert b.stop_demo()[0]
    fresh = b.actor.memory()
    b.set_trying(True)
    for k in range(6):
        b.tick(obs(rng), None, 1.0 + k * DT_S)
    b.set_trying(False)
    b.set_trying(True)  # a new try
    lived = b.actor.memory()
    assert not torch.equal(lived["memory.w1"], fresh["memory.w1"])  # written by the first try, kept
    start = b.actor.policy.initial_state()
    assert torch.equal(b.actor.state["mcsd0.s"], start["mcsd0.s"])  # the per-episode part starts afresh
    ok, message = b.save_skill()
    assert ok, message
    b.close()
    again = brain(tmp_path)  # a restart on the same library
    restored = again.actor.memory()
    assert set(restored) == set(lived) and all(torch.equal(restored[k], lived[k]) for k in lived)
    assert again.reset_memory()[0]  # the user's reset: the policy's learned initial memory
    initial = again.actor.policy.lifetime_state()
    assert all(torch.equal(again.actor.memory()[k], initial[k]) for k in initial)
    again.close()
