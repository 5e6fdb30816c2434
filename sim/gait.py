"""Analytic leg kinematics and a phase-based trot controller for the A1.

Leg model (per leg, in the hip frame: x forward, y left, z up): an abduction joint about x, then an
upper link and a lower link (both 0.2 m) rotating about the leg's y axis, with the foot plane offset
sideways from the hip by `HIP_OFFSET_M` (negative for right legs).

Forward kinematics for joint angles (a, h, k) = (hip, upper, lower):
    in the leg plane   x  = -L_up·sin(h) - L_low·sin(h + k)
                       z' = -L_up·cos(h) - L_low·cos(h + k),   y' = offset
    abduction about x  y  = y'·cos(a) - z'·sin(a),   z = y'·sin(a) + z'·cos(a)
Inverse kinematics inverts these in closed form (knee bent backwards: k < 0).

The trot moves diagonal pairs (FR+RL, FL+RR) in anti-phase; each foot spends half the period in
stance, sliding backwards under the body at the commanded velocity (including the yaw-rate term
ω × r at its hip), and half in swing, returning forwards along a raised sine arc.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.robot import HIP_OFFSETS_M, STAND_POSE_RAD, clamp_to_joint_limits

UPPER_LINK_M = 0.2
LOWER_LINK_M = 0.2
HIP_OFFSET_M = 0.08505
# Side of each leg's foot plane: right legs (FR, RR) negative y, left legs positive.
LEG_SIDE_SIGN = np.array([-1.0, 1.0, -1.0, 1.0])


def leg_fk(angles_rad: np.ndarray, side_sign: float) -> np.ndarray:
    """Foot position (3,) in the hip frame from (hip, upper, lower) angles."""
    a, h, k = angles_rad
    offset = side_sign * HIP_OFFSET_M
    x = -UPPER_LINK_M * np.sin(h) - LOWER_LINK_M * np.sin(h + k)
    zp = -UPPER_LINK_M * np.cos(h) - LOWER_LINK_M * np.cos(h + k)
    return np.array([x, offset * np.cos(a) - zp * np.sin(a), offset * np.sin(a) + zp * np.cos(a)])


def leg_ik(foot_m: np.ndarray, side_sign: float) -> np.ndarray:
    """(hip, upper, lower) angles that put the foot at `foot_m` (hip frame); unreachable points are
    projected onto the reachable shell."""
    x, y, z = foot_m
    offset = side_sign * HIP_OFFSET_M
    r_yz_sq = max(y * y + z * z - offset * offset, 1e-9)
    zp = -np.sqrt(r_yz_sq)  # foot below the hip in the leg plane
    a = np.arctan2(z, y) - np.arctan2(zp, offset)
    a = float(np.angle(np.exp(1j * a)))  # wrap to [-pi, pi]
    reach_sq = x * x + zp * zp
    cos_k = (reach_sq - UPPER_LINK_M**2 - LOWER_LINK_M**2) / (2 * UPPER_LINK_M * LOWER_LINK_M)
    k = -np.arccos(np.clip(cos_k, -1.0, 1.0))
    phi = np.arctan2(-x, -zp)  # direction of the foot from the hip, measured from straight down
    h = phi - np.arctan2(LOWER_LINK_M * np.sin(k), UPPER_LINK_M + LOWER_LINK_M * np.cos(k))
    return np.array([a, h, k])


def feet_to_joints(feet_m: np.ndarray) -> np.ndarray:
    """(4, 3) hip-frame foot positions -> (12,) joint angles, clamped to joint limits."""
    q = np.concatenate([leg_ik(feet_m[i], LEG_SIDE_SIGN[i]) for i in range(4)])
    return clamp_to_joint_limits(q)


def stand_feet_m() -> np.ndarray:
    """(4, 3) hip-frame foot positions of the standing pose."""
    return np.stack([leg_fk(STAND_POSE_RAD[3 * i : 3 * i + 3], LEG_SIDE_SIGN[i]) for i in range(4)])


@dataclass
class GaitConfig:
    """Trot parameters.

    Args:
        period_s: full gait cycle (s); each foot is in stance for half of it.
        swing_clearance_m: peak foot lift during swing (m).
        foot_height_m: foot z below the hip in stance (m); about -0.26 for a 0.30 m base height.
        max_speed_mps: |vx|, |vy| commands are clipped to this (m/s).
        max_yaw_rate_radps: |yaw rate| commands are clipped to this (rad/s).
    """

    period_s: float = 0.4
    swing_clearance_m: float = 0.10  # higher than the 0.07 m of DESIGN.md: fewer toe stubs on grippy floors
    foot_height_m: float = -0.26
    max_speed_mps: float = 0.8
    max_yaw_rate_radps: float = 1.5

    def __post_init__(self):
        if self.period_s <= 0:
            raise ValueError(f"period_s must be > 0, got {self.period_s}")
        if not 0 <= self.swing_clearance_m < 0.15:
            raise ValueError(f"swing_clearance_m must be in [0, 0.15) m, got {self.swing_clearance_m}")
        if not -0.38 < self.foot_height_m < -0.12:
            raise ValueError(f"foot_height_m must be in (-0.38, -0.12) m, got {self.foot_height_m}")
        if self.max_speed_mps <= 0 or self.max_yaw_rate_radps <= 0:
            raise ValueError("max_speed_mps and max_yaw_rate_radps must be > 0")


# Phase offsets (fraction of a period): diagonal pairs FR+RL and FL+RR in anti-phase.
TROT_PHASE_OFFSETS = np.array([0.0, 0.5, 0.5, 0.0])
# Below this command magnitude the controller stands still instead of trotting in place (a deadband). A
# learned policy's command is a regression output: standing still, it measured up to 0.08 rad/s of yaw
# rate and 0.08 m/s of speed, and with the former 0.02 m/s / 0.05 rad/s thresholds that noise started a
# trot in place before the cue (the legs swung, the robot left the states it was taught in). The trot
# hardly moves the robot below 0.3 m/s commanded, and every teacher turns at >= 1 rad/s.
STILL_SPEED_MPS = 0.12
STILL_YAW_RATE_RADPS = 0.25


class TrotController:
    """Turns a (vx, vy, yaw_rate) command into 12 joint targets, one control tick at a time."""

    def __init__(self, config: GaitConfig | None = None):
        self.config = config or GaitConfig()
        self.phase = 0.0
        self._nominal = stand_feet_m()
        self._nominal[:, 2] = self.config.foot_height_m

    def reset(self) -> None:
        self.phase = 0.0

    def stand_targets(self) -> np.ndarray:
        """(12,) joint targets the controller gives for a zero command (standing still)."""
        return feet_to_joints(self._nominal)

    def clip_command(self, command: np.ndarray) -> np.ndarray:
        c = self.config
        return np.array(
            [
                np.clip(command[0], -c.max_speed_mps, c.max_speed_mps),
                np.clip(command[1], -c.max_speed_mps, c.max_speed_mps),
                np.clip(command[2], -c.max_yaw_rate_radps, c.max_yaw_rate_radps),
            ]
        )

    def step(self, command: np.ndarray, dt_s: float) -> np.ndarray:
        """Advance the gait by dt_s and return (12,) joint targets for command (vx, vy, yaw_rate)."""
        vx, vy, wz = self.clip_command(np.asarray(command, np.float64))
        c = self.config
        moving = abs(vx) > STILL_SPEED_MPS or abs(vy) > STILL_SPEED_MPS or abs(wz) > STILL_YAW_RATE_RADPS
        if not moving:
            self.phase = 0.0
            return self.stand_targets()
        self.phase = (self.phase + dt_s / c.period_s) % 1.0
        stance_s = c.period_s / 2
        feet = self._nominal.copy()  # (4, 3)
        for i in range(4):
            hip_xy = HIP_OFFSETS_M[i, :2] + self._nominal[i, :2]  # foot's nominal point in the base frame
            # Velocity of the ground under this foot in the base frame: -(v + w x r).
            foot_vel = np.array([vx - wz * hip_xy[1], vy + wz * hip_xy[0]])
            half_stride = foot_vel * stance_s / 2  # (2,)
            p = (self.phase + TROT_PHASE_OFFSETS[i]) % 1.0
            if p < 0.5:  # stance: slide from +half_stride to -half_stride
                s = p / 0.5
                feet[i, :2] += half_stride * (1 - 2 * s)
            else:  # swing: return from -half_stride to +half_stride along a raised cycloid arc
                s = (p - 0.5) / 0.5
                # Cycloid: the foot leaves and lands with zero horizontal speed, so it does not scuff.
                sweep = s - np.sin(2 * np.pi * s) / (2 * np.pi)
                feet[i, :2] += half_stride * (2 * sweep - 1)
                feet[i, 2] += c.swing_clearance_m * (1 - np.cos(2 * np.pi * s)) / 2
        return feet_to_joints(feet)
