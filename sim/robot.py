"""The Unitree A1 in PyBullet: loading, joint PD control at the physics rate, and sensor read-out.

Facts (DESIGN.md section 3, read from pybullet_data `a1/a1.urdf`):
- 12 motors, indices 1,3,4 (FR) 6,8,9 (FL) 11,13,14 (RR) 16,18,19 (RL); each leg hip / upper / lower.
- The default velocity motors are disabled (VELOCITY_CONTROL with force 0) and replaced by joint PD
  torques, clipped to the motor's torque limit, computed at every physics step (1 kHz).

Motor order everywhere in this project: FR(hip, upper, lower), FL(...), RR(...), RL(...). The robot's
facts (names, limits, poses, gains, geometry) are the A1 profile's (`robots.get_profile("a1")`).
Units: rad, rad/s, N·m, m, s (REP 103).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pybullet as pb
import pybullet_data

from robots.profile import LEG_NAMES as LEG_NAMES
from robots.profile import MIRROR_MOTOR_PERMUTATION as MIRROR_MOTOR_PERMUTATION
from robots.profile import MIRROR_MOTOR_SIGN as MIRROR_MOTOR_SIGN
from robots.profile import NUM_MOTORS, get_profile
from robots.profile import clamp_to_joint_limits as clamp_to_joint_limits

# --- Model facts ------------------------------------------------------------------------------------------
URDF_PATH = "a1/a1.urdf"
PROFILE = get_profile("a1")
MOTOR_JOINT_IDS = (1, 3, 4, 6, 8, 9, 11, 13, 14, 16, 18, 19)
FOOT_LINK_IDS = (5, 10, 15, 20)  # FR, FL, RR, RL toe links
MOTOR_NAMES = PROFILE.sim_joint_names  # the URDF's names: FR_hip_joint, FR_upper_joint, FR_lower_joint, ...

# Joint limits (rad), per hip / upper / lower, repeated for the 4 legs.
HIP_LIMIT_RAD = PROFILE.joint_upper_rad[0]
UPPER_LIMITS_RAD = (PROFILE.joint_lower_rad[1], PROFILE.joint_upper_rad[1])
LOWER_LIMITS_RAD = (PROFILE.joint_lower_rad[2], PROFILE.joint_upper_rad[2])
JOINT_LOWER_RAD = np.array(PROFILE.joint_lower_rad, np.float64)
JOINT_UPPER_RAD = np.array(PROFILE.joint_upper_rad, np.float64)

STAND_POSE_RAD = np.array(PROFILE.stand_pose_rad, np.float64)
STAND_BASE_HEIGHT_M = 0.30  # base z when standing in STAND_POSE_RAD
SPAWN_BASE_HEIGHT_M = 0.31  # spawn a little above the standing height, so feet do not start in the floor

# Joint PD gains and torque clip (DESIGN.md section 3).
KP_NM_PER_RAD = np.array(PROFILE.kp_nm_per_rad, np.float64)
KD_NMS_PER_RAD = np.array(PROFILE.kd_nms_per_rad, np.float64)
TORQUE_LIMIT_NM = np.array(PROFILE.torque_limit_nm, np.float64)

# Hip positions in the base frame (m), FR FL RR RL; used by the gait controller for turning.
HIP_OFFSETS_M = np.array(PROFILE.hip_offsets_m, np.float64)
GRAVITY_MPS2 = 9.81


@dataclass
class RobotState:
    """Privileged simulator state of the robot (world frame unless named otherwise)."""

    time_s: float
    base_pos_m: np.ndarray  # (3,)
    base_quat_xyzw: np.ndarray  # (4,)
    base_rpy_rad: np.ndarray  # (3,) roll, pitch, yaw (yaw wrapped to [-pi, pi])
    yaw_unwrapped_rad: float  # accumulated yaw since reset, not wrapped
    base_lin_vel_mps: np.ndarray  # (3,) world frame
    base_ang_vel_radps: np.ndarray  # (3,) world frame
    joint_pos_rad: np.ndarray  # (12,)
    joint_vel_radps: np.ndarray  # (12,)
    joint_torque_nm: np.ndarray  # (12,) applied PD torque
    foot_pos_m: np.ndarray  # (4, 3) toe positions, world frame, FR FL RR RL
    foot_contact: np.ndarray  # (4,) bool, toe touching the floor

    @property
    def heading_xy(self) -> np.ndarray:
        """Unit vector of the base's forward (x) axis projected on the floor."""
        yaw = self.base_rpy_rad[2]
        return np.array([np.cos(yaw), np.sin(yaw)])


