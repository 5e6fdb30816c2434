"""Write what the robot did as an MP4 that people can watch (chase camera, optional head-camera inset)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import imageio.v2 as imageio
import numpy as np

INSET_SCALE = 0.3  # head-camera inset width as a fraction of the frame width
CAPTION_SCALE = 0.4
CAPTION_COLOR = (255, 255, 255)
MACRO_BLOCK = 16  # H.264 wants frame sizes that are multiples of 16


def annotate(frame: np.ndarray, caption: str = "", inset: np.ndarray | None = None) -> np.ndarray:
    """Draw a caption and an optional head-camera inset onto an RGB frame (H, W, 3) uint8."""
    out = np.ascontiguousarray(frame).copy()
    h, w = out.shape[:2]
    if inset is not None:
        iw = int(w * INSET_SCALE)
        ih = int(iw * inset.shape[0] / inset.shape[1])
        small = cv2.resize(inset, (iw, ih), interpolation=cv2.INTER_NEAREST)
        out[h - ih - 4 : h - 4, w - iw - 4 : w - 4] = small
    if caption:
        cv2.putText(out, caption, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, CAPTION_SCALE, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(
            out, caption, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, CAPTION_SCALE, CAPTION_COLOR, 1, cv2.LINE_AA
        )
    return out


def write_mp4(frames: Sequence[np.ndarray], path: str | os.PathLike, fps: float) -> Path:
    """Encode RGB frames (H, W, 3) uint8 to an H.264 MP4, atomically (temp file + rename)."""
    if len(frames) == 0:
        raise ValueError("write_mp4 needs at least one frame")
    h, w = frames[0].shape[:2]
    if any(f.shape != frames[0].shape or f.dtype != np.uint8 for f in frames):
        raise ValueError("all frames must be uint8 arrays of the same shape (H, W, 3)")
    # Pad to the codec's block size so no frame is silently resized.
    ph, pw = -h % MACRO_BLOCK, -w % MACRO_BLOCK
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.mp4")
    with imageio.get_writer(tmp, fps=fps, codec="libx264", quality=7, macro_block_size=1) as writer:
        for f in frames:
            writer.append_data(np.pad(f, ((0, ph), (0, pw), (0, 0))) if ph or pw else f)
    os.replace(tmp, path)
    return path


def record_episode(
    env,
    policy: Callable[[dict], np.ndarray],
    path: str | os.PathLike,
    seed: int | None = None,
    caption: str = "",
    options: dict | None = None,
) -> dict:
    """Run one episode of `env` (made with render_mode="rgb_array") under `policy(obs) -> action`,
    write it as an MP4 at the env's render fps, and return the last info dict."""
    if env.unwrapped.render_mode != "rgb_array":
        raise ValueError('record_episode needs an env made with render_mode="rgb_array"')
    fps = env.metadata.get("render_fps", 25)
    every = max(1, round(env.unwrapped.control_hz / fps))
    obs, info = env.reset(seed=seed, options=options)
    frames, k, done = [], 0, False
    while not done:
        if k % every == 0:
            status = "SUCCESS" if info["success"] else ""
            text = f"{caption} t={info['time_s']:.1f}s {status}".strip()
            frames.append(annotate(env.render(), text, inset=obs["camera"]))
        obs, _, terminated, truncated, info = env.step(policy(obs))
        done, k = terminated or truncated, k + 1
    write_mp4(frames, path, fps=env.unwrapped.control_hz / every)
    return info
