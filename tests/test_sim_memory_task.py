"""The delayed command (`sit_on_go`): its cue schedule, and a check that only a robot that waits for the go
after the cue passes (sim/schedule.py, sim/memory_task.py)."""

import gymnasium as gym
import numpy as np
import pytest

import sim
from sim.memory_task import GO_CUE, GO_SIGNAL, SIT_ON_GO, WAIT_CUE
from sim.schedule import CueEvent, GoSignal, draw_schedule
from sim.skills import SIT_POSE_RAD, Skill, check_sit

TINY_CAMERA = (16, 16)
# A short delayed command for fast episodes: the go 0.6-0.8 s after the cue, always a decoy first.
QUICK_GO = GoSignal(GO_CUE, delay_range_s=(0.6, 0.8), nominal_delay_s=0.7, decoy_probability=1.0,
                    decoy_gap_range_s=(0.5, 0.6))
QUICK_DURATION_S = 5.0


def _sit_when(when):
    """A joint-mode policy that holds its start pose until `when(env)` is true, then sits (at once)."""
    def act(env):
        u = env.unwrapped
        return SIT_POSE_RAD if when(u) else u.start_state.joint_pos_rad
    return act


def _heard(u, role: str) -> bool:
    """An event of `role` in this episode's schedule has started (privileged: the schedule's times)."""
    return any(r == role and u.time_s >= start for _, start, r in u.schedule.to_list())


def _episode(skill: str, seed: int, act) -> dict:
    env = gym.make(sim.ENV_ID, skill=skill, camera_size=TINY_CAMERA, camera_hz=1.0)
    env.reset(seed=seed)
    done, info = False, {}
    while not done:
        _, _, term, trunc, info = env.step(act(env))
        done = term or trunc
    env.close()
    return info


@pytest.fixture
def quick_skill():
    skill = Skill("sit_on_go_quick", sim.skills.get("sit_on_go").teacher, check_sit, cue=WAIT_CUE,
                  duration_s=QUICK_DURATION_S, go_signal=QUICK_GO)
    sim.skills.register(skill)
    yield skill.name
    sim.skills.unregister(skill.name)


def test_the_task_is_registered_with_its_cues():
    assert "sit_on_go" in sim.skills.names() and SIT_ON_GO.go_signal is GO_SIGNAL
    assert {WAIT_CUE, GO_CUE} <= set(sim.cue_names())
    assert GO_CUE not in {sim.skills.get(n).cue for n in sim.skills.names()}  # the go asks for no skill
    # the latest go leaves time to sit down and hold it
    assert SIT_ON_GO.duration_s >= 0.6 + GO_SIGNAL.longest_s + 2 * SIT_ON_GO.hold_s


def test_schedule_draws_the_decoy_when_a_go_would_come():
    rng = np.random.default_rng(0)
    kinds = []
    for _ in range(200):
        s = draw_schedule("whistle_wait", 0.4, GO_SIGNAL, rng)
        roles = [e.role for e in s.events]
        kinds.append("decoy" in roles)
        assert roles[-2:] == ["cue", "go"] and s.release.role == "go" and s.cue.role == "cue"
        assert 2.0 <= s.release.start_s - s.cue.start_s <= 4.0
        if roles[0] == "decoy":
            decoy = s.events[0]
            assert 2.0 <= decoy.start_s - 0.4 <= 4.0  # where a go after a cue at 0.4 s would be
            assert 0.5 <= s.cue.start_s - decoy.start_s <= 1.0
    assert 0.4 < np.mean(kinds) < 0.6
    nominal = draw_schedule("whistle_wait", 0.4, GO_SIGNAL, None)
    assert [(e.role, e.start_s) for e in nominal.events] == [("cue", 0.4), ("go", 3.4)]
    one = draw_schedule("whistle_falling", 0.3, None, rng)
    assert one.events == (CueEvent("whistle_falling", 0.3, "cue"),) and one.release is one.cue


def test_bad_go_signals_and_events_are_refused():
    with pytest.raises(ValueError, match="delay_range_s"):
        GoSignal(GO_CUE, delay_range_s=(3.0, 2.0))
    with pytest.raises(ValueError, match="decoy_probability"):
        GoSignal(GO_CUE, decoy_probability=1.5)
    with pytest.raises(ValueError, match="role"):
        CueEvent(GO_CUE, 1.0, "maybe")
    with pytest.raises(ValueError, match="go_signal"):
        Skill("x", lambda c: 0, lambda c: True, cue="clap", go_signal=(2.0, 4.0))


def test_the_schedule_is_a_function_of_the_seed_and_is_played():
    env = gym.make(sim.ENV_ID, skill="sit_on_go", camera_size=TINY_CAMERA, camera_hz=1.0)
    schedules = {}
    for seed in (0, 0, 1, 2, 3, 4, 5):
        _, info = env.reset(seed=seed)
        if seed in schedules:
            assert info["cue_schedule"] == schedules[seed]
        schedules[seed] = info["cue_schedule"]
        u = env.unwrapped
        assert [e.name for e in u.mic.schedule] == [name for name, _, _ in info["cue_schedule"]]
        assert info["release_time_s"] == info["cue_schedule"][-1][1]  # the go after the cue
        assert info["go_time_s"] > info["release_time_s"] > info["cue_time_s"]
    assert len({str(s) for s in schedules.values()}) == 6
    assert {any(r == "decoy" for *_, r in s) for s in schedules.values()} == {True, False}
    env.close()


def test_only_a_robot_that_sits_at_the_go_after_the_cue_passes(quick_skill):
    seed = 0  # every episode of the quick skill has a decoy go before the cue
    teacher = _episode(quick_skill, seed, lambda env: env.unwrapped.teacher_action())
    assert teacher["success"] and teacher["early"] is None
    on_cue = _episode(quick_skill, seed, _sit_when(lambda u: _heard(u, "cue")))
    assert not on_cue["success"] and "before it was asked for" in on_cue["early"]
    on_any_go = _episode(quick_skill, seed, _sit_when(lambda u: _heard(u, "decoy")))  # the go alone
    assert not on_any_go["success"] and on_any_go["early"]
    never = _episode(quick_skill, seed, _sit_when(lambda u: False))
    assert not never["success"] and never["early"] is None
    on_go = _episode(quick_skill, seed, _sit_when(lambda u: _heard(u, "go")))
    assert on_go["success"]
