"""An episode's cue schedule: which sounds ask for the skill, when, and from when the skill may start.

Most skills have one event, their cue: the skill may start once it sounds. A skill with a `GoSignal` (a
delayed command, e.g. `sit_on_go`) has two: its cue, then, after a random delay, a second signal ("go");
the skill may start only after the go. In some episodes (`GoSignal.decoy_probability`) a decoy go sounds
before the cue, at the time a go would come after a cue (so the clock since the episode began cannot
tell them apart): a robot must not start on it. Starting at the go therefore needs remembering, for the
whole delay, whether the cue came, which is what the task measures (docs/simulation.md, memory task).

Randomness only through the generator passed in (the env's `np_random`); no generator gives the nominal
schedule (no decoy, the nominal delay).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EVENT_ROLES = ("cue", "go", "decoy")


@dataclass(frozen=True)
class GoSignal:
    """The second signal of a delayed command.

    Args:
        cue: name of the go sound (a registered cue, `sim.cues`).
        delay_range_s: the go starts this long after the cue starts (uniform, s).
        nominal_delay_s: the delay without randomisation (s).
        decoy_probability: chance that an episode has a decoy go before the cue.
        decoy_gap_range_s: the cue starts this long after the decoy starts (uniform, s).
    """

    cue: str
    delay_range_s: tuple[float, float] = (2.0, 4.0)
    nominal_delay_s: float = 3.0
    decoy_probability: float = 0.5
    decoy_gap_range_s: tuple[float, float] = (0.5, 1.0)

    def __post_init__(self) -> None:
        for name in ("delay_range_s", "decoy_gap_range_s"):
            lo, hi = getattr(self, name)
            if not 0 < lo <= hi:
                raise ValueError(f"GoSignal.{name} must be (low, high) with 0 < low <= high, got {(lo, hi)}")
        if not 0 < self.nominal_delay_s:
            raise ValueError(f"GoSignal.nominal_delay_s must be > 0, got {self.nominal_delay_s}")
        if not 0.0 <= self.decoy_probability <= 1.0:
            raise ValueError(f"GoSignal.decoy_probability must be in [0, 1], got {self.decoy_probability}")

    @property
    def longest_s(self) -> float:
        """The latest a go can start after the episode's first event (s): decoy, gap, delay."""
        return self.delay_range_s[1] + self.decoy_gap_range_s[1] + self.delay_range_s[1]


@dataclass(frozen=True)
class CueEvent:
    """One sound of the schedule: cue `name` starting at episode time `start_s`, in `role`
    ("cue": the skill's cue; "go": the go after it; "decoy": a go before any cue)."""

    name: str
    start_s: float
    role: str

    def __post_init__(self) -> None:
        if self.role not in EVENT_ROLES:
            raise ValueError(f"CueEvent.role must be one of {EVENT_ROLES}, got {self.role!r}")
        if not np.isfinite(self.start_s) or self.start_s < 0:
            raise ValueError(f"CueEvent.start_s must be a finite time >= 0 s, got {self.start_s}")


@dataclass(frozen=True)
class CueSchedule:
    """The events of one episode, in time order."""

    events: tuple[CueEvent, ...]

    def _first(self, role: str) -> CueEvent | None:
        return next((e for e in self.events if e.role == role), None)

    @property
    def cue(self) -> CueEvent:
        return self._first("cue")

    @property
    def release(self) -> CueEvent:
        """The event from whose start the skill may begin: the go if there is one, else the cue."""
        return self._first("go") or self.cue

    def to_list(self) -> list[list]:
        """[[name, start_s, role], ...] (for `info` and JSON)."""
        return [[e.name, e.start_s, e.role] for e in self.events]


def draw_schedule(cue: str, first_s: float, go: GoSignal | None,
                  rng: np.random.Generator | None) -> CueSchedule:
    """The schedule of an episode whose first sound starts at `first_s` (s): the cue alone without `go`;
    with it, the cue then the go after a delay, preceded by a decoy go in some episodes. The decoy starts
    when a go would (`first_s` + a delay from the same range), so the go's time since the episode began
    says nothing about which kind it is. Draws four numbers from `rng` whenever `go` is given (none
    without it, so one-event skills' episodes are what they were); `rng` None gives the nominal
    schedule."""
    if go is None:
        return CueSchedule((CueEvent(cue, float(first_s), "cue"),))
    if rng is None:
        decoy, delay_s, lead_s, gap_s = False, go.nominal_delay_s, 0.0, 0.0
    else:
        decoy = bool(rng.uniform() < go.decoy_probability)
        delay_s = float(rng.uniform(*go.delay_range_s))
        lead_s = float(rng.uniform(*go.delay_range_s))  # decoy after the episode's start, as a go after a cue
        gap_s = float(rng.uniform(*go.decoy_gap_range_s))
    events = []
    cue_s = float(first_s)
    if decoy:
        events.append(CueEvent(go.cue, cue_s + lead_s, "decoy"))
        cue_s += lead_s + gap_s
    events += [CueEvent(cue, cue_s, "cue"), CueEvent(go.cue, cue_s + delay_s, "go")]
    return CueSchedule(tuple(events))
