"""yan_dog.tick_timing.LateTickSummary: late control ticks said once per interval, with the worst one's
account, instead of one log line per late tick (issue 31)."""

import pytest

from yan_dog.tick_timing import LATE_TICK_MARK, LateTickSummary, TickStats, late_tick_message

DT_S = 0.02
INTERVAL_S = 10.0


def _run(summary: LateTickSummary, stats: TickStats, starts_s: list[float]) -> list[tuple[float, str]]:
    """Feed tick start times through TickStats (missed ticks) into the summary; the lines it gives."""
    lines, previous = [], None
    for t in starts_s:
        missed = stats.tick(t)
        gap = None if previous is None else t - previous
        line = summary.tick(t, gap, missed, lambda g=gap, m=missed: late_tick_message(g, m, 0.004, []))
        if line is not None:
            lines.append((t, line))
        previous = t
    return lines


def test_late_ticks_are_summarised_once_per_interval_with_the_worst():
    starts = [k * DT_S for k in range(1000)]  # 20 s at 50 Hz
    starts = [t for t in starts if not (3.00 < t < 3.05)]  # 3.00 -> 3.06: 2 missed, 40 ms late
    starts = [t for t in starts if not (5.00 < t < 5.03)]  # 5.00 -> 5.04: 1 missed, 20 ms late
    summary, stats = LateTickSummary(DT_S, INTERVAL_S), TickStats(DT_S)
    lines = _run(summary, stats, starts)
    assert len(lines) == 1, lines  # the second interval missed nothing: silent
    t, line = lines[0]
    assert t == pytest.approx(INTERVAL_S)
    assert line.startswith("missed 3 of 501 ticks in the last 10 s (2 late), worst late 40 ms, where: "
                           "control tick 60.0 ms after the previous one (2 missed)")
    assert LATE_TICK_MARK in line  # tools that look for late-tick lines still find this one
    assert stats.missed_ticks == 3


def test_the_account_is_computed_only_for_a_new_worst_tick_and_bad_settings_are_refused():
    calls = []
    summary = LateTickSummary(DT_S, interval_s=1.0)
    summary.tick(0.0, None, 0, lambda: calls.append("first") or "")
    summary.tick(0.06, 0.06, 2, lambda: calls.append("worst") or "the worst")
    summary.tick(0.10, 0.04, 1, lambda: calls.append("milder") or "milder")  # 20 ms late < 40 ms
    assert calls == ["worst"]
    assert summary.line(0.10).endswith("worst late 40 ms, where: the worst")
    for bad in ((0.0, 1.0), (DT_S, 0.0)):
        with pytest.raises(ValueError, match="period_s > 0 and interval_s > 0"):
            LateTickSummary(*bad)


def test_tick_stats_over_the_last_ticks_only():
    stats = TickStats(DT_S)
    for k, t in enumerate((0.0, 0.02, 0.04, 0.10, 0.12)):
        stats.tick(t)
        stats.compute(0.001 * (k + 1))
    last = stats.summary(last=2)  # the ticks at 0.10 and 0.12: periods 60 and 20 ms
    assert last["period_ms_median"] == pytest.approx(40.0) and last["compute_ms_median"] == pytest.approx(4.5)
    assert stats.summary()["compute_ms_median"] == pytest.approx(3.0)
    with pytest.raises(ValueError, match="last must be >= 1"):
        stats.summary(last=0)
