"""Skills: what the dog can be taught, how a scripted teacher demonstrates it, and how success is judged.

A `Skill` bundles
- a scripted **teacher**: privileged simulator state -> action (the demonstrator), in the skill's
  native `action_mode` ("joint": 12 joint targets in rad; "gait": (vx m/s, vy m/s, yaw rate rad/s));
- a **success check** computed from simulator state: a condition on the robot now (and, through
  `SkillContext.state_ago`, on the last `STATE_HISTORY_S`) that must hold continuously for `hold_s`
  seconds; once it has, the episode counts as a success;
- its default audio **cue** (the sound that asks for the skill), episode length and start posture.

Skills form a plug-in registry: user code calls `sim.skills.register(Skill(...))` and the skill can be
used by name in `gymnasium.make("YanDog-v0", skill=...)` with no change to `sim/`.

The teacher does nothing but hold its start posture until the skill is asked for (`go_time_s`: the end
of the cue plus a short reaction time, or 0 when no cue is played), like a dog waiting for the command.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from robots import skills as skill_specs
from robots.poses import LIE_POSE_RAD as LIE_POSE_RAD
from robots.poses import SHAKE_POSE_RAD, SIT_POSE_RAD, STAND_POSE_RAD
from robots.profile import clamp_to_joint_limits
from robots.skills import ACTION_MODES as ACTION_MODES
from robots.skills import START_POSTURES as START_POSTURES
from robots.skills import SkillSpec
from robots.skills import is_mirror_symmetric as is_mirror_symmetric
from robots.skills import teacher_action_mode as teacher_action_mode
from sim.robot import RobotState

STATE_HISTORY_S = 1.0  # how far back a check can look (SkillContext.history, s)


@dataclass
class SkillContext:
    """What a teacher and a success check may look at (privileged simulator state).

    Args:
        state: the robot now.
        start: the robot at the start of the episode (t = 0).
        ball_pos_m: (3,) the ball's position, world frame.
        time_s: episode time now.
        go_time_s: when the skill was asked for (cue heard); the teacher waits until then.
        history: the robot at the control ticks of the last `STATE_HISTORY_S` (or since t = 0), oldest
            first, ending with `state`; empty when the caller keeps none (then `state_ago` gives `state`).
    """

    state: RobotState
    start: RobotState
    ball_pos_m: np.ndarray
    time_s: float
    go_time_s: float
    history: Sequence[RobotState] = ()

    @property
    def since_go_s(self) -> float:
        return self.time_s - self.go_time_s

    def state_ago(self, seconds: float) -> RobotState:
        """The robot `seconds` ago: the newest kept state at least that old, else the oldest one kept
        (early in an episode, or past `STATE_HISTORY_S`)."""
        if seconds < 0:
            raise ValueError(f"seconds must be >= 0, got {seconds}")
        cutoff_s = self.state.time_s - seconds + 1e-9
        for past in reversed(self.history):
            if past.time_s <= cutoff_s:
                return past
        return self.history[0] if self.history else self.state


Teacher = Callable[[SkillContext], np.ndarray]
Check = Callable[[SkillContext], bool]


@dataclass(frozen=True)
class Skill:
    """A teachable skill: its metadata (`spec`, a `robots.skills.SkillSpec`), teacher and check.

    Args:
        name: registry key.
        teacher: scripted demonstrator, returns an action in `action_mode`.
        check: success condition from simulator state (now, and the last second through `state_ago`).
        cue: name of the default audio cue that asks for this skill (see `sim.cues`).
        action_mode: the teacher's native action mode, "joint" or "gait".
        duration_s: episode length (s).
        hold_s: how long `check` must hold continuously to count as a success (s).
        start_posture: "stand" or "lie" (the robot's posture at t = 0).
        description: one line for people.
        mirror_symmetric: the skill is its own left-right mirror image (sitting, walking forward, coming
            to a ball on either side; not turning left, not raising the right paw): a mirrored
            demonstration of it is a demonstration of it too, and a learner may train on both.
    """

    name: str
    teacher: Teacher
    check: Check
    cue: str
    action_mode: str = "joint"
    duration_s: float = 5.0
    hold_s: float = 1.0
    start_posture: str = "stand"
    description: str = ""
    mirror_symmetric: bool = False

    def __post_init__(self):
        self.spec  # noqa: B018 — validates the metadata
        if not callable(self.teacher) or not callable(self.check):
            raise ValueError("teacher and check must be callables taking a SkillContext")

    @property
    def spec(self) -> SkillSpec:
        """The skill's metadata without the simulator (what the robot's brain knows of it)."""
        return SkillSpec(self.name, self.cue, self.action_mode, self.duration_s, self.hold_s,
                         self.start_posture, self.mirror_symmetric, self.description)

    @classmethod
    def from_spec(cls, spec: SkillSpec, teacher: Teacher, check: Check, description: str = "") -> Skill:
        return cls(spec.name, teacher, check, spec.cue, spec.action_mode, spec.duration_s, spec.hold_s,
                   spec.start_posture, description or spec.description, spec.mirror_symmetric)


class SuccessTracker:
    """Latches a skill's success once its check has held continuously for `hold_s` (one per episode).

    Args:
        skill: the skill whose check is tracked.
        dt_s: time between `update` calls (the control period).
    """

    def __init__(self, skill: Skill, dt_s: float):
        self.skill = skill
        self.dt_s = dt_s
        self.held_s = 0.0
        self.success = False

    def update(self, ctx: SkillContext) -> tuple[bool, bool]:
        """Evaluate the check now; returns (condition holds now, success reached on this update)."""
        condition = bool(self.skill.check(ctx))
        self.held_s = self.held_s + self.dt_s if condition else 0.0
        newly = not self.success and condition and self.held_s >= self.skill.hold_s - 1e-9
        self.success = self.success or newly
        return condition, newly


_REGISTRY: skill_specs.Registry[Skill] = skill_specs.Registry(Skill, "sim.skills.Skill")
get, names = _REGISTRY.get, _REGISTRY.names


def register(skill: Skill, *, overwrite: bool = False) -> Skill:
    """Add a skill to the registry (from any user code), and its spec to `robots.skills`. Returns the
    skill."""
    _REGISTRY.register(skill, overwrite=overwrite)
    skill_specs.register(skill.spec, overwrite=True)
    return skill


def unregister(name: str) -> None:
    _REGISTRY.unregister(name)
    if skill_specs.SPECS.find(name) is not None:
        skill_specs.unregister(name)


# ---------------------------------------------------------------------------------------------------------
# Postures (joint targets, rad): `robots.poses`, found by holding them under PD control in this simulator.
POSTURE_RAMP_S = 1.0  # teachers move between postures over this time
SHAKE_LIFT_DELAY_S = 1.5  # shake_paw: sit first, then lift the paw after this long
SHAKE_LIFT_RAMP_S = 0.5


def _ramp(t_s: float, duration_s: float) -> float:
    return float(np.clip(t_s / duration_s, 0.0, 1.0))


def _posture_teacher(target_rad: np.ndarray) -> Teacher:
    """Teacher that blends from the episode's start pose to `target_rad` once the skill is asked for."""

    def teach(ctx: SkillContext) -> np.ndarray:
        a = _ramp(ctx.since_go_s, POSTURE_RAMP_S)
        return clamp_to_joint_limits((1 - a) * ctx.start.joint_pos_rad + a * target_rad)

    return teach


