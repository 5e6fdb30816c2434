"""Robot profiles: what the brain, the gait and a driver need to know about one quadruped, from its
published URDF and SDK values (each value's source is cited in the profile's `sources`).

Motor order everywhere in this project: FR, FL, RR, RL x (hip, thigh, calf), which is also the order of
Unitree's SDK motor arrays (`LowCmd.motor_cmd` / `LowState.motor_state`: FR_0 = 0 ... RL_2 = 11). The
simulator's A1 URDF (pybullet_data `a1/a1.urdf`) names thigh and calf "upper" and "lower"; those names
are accepted as aliases (`sim_joint_names`). Every Unitree quadruped has the same joint axes and zero
angles (legs straight down at 0), so joint angles mean the same on each; links and limits differ.

Units: rad, rad/s, N·m, N·m/rad, N·m·s/rad, m (REP 103).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType

import numpy as np

NUM_MOTORS = 12
LEG_NAMES = ("FR", "FL", "RR", "RL")
JOINT_PARTS = ("hip", "thigh", "calf")  # Unitree's names (the vendor URDFs and SDKs)
SIM_JOINT_PARTS = ("hip", "upper", "lower")  # pybullet_data's a1.urdf (google-research/motion_imitation)
VENDOR_MOTOR_SLOTS = 20  # the SDK's LowCmd / LowState motor arrays have 20 slots; the legs use 0..11


def _motor_names(parts: tuple[str, str, str]) -> tuple[str, ...]:
    return tuple(f"{leg}_{part}_joint" for leg in LEG_NAMES for part in parts)


UNITREE_JOINT_NAMES = _motor_names(JOINT_PARTS)
SIM_JOINT_NAMES = _motor_names(SIM_JOINT_PARTS)
UNITREE_SDK_MOTOR_INDEX = tuple(range(NUM_MOTORS))  # FR_0..RL_2 = 0..11, the project's own order

# Left-right mirror image of a joint vector: the legs swap sides (FR <-> FL, RR <-> RL) and the hip
# (abduction) joints, whose axis is the body's x axis on every leg, change sign. The same for every
# profile (it depends only on the motor order); checked against the leg kinematics in the tests.
MIRROR_MOTOR_PERMUTATION = (3, 4, 5, 0, 1, 2, 9, 10, 11, 6, 7, 8)
MIRROR_MOTOR_SIGN = (-1.0, 1.0, 1.0) * 4

_PER_MOTOR = ("joint_lower_rad", "joint_upper_rad", "stand_pose_rad", "lie_pose_rad", "kp_nm_per_rad",
              "kd_nms_per_rad", "torque_limit_nm", "velocity_limit_radps")
_LINKS = ("hip_link_m", "thigh_link_m", "calf_link_m")


@dataclass(frozen=True)
class RobotProfile:
    """One robot's facts, per motor in the project's order (12-tuples) unless said otherwise.

    Args:
        name: "a1", "go1" or "go2" (the `robot` parameter of the nodes).
        joint_names: the vendor's joint names ("FR_hip_joint", "FR_thigh_joint", "FR_calf_joint", ...).
        sim_joint_names: the simulator's names for the same joints ("FR_upper_joint" ...), accepted as
            aliases in joint states.
        vendor_motor_index: each motor's index in the vendor's LowCmd / LowState motor array.
        joint_lower_rad, joint_upper_rad: joint limits (lower < upper).
        stand_pose_rad, lie_pose_rad: standing and lying joint angles (inside the limits).
        kp_nm_per_rad, kd_nms_per_rad: joint PD gains for position targets.
        torque_limit_nm, velocity_limit_radps: the motors' limits.
        hip_offsets_m: (4, 3) hip (abduction joint) positions in the base frame, FR FL RR RL.
        hip_link_m: sideways offset of the leg plane from the abduction axis (the URDF's thigh joint y).
        thigh_link_m, calf_link_m: thigh and calf lengths (hip-to-knee, knee-to-foot).
        sources: field name -> where its values come from (file and values).
    """

    name: str
    joint_names: tuple[str, ...]
    sim_joint_names: tuple[str, ...]
    vendor_motor_index: tuple[int, ...]
    joint_lower_rad: tuple[float, ...]
    joint_upper_rad: tuple[float, ...]
    stand_pose_rad: tuple[float, ...]
    lie_pose_rad: tuple[float, ...]
    kp_nm_per_rad: tuple[float, ...]
    kd_nms_per_rad: tuple[float, ...]
    torque_limit_nm: tuple[float, ...]
    velocity_limit_radps: tuple[float, ...]
    hip_offsets_m: tuple[tuple[float, float, float], ...]
    hip_link_m: float
    thigh_link_m: float
    calf_link_m: float
    sources: Mapping[str, str] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self):
        where = f"robot profile {self.name!r}"
        if not re.fullmatch(r"[a-z][a-z0-9_]*", self.name):
            raise ValueError(f"{where}: name must be a lowercase identifier")
        for attr in ("joint_names", "sim_joint_names"):
            names = tuple(getattr(self, attr))
            if len(names) != NUM_MOTORS or len(set(names)) != NUM_MOTORS or not all(names):
                raise ValueError(f"{where}: {attr} must be {NUM_MOTORS} distinct non-empty names, "
                                 f"got {names}")
            object.__setattr__(self, attr, names)
        index = tuple(int(i) for i in self.vendor_motor_index)
        if len(index) != NUM_MOTORS or len(set(index)) != NUM_MOTORS or not all(
                0 <= i < VENDOR_MOTOR_SLOTS for i in index):
            raise ValueError(f"{where}: vendor_motor_index must be {NUM_MOTORS} distinct slots in "
                             f"[0, {VENDOR_MOTOR_SLOTS}), got {index}")
        object.__setattr__(self, "vendor_motor_index", index)
        for attr in _PER_MOTOR:
            values = tuple(float(v) for v in getattr(self, attr))
            if len(values) != NUM_MOTORS or not all(math.isfinite(v) for v in values):
                raise ValueError(f"{where}: {attr} must be {NUM_MOTORS} finite values, got {len(values)}")
            object.__setattr__(self, attr, values)
        lo, hi = np.array(self.joint_lower_rad), np.array(self.joint_upper_rad)
        bad = [self.joint_names[i] for i in np.flatnonzero(lo >= hi)]
        if bad:
            raise ValueError(f"{where}: joint_lower_rad must be < joint_upper_rad, not for {bad}")
        for attr in ("stand_pose_rad", "lie_pose_rad"):
            q = np.array(getattr(self, attr))
            outside = [self.joint_names[i] for i in np.flatnonzero((q < lo) | (q > hi))]
            if outside:
                raise ValueError(f"{where}: {attr} is outside the joint limits for {outside}")
        for attr in ("kp_nm_per_rad", "kd_nms_per_rad"):
            if min(getattr(self, attr)) < 0:
                raise ValueError(f"{where}: {attr} must be >= 0")
        for attr in ("torque_limit_nm", "velocity_limit_radps"):
            if min(getattr(self, attr)) <= 0:
                raise ValueError(f"{where}: {attr} must be > 0")
        hips = tuple(tuple(float(v) for v in row) for row in self.hip_offsets_m)
        if len(hips) != len(LEG_NAMES) or any(len(row) != 3 for row in hips):
            raise ValueError(f"{where}: hip_offsets_m must be 4 x 3 (FR FL RR RL x xyz)")
        object.__setattr__(self, "hip_offsets_m", hips)
        for attr in _LINKS:
            if not float(getattr(self, attr)) > 0:
                raise ValueError(f"{where}: {attr} must be > 0 m, got {getattr(self, attr)}")
            object.__setattr__(self, attr, float(getattr(self, attr)))
        known = {f.name for f in fields(self)}
        unknown = sorted(set(self.sources) - known)
        if unknown:
            raise ValueError(f"{where}: sources names unknown fields {unknown}")
        object.__setattr__(self, "sources", MappingProxyType(dict(self.sources)))
        # read-only arrays for the per-tick clamp
        object.__setattr__(self, "_lower", _frozen_array(self.joint_lower_rad))
        object.__setattr__(self, "_upper", _frozen_array(self.joint_upper_rad))

    def clamp(self, targets_rad) -> np.ndarray:
        """12 joint targets (rad) clipped to this robot's joint limits."""
        return np.clip(targets_rad, self._lower, self._upper)


def _frozen_array(values) -> np.ndarray:
    out = np.array(values, np.float64)
    out.flags.writeable = False
    return out


def _per_leg(hip: float, thigh: float, calf: float) -> tuple[float, ...]:
    return (hip, thigh, calf) * 4


def _hips(x: float, y: float) -> tuple[tuple[float, float, float], ...]:
    """Hip positions FR FL RR RL from the front hips' |x| and |y| (the URDFs are left-right and
    front-back symmetric in these)."""
    return ((x, -y, 0.0), (x, y, 0.0), (-x, -y, 0.0), (-x, y, 0.0))


_UNITREE_ROS = "unitreerobotics/unitree_ros robots/"
_PYBULLET_A1 = "pybullet_data a1/a1.urdf (google-research/motion_imitation's A1, loaded by sim/robot.py)"

# The simulator's A1: the geometry and limits of the URDF the simulator loads, so that the gait and the
# brain compute exactly what sim/robot.py and the trot controller did before profiles existed.
A1 = RobotProfile(
    name="a1",
    joint_names=UNITREE_JOINT_NAMES,
    sim_joint_names=SIM_JOINT_NAMES,
    vendor_motor_index=UNITREE_SDK_MOTOR_INDEX,
    joint_lower_rad=_per_leg(-0.802851455917, -1.0471975512, -2.69653369433),
    joint_upper_rad=_per_leg(0.802851455917, 4.18879020479, -0.916297857297),
    stand_pose_rad=_per_leg(0.0, 0.9, -1.8),
    lie_pose_rad=_per_leg(0.0, 1.2, -2.6),
    kp_nm_per_rad=_per_leg(100.0, 100.0, 100.0),
    kd_nms_per_rad=_per_leg(1.0, 2.0, 2.0),
    torque_limit_nm=_per_leg(33.5, 33.5, 33.5),
    velocity_limit_radps=_per_leg(21.0, 21.0, 21.0),
    hip_offsets_m=_hips(0.183, 0.047),
    hip_link_m=0.08505,
    thigh_link_m=0.2,
    calf_link_m=0.2,
    sources={
        "joint_names": f"{_UNITREE_ROS}a1_description/urdf/a1.urdf: FR_hip_joint, FR_thigh_joint, "
                       "FR_calf_joint, ...",
        "sim_joint_names": f"{_PYBULLET_A1}: FR_hip_joint, FR_upper_joint, FR_lower_joint, ...",
        "vendor_motor_index": "unitreerobotics/unitree_legged_sdk include/unitree_legged_sdk/quadruped.h "
                              "and unitree_sdk2_python example/low_level/unitree_legged_const.py: "
                              "FR_0 = 0, FR_1 = 1, FR_2 = 2, FL_0 = 3 ... RL_2 = 11",
        "joint_lower_rad": f"{_PYBULLET_A1} (the same in {_UNITREE_ROS}a1_description/urdf/a1.urdf): hip "
                           "-0.802851455917, thigh -1.0471975512, calf -2.69653369433",
        "joint_upper_rad": f"{_PYBULLET_A1} (the same in {_UNITREE_ROS}a1_description/urdf/a1.urdf): hip "
                           "0.802851455917, thigh 4.18879020479, calf -0.916297857297",
        "stand_pose_rad": "google-research/motion_imitation motion_imitation/robots/a1.py "
                          "INIT_MOTOR_ANGLES [0, 0.9, -1.8] x 4 (base at z = 0.30 m in the sim)",
        "lie_pose_rad": "this project's sim: held under PD in PyBullet, trunk on the floor "
                        "(sim/skills.py's lie_down teacher)",
        "kp_nm_per_rad": "google-research/motion_imitation motion_imitation/robots/a1.py: "
                         "ABDUCTION_P_GAIN = HIP_P_GAIN = KNEE_P_GAIN = 100",
        "kd_nms_per_rad": "google-research/motion_imitation motion_imitation/robots/a1.py: "
                          "ABDUCTION_D_GAIN = 1, HIP_D_GAIN = KNEE_D_GAIN = 2",
        "torque_limit_nm": f"{_UNITREE_ROS}a1_description/urdf/a1.urdf: effort 33.5 on every leg joint",
        "velocity_limit_radps": f"{_UNITREE_ROS}a1_description/urdf/a1.urdf: velocity 21 on every leg joint",
        "hip_offsets_m": f"{_PYBULLET_A1}: FR_hip_joint origin (0.183, -0.047, 0), mirrored (unitree_ros's "
                         "a1.urdf says 0.1805)",
        "hip_link_m": f"{_PYBULLET_A1}: FR_upper_joint origin y -0.08505 (unitree_ros's a1.urdf: 0.0838)",
        "thigh_link_m": f"{_PYBULLET_A1}: FR_lower_joint origin z -0.2",
        "calf_link_m": f"{_PYBULLET_A1}: FR_toe_fixed origin z -0.2",
    },
)

_GO1_URDF = f"{_UNITREE_ROS}go1_description/urdf/go1.urdf"
_GUIDE = "unitreerobotics/unitree_guide unitree_guide/"
GO1 = RobotProfile(
    name="go1",
    joint_names=UNITREE_JOINT_NAMES,
    sim_joint_names=SIM_JOINT_NAMES,
    vendor_motor_index=UNITREE_SDK_MOTOR_INDEX,
    joint_lower_rad=_per_leg(-0.863, -0.686, -2.818),
    joint_upper_rad=_per_leg(0.863, 4.501, -0.888),
    stand_pose_rad=_per_leg(0.0, 0.67, -1.3),
    lie_pose_rad=(0.0, 1.36, -2.65, 0.0, 1.36, -2.65, -0.2, 1.36, -2.65, 0.2, 1.36, -2.65),
    kp_nm_per_rad=_per_leg(60.0, 40.0, 80.0),
    kd_nms_per_rad=_per_leg(5.0, 4.0, 7.0),
    torque_limit_nm=_per_leg(23.7, 23.7, 35.55),
    velocity_limit_radps=_per_leg(30.1, 30.1, 20.06),
    hip_offsets_m=_hips(0.1881, 0.04675),
    hip_link_m=0.08,
    thigh_link_m=0.213,
    calf_link_m=0.213,
    sources={
        "joint_names": f"{_GO1_URDF}: FR_hip_joint, FR_thigh_joint, FR_calf_joint, ...",
        "sim_joint_names": "aliases: the simulator's A1 names for the same joints",
        "vendor_motor_index": "unitreerobotics/unitree_legged_sdk (v3.8, Go1) quadruped.h: FR_0 = 0 ... "
                              "RL_2 = 11",
        "joint_lower_rad": f"{_GO1_URDF}: hip -0.863, thigh -0.686, calf -2.818",
        "joint_upper_rad": f"{_GO1_URDF}: hip 0.863, thigh 4.501, calf -0.888",
        "stand_pose_rad": f"{_GUIDE}include/FSM/State_FixedStand.h _targetPos: [0.0, 0.67, -1.3] x 4",
        "lie_pose_rad": "unitreerobotics/unitree_sdk2_python example/go2/low_level/go2_stand_example.py "
                        "_targetPos_1 (Go2's lying pose; inside Go1's limits, same joint conventions)",
        "kp_nm_per_rad": f"{_GUIDE}include/message/LowlevelCmd.h setRealStanceGain: Kp 60, 40, 80",
        "kd_nms_per_rad": f"{_GUIDE}include/message/LowlevelCmd.h setRealStanceGain: Kd 5, 4, 7",
        "torque_limit_nm": f"{_GO1_URDF}: effort hip 23.7, thigh 23.7, calf 35.55",
        "velocity_limit_radps": f"{_GO1_URDF}: velocity hip 30.1, thigh 30.1, calf 20.06",
        "hip_offsets_m": f"{_GO1_URDF}: FR_hip_joint origin (0.1881, -0.04675, 0), mirrored",
        "hip_link_m": f"{_GO1_URDF}: FR_thigh_joint origin y -0.08",
        "thigh_link_m": f"{_GO1_URDF}: FR_calf_joint origin z -0.213",
        "calf_link_m": f"{_UNITREE_ROS}go1_description/xacro/const.xacro: calf_length 0.213",
    },
)

_GO2_URDF = f"{_UNITREE_ROS}go2_description/urdf/go2_description.urdf"
_GO2_STAND = "unitreerobotics/unitree_sdk2_python example/go2/low_level/go2_stand_example.py"
GO2 = RobotProfile(
    name="go2",
    joint_names=UNITREE_JOINT_NAMES,
    sim_joint_names=SIM_JOINT_NAMES,
    vendor_motor_index=UNITREE_SDK_MOTOR_INDEX,
    # the rear thighs have their own range in Go2's URDF
    joint_lower_rad=(-1.0472, -1.5708, -2.7227) * 2 + (-1.0472, -0.5236, -2.7227) * 2,
    joint_upper_rad=(1.0472, 3.4907, -0.83776) * 2 + (1.0472, 4.5379, -0.83776) * 2,
    stand_pose_rad=_per_leg(0.0, 0.67, -1.3),
    lie_pose_rad=(0.0, 1.36, -2.65, 0.0, 1.36, -2.65, -0.2, 1.36, -2.65, 0.2, 1.36, -2.65),
    kp_nm_per_rad=_per_leg(60.0, 60.0, 60.0),
    kd_nms_per_rad=_per_leg(5.0, 5.0, 5.0),
    torque_limit_nm=_per_leg(23.7, 23.7, 45.43),
    velocity_limit_radps=_per_leg(30.1, 30.1, 15.70),
    hip_offsets_m=_hips(0.1934, 0.0465),
    hip_link_m=0.0955,
    thigh_link_m=0.213,
    calf_link_m=0.213,
    sources={
        "joint_names": f"{_GO2_URDF}: FR_hip_joint, FR_thigh_joint, FR_calf_joint, ...",
        "sim_joint_names": "aliases: the simulator's A1 names for the same joints",
        "vendor_motor_index": "unitreerobotics/unitree_sdk2_python example/low_level/unitree_legged_const.py "
                              "LegID: FR_0 = 0 ... RL_2 = 11 (LowCmd_.motor_cmd has 20 slots)",
        "joint_lower_rad": f"{_GO2_URDF}: hip -1.0472, front thigh -1.5708, rear thigh -0.5236, "
                           "calf -2.7227",
        "joint_upper_rad": f"{_GO2_URDF}: hip 1.0472, front thigh 3.4907, rear thigh 4.5379, "
                           "calf -0.83776",
        "stand_pose_rad": f"{_GO2_STAND} _targetPos_2: [0.0, 0.67, -1.3] x 4",
        "lie_pose_rad": f"{_GO2_STAND} _targetPos_1: [0.0, 1.36, -2.65] x 2, rear hips -0.2 / 0.2",
        "kp_nm_per_rad": f"{_GO2_STAND}: Kp = 60.0",
        "kd_nms_per_rad": f"{_GO2_STAND}: Kd = 5.0",
        "torque_limit_nm": f"{_GO2_URDF}: effort hip 23.7, thigh 23.7, calf 45.43",
        "velocity_limit_radps": f"{_GO2_URDF}: velocity hip 30.1, thigh 30.1, calf 15.70",
        "hip_offsets_m": f"{_GO2_URDF}: FR_hip_joint origin (0.1934, -0.0465, 0), mirrored",
        "hip_link_m": f"{_GO2_URDF}: FR_thigh_joint origin y -0.0955",
        "thigh_link_m": f"{_GO2_URDF}: FR_calf_joint origin z -0.213",
        "calf_link_m": f"{_UNITREE_ROS}go2_description/xacro/const.xacro: calf_length 0.213",
    },
)

PROFILES: Mapping[str, RobotProfile] = MappingProxyType({p.name: p for p in (A1, GO1, GO2)})
DEFAULT_ROBOT = "a1"


def get_profile(name: str) -> RobotProfile:
    """The profile named `name` ("a1", "go1", "go2"); ValueError naming the known ones otherwise."""
    try:
        return PROFILES[str(name).strip().lower()]
    except KeyError:
        raise ValueError(f"unknown robot {name!r}; known robots: {', '.join(PROFILES)}") from None


def clamp_to_joint_limits(targets_rad, profile: RobotProfile = A1) -> np.ndarray:
    """Clip 12 joint targets to `profile`'s joint limits (default: the A1's)."""
    return profile.clamp(targets_rad)
