"""The brain's health, once per interval, for `/diagnostics` (ROS-free; the `yan_brain` node turns each
`Health` into a diagnostic_msgs/DiagnosticStatus): the standard place a robot engineer looks (issue 31).

Statuses (names prefixed with the node's name, e.g. "yan_brain: control loop"):
- control loop: achieved rate, ticks and missed ticks in the interval (and in total), sensor-to-command
  latency and compute time p50 / p99 over the interval, the control thread's real-time priority.
  WARN when a tick was missed in the interval or the rate fell short; ERROR when no tick ran at all.
- input <stream> (camera, audio, proprio): age of the newest sample and its stale limit. WARN when stale
  (the robot holds the stand pose); ERROR when it never arrived or has been stale for `stale_error_s`.
- learner: wanted / running (its process alive), steps, last loss, the actor's weights version, age of
  the last weights swap into the actor. ERROR when learning is wanted but the learner is not running (a dead
  learner process); WARN when a training step was not finite.
- native memory: the norm of the policy's native memory. ERROR when it is not finite.
- mode: teaching mode, skill, trying, safety holds (stale, idle), bad and speed-limited actions. WARN when
  the interval had a bad action. The e-stop is the bridge's (its own /diagnostics, "unitree_bridge: safety").
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from yan_dog.tick_timing import TickStats

OK, WARN, ERROR, STALE = 0, 1, 2, 3  # diagnostic_msgs/DiagnosticStatus levels
DIAGNOSTICS_HZ = 1.0  # the usual /diagnostics rate
STALE_ERROR_S = 5.0  # a stream stale this long (s) is an error: the robot has been holding that long
RATE_SHORTFALL = 0.05  # an achieved control rate below (1 - this) x the target is a warning
MS_PER_S = 1000.0


@dataclass(frozen=True)
class Health:
    """One diagnostic status: `level` is OK / WARN / ERROR / STALE, `values` the key-value pairs (strings,
    as diagnostic_msgs/KeyValue carries them)."""

    name: str
    level: int
    message: str
    values: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LearnerHealth:
    """What the brain knows of its learner at a report: see the module docstring."""

    wanted: bool
    running: bool
    steps: int
    loss: float | None
    weights_version: int  # the actor's (the learner publishes newer ones; copying them in is the swap)
    swap_age_s: float | None  # since new weights were last swapped into the actor (None: never)
    skipped_steps: int = 0  # steps whose loss or gradient was not finite


def _fmt(x) -> str:
    """A value as diagnostic text: floats to 3 decimals, None as "none"."""
    if x is None:
        return "none"
    if isinstance(x, float):
        return f"{x:.3f}" if math.isfinite(x) else str(x)
    return str(x)


def _values(**kv) -> dict[str, str]:
    return {k: _fmt(v) for k, v in kv.items()}


class BrainHealth:
    """Builds the brain's diagnostics from its counters; each `report` covers the time since the last one.

    Args:
        control_hz: the control rate the loop should hold (Hz).
        prefix: the node's name, prefixed to every status name.
        stale_error_s: see STALE_ERROR_S.
    """

    def __init__(self, control_hz: float, prefix: str = "yan_brain", stale_error_s: float = STALE_ERROR_S):
        if not control_hz > 0 or not stale_error_s > 0:
            raise ValueError(f"need control_hz > 0 and stale_error_s > 0, got {control_hz}, {stale_error_s}")
        self.control_hz, self.prefix, self.stale_error_s = control_hz, prefix, stale_error_s
        self._since_s: float | None = None
        self._ticks0 = self._missed0 = 0
        self._counts0: dict[str, int] = {}

    def report(self, now_s: float, stats: TickStats, ages_s: Mapping[str, float],
               limits_s: Mapping[str, float], core: Mapping, learner: LearnerHealth,
               memory_norm: float | None, rt_priority: int | None) -> list[Health]:
        """The statuses for the interval that ends at `now_s` (monotonic s).

        Args:
            stats: the control loop's tick statistics.
            ages_s, limits_s: per input stream, the age of its newest sample and its stale limit (s); an
                age of inf: never received.
            core: `BrainCore.status()` (mode, skill, trying and the counters).
            learner: see LearnerHealth.
            memory_norm: `Actor.memory_norm()` (None: the policy has no native memory).
            rt_priority: the control thread's SCHED_FIFO priority (0: normal; None: no tick yet).
        """
        since = self._since_s if self._since_s is not None else now_s
        elapsed_s = now_s - since
        ticks, missed = stats.ticks - self._ticks0, stats.missed_ticks - self._missed0
        counts0 = self._counts0 or {k: v for k, v in core.items() if isinstance(v, int)}
        out = [self._loop(ticks, missed, elapsed_s, stats, rt_priority),
               *(self._stream(s, ages_s[s], limits_s[s]) for s in ages_s),
               self._learner(learner), self._memory(memory_norm), self._mode(core, counts0)]
        self._since_s, self._ticks0, self._missed0 = now_s, stats.ticks, stats.missed_ticks
        self._counts0 = {k: v for k, v in core.items() if isinstance(v, int)}
        return out

    def _name(self, part: str) -> str:
        return f"{self.prefix}: {part}"

    def _loop(self, ticks: int, missed: int, elapsed_s: float, stats: TickStats,
              rt_priority: int | None) -> Health:
        window = stats.summary(last=ticks) if ticks else {}
        rate_hz = ticks / elapsed_s if elapsed_s > 0 else None
        values = _values(
            rate_hz=rate_hz, target_hz=float(self.control_hz), ticks=ticks, missed_ticks=missed,
            ticks_total=stats.ticks, missed_ticks_total=stats.missed_ticks,
            latency_ms_p50=window.get("latency_ms_median"), latency_ms_p99=window.get("latency_ms_p99"),
            compute_ms_p50=window.get("compute_ms_median"), compute_ms_p99=window.get("compute_ms_p99"),
            period_ms_p99=window.get("period_ms_p99"), control_rt_priority=rt_priority)
        if elapsed_s > 0 and ticks == 0:
            return Health(self._name("control loop"), ERROR, f"no control tick in {elapsed_s:.1f} s", values)
        short = rate_hz is not None and rate_hz < (1 - RATE_SHORTFALL) * self.control_hz
        if missed or short:
            message = f"missed {missed} of {ticks + missed} ticks" + (f", {rate_hz:.1f} Hz" if short else "")
            return Health(self._name("control loop"), WARN, message, values)
        return Health(self._name("control loop"), OK, f"{self.control_hz:g} Hz, no missed tick", values)

    def _stream(self, stream: str, age_s: float, limit_s: float) -> Health:
        name = self._name(f"input {stream}")
        values = _values(age_ms=age_s * MS_PER_S if math.isfinite(age_s) else None,
                         stale_limit_ms=limit_s * MS_PER_S)
        if age_s <= limit_s:
            return Health(name, OK, "fresh", values)
        if not math.isfinite(age_s):
            return Health(name, ERROR, "never received: holding the stand pose", values)
        level = ERROR if age_s - limit_s >= self.stale_error_s else WARN  # stale for age - limit
        return Health(name, level, f"stale ({age_s * MS_PER_S:.0f} ms old): holding the stand pose", values)

    def _learner(self, h: LearnerHealth) -> Health:
        values = _values(wanted=h.wanted, running=h.running, steps=h.steps, loss=h.loss,
                         weights_version=h.weights_version, swap_age_s=h.swap_age_s,
                         skipped_steps=h.skipped_steps)
        name = self._name("learner")
        if h.wanted and not h.running:
            return Health(name, ERROR, "learning is on but the learner is not running (its process died?)",
                          values)
        if h.skipped_steps:
            return Health(name, WARN, f"{h.skipped_steps} training steps were not finite (skipped)", values)
        return Health(name, OK, f"{'training' if h.running else 'off'}, {h.steps} steps", values)

    def _memory(self, norm: float | None) -> Health:
        name = self._name("native memory")
        if norm is None:
            return Health(name, OK, "this policy has no native memory", _values(norm=None))
        if not math.isfinite(norm):
            return Health(name, ERROR, f"not finite ({norm}): reset it (~/reset_memory)", _values(norm=norm))
        return Health(name, OK, f"norm {norm:.3g}", _values(norm=norm))

    def _mode(self, core: Mapping, counts0: Mapping[str, int]) -> Health:
        new = {k: core.get(k, 0) - counts0.get(k, 0) for k in ("bad_actions",)}
        values = _values(mode=core.get("mode"), skill=core.get("skill"), trying=core.get("trying"),
                         stale_holds=core.get("stale_holds"), idle_holds=core.get("idle_holds"),
                         bad_actions=core.get("bad_actions"), speed_limited=core.get("speed_limited"),
                         last_event=core.get("last_event"))
        level = WARN if new["bad_actions"] else OK
        trying = "on" if core.get("trying") else "off"
        message = f"{core.get('mode')}, skill {core.get('skill')!r}, trying {trying}"
        if new["bad_actions"]:
            message += f"; {new['bad_actions']} bad actions held"
        return Health(self._name("mode"), level, message, values)
