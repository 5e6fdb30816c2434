"""The control-loop side of the train–inference loop: the `Actor` that steps the newest published
policy, and the `ControlLoop` that calls it on a clock (`LoopStats`: how late each tick was). ROS-free
and sim-free: the sim runner, the brain and the benches all tick through these."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from yan_dog.scheduling import GIL_SWITCH_S  # noqa: F401 (re-exported: the thread switch interval of a control loop)


class Actor:
    """The control-loop side: steps the newest published policy, keeps the recurrent state.

    Args:
        learner: where new weights come from: an `OnlineLearner` (a pointer swap to its newest frozen copy)
            or a `ProcessLearner` (newer weights copied from shared memory into the actor's own policy).
        execute_chunk: how many actions of a predicted chunk to execute before using a new prediction
            (1 = re-plan every tick). The recurrent state is still updated with every observation; only
            the action comes from the last plan. Executing a few ticks of a plan open-loop (as ACT does)
            commits the robot to a motion once the policy predicts it, instead of hesitating at its onset.
        memory: the lifetime part of a recurrent state to start from (`PolicyBase.lifetime_state`: the
            native memory, e.g. restored from the skill library); None: a fresh one.

    The native memory lives for the robot's lifetime: `reset` (a new try) starts the per-episode state
    afresh and carries the memory; only `reset(keep_memory=False)`, which the user asks for, forgets it.
    """

    def __init__(self, learner, execute_chunk: int = 1, memory: dict | None = None):
        if execute_chunk < 1:
            raise ValueError(f"execute_chunk must be >= 1, got {execute_chunk}")
        self.learner = learner  # an OnlineLearner or a yan_policy.training.learner_process.ProcessLearner
        self.execute_chunk = min(execute_chunk, learner.policy.config.chunk)
        self.version, self.policy = learner.actor_policy()
        self.swaps = 0
        self.swapped_at_s: float | None = None  # when new weights were last swapped in (monotonic s)
        self.state = memory
        self.reset(keep_memory=memory is not None)

    def reset(self, keep_memory: bool = True, memory: dict | None = None) -> None:
        """A new try: a fresh per-episode state; the native memory is carried unless keep_memory is False,
        or starts from `memory` (a lifetime state, `memory()`'s, copied) when one is given."""
        keep = memory if memory is not None else (self.state if keep_memory else None)
        self.state = self.policy.initial_state(keep=keep)
        self._plan: np.ndarray | None = None  # (K, A)
        self._tick = 0

    def memory(self) -> dict:
        """The lifetime part of the current state (detached copies): what a commit saves."""
        return self.policy.lifetime_state(self.state)

    def memory_norm(self) -> float | None:
        """L2 norm over the native memory's tensors (a health figure: it must stay bounded and finite);
        None for a policy without one. Reads the state in place: call it between ticks."""
        keys = self.policy.lifetime_keys()
        if not keys:
            return None
        with torch.no_grad():
            squares = sum(float(torch.sum(self.state[k].double() ** 2)) for k in keys)
        return math.sqrt(squares)

    def refresh(self) -> bool:
        """Pick up newer weights if the learner published some (call between ticks); never waits for
        the learner."""
        version, policy = self.learner.weights_for_actor(self.policy, self.version)
        if version != self.version:
            self.version, self.policy = version, policy
            self.swaps += 1
            self.swapped_at_s = time.monotonic()
            return True
        return False

    def act(self, obs: dict) -> np.ndarray:
        chunk, self.state = self.policy.step_chunk(obs, self.state)  # (K, A)
        if self._plan is None or self._tick % self.execute_chunk == 0:
            self._plan, self._tick = chunk, 0
        action = self._plan[self._tick]
        self._tick += 1
        return action


@dataclass
class LoopStats:
    """Timing of a control loop: tick start times and how late each one was."""

    period_s: float
    starts_s: list[float]
    missed_ticks: int

    def periods_ms(self) -> np.ndarray:
        return np.diff(np.asarray(self.starts_s)) * 1000.0

    def summary(self) -> dict:
        p = self.periods_ms()
        return {
            "period_ms_target": self.period_s * 1000.0,
            "period_ms_median": float(np.median(p)) if p.size else float("nan"),
            "period_ms_p99": float(np.percentile(p, 99)) if p.size else float("nan"),
            "jitter_ms_std": float(np.std(p)) if p.size else float("nan"),
            "missed_ticks": self.missed_ticks,
            "ticks": len(self.starts_s),
        }


class ControlLoop:
    """Calls `tick()` every `period_s` on a clock; a tick that starts a whole period late is counted
    as missed (the schedule then skips ahead, as a real-time loop must).

    Args:
        period_s: control period (s), e.g. 0.02 for 50 Hz.
        clock: monotonic time source (s); injectable for deterministic tests.
        sleep: sleeps for a duration (s); injectable together with the clock.
    """

    def __init__(
        self,
        period_s: float,
        clock: Callable[[], float] = time.perf_counter,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if period_s <= 0:
            raise ValueError(f"period_s must be > 0, got {period_s}")
        self.period_s = period_s
        self.clock = clock
        self.sleep = sleep

    def run(self, tick: Callable[[int], bool], max_ticks: int) -> LoopStats:
        """Run until `tick(k)` returns False or `max_ticks` ticks ran.

        While it runs, the interpreter's thread switch interval is GIL_SWITCH_S: a learner thread in
        Python code otherwise keeps the GIL for up to 5 ms after the loop's sleep ends."""
        prev_switch = sys.getswitchinterval()
        sys.setswitchinterval(min(prev_switch, GIL_SWITCH_S))
        try:
            return self._run(tick, max_ticks)
        finally:
            sys.setswitchinterval(prev_switch)

    def _run(self, tick: Callable[[int], bool], max_ticks: int) -> LoopStats:
        starts, missed = [], 0
        next_start = self.clock()
        for k in range(max_ticks):
            now = self.clock()
            if now < next_start:
                self.sleep(next_start - now)
                now = self.clock()
            late = now - next_start
            if late >= self.period_s:
                skipped = int(late // self.period_s)
                missed += skipped
                next_start += skipped * self.period_s
            starts.append(now)
            next_start += self.period_s
            if not tick(k):
                break
        return LoopStats(self.period_s, starts, missed)
