"""Analytic leg kinematics of a Unitree quadruped, from its profile's link lengths (default: the A1).

Leg model (per leg, in the hip frame: x forward, y left, z up): an abduction joint about x, then a
thigh and a calf (`thigh_link_m`, `calf_link_m`) rotating about the leg's y axis, with the foot plane
offset sideways from the hip by `hip_link_m` (negative for right legs).

Forward kinematics for joint angles (a, h, k) = (hip, thigh, calf):
    in the leg plane   x  = -L_thigh·sin(h) - L_calf·sin(h + k)
                       z' = -L_thigh·cos(h) - L_calf·cos(h + k),   y' = offset
    abduction about x  y  = y'·cos(a) - z'·sin(a),   z = y'·sin(a) + z'·cos(a)
Inverse kinematics inverts these in closed form (knee bent backwards: k < 0), as in
google-research/motion_imitation's A1.
"""

from __future__ import annotations

import numpy as np

from robots.profile import A1, LEG_NAMES, RobotProfile

# Side of each leg's foot plane: right legs (FR, RR) negative y, left legs positive.
LEG_SIDE_SIGN = np.array([-1.0, 1.0, -1.0, 1.0])


def leg_fk(angles_rad: np.ndarray, side_sign: float, profile: RobotProfile = A1) -> np.ndarray:
    """Foot position (3,) in the hip frame from (hip, thigh, calf) angles."""
    a, h, k = angles_rad
    upper, lower, offset = profile.thigh_link_m, profile.calf_link_m, side_sign * profile.hip_link_m
    x = -upper * np.sin(h) - lower * np.sin(h + k)
    zp = -upper * np.cos(h) - lower * np.cos(h + k)
    return np.array([x, offset * np.cos(a) - zp * np.sin(a), offset * np.sin(a) + zp * np.cos(a)])


def leg_ik(foot_m: np.ndarray, side_sign: float, profile: RobotProfile = A1) -> np.ndarray:
    """(hip, thigh, calf) angles that put the foot at `foot_m` (hip frame); unreachable points are
    projected onto the reachable shell."""
    x, y, z = foot_m
    upper, lower, offset = profile.thigh_link_m, profile.calf_link_m, side_sign * profile.hip_link_m
    r_yz_sq = max(y * y + z * z - offset * offset, 1e-9)
    zp = -np.sqrt(r_yz_sq)  # foot below the hip in the leg plane
    a = np.arctan2(z, y) - np.arctan2(zp, offset)
    a = float(np.angle(np.exp(1j * a)))  # wrap to [-pi, pi]
    reach_sq = x * x + zp * zp
    cos_k = (reach_sq - upper**2 - lower**2) / (2 * upper * lower)
    k = -np.arccos(np.clip(cos_k, -1.0, 1.0))
    phi = np.arctan2(-x, -zp)  # direction of the foot from the hip, measured from straight down
    h = phi - np.arctan2(lower * np.sin(k), upper + lower * np.cos(k))
    return np.array([a, h, k])


def feet_to_joints(feet_m: np.ndarray, profile: RobotProfile = A1) -> np.ndarray:
    """(4, 3) hip-frame foot positions -> (12,) joint angles, clamped to the joint limits."""
    q = np.concatenate([leg_ik(feet_m[i], LEG_SIDE_SIGN[i], profile) for i in range(len(LEG_NAMES))])
    return profile.clamp(q)


def joints_to_feet(joints_rad: np.ndarray, profile: RobotProfile = A1) -> np.ndarray:
    """(12,) joint angles -> (4, 3) hip-frame foot positions."""
    q = np.asarray(joints_rad, np.float64)
    return np.stack([leg_fk(q[3 * i: 3 * i + 3], LEG_SIDE_SIGN[i], profile) for i in range(len(LEG_NAMES))])


def stand_feet_m(profile: RobotProfile = A1) -> np.ndarray:
    """(4, 3) hip-frame foot positions of the standing pose."""
    return joints_to_feet(np.asarray(profile.stand_pose_rad), profile)
