"""Control-loop timing diagnostics: how regularly the brain's control ticks run, and why a late one was late.

The `yan_brain` node (`ros_ws/src/yan_dog_ros/yan_dog_ros/brain_node.py`) runs `yan_dog.brain.BrainCore`'s
tick on its own 50 Hz timer; these measure that loop without deciding anything in it (no joint command
depends on them), so they live apart from the teaching state machine:
- `TickStats`: periods, missed ticks, sensor-to-command latency and compute time over a sliding window
  (the node's status JSON);
- `GcPauses`, `PolicyStepTiming`, `thread_usage`, `late_tick_message`: the account of a late tick, with
  the garbage-collector pauses, the policy step and the control thread's CPU time behind it (tools find
  those lines by `LATE_TICK_MARK`);
- `LateTickSummary`: one log line per interval for the late ticks in it (how many, the worst and why),
  instead of a line per late tick that scrolls the terminal;
- `PhaseLock`: keeps the ticks a short lead time after the sensor samples arrive (the timer trigger);
- `SampleTrigger`: decides when a joint-state sample starts a tick at once (the sample trigger).
"""

from __future__ import annotations

import gc
import resource
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

MS_PER_S = 1000.0
STATS_WINDOW_TICKS = 500  # 10 s at 50 Hz
GC_PAUSES_KEPT = 32  # recent garbage-collector pauses kept to explain a late tick
PHASE_TARGET_S = 0.004  # ticks run this long after the sensor sample arrives (covers the transport jitter)
PHASE_TOLERANCE_S = 0.003
PHASE_WINDOW_TICKS = 50  # one phase decision per second at 50 Hz
SAMPLE_MIN_GAP_PERIODS = 0.6  # a sample starts a tick only this many periods after the previous tick
SAMPLE_DEADLINE_PERIODS = 1.5  # no sample this long after a tick (periods): the timer ticks (holds if stale)
SAMPLE_MAX_RATE_FACTOR = 1.25  # a joint-state stream faster than this x control_hz cannot pace the ticks
SAMPLE_RATE_WINDOW = 50  # sample intervals in the rate estimate (1 s at 50 Hz)
GC_FREEZE_S = 30.0  # s between moves of the collector's survivors out of its reach (`freeze_survivors`)
LATE_TICK_SUMMARY_S = 10.0  # one summary line of the late ticks per this interval (s), if any were late


