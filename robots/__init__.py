"""Robot profiles and what runs on any of the robots: leg kinematics, the trot controller, the hybrid
action decoding, posture targets, skill metadata, joint-name mapping. No PyBullet, no ROS.

    profile = robots.get_profile("go2")       # or robots.PROFILES["go2"]; "a1" is the simulator's robot
    gait = robots.TrotController(profile=profile)
    targets = robots.hybrid_joint_targets(gait, action, dt_s)   # (15,) hybrid action -> (12,) rad
"""

from robots.actions import HOLD_ACTION, HYBRID_ACTION_DIM, hybrid_joint_targets
from robots.gait import GaitConfig, TrotController
from robots.joint_map import JointMap
from robots.profile import (
    DEFAULT_ROBOT,
    LEG_NAMES,
    NUM_MOTORS,
    PROFILES,
    RobotProfile,
    clamp_to_joint_limits,
    get_profile,
)

__all__ = [
    "DEFAULT_ROBOT",
    "HOLD_ACTION",
    "HYBRID_ACTION_DIM",
    "LEG_NAMES",
    "NUM_MOTORS",
    "PROFILES",
    "GaitConfig",
    "JointMap",
    "RobotProfile",
    "TrotController",
    "clamp_to_joint_limits",
    "get_profile",
    "hybrid_joint_targets",
]
