"""The world around the robot: floor, props (a coloured ball), lighting, and the two cameras.

- The head camera is rigidly mounted on the A1's trunk, looking forward and slightly down; it is
  what the robot sees (observation `camera`).
- The chase camera follows the robot from behind and above; it is for people (`render()`, videos).
Both use PyBullet's TinyRenderer (CPU), so they run headless on any machine.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pybullet as pb

BALL_RADIUS_M = 0.08
BALL_MASS_KG = 0.1
BALL_RGBA = (0.95, 0.35, 0.05, 1.0)  # orange: easy to tell from the grey floor
FLOOR_RGBA = (0.55, 0.55, 0.58, 1.0)

# Head camera mount in the trunk frame (m) and its view (the A1's front sensor sits ~0.27 m forward).
HEAD_CAM_OFFSET_M = np.array([0.27, 0.0, 0.05])
HEAD_CAM_PITCH_DOWN_RAD = 0.25  # looks slightly down, so the floor and a ball ahead are in view
HEAD_CAM_FOV_DEG = 80.0
CAM_NEAR_M = 0.02
CAM_FAR_M = 10.0

CHASE_DISTANCE_M = 1.2
CHASE_YAW_OFFSET_DEG = 30.0
CHASE_PITCH_DEG = -25.0
CHASE_FOV_DEG = 60.0


@dataclass
class Lighting:
    """TinyRenderer light: direction (world, towards the light) and colour."""

    direction: np.ndarray = field(default_factory=lambda: np.array([0.5, 0.3, 1.0]))
    color: np.ndarray = field(default_factory=lambda: np.array([1.0, 1.0, 1.0]))


class Scene:
    """Floor + ball; owns prop bodies and draws camera frames."""

    def __init__(self, client: int):
        self.client = client
        self.floor = pb.loadURDF("plane.urdf", physicsClientId=client)
        pb.changeVisualShape(self.floor, -1, rgbaColor=FLOOR_RGBA, physicsClientId=client)
        vis = pb.createVisualShape(
            pb.GEOM_SPHERE, radius=BALL_RADIUS_M, rgbaColor=BALL_RGBA, physicsClientId=client
        )
        col = pb.createCollisionShape(pb.GEOM_SPHERE, radius=BALL_RADIUS_M, physicsClientId=client)
        self.ball = pb.createMultiBody(
            BALL_MASS_KG, col, vis, basePosition=[2.0, 0.0, BALL_RADIUS_M], physicsClientId=client
        )
        # A rolling ball should slow down and stop, as on a carpet.
        pb.changeDynamics(self.ball, -1, rollingFriction=0.01, spinningFriction=0.01, physicsClientId=client)
        self.lighting = Lighting()

    def set_floor_friction(self, lateral_friction: float) -> None:
        pb.changeDynamics(self.floor, -1, lateralFriction=lateral_friction, physicsClientId=self.client)

    def place_ball(self, xy_m) -> None:
        pos = [float(xy_m[0]), float(xy_m[1]), BALL_RADIUS_M]
        pb.resetBasePositionAndOrientation(self.ball, pos, [0, 0, 0, 1], physicsClientId=self.client)
        pb.resetBaseVelocity(self.ball, [0, 0, 0], [0, 0, 0], physicsClientId=self.client)

    def ball_position(self) -> np.ndarray:
        pos, _ = pb.getBasePositionAndOrientation(self.ball, physicsClientId=self.client)
        return np.asarray(pos)

    # --- cameras -----------------------------------------------------------------------------------------
    def _draw(self, view, proj, width: int, height: int) -> np.ndarray:
        light = self.lighting
        _, _, rgba, _, _ = pb.getCameraImage(
            width,
            height,
            viewMatrix=view,
            projectionMatrix=proj,
            renderer=pb.ER_TINY_RENDERER,
            lightDirection=light.direction.tolist(),
            lightColor=light.color.tolist(),
            shadow=0,
            flags=pb.ER_NO_SEGMENTATION_MASK,
            physicsClientId=self.client,
        )
        return np.asarray(rgba, np.uint8).reshape(height, width, 4)[:, :, :3]  # (H, W, 3)

    def head_camera(self, base_pos, base_quat, width: int, height: int) -> np.ndarray:
        """RGB frame (H, W, 3) uint8 from the camera mounted on the trunk."""
        rot = np.asarray(pb.getMatrixFromQuaternion(base_quat)).reshape(3, 3)  # trunk -> world
        eye = np.asarray(base_pos) + rot @ HEAD_CAM_OFFSET_M
        look_dir = np.array([np.cos(HEAD_CAM_PITCH_DOWN_RAD), 0.0, -np.sin(HEAD_CAM_PITCH_DOWN_RAD)])
        target = eye + rot @ look_dir
        up = rot @ np.array([0.0, 0.0, 1.0])
        view = pb.computeViewMatrix(eye.tolist(), target.tolist(), up.tolist())
        proj = pb.computeProjectionMatrixFOV(HEAD_CAM_FOV_DEG, width / height, CAM_NEAR_M, CAM_FAR_M)
        return self._draw(view, proj, width, height)

    def chase_camera(self, base_pos, base_yaw_rad: float, width: int, height: int) -> np.ndarray:
        """RGB frame (H, W, 3) uint8 from an external camera following the robot."""
        view = pb.computeViewMatrixFromYawPitchRoll(
            cameraTargetPosition=[float(base_pos[0]), float(base_pos[1]), 0.2],
            distance=CHASE_DISTANCE_M,
            yaw=float(np.degrees(base_yaw_rad)) - 90.0 + CHASE_YAW_OFFSET_DEG,
            pitch=CHASE_PITCH_DEG,
            roll=0.0,
            upAxisIndex=2,
        )
        proj = pb.computeProjectionMatrixFOV(CHASE_FOV_DEG, width / height, CAM_NEAR_M, CAM_FAR_M)
        return self._draw(view, proj, width, height)
