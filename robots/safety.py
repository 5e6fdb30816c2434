"""The Unitree bridge's last line of safety, as plain logic: no ROS, no DDS, no clock of its own.

Every joint command the bridge sends to a real robot goes through `JointSafety`:

    safety = JointSafety(SafetyLimits.from_profile(robots.get_profile("go2")), SafetyConfig(rate_hz=500))
    safety.update_state(q, dq, now_s)       # every LowState (project motor order, rad, rad/s)
    safety.command(q_target, now_s)         # every /joint_commands message (12 absolute targets, rad)
    out = safety.tick(now_s)                # once per bridge tick: a MotorCommand to send, or None

Modes (`SafetyMode`) and what `tick` returns in each:
- waiting: not started; the state is plausible but no fresh command has come yet, or the state has not
  been plausible for `start_settle_s` without a break. None: send nothing.
- refused: not started because the robot's state is implausible (none yet, stale, NaN/inf, a joint
  outside its limits by more than `limit_tolerance_rad`, a joint faster than plausible). None.
- ramp: started. The targets move from the pose measured at start to the newest command over
  `ramp_s` (smoothstep), then `active`.
- active: the newest command, through the caps below.
- damping: no fresh command within `watchdog_s`, or the state went bad: kp = 0, kd = `damping_kd`
  (the motors resist motion and hold nothing). A command that arrives after damping began, with the
  state plausible for `start_settle_s`, starts a new ramp from the current pose.
- estop: latched by `set_estop(True)`: damping until `set_estop(False)`, which leaves it in damping
  (a fresh command then ramps back).

Caps applied to every position target, in order: soft joint limits (the profile's limits shrunk by
`soft_limit_margin_rad`), a velocity cap (each joint's target moves at most velocity_limit *
`velocity_fraction` / rate_hz per tick), a torque cap (the target is pulled towards the measured pose so
that |kp (q_target - q) - kd dq| <= torque_limit * `torque_fraction`), then the soft limits again: a
target never leaves them, even where that costs the torque cap on a joint already beyond them.

Units: rad, rad/s, N·m, s. Arrays are (12,) float64 in the project's motor order (FR, FL, RR, RL x
hip, thigh, calf). Times are the caller's monotonic clock in seconds.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np

NUM_JOINTS = 12


class SafetyMode(enum.StrEnum):
    WAITING = "waiting"
    REFUSED = "refused"
    RAMP = "ramp"
    ACTIVE = "active"
    DAMPING = "damping"
    ESTOP = "estop"


STARTED_MODES = (SafetyMode.RAMP, SafetyMode.ACTIVE)


def _joint_array(name: str, values, positive: bool = False) -> np.ndarray:
    a = np.asarray(values, np.float64).copy()  # (12,)
    if a.shape != (NUM_JOINTS,):
        raise ValueError(f"{name} must have {NUM_JOINTS} values, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} contains NaN or inf")
    if positive and (a <= 0).any():
        raise ValueError(f"{name} must be > 0, got {a.tolist()}")
    a.setflags(write=False)
    return a


@dataclass(frozen=True)
class SafetyLimits:
    """A robot's joint facts the safety core needs (12 each, project motor order)."""

    joint_names: tuple[str, ...]
    lower_rad: np.ndarray
    upper_rad: np.ndarray
    kp_nm_per_rad: np.ndarray
    kd_nms_per_rad: np.ndarray
    torque_limit_nm: np.ndarray
    velocity_limit_radps: np.ndarray

    def __post_init__(self):
        if len(self.joint_names) != NUM_JOINTS:
            raise ValueError(f"joint_names must have {NUM_JOINTS} names, got {len(self.joint_names)}")
        set_ = object.__setattr__  # frozen: store the validated, read-only copies
        set_(self, "joint_names", tuple(self.joint_names))
        set_(self, "lower_rad", _joint_array("lower_rad", self.lower_rad))
        set_(self, "upper_rad", _joint_array("upper_rad", self.upper_rad))
        set_(self, "kp_nm_per_rad", _joint_array("kp_nm_per_rad", self.kp_nm_per_rad, positive=True))
        set_(self, "kd_nms_per_rad", _joint_array("kd_nms_per_rad", self.kd_nms_per_rad))
        set_(self, "torque_limit_nm", _joint_array("torque_limit_nm", self.torque_limit_nm, positive=True))
        set_(self, "velocity_limit_radps",
             _joint_array("velocity_limit_radps", self.velocity_limit_radps, positive=True))
        if (self.lower_rad >= self.upper_rad).any():
            raise ValueError("every lower_rad must be below its upper_rad")
        if (self.kd_nms_per_rad < 0).any():
            raise ValueError("kd_nms_per_rad must be >= 0")

    @classmethod
    def from_profile(cls, profile) -> SafetyLimits:
        """The limits of a `robots` profile (RobotProfile)."""
        return cls(
            joint_names=tuple(profile.joint_names),
            lower_rad=profile.joint_lower_rad,
            upper_rad=profile.joint_upper_rad,
            kp_nm_per_rad=profile.kp_nm_per_rad,
            kd_nms_per_rad=profile.kd_nms_per_rad,
            torque_limit_nm=np.broadcast_to(profile.torque_limit_nm, (NUM_JOINTS,)),
            velocity_limit_radps=np.broadcast_to(profile.velocity_limit_radps, (NUM_JOINTS,)),
        )


