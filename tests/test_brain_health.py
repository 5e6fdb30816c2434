"""yan_dog.brain_health: the brain's /diagnostics statuses from its counters, and their levels (OK / WARN /
ERROR) for missed ticks, stale or missing inputs, a dead learner and a non-finite native memory."""

import math

import pytest

from yan_dog.brain_health import ERROR, OK, WARN, BrainHealth, LearnerHealth
from yan_dog.tick_timing import TickStats

DT_S = 0.02
LIMITS_S = {"camera": 0.16, "audio": 0.08, "proprio": 0.08}
CORE = {"mode": "idle", "skill": "sit", "trying": True, "last_event": "started", "ticks": 0, "bad_actions": 0,
        "stale_holds": 0, "idle_holds": 0, "speed_limited": 0}
LEARNER = LearnerHealth(wanted=True, running=True, steps=12, loss=0.25, weights_version=3,
                        swap_age_s=0.5)


def _ticks(stats: TickStats, starts_s) -> None:
    for t in starts_s:
        stats.tick(t)
        stats.compute(0.002)
        stats.latency(0.012)


def _by_name(report):
    return {h.name.removeprefix("yan_brain: "): h for h in report}


def test_a_healthy_second_is_all_ok_with_the_interval_figures():
    health, stats = BrainHealth(50.0), TickStats(DT_S)
    fresh = dict.fromkeys(LIMITS_S, 0.01)
    _ticks(stats, [k * DT_S for k in range(51)])
    health.report(1.0, stats, fresh, LIMITS_S, CORE, LEARNER, 1.5, 50)  # opens the interval
    _ticks(stats, [1.0 + (k + 1) * DT_S for k in range(50)])
    out = _by_name(health.report(2.0, stats, fresh, LIMITS_S, CORE, LEARNER, 1.5, 50))
    assert set(out) == {"control loop", "input camera", "input audio", "input proprio", "learner",
                        "native memory", "mode"}
    assert all(h.level == OK for h in out.values()), [(h.name, h.message) for h in out.values()]
    loop = out["control loop"].values
    assert loop["ticks"] == "50" and loop["missed_ticks"] == "0" and loop["ticks_total"] == "101"
    assert loop["latency_ms_p50"] == "12.000" and loop["compute_ms_p99"] == "2.000"
    assert out["learner"].values["loss"] == "0.250" and out["native memory"].values["norm"] == "1.500"


def test_missed_ticks_stale_inputs_a_dead_learner_and_a_diverged_memory_are_flagged():
    health, stats = BrainHealth(50.0, stale_error_s=5.0), TickStats(DT_S)
    _ticks(stats, [0.0])
    health.report(0.0, stats, dict.fromkeys(LIMITS_S, 0.0), LIMITS_S, CORE, LEARNER, 1.0, 0)
    _ticks(stats, [0.02, 0.04, 0.10])  # 0.04 -> 0.10: two missed
    ages = {"camera": 0.5, "audio": 6.0, "proprio": math.inf}  # stale; stale > 5 s; never received
    dead = LearnerHealth(wanted=True, running=False, steps=12, loss=None, weights_version=3,
                         swap_age_s=None)
    core = {**CORE, "bad_actions": 2}
    out = _by_name(health.report(1.0, stats, ages, LIMITS_S, core, dead, math.nan, 0))
    assert out["control loop"].level == WARN and out["control loop"].message.startswith("missed 2 of 5 ticks")
    assert out["input camera"].level == WARN and out["input camera"].message.startswith("stale (500 ms old)")
    assert out["input audio"].level == ERROR
    assert out["input proprio"].level == ERROR and out["input proprio"].message.startswith("never received")
    assert out["learner"].level == ERROR and out["learner"].values["swap_age_s"] == "none"
    assert out["native memory"].level == ERROR
    assert out["mode"].level == WARN and "2 bad actions" in out["mode"].message
    # the next interval: no tick at all is an error; the bad actions were the last interval's
    out = _by_name(health.report(2.0, stats, ages, LIMITS_S, core, LEARNER, None, 0))
    assert out["control loop"].level == ERROR and out["mode"].level == OK
    assert out["native memory"].level == OK and out["native memory"].values["norm"] == "none"
    with pytest.raises(ValueError, match="control_hz > 0"):
        BrainHealth(0.0)