class A1Robot:
    """One A1 in a PyBullet client: PD-tracked joint targets and sensor read-out.

    Args:
        client: the PyBullet physics client id.
        physics_dt_s: physics time step (s); the PD law runs at this rate.
    """

    def __init__(self, client: int, physics_dt_s: float):
        self.client = client
        self.physics_dt_s = physics_dt_s
        pb.setAdditionalSearchPath(pybullet_data.getDataPath(), physicsClientId=client)
        self.body = pb.loadURDF(
            URDF_PATH,
            [0.0, 0.0, SPAWN_BASE_HEIGHT_M],
            flags=pb.URDF_USE_SELF_COLLISION_EXCLUDE_PARENT,
            physicsClientId=client,
        )
        # Disable the default velocity motors: all actuation is the explicit PD torque below.
        pb.setJointMotorControlArray(
            self.body,
            MOTOR_JOINT_IDS,
            pb.VELOCITY_CONTROL,
            forces=[0.0] * NUM_MOTORS,
            physicsClientId=client,
        )
        self.targets_rad = STAND_POSE_RAD.copy()
        self.last_torque_nm = np.zeros(NUM_MOTORS)
        self._prev_yaw = 0.0
        self._yaw_unwrapped = 0.0
        self._prev_lin_vel_world = np.zeros(3)
        self.lin_accel_world_mps2 = np.zeros(3)

    # --- reset -------------------------------------------------------------------------------------------
    def reset(self, base_pos_m, base_yaw_rad: float, joint_pos_rad: np.ndarray) -> None:
        quat = pb.getQuaternionFromEuler([0.0, 0.0, base_yaw_rad])
        pb.resetBasePositionAndOrientation(self.body, base_pos_m, quat, physicsClientId=self.client)
        pb.resetBaseVelocity(self.body, [0, 0, 0], [0, 0, 0], physicsClientId=self.client)
        for jid, q in zip(MOTOR_JOINT_IDS, joint_pos_rad, strict=True):
            pb.resetJointState(self.body, jid, float(q), 0.0, physicsClientId=self.client)
        self.targets_rad = np.asarray(joint_pos_rad, np.float64).copy()
        self.last_torque_nm = np.zeros(NUM_MOTORS)
        self._prev_yaw = base_yaw_rad
        self._yaw_unwrapped = 0.0
        self._prev_lin_vel_world = np.zeros(3)
        self.lin_accel_world_mps2 = np.zeros(3)

    def set_friction(self, lateral_friction: float) -> None:
        for link in FOOT_LINK_IDS:
            pb.changeDynamics(self.body, link, lateralFriction=lateral_friction, physicsClientId=self.client)

    # --- control -----------------------------------------------------------------------------------------
    def set_targets(self, targets_rad: np.ndarray) -> None:
        """Set the 12 joint position targets (already validated and clamped by the caller)."""
        self.targets_rad = np.asarray(targets_rad, np.float64)

    def apply_pd(self) -> None:
        """Compute and apply the PD torques for one physics step."""
        states = pb.getJointStates(self.body, MOTOR_JOINT_IDS, physicsClientId=self.client)
        q = np.fromiter((s[0] for s in states), np.float64, NUM_MOTORS)  # (12,)
        qd = np.fromiter((s[1] for s in states), np.float64, NUM_MOTORS)  # (12,)
        tau = KP_NM_PER_RAD * (self.targets_rad - q) - KD_NMS_PER_RAD * qd  # (12,)
        tau = np.clip(tau, -TORQUE_LIMIT_NM, TORQUE_LIMIT_NM)
        pb.setJointMotorControlArray(
            self.body, MOTOR_JOINT_IDS, pb.TORQUE_CONTROL, forces=tau.tolist(), physicsClientId=self.client
        )
        self.last_torque_nm = tau

    def after_control_period(self, period_s: float) -> None:
        """Update quantities integrated over a control period: unwrapped yaw and IMU acceleration."""
        _, quat = pb.getBasePositionAndOrientation(self.body, physicsClientId=self.client)
        yaw = pb.getEulerFromQuaternion(quat)[2]
        self._yaw_unwrapped += float(np.angle(np.exp(1j * (yaw - self._prev_yaw))))
        self._prev_yaw = yaw
        lin_vel, _ = pb.getBaseVelocity(self.body, physicsClientId=self.client)
        lin_vel = np.asarray(lin_vel)
        self.lin_accel_world_mps2 = (lin_vel - self._prev_lin_vel_world) / period_s
        self._prev_lin_vel_world = lin_vel

    # --- read-out ----------------------------------------------------------------------------------------
    def state(self, time_s: float) -> RobotState:
        c = self.client
        pos, quat = pb.getBasePositionAndOrientation(self.body, physicsClientId=c)
        lin_vel, ang_vel = pb.getBaseVelocity(self.body, physicsClientId=c)
        states = pb.getJointStates(self.body, MOTOR_JOINT_IDS, physicsClientId=c)
        links = pb.getLinkStates(self.body, FOOT_LINK_IDS, physicsClientId=c)
        contacts = pb.getContactPoints(bodyA=self.body, physicsClientId=c)
        touching = {cp[3] for cp in contacts if cp[2] != self.body}
        return RobotState(
            time_s=time_s,
            base_pos_m=np.asarray(pos),
            base_quat_xyzw=np.asarray(quat),
            base_rpy_rad=np.asarray(pb.getEulerFromQuaternion(quat)),
            yaw_unwrapped_rad=self._yaw_unwrapped,
            base_lin_vel_mps=np.asarray(lin_vel),
            base_ang_vel_radps=np.asarray(ang_vel),
            joint_pos_rad=np.array([s[0] for s in states]),
            joint_vel_radps=np.array([s[1] for s in states]),
            joint_torque_nm=self.last_torque_nm.copy(),
            foot_pos_m=np.array([ls[0] for ls in links]),
            foot_contact=np.array([lid in touching for lid in FOOT_LINK_IDS]),
        )

    def imu(self, state: RobotState) -> np.ndarray:
        """IMU reading (10,): quaternion xyzw, body angular velocity (rad/s), body linear acceleration
        (m/s², specific force: includes the reaction to gravity, as a real accelerometer reports)."""
        rot = np.asarray(pb.getMatrixFromQuaternion(state.base_quat_xyzw)).reshape(3, 3)  # body -> world
        ang_body = rot.T @ state.base_ang_vel_radps  # (3,)
        specific_force_world = self.lin_accel_world_mps2 + np.array([0.0, 0.0, GRAVITY_MPS2])
        acc_body = rot.T @ specific_force_world  # (3,)
        return np.concatenate([state.base_quat_xyzw, ang_body, acc_body]).astype(np.float32)
