"""A phase-based trot controller: a (vx, vy, yaw rate) command -> 12 joint targets, through the leg
IK of a robot profile (`robots.kinematics`; default the A1, as the simulator uses).

The trot moves diagonal pairs (FR+RL, FL+RR) in anti-phase; each foot spends half the period in
stance, sliding backwards under the body at the commanded velocity (including the yaw-rate term
ω × r at its hip), and half in swing, returning forwards along a raised sine arc.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robots.kinematics import feet_to_joints, stand_feet_m
from robots.profile import A1, RobotProfile


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

    @classmethod
    def for_profile(cls, profile: RobotProfile, **overrides) -> GaitConfig:
        """The defaults (tuned on the simulated A1) with the stance height scaled to `profile`'s legs
        (thigh + calf); `overrides` set any field. The A1's is exactly the default."""
        scale = (profile.thigh_link_m + profile.calf_link_m) / (A1.thigh_link_m + A1.calf_link_m)
        return cls(**{"foot_height_m": cls.foot_height_m * scale, **overrides})


# Phase offsets (fraction of a period): diagonal pairs FR+RL and FL+RR in anti-phase.
TROT_PHASE_OFFSETS = np.array([0.0, 0.5, 0.5, 0.0])
# Below this command magnitude the controller stands still instead of trotting in place (a deadband): a
# learned policy's command noise while it waits must not start a trot (docs/experiments.md, 2026-11-23:
# gait deadband). The trot hardly moves the robot below 0.3 m/s commanded; every teacher turns >= 1 rad/s.
STILL_SPEED_MPS = 0.12
STILL_YAW_RATE_RADPS = 0.25


class TrotController:
    """Turns a (vx, vy, yaw_rate) command into 12 joint targets, one control tick at a time.

    Args:
        config: trot parameters (default `GaitConfig.for_profile(profile)`: GaitConfig() on the A1).
        profile: the robot whose legs it moves (default: the A1).
    """

    def __init__(self, config: GaitConfig | None = None, profile: RobotProfile = A1):
        self.config = config or GaitConfig.for_profile(profile)
        self.profile = profile
        self.phase = 0.0
        self._hips_xy = np.array(profile.hip_offsets_m)[:, :2]  # (4, 2) base frame
        self._nominal = stand_feet_m(profile)
        self._nominal[:, 2] = self.config.foot_height_m

    def reset(self) -> None:
        self.phase = 0.0

    def stand_targets(self) -> np.ndarray:
        """(12,) joint targets the controller gives for a zero command (standing still)."""
        return feet_to_joints(self._nominal, self.profile)

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
            hip_xy = self._hips_xy[i] + self._nominal[i, :2]  # foot's nominal point in the base frame
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
        return feet_to_joints(feet, self.profile)