def hybrid_hold_offsets(ctx: SkillContext, stand_targets_rad: np.ndarray) -> np.ndarray:
    """Joint offsets (12,) a gait teacher adds in hybrid mode: the episode's start pose relative to the
    gait's standing targets until the skill is asked for, faded out over POSTURE_RAMP_S after that.

    Every teacher thus holds the start pose until the cue, as the posture teachers do: a policy cannot know
    before the cue which kind of teacher it follows (docs/experiments.md, 2026-11-23: gait teachers hold
    the start pose)."""
    hold = 1.0 - _ramp(ctx.since_go_s, POSTURE_RAMP_S)
    return hold * (clamp_to_joint_limits(ctx.start.joint_pos_rad) - stand_targets_rad)


def _shake_teacher(ctx: SkillContext) -> np.ndarray:
    sit = _posture_teacher(SIT_POSE_RAD)(ctx)
    b = _ramp(ctx.since_go_s - SHAKE_LIFT_DELAY_S, SHAKE_LIFT_RAMP_S)
    return clamp_to_joint_limits((1 - b) * sit + b * SHAKE_POSE_RAD)


# --- success checks (thresholds named, with units) -------------------------------------------------------
FOOT_ON_FLOOR_M = 0.05  # a toe below this height counts as on the floor
UPRIGHT_TILT_RAD = 0.2  # |roll|, |pitch| below this count as level

