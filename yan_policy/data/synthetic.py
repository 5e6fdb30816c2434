"""Synthetic sensor streams in the sim's observation format, for tests, benchmarks and smoke runs.

Nothing here is training data: frames are noise with a coloured square, audio is noise plus a tone,
joints jitter around the standing pose. The formats match `sim` exactly (see yan_policy.policies.base).
"""

from __future__ import annotations

import numpy as np

from yan_policy.policies.config import PolicyConfig, TokenizerConfig
from yan_policy.policies.transformer.configuration_transformer import TransformerConfig
from yan_policy.policies.yan.configuration_yan import MCSDConfig, MemoryConfig, SparseConfig


def tiny_config(**overrides) -> PolicyConfig:
    """A very small config (tens of thousands of parameters) for fast tests; keywords override fields."""
    base = dict(
        tokenizer=TokenizerConfig(token_dim=16, image_size=16, camera_channels=(4, 8), camera_grid=2,
                                  n_mels=16),
        d_model=32, n_layers=2, action_dim=12, chunk=3,
        mcsd=MCSDConfig(n_channels=4, scan_chunk=8),
        sparse=SparseConfig(hidden_mult=2, active_fraction=0.25, scorer_rank=8),
        memory=MemoryConfig(d_mem=8, hidden=16, after_layer=0),
        transformer=TransformerConfig(n_heads=2, cache_init=4),  # tiny cache: exercises its growth
    )
    base.update(overrides)
    return PolicyConfig(**base)


def quat_from_rpy(roll: float, pitch: float, yaw: float) -> np.ndarray:
    """Quaternion (4,) xyzw of roll, pitch, yaw in rad (as PyBullet's getQuaternionFromEuler)."""
    cr, sr = np.cos(roll / 2), np.sin(roll / 2)
    cp, sp = np.cos(pitch / 2), np.sin(pitch / 2)
    cy, sy = np.cos(yaw / 2), np.sin(yaw / 2)
    return np.array([sr * cp * cy - cr * sp * sy, cr * sp * cy + sr * cp * sy,
                     cr * cp * sy - sr * sp * cy, cr * cp * cy + sr * sp * sy])


def random_obs(cfg: TokenizerConfig, rng: np.random.Generator, image_hw: tuple[int, int] = (96, 96)
               ) -> dict[str, np.ndarray]:
    """One tick: camera uint8 (H, W, 3), audio int16 (S,), joints float32 (3, J), imu float32 (10,)."""
    h, w = image_hw
    frame = rng.integers(0, 60, size=(h, w, 3), dtype=np.uint8)
    y, x = rng.integers(0, h // 2), rng.integers(0, w // 2)
    frame[y:y + h // 4, x:x + w // 4] = rng.integers(0, 256, size=3, dtype=np.uint8)  # a coloured "ball"
    t = np.arange(cfg.samples_per_tick) / cfg.sample_rate
    tone = 3000.0 * np.sin(2 * np.pi * rng.uniform(1000.0, 3000.0) * t)
    audio = np.clip(tone + rng.normal(0.0, 300.0, cfg.samples_per_tick), -32768, 32767).astype(np.int16)
    joints = np.zeros((3, cfg.n_joints), dtype=np.float32)
    joints[0] = np.asarray(cfg.joint_offset) + rng.normal(0.0, 0.05, cfg.n_joints)
    joints[1] = rng.normal(0.0, 0.5, cfg.n_joints)
    joints[2] = rng.normal(0.0, 5.0, cfg.n_joints)
    gravity = np.array([0.0, 0.0, 9.81]) + rng.normal(0.0, 0.3, 3)
    roll, pitch, yaw = rng.normal(0.0, 0.1), rng.normal(0.0, 0.1), rng.uniform(-np.pi, np.pi)  # rad
    quat, gyro = quat_from_rpy(roll, pitch, yaw), rng.normal(0.0, 0.1, 3)
    imu = np.concatenate([quat, gyro, gravity])  # quat xyzw, gyro rad/s, accel m/s²
    return {"camera": frame, "audio": audio, "joints": joints, "imu": imu.astype(np.float32)}


def random_batch(cfg: PolicyConfig, batch: int, steps: int, rng: np.random.Generator,
                 image_hw: tuple[int, int] | None = None) -> dict[str, np.ndarray]:
    """A (B, T) training batch of `random_obs` ticks plus random teacher actions (B, T, A).

    image_hw defaults to the tokenizer's image_size (frames already resized, as a recorder would store them).
    """
    size = image_hw or (cfg.tokenizer.image_size, cfg.tokenizer.image_size)
    ticks = [[random_obs(cfg.tokenizer, rng, size) for _ in range(steps)] for _ in range(batch)]
    out = {k: np.stack([np.stack([o[k] for o in row]) for row in ticks]) for k in ticks[0][0]}
    out["action"] = rng.normal(0.0, 0.3, size=(batch, steps, cfg.action_dim)).astype(np.float32)
    return out


def batch_tick(batch: dict[str, np.ndarray], b: int, t: int) -> dict[str, np.ndarray | None]:
    """The observation dict of tick t of episode b, honouring `<stream>_present` flags (absent -> None)."""
    obs = {}
    for key in ("camera", "audio", "joints", "imu"):
        if key not in batch:
            continue
        present = batch.get(f"{key}_present")
        obs[key] = None if present is not None and not present[b, t] else batch[key][b, t]
    return obs