@dataclass(frozen=True)
class SafetyConfig:
    """How careful the bridge is.

    Args:
        rate_hz: the bridge's tick rate (Hz): the velocity cap is per tick.
        watchdog_s: a command older than this drops the robot to damping.
        state_timeout_s: a robot state older than this is stale (refuses start, or damping).
        ramp_s: time from the measured pose to the commanded one on start (and after damping).
        start_settle_s: the state must have been plausible and fresh this long, without a break, before
            a start (one good sample from a robot that then hangs is not enough).
        soft_limit_margin_rad: the soft limits lie this far inside the profile's joint limits.
        limit_tolerance_rad: a measured joint this far beyond its limit is implausible (encoders and
            URDF limits disagree by a few hundredths on real robots; more is a fault).
        velocity_fraction: the velocity cap as a fraction of the profile's velocity limits.
        torque_fraction: the torque cap as a fraction of the profile's torque limits.
        plausible_speed_factor: a measured joint speed above this times the velocity limit is implausible.
        damping_kd: kd of damping mode (N·m·s/rad), kp = 0.
    """

    rate_hz: float = 500.0
    watchdog_s: float = 0.1
    state_timeout_s: float = 0.1
    ramp_s: float = 2.0
    start_settle_s: float = 0.5
    soft_limit_margin_rad: float = 0.05
    limit_tolerance_rad: float = 0.1
    velocity_fraction: float = 0.5
    torque_fraction: float = 1.0
    plausible_speed_factor: float = 2.0
    damping_kd: float = 2.0

    def __post_init__(self):
        positive = ("rate_hz", "watchdog_s", "state_timeout_s", "velocity_fraction", "torque_fraction",
                    "plausible_speed_factor")
        for name in positive:
            value = getattr(self, name)
            if not np.isfinite(value) or value <= 0:
                raise ValueError(f"{name} must be finite and > 0, got {value}")
        non_negative = ("ramp_s", "start_settle_s", "soft_limit_margin_rad", "limit_tolerance_rad",
                        "damping_kd")
        for name in non_negative:
            value = getattr(self, name)
            if not np.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be finite and >= 0, got {value}")
        if self.velocity_fraction > 1 or self.torque_fraction > 1:
            raise ValueError("velocity_fraction and torque_fraction must be <= 1 (the robot's own limits)")


@dataclass
class MotorCommand:
    """What to send to the 12 motors (project order): tau = tau_ff + kp (q - q_m) + kd (dq - dq_m)."""

    q: np.ndarray  # (12,) rad
    dq: np.ndarray  # (12,) rad/s
    kp: np.ndarray  # (12,) N·m/rad
    kd: np.ndarray  # (12,) N·m·s/rad
    tau: np.ndarray  # (12,) N·m feed-forward
    damping: bool