SIT_MIN_NOSE_UP_RAD = 0.3  # sitting tilts the trunk nose-up by at least this much
SIT_HEIGHT_RANGE_M = (0.14, 0.25)
SIT_MAX_ROLL_RAD = 0.25

LIE_MAX_HEIGHT_M = 0.15

SHAKE_MIN_PAW_HEIGHT_M = 0.12  # the front-right toe is held at least this high
SHAKE_MAX_ROLL_RAD = 0.35

STAND_MIN_HEIGHT_M = 0.24

WALK_MIN_DISTANCE_M = 1.0  # forward progress along the start heading
WALK_MAX_LATERAL_M = 0.4

TURN_MIN_YAW_RAD = np.pi / 2  # a quarter turn
TURN_MAX_YAW_RAD = 2.6  # ~150°: a turn that goes on past this was not a quarter turn (demos end at 1.9-2.1)
TURN_SETTLED_RADPS = 0.3  # mean yaw rate over TURN_SETTLE_WINDOW_S below which the turn has ended
TURN_SETTLE_WINDOW_S = 0.5  # the heading's change is measured over this window (s)
TURN_MAX_DRIFT_M = 0.5  # turning happens roughly in place

BALL_REACH_M = 0.5  # base centre within this horizontal distance of the ball
BALL_FACING_RAD = 0.6  # and the ball within this bearing of the heading


def _level(s: RobotState, tilt_rad: float = UPRIGHT_TILT_RAD) -> bool:
    return abs(s.base_rpy_rad[0]) < tilt_rad and abs(s.base_rpy_rad[1]) < tilt_rad


def _feet_down(s: RobotState, which=(0, 1, 2, 3)) -> bool:
    return bool(np.all(s.foot_pos_m[list(which), 2] < FOOT_ON_FLOOR_M))


def check_stand(ctx: SkillContext) -> bool:
    s = ctx.state
    return s.base_pos_m[2] >= STAND_MIN_HEIGHT_M and _level(s) and _feet_down(s)


def check_sit(ctx: SkillContext) -> bool:
    s = ctx.state
    roll, pitch = s.base_rpy_rad[:2]
    lo, hi = SIT_HEIGHT_RANGE_M
    return (
        -pitch >= SIT_MIN_NOSE_UP_RAD and lo <= s.base_pos_m[2] <= hi and abs(roll) < SIT_MAX_ROLL_RAD
    ) and _feet_down(s)


def check_lie_down(ctx: SkillContext) -> bool:
    s = ctx.state
    return s.base_pos_m[2] <= LIE_MAX_HEIGHT_M and _level(s)


def check_shake_paw(ctx: SkillContext) -> bool:
    s = ctx.state
    return (
        s.foot_pos_m[0, 2] >= SHAKE_MIN_PAW_HEIGHT_M
        and _feet_down(s, (1, 2, 3))
        and abs(s.base_rpy_rad[0]) < SHAKE_MAX_ROLL_RAD
    )


