"""yan_dog.tick_timing: tick statistics, late-tick messages (garbage-collector pauses, the policy step), the
phase lock."""

import gc

import pytest

from yan_dog.tick_timing import (
    GcPauses,
    PhaseLock,
    PolicyStepTiming,
    SampleTrigger,
    TickStats,
    freeze_survivors,
    late_tick_message,
)

DT_S = 0.02


def test_tick_stats_count_missed_ticks_and_summarise_latency():
    s = TickStats(DT_S, window=100)
    missed = [s.tick(t) for t in (0.0, 0.02, 0.04, 0.10, 0.12)]  # 0.04 -> 0.10: two ticks missed
    assert missed == [0, 0, 0, 2, 0]
    for lat in (0.005, 0.010, 0.015):
        s.latency(lat)
    out = s.summary()
    assert out["ticks"] == 5 and out["missed_ticks"] == 2
    assert out["latency_ms_median"] == 10.0 and out["period_ms_median"] == 20.0
    assert out["compute_ms_median"] is None  # nothing measured: null in the status JSON, never NaN
    with pytest.raises(ValueError, match="period_s"):
        TickStats(0.0)


def test_a_late_tick_says_whether_a_garbage_collection_was_behind_it():
    now = [0.0]
    pauses = GcPauses(keep=2, clock=lambda: now[0])
    for start, end, gen in ((0.100, 0.102, 0), (0.200, 0.230, 2), (0.300, 0.301, 1)):
        now[0] = start
        pauses.on_gc("start", {"generation": gen})
        now[0] = end
        pauses.on_gc("stop", {"generation": gen})
    assert [g for g, _ in pauses.since(0.0)] == [2, 1]  # only the newest `keep` are kept
    assert pauses.since(0.25) == [(1, pytest.approx(0.001))]
    msg = late_tick_message(0.046, 1, 0.004, pauses.since(0.19))
    assert msg.startswith("control tick 46.0 ms after the previous one (1 missed)")
    assert "computed in 4.0 ms" in msg and "gen2 30.0 ms" in msg and "gen1 1.0 ms" in msg
    assert late_tick_message(0.05, 1, None, []).endswith("no garbage collection meanwhile")
    busy = late_tick_message(0.05, 1, 0.004, [], busy_s=0.012)
    assert "ran 12.0 ms of CPU meanwhile and waited 38.0 ms for a core or the GIL" in busy
    queued = late_tick_message(0.05, 1, 0.004, [], busy_s=0.012, queued_s=0.030)
    assert ("ran 12.0 ms of CPU meanwhile, waited 30.0 ms on the run queue for a core and slept 8.0 ms"
            in queued)
    step = late_tick_message(0.05, 1, 0.004, [], policy_step=PolicyStepTiming(0.003, True, 0.002, 0.001, 7))
    assert ("computed in 4.0 ms (its policy step 3.0 ms: 2.0 ms user, 1.0 ms system CPU, 7 page faults, "
            "just after a weight swap)") in step
    with_real = GcPauses().install()
    try:
        gc.collect()
        assert with_real.since(-1.0) and with_real.since(-1.0)[-1][0] == 2
    finally:
        with_real.uninstall()
    assert with_real.on_gc not in gc.callbacks


class _Node:
    """An object in a reference cycle, as the collector sees one."""

    def __init__(self):
        self.me = self


def test_freeze_survivors_leaves_the_oldest_generation_empty_and_a_full_collection_short():
    survivors = [[_Node() for _ in range(1000)] for _ in range(100)]  # 100k tracked objects, alive
    gc.collect()  # into the oldest generation: what minutes of a control process leave there
    before = gc.get_freeze_count()
    try:
        assert len(gc.get_objects(generation=2)) >= 100_000
        freeze_survivors()
        assert gc.get_freeze_count() >= before + 100_000
        assert len(gc.get_objects(generation=2)) == 0  # a full collection now walks nothing of them
        assert sum(map(len, survivors)) == 100_000  # alive all along
    finally:
        gc.unfreeze()  # the test process's own objects back under the collector


def test_phase_lock_moves_the_ticks_to_just_after_the_samples():
    lock = PhaseLock(DT_S, target_s=0.004, tolerance_s=0.003, window=5)
    for _ in range(4):
        lock.observe(0.015)  # ticks run 15 ms after each sample arrived
    assert lock.shift_s() is None  # not a full window yet
    lock.observe(0.015)
    assert lock.shift_s() == pytest.approx(0.009)  # (0.004 - 0.015) mod 0.02: move the ticks 9 ms later
    for age in (0.005, 0.003, 0.030, 0.004, 0.006):  # a stale age (>= a period) says nothing: ignored
        lock.observe(age)
    assert lock.shift_s() is None  # 4 ages: not a full window
    lock.observe(0.004)
    assert lock.shift_s() is None and lock.shifts == 1  # in phase: no move
    with pytest.raises(ValueError, match="target_s"):
        PhaseLock(DT_S, target_s=0.02)


def test_sample_trigger_ticks_on_each_sample_and_gives_up_on_a_stream_too_fast_to_pace():
    trigger = SampleTrigger(DT_S, min_gap_periods=0.6, window=8)
    assert trigger.deadline_s == pytest.approx(1.5 * DT_S)
    assert trigger.on_sample(0.0, None)  # the first sample: tick
    assert trigger.on_sample(0.021, 0.0)  # a sample a period later: tick at once
    assert not trigger.on_sample(0.026, 0.021)  # a burst 5 ms after that tick (< 0.6 period): wait
    last = 0.021
    for t in (0.040, 0.063, 0.080, 0.097, 0.120, 0.140):  # 50 Hz with +-3 ms of jitter: every sample ticks
        assert trigger.on_sample(t, last)
        last = t
    assert trigger.active and trigger.rate_hz() == pytest.approx(8 / 0.140)  # the burst is one in 8
    fast = SampleTrigger(DT_S, window=4)
    ticks = [fast.on_sample(k * 0.002, None) for k in range(5)]  # a 500 Hz stream: not a clock for 50 Hz
    assert ticks == [True] * 4 + [False] and not fast.active
    assert "500 Hz" in fast.too_fast and "tick_trigger timer" in fast.too_fast
    assert not fast.on_sample(1.0, None)  # for good
    with pytest.raises(ValueError, match="deadline_periods"):
        SampleTrigger(DT_S, deadline_periods=0.9)
