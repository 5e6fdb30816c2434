"""Left-right mirror images of demonstrations, for skills that are their own mirror image.

A robot dog is left-right symmetric, and so are many skills: walking forward, sitting, coming to a ball
that lies to the left or to the right. A demonstration of such a skill, mirrored, is another valid
demonstration of it. Three demonstrations of come_to_ball show three bearings of the ball, often all on
one side; a policy then learns to turn the way the demonstrations happened to turn, not towards the
ball. With each demonstration also seen mirrored, only the camera tells the two apart, so the policy
must learn where the ball is (docs/experiments.md, 2026-11-24: come_to_ball camera, mirror images and
batches of 2).

Mirroring across the robot's sagittal (x-z) plane, in the episode format's units:
- camera: the image flipped left-right (the head camera sits on the body's centre line);
- joints: the legs swap sides (`MirrorSpec.joint_permutation`) and the joints whose axis points along
  the body's x axis (the A1's hip abduction) change sign (`MirrorSpec.joint_sign`); position, velocity
  and effort alike;
- IMU: the quaternion (x, y, z, w) -> (-x, y, -z, w) (roll and yaw reverse, pitch stays); angular
  velocity (a pseudo-vector) -> (-wx, wy, -wz); specific force (a vector) -> (ax, -ay, az);
- actions: a gait command (vx, vy, yaw rate) -> (vx, -vy, -yaw rate); joint targets or offsets as the
  joints;
- audio: unchanged (one microphone on the centre line).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from yan_policy.data.episode import Episode

IMU_MIRROR_SIGN = np.array([-1, 1, -1, 1, -1, 1, -1, 1, -1, 1], np.float32)  # quat xyzw, gyro, accel
GAIT_MIRROR_SIGN = np.array([1, -1, -1], np.float32)  # vx, vy, yaw rate
GAIT_DIMS = 3


@dataclass(frozen=True)
class MirrorSpec:
    """How a robot's joints map onto their mirror images.

    Args:
        joint_permutation: mirrored joint i is original joint `joint_permutation[i]` (an involution:
            mirroring twice gives the original back).
        joint_sign: then multiplied by this (+1 or -1) per joint.
    """

    joint_permutation: tuple[int, ...]
    joint_sign: tuple[float, ...]

    def __post_init__(self):
        perm = tuple(int(i) for i in self.joint_permutation)
        sign = tuple(float(s) for s in self.joint_sign)
        object.__setattr__(self, "joint_permutation", perm)
        object.__setattr__(self, "joint_sign", sign)
        n = len(perm)
        if sorted(perm) != list(range(n)):
            raise ValueError(f"joint_permutation must be a permutation of 0..{n - 1}, got {perm}")
        if any(perm[perm[i]] != i for i in range(n)):
            raise ValueError(f"joint_permutation must be its own inverse (a mirror), got {perm}")
        if len(sign) != n or any(s not in (-1.0, 1.0) for s in sign):
            raise ValueError(f"joint_sign needs {n} entries of +1 or -1, got {sign}")
        if any(sign[i] != sign[perm[i]] for i in range(n)):
            raise ValueError("joint_sign must be equal for the two joints of a mirrored pair")

    @property
    def n_joints(self) -> int:
        return len(self.joint_permutation)

    def joints(self, x: np.ndarray) -> np.ndarray:
        """Mirror the last axis (one value per joint) of x."""
        return x[..., list(self.joint_permutation)] * np.asarray(self.joint_sign, x.dtype)

    def action(self, action: np.ndarray, action_mode: str) -> np.ndarray:
        """Mirror (T, A) actions of an episode's action mode."""
        out = action.copy()
        if action_mode in ("gait", "hybrid"):
            out[:, :GAIT_DIMS] *= GAIT_MIRROR_SIGN
        if action_mode in ("joint", "hybrid"):
            start = GAIT_DIMS if action_mode == "hybrid" else 0
            out[:, start:] = self.joints(action[:, start:])
        return out


def mirror_episode(episode: Episode, spec: MirrorSpec) -> Episode:
    """The episode as its left-right mirror image (see the module docstring); metadata unchanged but
    `extra["mirrored"]`, which flips."""
    joint_dims = {"joint": spec.n_joints, "gait": GAIT_DIMS, "hybrid": GAIT_DIMS + spec.n_joints}
    if episode.action.shape[1] != joint_dims[episode.action_mode]:
        raise ValueError(f"a {episode.action_mode!r} episode for {spec.n_joints} joints needs "
                         f"{joint_dims[episode.action_mode]} action dims, got {episode.action.shape[1]}")
    if episode.joints.shape[-1] != spec.n_joints:
        raise ValueError(f"episode has {episode.joints.shape[-1]} joints, the mirror spec {spec.n_joints}")
    camera = None if episode.camera is None else np.ascontiguousarray(episode.camera[:, :, ::-1])
    return dataclasses.replace(
        episode,
        camera=camera,  # (T, H, W, 3) flipped along W
        joints=spec.joints(episode.joints),  # (T, 3, J)
        imu=episode.imu * IMU_MIRROR_SIGN,  # (T, 10)
        action=spec.action(episode.action, episode.action_mode),  # (T, A)
        extra={**episode.extra, "mirrored": not episode.extra.get("mirrored", False)},
    )