def _displacement(ctx: SkillContext) -> tuple[float, float]:
    """(forward, lateral) displacement (m) since the start, in the start heading's frame."""
    d = ctx.state.base_pos_m[:2] - ctx.start.base_pos_m[:2]
    h = ctx.start.heading_xy
    return float(d @ h), float(d @ np.array([-h[1], h[0]]))


def check_walk_forward(ctx: SkillContext) -> bool:
    fwd, lat = _displacement(ctx)
    return fwd >= WALK_MIN_DISTANCE_M and abs(lat) <= WALK_MAX_LATERAL_M and _level(ctx.state, 0.4)


def _turned(ctx: SkillContext) -> float:
    return ctx.state.yaw_unwrapped_rad - ctx.start.yaw_unwrapped_rad


def _drift(ctx: SkillContext) -> float:
    return float(np.linalg.norm(ctx.state.base_pos_m[:2] - ctx.start.base_pos_m[:2]))


def _heading_settled(ctx: SkillContext) -> bool:
    """The heading changed by at most TURN_SETTLED_RADPS * TURN_SETTLE_WINDOW_S over the last window.

    The heading's change, not the trunk's instantaneous yaw rate: a robot standing still sways its trunk
    at up to ~0.8 rad/s as its legs adjust, without its heading moving (turn_right, bench seed 2)."""
    past = ctx.state_ago(TURN_SETTLE_WINDOW_S)
    change_rad = abs(ctx.state.yaw_unwrapped_rad - past.yaw_unwrapped_rad)
    return change_rad <= TURN_SETTLED_RADPS * TURN_SETTLE_WINDOW_S


def _quarter_turn(ctx: SkillContext, sign: float) -> bool:
    """Turned a quarter turn (not much more) in direction `sign` (+1 = left) roughly in place, and stopped
    there: a robot that spins or creeps on does not pass, however long it has been past 90°."""
    turned = sign * _turned(ctx)
    return (TURN_MIN_YAW_RAD <= turned <= TURN_MAX_YAW_RAD
            and _heading_settled(ctx)
            and _drift(ctx) <= TURN_MAX_DRIFT_M and _level(ctx.state, 0.4))


def check_turn_left(ctx: SkillContext) -> bool:
    return _quarter_turn(ctx, 1.0)


def check_turn_right(ctx: SkillContext) -> bool:
    return _quarter_turn(ctx, -1.0)


def ball_range_bearing(ctx: SkillContext) -> tuple[float, float]:
    """Horizontal distance (m) from the base to the ball and its bearing (rad, + = to the left)."""
    s = ctx.state
    d = ctx.ball_pos_m[:2] - s.base_pos_m[:2]
    bearing = np.arctan2(d[1], d[0]) - s.base_rpy_rad[2]
    return float(np.linalg.norm(d)), float(np.angle(np.exp(1j * bearing)))


def check_come_to_ball(ctx: SkillContext) -> bool:
    dist, bearing = ball_range_bearing(ctx)
    return dist <= BALL_REACH_M and abs(bearing) <= BALL_FACING_RAD and _level(ctx.state, 0.4)


# --- locomotion teachers (gait commands) -----------------------------------------------------------------
WALK_SPEED_MPS = 0.6  # the trot slips: 0.6 commanded gives 0.3-0.5 m/s over the friction range
HEADING_GAIN_PER_S = 2.0  # yaw-rate correction per rad of heading error
TURN_RATE_RADPS = 1.0
TURN_TARGET_RAD = 1.85  # turn a little past the 90° check, then stop
BALL_STOP_M = 0.42  # the teacher stops this far (base centre) from the ball
BALL_SPEED_GAIN_PER_S = 1.0  # forward speed per metre of remaining distance
BALL_MAX_SPEED_MPS = 0.6
BALL_MIN_SPEED_MPS = 0.3  # the trot hardly moves below this command, so approach at least this fast
BALL_YAW_GAIN_PER_S = 2.5
BALL_TURN_FIRST_RAD = 0.5  # beyond this bearing, turn before walking


