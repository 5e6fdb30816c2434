"""The scripted-teacher session protocol: K demonstrations of a skill, as a small event-driven state machine.

No ROS in here: the `teacher` node feeds it events (a service answered, a sim status arrived, time passed)
and carries out the requests it returns, one at a time. First

  read_brain      read the brain's `demo_source` (its answer's message is the value), to put it back at
                  the end

then, for each demonstration i (seed = seed_base + i):

  configure_sim   set the sim's `skill`, `seed`, `play_cue` parameters
  reset_sim       new episode; its answer carries the episode number (statuses of older episodes are
                  ignored from then on)
  configure_brain set the brain's `skill`, `demo_source` ("scripted") and `demo_gait_gain` parameters:
                  the brain executes the teacher's gait command times the gain and records the
                  teacher's own command (the gain is drawn from the seed in `demo_gait_gain_range`, as
                  a sim `TeachSession` draws it; see `yan_dog.recording`). The brain applies the gain to
                  that demonstration only, and only to demonstrations whose source is "scripted".
  start_demo      the brain starts recording; from its answer on, the teacher's actions are relayed
                  (`relaying` is True) from /sim/teacher_action to /teach/action
  play_cue        (cue_mode "service" only) once the episode time reaches `cue_at_s`; in cue_mode "sim"
                  the sim schedules the skill's cue itself at reset, as the env does
  stop_demo       when the episode time reaches the episode length (or the robot fell): relaying stops,
                  the brain adds the demonstration to its learner
then, after the last demonstration, `save_skill` if asked, and last

  restore_brain   set the brain's `demo_source` back to what read_brain found, so a person who
                  demonstrates to the same brain afterwards is not recorded as "scripted"

A refused or unanswered request, or a sim that stops reporting, fails the session: a running
demonstration is stopped first, and the brain's `demo_source` is still put back (when it was read).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from sim import skills as skill_registry
from yan_dog.teach_setup import DEFAULT_DEMO_GAIT_GAIN_RANGE, check_demo_gait_gain_range, draw_demo_gait_gain

REQUEST_KINDS = (
    "read_brain",
    "configure_sim",
    "reset_sim",
    "configure_brain",
    "start_demo",
    "play_cue",
    "stop_demo",
    "save_skill",
    "restore_brain",
)
CUE_MODES = ("sim", "service")
END_TOLERANCE_S = 1e-6  # episode time is a multiple of the control period; compare with this slack


@dataclass
class TeachingConfig:
    """One scripted teaching session.

    Args:
        skill: the skill to demonstrate (name in `sim.skills`).
        demos: number of demonstrations K.
        seed_base: demonstration i resets the sim with seed seed_base + i.
        cue_mode: "sim" (the sim plays the skill's cue at reset, at the env's cue time) or "service"
            (the teacher asks the sim to play it once the episode time reaches cue_at_s).
        cue_at_s: episode time (s) of the cue in cue_mode "service".
        episode_s: length of a demonstration (s); 0 = the skill's own duration.
        save_skill: ask the brain to save the skill after the last demonstration.
        status_timeout_s: fail if no sim status arrives for this long during a demonstration (s).
        demo_gait_gain_range: each demonstration's gait gain is drawn from its seed in this range
            ((1, 1): every demonstration at the teacher's own speed).
    """

    skill: str
    demos: int = 3
    seed_base: int = 1000
    cue_mode: str = "sim"
    cue_at_s: float = 0.4
    episode_s: float = 0.0
    save_skill: bool = False
    status_timeout_s: float = 5.0
    demo_gait_gain_range: tuple[float, float] = DEFAULT_DEMO_GAIT_GAIN_RANGE

    def __post_init__(self):
        skill_registry.get(self.skill)  # KeyError naming the registered skills
        self.demo_gait_gain_range = check_demo_gait_gain_range(self.demo_gait_gain_range)
        if not isinstance(self.demos, int) or self.demos < 1:
            raise ValueError(f"demos must be an int >= 1, got {self.demos!r}")
        if not isinstance(self.seed_base, int) or self.seed_base < 0:
            raise ValueError(f"seed_base must be an int >= 0, got {self.seed_base!r}")
        if self.cue_mode not in CUE_MODES:
            raise ValueError(f"cue_mode must be one of {CUE_MODES}, got {self.cue_mode!r}")
        if self.episode_s < 0:
            raise ValueError(f"episode_s must be >= 0 (0 = the skill's duration), got {self.episode_s}")
        if not 0 <= self.cue_at_s < self.length_s:
            raise ValueError(
                f"cue_at_s must be in [0, episode length {self.length_s} s), got {self.cue_at_s}"
            )
        if self.status_timeout_s <= 0:
            raise ValueError(f"status_timeout_s must be > 0, got {self.status_timeout_s}")

    @property
    def length_s(self) -> float:
        """Length of one demonstration (s)."""
        return self.episode_s or skill_registry.get(self.skill).duration_s


@dataclass(frozen=True)
class Request:
    """Something the node must do: `kind` in REQUEST_KINDS, with its arguments."""

    kind: str
    args: dict = field(default_factory=dict)


@dataclass
class DemoResult:
    """How one demonstration went (from the sim's last status of the episode)."""

    index: int
    seed: int
    episode: int
    success: bool
    fallen: bool
    time_s: float
    relayed: int  # teacher actions relayed to the brain
    gait_gain: float  # the brain executed the teacher's gait command times this


class TeachingProtocol:
    """State machine of a scripted teaching session (see the module docstring).

    Drive it with `start()`, `on_response()`, `on_status()`, `on_relayed()` and `on_clock()`; each event
    method returns the list of requests to carry out next (at most one: requests run one at a time).
    """

    def __init__(self, config: TeachingConfig):
        self.config = config
        self.phase = "idle"  # idle, configure_sim, reset_sim, configure_brain, start_demo, demo, ... done
        self.demo_index = 0
        self.relaying = False
        self.results: list[DemoResult] = []
        self.error: str | None = None
        self._episode: int | None = None
        self._cue_played = False
        self._relayed = 0
        self._last_status: dict | None = None
        self._last_status_s = 0.0
        self._pending: str | None = None  # kind of the request in flight
        self.brain_source: str | None = None  # the brain's demo_source before the session (read_brain)

    # --- state --------------------------------------------------------------------------------------------
    @property
    def finished(self) -> bool:
        return self.phase in ("done", "failed")

    @property
    def seed(self) -> int:
        return self.config.seed_base + self.demo_index

    @property
    def gait_gain(self) -> float:
        """The gait gain of the current demonstration."""
        return draw_demo_gait_gain(self.seed, self.config.demo_gait_gain_range)

    def _request(self, kind: str, **args) -> list[Request]:
        self.phase = kind
        self._pending = kind
        return [Request(kind, args)]

    def _configure_sim(self) -> list[Request]:
        return self._request(
            "configure_sim", skill=self.config.skill, seed=self.seed, play_cue=self.config.cue_mode == "sim"
        )

    def abort(self, reason: str) -> list[Request]:
        """Give up the session for `reason`; returns the request that stops a running demonstration."""
        self.error = reason
        was_demo = self.relaying or self.phase in ("demo", "play_cue")
        self.relaying = False
        if was_demo:  # stop the brain's recording before giving up
            self.phase, self._pending = "aborting", "stop_demo"
            return [Request("stop_demo")]
        return self._restore_brain()

    def _restore_brain(self) -> list[Request]:
        """Put the brain's demo_source back (when it was read), else end the session. Its answer ends the
        session either way, so it is sent at most once."""
        if self.brain_source is None:
            return self._finish()
        return self._request("restore_brain", demo_source=self.brain_source)

    def _finish(self) -> list[Request]:
        """End the session: failed when an error was recorded, else done."""
        self.phase = "failed" if self.error else "done"
        return []

    # --- events -------------------------------------------------------------------------------------------
    def start(self, now_s: float) -> list[Request]:
        """Begin the session."""
        if self.phase != "idle":
            raise RuntimeError("the session has already started")
        self._last_status_s = now_s
        return self._request("read_brain", names=["demo_source"])

    def on_response(self, kind: str, success: bool, message: str, now_s: float) -> list[Request]:
        """The request of `kind` was answered (success False: refused, failed or timed out)."""
        if kind != self._pending:
            raise RuntimeError(f"answer for {kind!r} while {self._pending!r} is in flight")
        self._pending = None
        if kind == "restore_brain":  # the session's last request, after success or failure
            if not success and self.error is None:
                self.error = f"restore_brain failed: {message}"
            return self._finish()
        if self.phase == "aborting":
            return self._restore_brain()
        if not success:
            return self.abort(f"{kind} failed: {message}")
        if kind == "read_brain":
            self.brain_source = message
            return self._configure_sim()
        if kind == "configure_sim":
            return self._request("reset_sim")
        if kind == "reset_sim":
            self._episode = _episode_of(message)
            return self._request("configure_brain", skill=self.config.skill, demo_source="scripted",
                                 demo_gait_gain=self.gait_gain)
        if kind == "configure_brain":
            return self._request("start_demo")
        if kind == "start_demo":
            self.phase, self.relaying, self._cue_played, self._relayed = "demo", True, False, 0
            self._last_status, self._last_status_s = None, now_s
            return []
        if kind == "play_cue":
            self.phase = "demo"
            return self._maybe_end()
        if kind == "stop_demo":
            self.demo_index += 1
            if self.demo_index < self.config.demos:
                return self._configure_sim()
            if self.config.save_skill:
                return self._request("save_skill")
            return self._restore_brain()
        if kind == "save_skill":
            return self._restore_brain()
        raise ValueError(f"unknown request kind {kind!r}")

    def on_status(self, status: dict, now_s: float) -> list[Request]:
        """A sim status arrived (the JSON dict of /sim/status)."""
        if self.phase not in ("demo", "play_cue") or not self._of_this_episode(status):
            return []  # not demonstrating, or a status of an older episode
        self._last_status, self._last_status_s = status, now_s
        if self._pending is not None:
            return []  # play_cue in flight: act on the next status
        return self._maybe_end() or self._maybe_cue()

    def on_relayed(self) -> None:
        """One teacher action was relayed to the brain."""
        self._relayed += 1

    def on_clock(self, now_s: float) -> list[Request]:
        """Time passed (called periodically): fail if the sim stopped reporting during a demonstration."""
        if self.phase == "demo" and now_s - self._last_status_s > self.config.status_timeout_s:
            return self.abort(f"no sim status for {self.config.status_timeout_s} s during demonstration")
        return []

    # --- demonstration ------------------------------------------------------------------------------------
    def _of_this_episode(self, status: dict) -> bool:
        if self._episode is not None:
            return status.get("episode") == self._episode
        # a sim whose reset answer carries no episode number: match skill and seed
        return status.get("skill") == self.config.skill and status.get("seed") == self.seed

    def _maybe_cue(self) -> list[Request]:
        s = self._last_status
        if self.config.cue_mode == "service" and not self._cue_played and s["time_s"] >= self.config.cue_at_s:
            self._cue_played = True
            return self._request("play_cue")
        return []

    def _maybe_end(self) -> list[Request]:
        s = self._last_status
        if s is None:
            return []
        if s["time_s"] < self.config.length_s - END_TOLERANCE_S and not s.get("fallen", False):
            return []
        self.relaying = False
        self.results.append(
            DemoResult(
                index=self.demo_index,
                seed=self.seed,
                episode=self._episode,
                success=bool(s.get("success", False)),
                fallen=bool(s.get("fallen", False)),
                time_s=float(s["time_s"]),
                relayed=self._relayed,
                gait_gain=self.gait_gain,
            )
        )
        return self._request("stop_demo")


def _episode_of(reset_message: str) -> int | None:
    """The episode number in the sim's ~/reset answer (its status JSON), None if it has none."""
    try:
        payload = json.loads(reset_message)
    except json.JSONDecodeError:
        return None
    return payload.get("episode") if isinstance(payload, dict) else None
