"""The hybrid action space every skill is taught and performed in, and its decoding into joint targets.

A hybrid action is 15 numbers: a gait command (vx m/s, vy m/s, yaw rate rad/s) for the trot controller,
then 12 joint offsets (rad) added to the trot controller's targets. Zero is "stand still" (the hold); a
posture is an offset from the standing targets, locomotion a gait command. The sim env's hybrid mode
and the robot's brain decode actions with `hybrid_joint_targets`, each with its own trot controller.
"""

from __future__ import annotations

import numpy as np

from robots.gait import TrotController
from robots.profile import NUM_MOTORS

GAIT_COMMAND_NAMES = ("vx_mps", "vy_mps", "yaw_rate_radps")
GAIT_DIMS = len(GAIT_COMMAND_NAMES)  # the hybrid action's gait command comes first
HYBRID_ACTION_DIM = GAIT_DIMS + NUM_MOTORS  # 15
HYBRID_OFFSET_LIMIT_RAD = np.pi  # joint offsets in hybrid mode are bounded by this (rad)
# the hold: the zero hybrid action (zero gait command, zero offsets: the trot controller's stand targets).
# What the robot does on a tick without a usable action: a non-finite policy output in the sim, a stale
# stream or an idle brain on the robot (yan_dog.brain)
HOLD_ACTION = np.zeros(HYBRID_ACTION_DIM, np.float32)


def hybrid_joint_targets(gait: TrotController, action: np.ndarray, dt_s: float) -> np.ndarray:
    """A 15-D hybrid action -> 12 joint targets (rad): the trot controller's targets for the gait
    command (advanced by dt_s), plus the joint offsets clipped to ±HYBRID_OFFSET_LIMIT_RAD, clamped to
    the joint limits of the controller's robot."""
    offsets = np.clip(action[GAIT_DIMS:], -HYBRID_OFFSET_LIMIT_RAD, HYBRID_OFFSET_LIMIT_RAD)  # (12,)
    return gait.profile.clamp(gait.step(action[:GAIT_DIMS], dt_s) + offsets)  # (12,)