class TickStats:
    """Timing of the control loop over a sliding window: tick periods, missed ticks, the latency from the
    source stamp of a tick's sensor input to the publication of its command (it includes the wait for the
    next tick: the timer is not driven by the sensors), and the tick's own compute time.

    Args:
        period_s: the control period (s).
        window: ticks kept for the medians / percentiles.
    """

    def __init__(self, period_s: float, window: int = STATS_WINDOW_TICKS):
        if not period_s > 0 or window < 2:
            raise ValueError(f"need period_s > 0 and window >= 2, got {period_s}, {window}")
        self.period_s = period_s
        self.starts_s: deque[float] = deque(maxlen=window)
        self.latencies_s: deque[float] = deque(maxlen=window)
        self.compute_s: deque[float] = deque(maxlen=window)
        self.ticks = 0
        self.missed_ticks = 0

    def tick(self, start_s: float) -> int:
        """A tick started at `start_s` (monotonic s); a gap of k >= 1 extra whole periods: k missed.
        Returns the ticks this one missed."""
        missed = 0
        if self.starts_s:
            late = start_s - self.starts_s[-1] - self.period_s
            missed = max(0, int(late // self.period_s))
            self.missed_ticks += missed
        self.starts_s.append(start_s)
        self.ticks += 1
        return missed

    def latency(self, seconds: float) -> None:
        self.latencies_s.append(seconds)

    def compute(self, seconds: float) -> None:
        self.compute_s.append(seconds)

    def summary(self, last: int | None = None) -> dict:
        """Timing over the window, or over its `last` ticks only (e.g. the ticks since a 1 Hz report)."""
        if last is not None and last < 1:
            raise ValueError(f"last must be >= 1 tick, got {last}")
        starts = list(self.starts_s)[-(last + 1):] if last else list(self.starts_s)  # one more: n periods
        periods = np.diff(np.asarray(starts)) * 1e3  # (n - 1,) ms
        lat = np.asarray(list(self.latencies_s)[-last:] if last else self.latencies_s) * 1e3  # (m,) ms
        compute = np.asarray(list(self.compute_s)[-last:] if last else self.compute_s) * 1e3  # (m,) ms

        def stat(x: np.ndarray, q: float) -> float | None:
            return round(float(np.percentile(x, q)), 3) if x.size else None

        return {
            "ticks": self.ticks,
            "missed_ticks": self.missed_ticks,
            "period_ms_median": stat(periods, 50),
            "period_ms_p99": stat(periods, 99),
            "rate_hz": round(1e3 / float(np.mean(periods)), 3) if periods.size else None,
            "latency_ms_median": stat(lat, 50),
            "latency_ms_p99": stat(lat, 99),
            "compute_ms_median": stat(compute, 50),
            "compute_ms_p99": stat(compute, 99),
        }


class GcPauses:
    """The cyclic garbage collector's recent pauses in this process (it stops every thread): recorded so
    a late control tick can say whether a collection was behind it. `install()` hooks `gc.callbacks`."""

    def __init__(self, keep: int = GC_PAUSES_KEPT, clock: Callable[[], float] = time.monotonic):
        self.pauses: deque[tuple[float, int, float]] = deque(maxlen=keep)  # (end s, generation, duration s)
        self._clock = clock
        self._started: float | None = None

    def on_gc(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = self._clock()
        elif self._started is not None:
            end = self._clock()
            self.pauses.append((end, int(info.get("generation", -1)), end - self._started))
            self._started = None

    def install(self) -> GcPauses:
        if self.on_gc not in gc.callbacks:
            gc.callbacks.append(self.on_gc)
        return self

    def uninstall(self) -> None:
        if self.on_gc in gc.callbacks:
            gc.callbacks.remove(self.on_gc)

    def since(self, t_s: float) -> list[tuple[int, float]]:
        """(generation, duration s) of the pauses that ended after `t_s`."""
        return [(g, d) for end, g, d in self.pauses if end > t_s]


def freeze_survivors() -> None:
    """Collect the two young generations, then move every object that survived them out of the garbage
    collector's reach (`gc.freeze`). Why, every GC_FREEZE_S in a control process: a collection of the oldest
    generation walks every object that reached it since the last freeze; in a brain ten minutes into
    learning that walk stopped every thread for 49 ms, a missed tick (docs/experiments.md, 2026-12-08).
    Frozen objects are still freed by reference count; only a reference cycle that dies after it was
    frozen stays (`gc.get_freeze_count()` says how many objects are frozen)."""
    gc.collect(1)
    gc.freeze()


LATE_TICK_MARK = "ms after the previous one ("  # in every late-tick log line: tools find them by it


@dataclass(frozen=True)
class PolicyStepTiming:
    """One policy step on the control thread: wall time, whether new weights were swapped in just before,
    and (Linux) the thread's user / system CPU time and minor page faults over it: a slow step in user
    time is arithmetic, in system time with page faults is memory being mapped in."""

    wall_s: float
    swapped: bool
    user_s: float | None = None
    system_s: float | None = None
    minor_faults: int | None = None

    def describe(self) -> str:
        text = f"its policy step {self.wall_s * 1e3:.1f} ms"
        if self.user_s is not None:
            text += (f": {self.user_s * 1e3:.1f} ms user, {self.system_s * 1e3:.1f} ms system CPU, "
                     f"{self.minor_faults} page faults")
        return text + (", just after a weight swap" if self.swapped else "")


def thread_usage() -> tuple[float, float, int] | None:
    """(user s, system s, minor page faults) of the calling thread so far; None where not available."""
    if not hasattr(resource, "RUSAGE_THREAD"):
        return None
    u = resource.getrusage(resource.RUSAGE_THREAD)
    return u.ru_utime, u.ru_stime, u.ru_minflt


def late_tick_message(gap_s: float, missed: int, compute_s: float | None,
                      pauses: list[tuple[int, float]], busy_s: float | None = None,
                      policy_step: PolicyStepTiming | None = None, queued_s: float | None = None) -> str:
    """The log line for a control tick that came `gap_s` after the previous one (`missed` ticks missed).
    `busy_s`: CPU time the control thread used over that gap (its callbacks); `queued_s`: time it waited
    on a run queue for a core meanwhile (`yan_dog.scheduling.thread_schedstat`); the rest of the gap it
    slept (waiting for its next event, or for the GIL). Without `queued_s` the two waits are not told
    apart. `policy_step`: the previous tick's policy step."""
    gc_part = ("garbage collections meanwhile: " + ", ".join(f"gen{g} {d * 1e3:.1f} ms" for g, d in pauses)
               if pauses else "no garbage collection meanwhile")
    compute = f"; the previous tick computed in {compute_s * 1e3:.1f} ms" if compute_s is not None else ""
    if compute_s is not None and policy_step is not None:
        compute += f" ({policy_step.describe()})"
    busy = ""
    if busy_s is not None:
        waited_s = max(0.0, gap_s - busy_s)
        busy = f"; the control thread ran {busy_s * 1e3:.1f} ms of CPU meanwhile"
        if queued_s is None:
            busy += f" and waited {waited_s * 1e3:.1f} ms for a core or the GIL"
        else:
            queued_s = min(queued_s, waited_s)
            busy += (f", waited {queued_s * 1e3:.1f} ms on the run queue for a core and slept "
                     f"{(waited_s - queued_s) * 1e3:.1f} ms (its executor's wait, or the GIL)")
    return f"control tick {gap_s * 1e3:.1f} {LATE_TICK_MARK}{missed} missed){compute}{busy}; {gc_part}"


class LateTickSummary:
    """Late control ticks, said once per interval: "missed 3 of 500 ticks in the last 10 s, worst late
    36 ms, where: <that tick's `late_tick_message`>". A loop that warned per late tick scrolled the
    terminal about once a second on a loaded machine (issue 31); a quiet interval says nothing.

    Args:
        period_s: the control period (s): "late" is how far past it a tick came.
        interval_s: seconds between summary lines.
    """

    def __init__(self, period_s: float, interval_s: float = LATE_TICK_SUMMARY_S):
        if not period_s > 0 or not interval_s > 0:
            raise ValueError(f"need period_s > 0 and interval_s > 0, got {period_s}, {interval_s}")
        self.period_s, self.interval_s = period_s, interval_s
        self._since_s: float | None = None  # start of the current interval (monotonic s)
        self.ticks = self.missed = self.late_ticks = 0  # in the current interval
        self.worst_late_s = 0.0
        self.worst_where = ""

    def tick(self, now_s: float, gap_s: float | None, missed: int,
             where: Callable[[], str] | None = None) -> str | None:
        """Count one tick that came `gap_s` after the previous one (None: the first) and missed `missed`
        ticks; `where()` (called only for the interval's worst late tick) explains it. Returns the summary
        line when an interval with missed ticks has just ended, else None."""
        if self._since_s is None:
            self._since_s = now_s
        self.ticks += 1
        if missed:
            self.missed += missed
            self.late_ticks += 1
            late_s = gap_s - self.period_s if gap_s is not None else 0.0
            if late_s >= self.worst_late_s:
                self.worst_late_s, self.worst_where = late_s, where() if where is not None else ""
        if now_s - self._since_s < self.interval_s:
            return None
        line = self.line(now_s)
        self._since_s, self.ticks, self.missed, self.late_ticks = now_s, 0, 0, 0
        self.worst_late_s, self.worst_where = 0.0, ""
        return line

    def line(self, now_s: float) -> str | None:
        """The current interval's summary so far (None: no tick missed)."""
        if not self.missed:
            return None
        where = f", where: {self.worst_where}" if self.worst_where else ""
        return (f"missed {self.missed} of {self.ticks + self.missed} ticks in the last "
                f"{now_s - self._since_s:.0f} s ({self.late_ticks} late), worst late "
                f"{self.worst_late_s * MS_PER_S:.0f} ms{where}")


class PhaseLock:
    """Keeps the control ticks a short lead time after the sensor samples arrive.

    The control timer runs on its own clock (a stale sensor must never stop it), so it has an arbitrary
    phase against the sensor's clock: on average a sample waits half a period for the next tick. The
    node reports, at every tick, the age of the newest sensor sample (tick time - its arrival); once per
    `window` ticks, if the median age is off `target_s` by more than `tolerance_s`, `shift_s()` says how
    much later the tick grid must move (in [0, period)), and the node re-phases its timer once. Sensor
    and control clocks tick at the same nominal rate, so this happens at start-up and after a skipped
    sensor tick, not continually.

    Args:
        period_s: control period (s).
        target_s: wanted age of the newest sample at a tick (s): transport jitter margin.
        tolerance_s: re-phase only when the median age is off the target by more than this (s).
        window: ticks per decision.
    """

    def __init__(self, period_s: float, target_s: float = PHASE_TARGET_S,
                 tolerance_s: float = PHASE_TOLERANCE_S, window: int = PHASE_WINDOW_TICKS):
        if not 0 <= target_s < period_s or not 0 < tolerance_s < period_s / 2 or window < 1:
            raise ValueError(f"need 0 <= target_s < period_s, 0 < tolerance_s < period_s / 2, window >= 1; "
                             f"got {target_s}, {tolerance_s}, {window} for period {period_s}")
        self.period_s, self.target_s, self.tolerance_s, self.window = period_s, target_s, tolerance_s, window
        self._ages: list[float] = []
        self.shifts = 0

    def observe(self, age_s: float) -> None:
        """Age (s) of the newest sensor sample at this tick; ignored unless in [0, period) (a stale or
        missing stream says nothing about the phase)."""
        if 0.0 <= age_s < self.period_s:
            self._ages.append(age_s)

    def shift_s(self) -> float | None:
        """How much later (s) the tick grid should move, once a window is full and the phase is off."""
        if len(self._ages) < self.window:
            return None
        age = float(np.median(self._ages))
        self._ages.clear()
        if abs(age - self.target_s) <= self.tolerance_s:
            return None
        self.shifts += 1
        return (self.target_s - age) % self.period_s


class SampleTrigger:
    """When a joint-state sample should start a control tick at once (the brain's `tick_trigger: proprio`).

    Why: on a timer a sample waits for the next tick edge (half a period on average, `PhaseLock`'s lead
    time at best); ticking on the sample's arrival takes that wait out of the state-to-command latency. The
    robot's state stream is the clock (the sim and the Unitree bridge publish it at control_hz); the node
    keeps a deadline timer of `deadline_periods`, then ticks every period, so that ticks, and a safe hold,
    go on when samples stop.

    `on_sample(now_s, last_tick_s)` -> tick now? Yes unless the previous tick was less than
    `min_gap_periods` ago (a burst after a hiccup: the next tick takes the newest sample). The arrival rate
    is estimated over `window` intervals; a stream faster than `max_rate_factor` x the control rate would
    tick too often, so the trigger turns itself off (`too_fast` says why, once) and the node goes back to
    its timer.

    Args:
        period_s: control period (s).
        min_gap_periods, deadline_periods, max_rate_factor: as above (periods, periods, ratio).
        window: sample intervals in the rate estimate.
    """

    def __init__(self, period_s: float, min_gap_periods: float = SAMPLE_MIN_GAP_PERIODS,
                 deadline_periods: float = SAMPLE_DEADLINE_PERIODS,
                 max_rate_factor: float = SAMPLE_MAX_RATE_FACTOR, window: int = SAMPLE_RATE_WINDOW):
        bad_periods = not 0 < min_gap_periods < 1 < deadline_periods
        if period_s <= 0 or bad_periods or max_rate_factor <= 1 or window < 2:
            raise ValueError(f"need period_s > 0, 0 < min_gap_periods < 1 < deadline_periods, "
                             f"max_rate_factor > 1, window >= 2; got {period_s}, {min_gap_periods}, "
                             f"{deadline_periods}, {max_rate_factor}, {window}")
        self.period_s = period_s
        self.min_gap_s = min_gap_periods * period_s
        self.deadline_s = deadline_periods * period_s
        self.max_rate_factor = max_rate_factor
        self._arrivals: deque[float] = deque(maxlen=window + 1)
        self.active = True
        self.too_fast: str | None = None  # why the trigger turned itself off

    def on_sample(self, now_s: float, last_tick_s: float | None) -> bool:
        """A joint-state sample arrived at `now_s` (monotonic s); the last tick started at `last_tick_s`."""
        if not self.active:
            return False
        self._arrivals.append(now_s)
        rate_hz = self.rate_hz()
        if rate_hz is not None and rate_hz > self.max_rate_factor / self.period_s:
            self.active = False
            self.too_fast = (f"joint states arrive at {rate_hz:.0f} Hz, faster than "
                             f"{self.max_rate_factor:g} x control_hz ({1 / self.period_s:g} Hz): ticking on "
                             f"the timer instead (publish them at control_hz, or set tick_trigger timer)")
            return False
        return last_tick_s is None or now_s - last_tick_s >= self.min_gap_s

    def rate_hz(self) -> float | None:
        """Mean arrival rate over the window (Hz); None until the window is full."""
        if len(self._arrivals) < self._arrivals.maxlen:
            return None
        span_s = self._arrivals[-1] - self._arrivals[0]
        return (len(self._arrivals) - 1) / span_s if span_s > 0 else float("inf")