@dataclass
class SafetyCounters:
    """Totals since start, for /diagnostics."""

    ticks: int = 0
    commands: int = 0
    rejected_commands: int = 0
    position_clamped: int = 0  # ticks on which some joint target was clamped to the soft limits
    velocity_capped: int = 0
    torque_capped: int = 0
    watchdog_trips: int = 0
    state_faults: int = 0  # times a bad state dropped a started robot to damping
    starts: int = 0  # ramps begun
    estops: int = 0


@dataclass
class TickFlags:
    """Which joints each cap changed on the last tick (12 bools each)."""

    clamped: np.ndarray = field(default_factory=lambda: np.zeros(NUM_JOINTS, bool))
    velocity_capped: np.ndarray = field(default_factory=lambda: np.zeros(NUM_JOINTS, bool))
    torque_capped: np.ndarray = field(default_factory=lambda: np.zeros(NUM_JOINTS, bool))


def smoothstep(x: float) -> float:
    """0 -> 0, 1 -> 1, zero slope at both ends."""
    x = min(max(x, 0.0), 1.0)
    return x * x * (3.0 - 2.0 * x)


class JointSafety:
    """The safety state machine (see the module docstring)."""

    def __init__(self, limits: SafetyLimits, config: SafetyConfig | None = None):
        self.limits = lim = limits
        self.config = c = config or SafetyConfig()
        self.soft_lower = lim.lower_rad + c.soft_limit_margin_rad  # (12,)
        self.soft_upper = lim.upper_rad - c.soft_limit_margin_rad  # (12,)
        if (self.soft_lower > self.soft_upper).any():
            raise ValueError(f"soft_limit_margin_rad {c.soft_limit_margin_rad} leaves no range on some joint")
        self.max_step_rad = lim.velocity_limit_radps * c.velocity_fraction / c.rate_hz  # (12,) per tick
        self.torque_cap_nm = lim.torque_limit_nm * c.torque_fraction  # (12,)
        self.mode = SafetyMode.WAITING
        self.reason = "no robot state yet"
        self.counters = SafetyCounters()
        self.flags = TickFlags()
        self.estop_engaged = False
        self._q: np.ndarray | None = None  # (12,) newest measured state
        self._dq: np.ndarray | None = None
        self._state_time: float | None = None
        self._cmd: np.ndarray | None = None  # (12,) newest accepted command (not yet capped)
        self._cmd_time: float | None = None
        self._damping_since = 0.0  # only commands newer than this leave damping
        self._plausible_since: float | None = None  # start of the current unbroken run of good states
        self._ramp_start = 0.0
        self._ramp_from: np.ndarray | None = None  # (12,)
        self._last_target: np.ndarray | None = None  # (12,) last position target sent

    # --- inputs -------------------------------------------------------------------------------------------
    def update_state(self, q, dq, now_s: float) -> None:
        """The robot's measured joint positions and velocities (stored as they are: checked at tick)."""
        self._q = np.asarray(q, np.float64).reshape(-1).copy()
        self._dq = np.asarray(dq, np.float64).reshape(-1).copy()
        self._state_time = float(now_s)

    def command(self, q_target, now_s: float) -> bool:
        """A new set of 12 absolute joint targets (rad). False (and ignored) if malformed."""
        q = np.asarray(q_target, np.float64).reshape(-1)
        if q.shape != (NUM_JOINTS,) or not np.isfinite(q).all():
            self.counters.rejected_commands += 1
            return False
        self._cmd, self._cmd_time = q.copy(), float(now_s)
        self.counters.commands += 1
        return True

    def set_estop(self, engaged: bool, now_s: float) -> None:
        """Engage (latched damping) or release the e-stop. Release leaves the robot in damping until a
        command newer than the release arrives."""
        if engaged and not self.estop_engaged:
            self.counters.estops += 1
            self.mode, self.reason = SafetyMode.ESTOP, "e-stop engaged"
        elif not engaged and self.estop_engaged:
            self._enter_damping("e-stop released; waiting for a fresh command", now_s)
        self.estop_engaged = bool(engaged)

    # --- checks -------------------------------------------------------------------------------------------
    def state_fault(self, now_s: float) -> str | None:
        """Why the newest state cannot be trusted, or None when it is plausible and fresh."""
        if self._q is None or self._state_time is None:
            return "no robot state yet"
        age = now_s - self._state_time
        if age > self.config.state_timeout_s:
            return f"robot state stale ({age * 1000:.0f} ms old)"
        if self._q.shape != (NUM_JOINTS,) or self._dq.shape != (NUM_JOINTS,):
            return f"robot state has {self._q.size} positions and {self._dq.size} velocities, not 12"
        names = self.limits.joint_names
        bad = ~np.isfinite(self._q) | ~np.isfinite(self._dq)
        if bad.any():
            return f"robot state is NaN/inf on {', '.join(names[i] for i in np.flatnonzero(bad))}"
        tol = self.config.limit_tolerance_rad
        out = (self._q < self.limits.lower_rad - tol) | (self._q > self.limits.upper_rad + tol)
        if out.any():
            i = int(np.flatnonzero(out)[0])
            return (f"joint {names[i]} at {self._q[i]:.3f} rad is outside its limits"
                    f" [{self.limits.lower_rad[i]:.3f}, {self.limits.upper_rad[i]:.3f}]")
        fast = np.abs(self._dq) > self.limits.velocity_limit_radps * self.config.plausible_speed_factor
        if fast.any():
            i = int(np.flatnonzero(fast)[0])
            return f"joint {names[i]} speed {self._dq[i]:.1f} rad/s is implausible"
        return None

    def command_fresh(self, now_s: float) -> bool:
        return self._cmd_time is not None and now_s - self._cmd_time <= self.config.watchdog_s

    def command_age_s(self, now_s: float) -> float | None:
        return None if self._cmd_time is None else now_s - self._cmd_time

    def state_age_s(self, now_s: float) -> float | None:
        return None if self._state_time is None else now_s - self._state_time

    # --- one tick -----------------------------------------------------------------------------------------
    def tick(self, now_s: float) -> MotorCommand | None:
        """Advance the state machine and return the motor command to send now (None: send nothing)."""
        self.counters.ticks += 1
        self.flags = TickFlags()
        fault = self.state_fault(now_s)
        if fault is not None:
            self._plausible_since = None
        elif self._plausible_since is None:
            self._plausible_since = now_s
        if self.estop_engaged:
            return self._damping_command()
        if self.mode in (SafetyMode.WAITING, SafetyMode.REFUSED):
            if fault is not None:
                self.mode, self.reason = SafetyMode.REFUSED, f"start refused: {fault}"
                return None
            settled_s = now_s - self._plausible_since
            if settled_s < self.config.start_settle_s:
                self.mode = SafetyMode.WAITING
                self.reason = f"robot state plausible for {settled_s * 1000:.0f} ms; waiting before start"
                return None
            if not self.command_fresh(now_s):
                self.mode, self.reason = SafetyMode.WAITING, "waiting for a fresh joint command"
                return None
            self._start_ramp(now_s)
        elif self.mode in STARTED_MODES:
            if fault is not None:
                self.counters.state_faults += 1
                self._enter_damping(f"damping: {fault}", now_s)
            elif not self.command_fresh(now_s):
                self.counters.watchdog_trips += 1
                age = self.command_age_s(now_s)
                self._enter_damping(f"watchdog: no joint command for {age * 1000:.0f} ms", now_s)
        elif self.mode == SafetyMode.DAMPING:
            settled = fault is None and now_s - self._plausible_since >= self.config.start_settle_s
            if settled and self.command_fresh(now_s) and self._cmd_time > self._damping_since:
                self._start_ramp(now_s)
            elif fault is not None:
                self.reason = f"damping: {fault}"
        if self.mode == SafetyMode.DAMPING:
            return self._damping_command()
        return self._position_command(now_s)

    def _enter_damping(self, reason: str, now_s: float) -> None:
        self.mode, self.reason = SafetyMode.DAMPING, reason
        self._damping_since = now_s
        self._last_target = None

    def _start_ramp(self, now_s: float) -> None:
        self.counters.starts += 1
        self.mode, self.reason = SafetyMode.RAMP, f"ramping to the commanded pose over {self.config.ramp_s} s"
        self._ramp_start = now_s
        self._ramp_from = np.clip(self._q, self.soft_lower, self.soft_upper)
        self._last_target = self._q.copy()

    def _damping_command(self) -> MotorCommand:
        zeros = np.zeros(NUM_JOINTS)
        q = self._q if self._q is not None and self._q.shape == (NUM_JOINTS,) else zeros
        return MotorCommand(
            q=np.nan_to_num(q, nan=0.0, posinf=0.0, neginf=0.0).copy(),
            dq=zeros.copy(),
            kp=zeros.copy(),
            kd=np.full(NUM_JOINTS, self.config.damping_kd),
            tau=zeros.copy(),
            damping=True,
        )

    def _position_command(self, now_s: float) -> MotorCommand:
        lim = self.limits
        if self.mode == SafetyMode.RAMP:
            alpha = 1.0 if self.config.ramp_s == 0 else (now_s - self._ramp_start) / self.config.ramp_s
            if alpha >= 1.0:
                self.mode, self.reason = SafetyMode.ACTIVE, "following joint commands"
            target = self._ramp_from + smoothstep(alpha) * (self._cmd - self._ramp_from)  # (12,)
        else:
            target = self._cmd
        # 1. soft joint limits
        limited = np.clip(target, self.soft_lower, self.soft_upper)
        self.flags.clamped = limited != target
        # 2. velocity: at most max_step_rad from the last target sent
        prev = self._last_target
        stepped = np.clip(limited, prev - self.max_step_rad, prev + self.max_step_rad)
        self.flags.velocity_capped = stepped != limited
        # 3. torque: |kp (q_t - q) - kd dq| <= cap, by moving q_t towards where the torque is the cap
        q, dq = self._q, self._dq
        tau = lim.kp_nm_per_rad * (stepped - q) - lim.kd_nms_per_rad * dq  # (12,)
        tau_capped = np.clip(tau, -self.torque_cap_nm, self.torque_cap_nm)
        self.flags.torque_capped = tau_capped != tau
        torqued = np.where(
            self.flags.torque_capped, q + (tau_capped + lim.kd_nms_per_rad * dq) / lim.kp_nm_per_rad, stepped
        )
        # 4. the soft limits win over the torque cap
        final = np.clip(torqued, self.soft_lower, self.soft_upper)
        self._last_target = final
        c = self.counters
        c.position_clamped += bool(self.flags.clamped.any())
        c.velocity_capped += bool(self.flags.velocity_capped.any())
        c.torque_capped += bool(self.flags.torque_capped.any())
        return MotorCommand(
            q=final.copy(),
            dq=np.zeros(NUM_JOINTS),
            kp=lim.kp_nm_per_rad.copy(),
            kd=lim.kd_nms_per_rad.copy(),
            tau=np.zeros(NUM_JOINTS),
            damping=False,
        )

    # --- report -------------------------------------------------------------------------------------------
    def status(self, now_s: float) -> dict:
        """Mode, reason, ages and counters (JSON-ready)."""
        cmd_age, state_age = self.command_age_s(now_s), self.state_age_s(now_s)
        return {
            "mode": str(self.mode),
            "reason": self.reason,
            "estop": self.estop_engaged,
            "command_age_ms": None if cmd_age is None else round(cmd_age * 1000, 1),
            "state_age_ms": None if state_age is None else round(state_age * 1000, 1),
            **{k: int(v) for k, v in vars(self.counters).items()},
        }
