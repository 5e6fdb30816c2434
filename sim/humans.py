"""A human-like demonstrator: a simulated person teaching the dog through the inputs a person has.

Why: scripted teachers read privileged state and act perfectly; a person teaching a real dog reacts late,
shakes the stick, overshoots a slider and corrects it, is faster one time than the next, and sometimes
gives up half way. The few-shot benchmark (`bench/few_shot.py --demos human`) teaches from this person.

What the person **does** (`PersonInput`, nothing else reaches the robot):
- locomotion: a joystick gait command (vx m/s, vy m/s, yaw rate rad/s), within `JOYSTICK_MAX`, moved at
  most `STICK_RATE_PER_S` of full deflection per second, with hand jitter while deflected;
- postures: the pose editor's 12 sliders (joint offsets from the trot controller's standing targets, the
  same offsets as the teleop's posture keys, `posture_presets`), dragged towards a preset or a user's
  target, past it by the person's overshoot, then corrected back.
The 15-D hybrid action is the stick followed by the sliders (`PersonInput.hybrid_action`).

What the person **sees** (`PersonView`, from `PersonEyes`): where the dog is on the floor and which way
it faces, where the ball is, each with the person's own perception error, all `reaction_delay_s` late;
when the cue ended (heard, so the person starts one reaction delay after it); the person's own slider
settings. Never joint angles, velocities, contacts or the scripted teacher's actions. Which posture or
motion to show comes from the skill's `Intent` (`intent_for`), what a person knows of the skill.

Per person (`PersonConfig.draw`): reaction delay, stick and slider jitter, overshoot, correction gain,
speed range, perception error, the probability of an imperfect demonstration. Per demonstration
(`DemoPlan`): the speed, how far the person judges "far enough", and whether this one is imperfect (the
person gives up part way: a posture reached only part way, a walk or turn stopped short, the ball not
reached). Everything is drawn from seeded generators: the same person and seed give the same demonstration.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, fields

import numpy as np

from robots.actions import GAIT_DIMS
from robots.gait import TrotController
from robots.poses import posture_targets
from robots.profile import NUM_MOTORS

# --- ranges a person is drawn from (PersonConfig.draw), each with its unit and why ------------------------
# simple reaction times of adults are 0.2-0.3 s; a person also watching the dog is slower
REACTION_DELAY_RANGE_S = (0.2, 0.5)
# hand tremor on a deflected stick, std as a fraction of full deflection: a steady hand to a shaky one
STICK_JITTER_RANGE = (0.01, 0.08)
# how far off a slider is set from where the person meant (std, rad): 1-2° is what a slider shows
SLIDER_JITTER_RANGE_RAD = (0.005, 0.03)
# a posture move carried past its target by this fraction of the move before the person sees it
OVERSHOOT_RANGE = (0.0, 0.25)
# how fast a person takes back an error once seen (1/s): a slow, careful correction to a quick one
CORRECTION_GAIN_RANGE_PER_S = (1.5, 4.0)
# a person's speed (factor on the intent's stick command and posture pace): their slowest and fastest
# demonstrations lie in [low, high], drawn from these; the trot hardly moves below 0.3 m/s commanded
SPEED_LOW_RANGE = (0.75, 0.9)
SPEED_HIGH_RANGE = (0.95, 1.15)
# the chance that a demonstration is imperfect (the person gives up part way): careful to careless
IMPERFECT_PROB_RANGE = (0.05, 0.2)
# how well a person judges where the dog and the ball are (std of a per-demonstration error, m)
POSITION_ERROR_RANGE_M = (0.02, 0.08)
# and which way the dog faces (std, rad): 1-5°
HEADING_ERROR_RANGE_RAD = (0.02, 0.09)

# --- limits a PersonConfig is checked against -------------------------------------------------------------
MAX_REACTION_DELAY_S = 2.0
MAX_JITTER = 0.5  # of full deflection
MAX_SLIDER_JITTER_RAD = 0.2
MAX_OVERSHOOT = 1.0  # of the move
MAX_SPEED = 1.5  # factor on the intent's command; the stick stays within JOYSTICK_MAX anyway
MAX_POSITION_ERROR_M = 0.5
MAX_HEADING_ERROR_RAD = 0.5

# --- the interface: what a joystick and the pose editor can give ------------------------------------------
JOYSTICK_MAX = np.array([0.8, 0.4, 1.2])  # full deflection (vx m/s, vy m/s, yaw rate rad/s)
STICK_RATE_PER_S = 4.0  # of full deflection per second: a thumb takes ~0.25 s from centre to the edge
STICK_JITTER_CORRELATION = 0.9  # per control tick: tremor is slow (~3 Hz at 50 Hz), not white noise
POSTURE_MOVE_S = 1.0  # a person drags the sliders from one posture to the next in ~1 s at speed 1
# (the scripted teachers' POSTURE_RAMP_S, the teleop's POSTURE_RATE_RADPS ramps ~1 s too)

# --- per demonstration ------------------------------------------------------------------------------------
AIM_SCALE_RANGE = (0.93, 1.07)  # "far enough" judged to within ~7 % of the intent's goal
IMPERFECT_GOAL_SCALE_RANGE = (0.35, 0.65)  # an imperfect demonstration stops this fraction of the way
PERSON_SEED_TAG = 0x9E_50  # mixes a person's seed, so persons differ from the sim seeds of the same number

# --- the person's control laws ----------------------------------------------------------------------------
HEADING_DEADBAND_RAD = 0.05  # walking, a person does not steer against a heading error this small
TURN_BACK_BEYOND_RAD = 0.5  # past the turn's aim by more than this, the person turns back
TURN_BACK_RATE = 0.4  # ... at this fraction of the intent's turn rate
BALL_TURN_FIRST_RAD = 0.5  # beyond this bearing a person turns towards the ball before walking on
# where a person means to stop the dog (base centre to ball, as seen): at the ball, its front feet ~0.2 m
# ahead of the base centre and the ball 0.08 m in radius, not just inside the check's 0.5 m, which their
# judgement error (~0.1 m) and reaction delay would put on either side
BALL_AIM_M = 0.35
BALL_SLOW_M = 0.3  # within this distance of the stop, the person eases off the stick
BALL_MIN_SPEED_MPS = 0.3  # ... to no slower than this (m/s): the trot hardly moves below it
BALL_SETTLE_S = 0.5  # after letting go, the person watches the dog this long (seen) before judging it
BALL_REAPPROACH_M = 0.1  # stopped this much farther than the aim (seen), the person walks the dog on
BALL_FACE_RAD = 0.4  # stopped with the ball further off its nose than this (seen), the person turns it
BALL_FACED_RAD = 0.15  # ... until the ball is within this bearing
BALL_MIN_TURN_RADPS = 0.5  # turning in place, at least this yaw rate (the trot stands still below 0.25)
BALL_TOO_CLOSE_M = 0.2  # nearer than this (seen), the dog is on the ball: the person backs it up to the aim
# the ball seen rolled this far from where it lay: the dog has bumped it, so it is at the ball, whatever the
# person's judgement of the gap said (their perception error is fixed, so a move is seen as it is)
BALL_PUSHED_M = 0.03


@dataclass(frozen=True)
class PersonConfig:
    """One person's way of demonstrating (see the module docstring; ranges: the `*_RANGE*` constants).

    Args:
        reaction_delay_s: how late the person sees the dog and acts on the cue (s).
        stick_jitter: std of hand tremor on a deflected stick, as a fraction of full deflection.
        slider_jitter_rad: std of a slider's setting error (rad).
        overshoot: fraction of a posture move the sliders go past the target before the correction.
        correction_gain_per_s: rate at which a seen error is taken back (1/s).
        speed_range: (slowest, fastest) speed factor of this person's demonstrations.
        imperfect_prob: probability that a demonstration is imperfect (given up part way).
        position_error_m: std of the person's error in judging positions on the floor (m).
        heading_error_rad: std of the person's error in judging the dog's heading (rad).
    """

    reaction_delay_s: float = 0.3
    stick_jitter: float = 0.03
    slider_jitter_rad: float = 0.01
    overshoot: float = 0.1
    correction_gain_per_s: float = 2.5
    speed_range: tuple[float, float] = (0.85, 1.0)
    imperfect_prob: float = 0.1
    position_error_m: float = 0.04
    heading_error_rad: float = 0.05

    def __post_init__(self):
        bounded = {"reaction_delay_s": MAX_REACTION_DELAY_S, "stick_jitter": MAX_JITTER,
                   "slider_jitter_rad": MAX_SLIDER_JITTER_RAD, "overshoot": MAX_OVERSHOOT,
                   "imperfect_prob": 1.0, "position_error_m": MAX_POSITION_ERROR_M,
                   "heading_error_rad": MAX_HEADING_ERROR_RAD}
        for name, limit in bounded.items():
            value = getattr(self, name)
            if not (np.isfinite(value) and 0.0 <= value <= limit):
                raise ValueError(f"PersonConfig.{name} must be in [0, {limit}], got {value}")
        if not (np.isfinite(self.correction_gain_per_s) and self.correction_gain_per_s > 0):
            raise ValueError(f"PersonConfig.correction_gain_per_s must be > 0, "
                             f"got {self.correction_gain_per_s}")
        lo, hi = self.speed_range
        if not 0.0 < lo <= hi <= MAX_SPEED:
            raise ValueError(f"PersonConfig.speed_range must satisfy 0 < low <= high <= {MAX_SPEED}, "
                             f"got {tuple(self.speed_range)}")
        object.__setattr__(self, "speed_range", (float(lo), float(hi)))

    @classmethod
    def draw(cls, rng: np.random.Generator) -> PersonConfig:
        """A person drawn from the module's ranges with `rng` (an env's or a seeded `np_random`)."""
        u = lambda r: float(rng.uniform(*r))  # noqa: E731
        return cls(reaction_delay_s=u(REACTION_DELAY_RANGE_S), stick_jitter=u(STICK_JITTER_RANGE),
                   slider_jitter_rad=u(SLIDER_JITTER_RANGE_RAD), overshoot=u(OVERSHOOT_RANGE),
                   correction_gain_per_s=u(CORRECTION_GAIN_RANGE_PER_S),
                   speed_range=(u(SPEED_LOW_RANGE), u(SPEED_HIGH_RANGE)),
                   imperfect_prob=u(IMPERFECT_PROB_RANGE), position_error_m=u(POSITION_ERROR_RANGE_M),
                   heading_error_rad=u(HEADING_ERROR_RANGE_RAD))

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)} | {"speed_range": list(self.speed_range)}


def person_for_seed(seed: int) -> PersonConfig:
    """The person of seed `seed` (the bench draws a different person per training seed)."""
    return PersonConfig.draw(np.random.default_rng([PERSON_SEED_TAG, int(seed)]))


# --- what a person knows of each skill ------------------------------------------------------------------
def posture_presets() -> dict[str, np.ndarray]:
    """Posture preset name -> (12,) joint offsets (rad) from the trot controller's standing targets: the
    pose editor's presets, the same as the teleop's posture keys (`yan_dog.teleop.POSTURE_OFFSETS_RAD`)."""
    stand = TrotController().stand_targets()  # (12,)
    return {name: np.zeros(NUM_MOTORS) if name == "stand" else target - stand  # standing: the zero action
            for name, target in posture_targets().items()}


PRESETS = posture_presets()


@dataclass(frozen=True)
class PostureIntent:
    """Postures set in the pose editor one after the other: each a preset name (`PRESETS`) or 12 joint
    offsets (rad) from the standing targets, the i-th started `after_s[i]` seconds (at speed 1) after the
    person starts."""

    targets: tuple = ("stand",)
    after_s: tuple[float, ...] = (0.0,)

    def __post_init__(self):
        if not self.targets or len(self.targets) != len(self.after_s):
            raise ValueError(f"PostureIntent needs one after_s per target, got {len(self.targets)} targets "
                             f"and {len(self.after_s)} times")
        if any(b < a for a, b in zip(self.after_s, self.after_s[1:], strict=False)) or self.after_s[0] < 0:
            raise ValueError(f"PostureIntent.after_s must be >= 0 and non-decreasing, got {self.after_s}")
        for t in self.targets:
            self.offsets(t)

    @staticmethod
    def offsets(target) -> np.ndarray:
        """A target as (12,) joint offsets (rad)."""
        if isinstance(target, str):
            if target not in PRESETS:
                raise ValueError(f"unknown posture preset {target!r}; presets: {sorted(PRESETS)}")
            return PRESETS[target]
        out = np.asarray(target, np.float64)
        if out.shape != (NUM_MOTORS,) or not np.isfinite(out).all():
            raise ValueError(f"a pose-editor target must be {NUM_MOTORS} finite joint offsets (rad), "
                             f"got shape {out.shape}")
        return out


@dataclass(frozen=True)
class MoveIntent:
    """Hold the joystick at `command` (vx m/s, vy m/s, yaw rate rad/s, at speed 1) until the dog has gone
    `distance_m` along the command's direction (keeping its start heading) or turned `turn_rad` (signed,
    + left), as the person judges it; then let go (and turn back if a turn went far past its aim)."""

    command: tuple[float, float, float]
    distance_m: float = 0.0
    turn_rad: float = 0.0

    def __post_init__(self):
        c = np.asarray(self.command, np.float64)
        if c.shape != (GAIT_DIMS,) or not np.isfinite(c).all() or np.any(np.abs(c) > JOYSTICK_MAX):
            raise ValueError(f"MoveIntent.command must be {GAIT_DIMS} numbers within the joystick's "
                             f"{JOYSTICK_MAX.tolist()}, got {self.command}")
        if (self.distance_m > 0) == (self.turn_rad != 0) or self.distance_m < 0:
            raise ValueError("MoveIntent needs exactly one goal: distance_m > 0 or turn_rad != 0")
        if self.distance_m > 0 and not np.any(c[:2]):
            raise ValueError("MoveIntent with distance_m needs a nonzero vx or vy")
        if self.turn_rad and np.sign(c[2]) != np.sign(self.turn_rad):
            raise ValueError("MoveIntent with turn_rad needs a yaw rate of the same sign")


@dataclass(frozen=True)
class BallIntent:
    """Steer the dog to the ball: turn towards it, walk at `speed_mps` (at speed 1), stop `stop_m` (base
    centre) from it as the person judges it; then walk it on, turn it or back it up until it is there."""

    speed_mps: float = 0.7  # brisker than the walk: the last, slow steps on to the ball take ~1 s more
    yaw_gain_per_s: float = 2.0  # yaw rate per rad of seen bearing
    stop_m: float = BALL_AIM_M

    def __post_init__(self):
        if not 0 < self.speed_mps <= JOYSTICK_MAX[0] or self.yaw_gain_per_s <= 0 or self.stop_m <= 0:
            raise ValueError(f"BallIntent needs 0 < speed_mps <= {JOYSTICK_MAX[0]}, yaw_gain_per_s > 0 and "
                             f"stop_m > 0, got {self}")


Intent = PostureIntent | MoveIntent | BallIntent

SHAKE_AFTER_SIT_S = 1.5  # a person has the dog sit, then lifts its paw (as the scripted teacher)
WALK_SPEED_MPS = 0.6  # the scripted walk's command: the trot slips to 0.3-0.5 m/s
WALK_DISTANCE_M = 1.35  # past the check's 1 m with margin for the person's judgement
TURN_RATE_RADPS = 1.0
TURN_AIM_RAD = 1.65  # the check wants 90-150°: aim early, the reaction delay carries the turn on
_INTENTS: dict[str, Intent] = {
    "stand": PostureIntent(("stand",)),
    "sit": PostureIntent(("sit",)),
    "lie_down": PostureIntent(("lie_down",)),
    "shake_paw": PostureIntent(("sit", "shake_paw"), (0.0, SHAKE_AFTER_SIT_S)),
    "walk_forward": MoveIntent((WALK_SPEED_MPS, 0.0, 0.0), distance_m=WALK_DISTANCE_M),
    "turn_left": MoveIntent((0.0, 0.0, TURN_RATE_RADPS), turn_rad=TURN_AIM_RAD),
    "turn_right": MoveIntent((0.0, 0.0, -TURN_RATE_RADPS), turn_rad=-TURN_AIM_RAD),
    "come_to_ball": BallIntent(),
    "sit_on_go": PostureIntent(("sit",)),  # the person sits the dog after the go (PersonView.cue_end_s)
}
BUILTIN_INTENTS = dict(_INTENTS)


def register_intent(skill: str, intent: Intent, *, overwrite: bool = False) -> None:
    """Say how a person demonstrates `skill` (a user skill: a target posture or a gait intent)."""
    if not isinstance(intent, PostureIntent | MoveIntent | BallIntent):
        raise TypeError(f"intent must be a PostureIntent, MoveIntent or BallIntent, "
                        f"got {type(intent).__name__}")
    if skill in _INTENTS and not overwrite:
        raise ValueError(f"skill {skill!r} already has an intent (pass overwrite=True to replace it)")
    _INTENTS[skill] = intent


def unregister_intent(skill: str) -> None:
    _INTENTS.pop(skill, None)


def intent_for(skill: str) -> Intent:
    """How a person demonstrates `skill`; KeyError (one line) for a skill without one."""
    try:
        return _INTENTS[skill]
    except KeyError:
        raise KeyError(f"skill {skill!r} has no human intent: register one with sim.humans.register_intent("
                       f"{skill!r}, PostureIntent(...) or MoveIntent(...))") from None


# --- what the person sees ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class PersonView:
    """What a person watching sees at `time_s`, `reaction_delay_s` late and with their perception error.

    Args:
        time_s: episode time now (s).
        seen_at_s: the time the seen picture is from (time_s - the person's reaction delay, s).
        cue_end_s: when the person heard the cue end, or a delayed command's go signal (None: not yet
            heard, in the seen picture).
        dog_xy_m: (2,) the dog on the floor, world frame (with the person's error).
        dog_heading_rad: which way it faces (world frame, continuous through ±pi; with the error).
        ball_xy_m: (2,) the ball (with the error).
    """

    time_s: float
    seen_at_s: float
    cue_end_s: float | None
    dog_xy_m: np.ndarray
    dog_heading_rad: float
    ball_xy_m: np.ndarray


class PersonEyes:
    """Turns the simulator into what one person sees (`PersonView`): positions and heading with a
    per-demonstration judgement error, delayed by the person's reaction delay. The only code of this
    module that reads the simulator."""

    def __init__(self, person: PersonConfig, rng: np.random.Generator, control_dt_s: float):
        self.delay_ticks = int(round(person.reaction_delay_s / control_dt_s))
        self.dog_error = rng.normal(0.0, person.position_error_m, 2)  # (2,)
        self.ball_error = rng.normal(0.0, person.position_error_m, 2)  # (2,)
        self.heading_error = float(rng.normal(0.0, person.heading_error_rad))
        self.seen: deque[PersonView] = deque(maxlen=self.delay_ticks + 1)

    def look(self, env) -> PersonView:
        """Look at `env` (a YanDog env) now: returns the picture of `reaction_delay_s` ago (the first
        picture until then). Call once per control tick."""
        u = env.unwrapped
        s = u.state
        cue_end = None
        if u.cue_time_s is not None or not u.play_cue:  # no cue played: the skill is asked for at once
            end = max(0.0, u.go_time_s - _cue_reaction_s())
            cue_end = end if u.time_s >= end - 1e-9 else None
        ball = u.scene.ball_position()[:2] + self.ball_error  # (2,)
        # world-frame heading, continuous through ±pi (the unwrapped yaw counts from the episode's start)
        heading = u.start_state.base_rpy_rad[2] + s.yaw_unwrapped_rad - u.start_state.yaw_unwrapped_rad
        now = PersonView(u.time_s, u.time_s, cue_end, s.base_pos_m[:2] + self.dog_error,
                         float(heading) + self.heading_error, ball)
        self.seen.append(now)
        old = self.seen[0]
        return PersonView(now.time_s, old.time_s, old.cue_end_s, old.dog_xy_m, old.dog_heading_rad,
                          old.ball_xy_m)


def _cue_reaction_s() -> float:
    from sim.env import TEACHER_REACTION_S  # the env's go time is the cue's end plus this

    return TEACHER_REACTION_S


# --- what the person does ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class PersonInput:
    """The person's inputs on one tick: the stick (3,) (vx m/s, vy m/s, yaw rate rad/s) and the pose
    editor's sliders (12,) (joint offsets from the standing targets, rad)."""

    stick: np.ndarray
    sliders: np.ndarray

    def hybrid_action(self) -> np.ndarray:
        """The (15,) hybrid action these inputs send (float32)."""
        return np.concatenate([self.stick, self.sliders]).astype(np.float32)  # (15,)


@dataclass(frozen=True)
class DemoPlan:
    """How this demonstration will go: its speed factor, the person's aim (a factor on the intent's
    goal), whether it is imperfect, and if so the fraction of the goal where the person gives up."""

    speed: float
    aim_scale: float
    imperfect: bool
    goal_scale: float = 1.0

    @classmethod
    def draw(cls, person: PersonConfig, rng: np.random.Generator) -> DemoPlan:
        speed = float(rng.uniform(*person.speed_range))
        aim = float(rng.uniform(*AIM_SCALE_RANGE))
        imperfect = bool(rng.random() < person.imperfect_prob)
        goal = float(rng.uniform(*IMPERFECT_GOAL_SCALE_RANGE)) if imperfect else 1.0
        return cls(speed, aim, imperfect, goal)


@dataclass
class _Posture:
    """The pose editor's state: sliders moving from `start` towards `target` by the blend `b`."""

    start: np.ndarray
    target: np.ndarray
    error: np.ndarray
    began_s: float
    peak_s: float | None = None
    b: float = 0.0


class HumanDemonstrator:
    """A simulated person demonstrating skills through a joystick and the pose editor (module docstring).

    Args:
        person: how this person demonstrates (`PersonConfig`, e.g. `person_for_seed(seed)`).
        seed: the person's seed; each demonstration's randomness is drawn from (seed, the episode's seed).

    Use: `begin(env, skill, episode_seed)` after the env's reset, then `action(env)` once per tick
    (what the robot executes and what the demonstration is labelled with). `decide(view)` is the
    person's mind: it sees a `PersonView` and gives a `PersonInput`, nothing else.
    """

    def __init__(self, person: PersonConfig | None = None, seed: int = 0):
        self.person = person or PersonConfig()
        self.seed = int(seed)
        self.plan: DemoPlan | None = None
        self.intent: Intent | None = None

    def describe(self) -> dict:
        """What a recording keeps of this person and this demonstration."""
        return {"demonstrator": "human", "person_seed": self.seed, "person": self.person.to_dict(),
                "plan": None if self.plan is None else self.plan.__dict__.copy()}

    def begin(self, env, skill: str, episode_seed: int, start_posture: str = "stand") -> DemoPlan:
        """Start a demonstration of `skill` on `env` (just reset with `episode_seed`)."""
        self.intent = intent_for(skill)
        rng = np.random.default_rng([PERSON_SEED_TAG, self.seed, int(episode_seed)])
        self.plan = DemoPlan.draw(self.person, rng)
        self._rng = rng
        self._dt = env.unwrapped.control_dt_s
        self.eyes = PersonEyes(self.person, rng, self._dt)
        self._stick = np.zeros(GAIT_DIMS)
        self._tremor = np.zeros(GAIT_DIMS)
        held = PRESETS["lie_down" if start_posture == "lie" else "stand"]
        self._sliders = held.copy()  # the start posture, as the person set it before the demonstration
        self._posture: _Posture | None = None
        self._step = 0  # index of the PostureIntent target reached for next
        self._start: PersonView | None = None  # the first picture after the cue: where the dog set off
        self._released = False
        self._turning_back = False
        self._let_go_s = 0.0  # come_to_ball: when the person last let go of the stick (s)
        self._ball_turning = False  # ... turning the dog in place to face the ball
        self._backing_up = False  # ... backing it off the ball
        self._touch_m = 0.0  # ... the gap (seen) at which the dog bumped the ball; 0: it has not
        return self.plan

    def action(self, env) -> np.ndarray:
        """The (15,) hybrid action the person sends now."""
        if self.plan is None:
            raise RuntimeError("call begin() after the env's reset, before action()")
        return self.decide(self.eyes.look(env)).hybrid_action()

    # --- the person's mind: PersonView -> PersonInput --------------------------------------------------
    def decide(self, view: PersonView) -> PersonInput:
        """The person's inputs for what they see (only `view`, and their own inputs so far)."""
        started = view.cue_end_s is not None  # seen reaction_delay_s late: acting one delay after the cue
        want = np.zeros(GAIT_DIMS)
        if started and self._start is None:
            self._start = view
        if started:
            if isinstance(self.intent, PostureIntent):
                self._pose(view)
            elif isinstance(self.intent, MoveIntent):
                want = self._move(view)
            else:
                want = self._ball(view)
        return PersonInput(self._move_stick(want), self._sliders.copy())

    def _move_stick(self, want: np.ndarray) -> np.ndarray:
        """The stick moves towards `want` at the thumb's rate, with tremor while it is deflected."""
        want = np.clip(want, -JOYSTICK_MAX, JOYSTICK_MAX)
        step = STICK_RATE_PER_S * self._dt * JOYSTICK_MAX
        self._stick = self._stick + np.clip(want - self._stick, -step, step)  # (3,)
        a = STICK_JITTER_CORRELATION
        shake = self._rng.normal(0.0, self.person.stick_jitter, GAIT_DIMS)  # (3,)
        self._tremor = a * self._tremor + np.sqrt(1 - a * a) * shake
        if not np.any(want):  # a released stick springs back to the centre: no tremor
            self._tremor[:] = 0.0
            return self._stick.copy()
        return np.clip(self._stick + self._tremor * JOYSTICK_MAX, -JOYSTICK_MAX, JOYSTICK_MAX)

    def _pose(self, view: PersonView) -> None:
        """Drag the sliders to the intent's next target: past it by the overshoot, held until the person
        notices (one reaction delay), then corrected back at the correction gain."""
        intent, plan, person = self.intent, self.plan, self.person
        since = view.time_s - (view.cue_end_s + person.reaction_delay_s)  # since the person started
        if self._step < len(intent.targets) and since >= intent.after_s[self._step] / plan.speed:
            target = intent.offsets(intent.targets[self._step])
            error = self._rng.normal(0.0, person.slider_jitter_rad, NUM_MOTORS)  # (12,)
            self._posture = _Posture(self._sliders.copy(), target, error, view.time_s)
            self._step += 1
        p = self._posture
        if p is None:
            return
        goal = plan.goal_scale
        peak = goal * (1.0 + person.overshoot)
        if p.peak_s is None:
            pace = plan.speed / POSTURE_MOVE_S * (1.0 + person.overshoot)  # blend per second
            p.b = min(peak, (view.time_s - p.began_s) * pace)
            if p.b >= peak - 1e-9:
                p.peak_s = view.time_s
        elif view.time_s - p.peak_s >= person.reaction_delay_s:  # seen the overshoot: take it back
            p.b = goal + (p.b - goal) * np.exp(-person.correction_gain_per_s * self._dt)
        self._sliders = p.start + (p.target - p.start) * p.b + p.error * min(p.b, 1.0)  # (12,)

    def _move(self, view: PersonView) -> np.ndarray:
        """The stick for a MoveIntent: drive until the goal looks reached, holding the start heading."""
        intent, plan, start = self.intent, self.plan, self._start
        command = np.asarray(intent.command, np.float64) * plan.speed  # (3,)
        aim = plan.aim_scale * plan.goal_scale
        turned = view.dog_heading_rad - start.dog_heading_rad
        if intent.turn_rad:
            goal = intent.turn_rad * aim
            sign = np.sign(intent.turn_rad)
            if sign * (turned - goal) > TURN_BACK_BEYOND_RAD:  # far past the aim: turn back a little
                self._turning_back = True
            if self._turning_back:
                if sign * (turned - goal) <= 0.0:
                    self._turning_back = False
                    return np.zeros(GAIT_DIMS)
                return np.array([0.0, 0.0, -TURN_BACK_RATE * command[2]])
            if self._released or sign * turned >= sign * goal:
                self._released = True
                return np.zeros(GAIT_DIMS)
            return command
        if self._released:
            return np.zeros(GAIT_DIMS)
        h = start.dog_heading_rad
        along = np.array([[np.cos(h), -np.sin(h)], [np.sin(h), np.cos(h)]]) @ command[:2]  # (2,) world
        moved = float((view.dog_xy_m - start.dog_xy_m) @ (along / np.linalg.norm(along)))
        if moved >= intent.distance_m * aim:
            self._released = True
            return np.zeros(GAIT_DIMS)
        heading_error = -turned
        steer = self.person.correction_gain_per_s * heading_error
        if abs(heading_error) < HEADING_DEADBAND_RAD:
            steer = 0.0
        return command + np.array([0.0, 0.0, steer])

    def _ball(self, view: PersonView) -> np.ndarray:
        """The stick for a BallIntent: face the ball, walk to it, ease off near it, stop at the aim (or where
        it bumped the ball); once the dog has settled, walk it on if it stopped short, turn it to the ball,
        or back it off the ball."""
        intent, plan = self.intent, self.plan
        d = view.ball_xy_m - view.dog_xy_m  # (2,)
        dist = float(np.linalg.norm(d))
        # imperfect: the person stops part of the way from where the dog set off, and leaves it there
        set_off = float(np.linalg.norm(view.ball_xy_m - self._start.dog_xy_m))
        stop = max(intent.stop_m * plan.aim_scale, (1.0 - plan.goal_scale) * set_off)
        if not self._touch_m and np.linalg.norm(view.ball_xy_m - self._start.ball_xy_m) > BALL_PUSHED_M:
            self._touch_m = dist  # the ball rolled: the dog is at it at this (seen) gap
        stop = max(stop, self._touch_m)
        bearing = float(np.angle(np.exp(1j * (np.arctan2(d[1], d[0]) - view.dog_heading_rad))))
        if self._released:
            settled = view.seen_at_s >= self._let_go_s + BALL_SETTLE_S  # a picture from after the stop
            if plan.imperfect or not settled:
                return np.zeros(GAIT_DIMS)
            if dist > stop + BALL_REAPPROACH_M or dist < BALL_TOO_CLOSE_M or abs(bearing) > BALL_FACE_RAD:
                self._released = False  # not at the ball (yet): take the stick again
            else:
                return np.zeros(GAIT_DIMS)
        speed = intent.speed_mps * plan.speed
        slowest = min(speed, BALL_MIN_SPEED_MPS)
        in_front = abs(bearing) < np.pi / 2  # backing up with the ball behind would walk onto it
        if in_front and (dist < BALL_TOO_CLOSE_M or (self._backing_up and dist < stop)):
            self._backing_up = True
            return np.array([-slowest, 0.0, 0.0])
        self._backing_up = False
        if dist > stop:
            self._ball_turning = False
            if dist - stop < BALL_SLOW_M:
                speed = max(slowest, speed * (dist - stop) / BALL_SLOW_M)
            vx = 0.0 if abs(bearing) > BALL_TURN_FIRST_RAD else speed
            return np.array([vx, 0.0, intent.yaw_gain_per_s * bearing])
        if abs(bearing) > (BALL_FACED_RAD if self._ball_turning else BALL_FACE_RAD):
            self._ball_turning = True  # at the ball but not facing it: turn in place
            yaw = max(BALL_MIN_TURN_RADPS, intent.yaw_gain_per_s * abs(bearing))
            return np.array([0.0, 0.0, np.sign(bearing) * yaw])
        self._ball_turning = False
        self._released = True
        self._let_go_s = view.time_s
        return np.zeros(GAIT_DIMS)


__all__ = [
    "BUILTIN_INTENTS", "BallIntent", "DemoPlan", "HumanDemonstrator", "Intent", "MoveIntent", "PRESETS",
    "PersonConfig", "PersonEyes", "PersonInput", "PersonView", "PostureIntent", "intent_for",
    "person_for_seed", "posture_presets", "register_intent", "unregister_intent",
]