def _walk_teacher(ctx: SkillContext) -> np.ndarray:
    if ctx.since_go_s < 0:
        return np.zeros(3)
    heading_error = ctx.start.yaw_unwrapped_rad - ctx.state.yaw_unwrapped_rad
    return np.array([WALK_SPEED_MPS, 0.0, HEADING_GAIN_PER_S * heading_error])


def _turn_teacher(sign: float) -> Teacher:
    def teach(ctx: SkillContext) -> np.ndarray:
        if ctx.since_go_s < 0 or sign * _turned(ctx) >= TURN_TARGET_RAD:
            return np.zeros(3)
        return np.array([0.0, 0.0, sign * TURN_RATE_RADPS])

    return teach


def _ball_teacher(ctx: SkillContext) -> np.ndarray:
    if ctx.since_go_s < 0:
        return np.zeros(3)
    dist, bearing = ball_range_bearing(ctx)
    if dist <= BALL_STOP_M:
        return np.zeros(3)
    vx = float(np.clip(BALL_SPEED_GAIN_PER_S * (dist - BALL_STOP_M), BALL_MIN_SPEED_MPS, BALL_MAX_SPEED_MPS))
    if abs(bearing) > BALL_TURN_FIRST_RAD:
        vx = 0.0
    return np.array([vx, 0.0, BALL_YAW_GAIN_PER_S * bearing])


def _stand_teacher(ctx: SkillContext) -> np.ndarray:
    return _posture_teacher(STAND_POSE_RAD)(ctx)


# --- built-in skills: the specs of `robots.skills`, with their teachers and checks -----------------------
_SPECS = {spec.name: spec for spec in skill_specs.BUILTIN_SKILL_SPECS}
_TURN_HOLD_S = _SPECS["turn_left"].hold_s  # stopped in the quarter-turn range this long
BUILTIN_SKILLS = (
    Skill.from_spec(_SPECS["stand"], _stand_teacher, check_stand,
                    f"get up from lying and stand level (base >= {STAND_MIN_HEIGHT_M} m) for 1 s"),
    Skill.from_spec(_SPECS["sit"], _posture_teacher(SIT_POSE_RAD), check_sit,
                    "rear lowered, front up (nose-up >= 0.3 rad), all feet down, held 1 s"),
    Skill.from_spec(_SPECS["lie_down"], _posture_teacher(LIE_POSE_RAD), check_lie_down,
                    f"trunk on the floor (base <= {LIE_MAX_HEIGHT_M} m), level, held 1 s"),
    Skill.from_spec(_SPECS["shake_paw"], _shake_teacher, check_shake_paw,
                    f"sit and hold the front-right paw >= {SHAKE_MIN_PAW_HEIGHT_M} m up for 1 s"),
    Skill.from_spec(_SPECS["walk_forward"], _walk_teacher, check_walk_forward,
                    f">= {WALK_MIN_DISTANCE_M} m forward along the start heading, drift <= 0.4 m"),
    Skill.from_spec(_SPECS["turn_left"], _turn_teacher(+1.0), check_turn_left,
                    f"turn 90-{np.degrees(TURN_MAX_YAW_RAD):.0f}° to the left roughly in place, then stop "
                    f"there for {_TURN_HOLD_S} s"),
    Skill.from_spec(_SPECS["turn_right"], _turn_teacher(-1.0), check_turn_right,
                    f"turn 90-{np.degrees(TURN_MAX_YAW_RAD):.0f}° to the right roughly in place, then stop "
                    f"there for {_TURN_HOLD_S} s"),
    Skill.from_spec(_SPECS["come_to_ball"], _ball_teacher, check_come_to_ball,
                    f"walk to the orange ball and face it, within {BALL_REACH_M} m, held 0.5 s"),
)
for _skill in BUILTIN_SKILLS:
    register(_skill)
