"""Posture targets (12 joint angles, rad, the project's motor order) for the postures the skills teach.

The A1's were found by holding them under PD control in the simulator. Unitree's quadrupeds share joint
axes and zero angles, so the same angles give the same posture on a Go1 or Go2 (legs ~6 % longer):
`posture_targets` clamps them to that robot's limits; they have not been tried on those robots. Standing
and lying come from each robot's profile.
"""

from __future__ import annotations

import numpy as np

from robots.profile import A1, RobotProfile

STAND_POSE_RAD = np.array(A1.stand_pose_rad)  # (12,) legs under the hips, base at ~0.30 m
SIT_POSE_RAD = np.array([0.0, 0.5, -1.2] * 2 + [0.0, 2.2, -2.6] * 2)  # rear folded, front straight
LIE_POSE_RAD = np.array(A1.lie_pose_rad)  # all legs folded, trunk on the floor
# shake_paw's supporting front-left leg swings its hip by this much as the right paw goes up, bracing the
# trunk against tipping onto the lifted side; without it a learned policy's target jitter tipped the pose
# over (docs/experiments.md, 2026-11-25: shake_paw brace).
SHAKE_BRACE_HIP_RAD = -0.3
SHAKE_POSE_RAD = np.concatenate([[0.0, -0.3, -1.2], SIT_POSE_RAD[3:]])  # sitting, FR paw raised forward...
SHAKE_POSE_RAD[3] += SHAKE_BRACE_HIP_RAD  # ...the FL leg braced

POSTURES = ("stand", "sit", "lie_down", "shake_paw")


def posture_targets(profile: RobotProfile = A1) -> dict[str, np.ndarray]:
    """Posture name (POSTURES) -> (12,) joint targets (rad) for `profile`'s robot."""
    return {
        "stand": np.array(profile.stand_pose_rad),
        "sit": profile.clamp(SIT_POSE_RAD),
        "lie_down": np.array(profile.lie_pose_rad),
        "shake_paw": profile.clamp(SHAKE_POSE_RAD),
    }
