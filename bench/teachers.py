"""Scripted-teacher success per skill, and simulator speed with the camera on, on one core.

    python bench/teachers.py --episodes 20 --json bench_out/teachers.json

JSON: {"skills": {"sit": {"teacher_success": 1.0, "episodes": 20, "mean_episode_sim_s": ...,
       "mean_episode_wall_s": ...}, ...}, "sim": {"control_steps_per_s": ..., "real_time_factor": ...}}
Target: real-time factor >= 2 at default sizes (96x96 camera at 10 Hz, 16 kHz audio, 50 Hz control,
1 kHz physics) on one core.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

import sim  # noqa: E402
from bench._common import format_table, machine_info, pin_to_one_core, write_json  # noqa: E402

RTF_TARGET = 2.0
SEED_BASE = 10_000  # evaluation seeds differ from the ones the tests use
SPEED_STEPS = 500  # control steps timed for the speed measurement (10 s of sim time at 50 Hz)


def teacher_episodes(skill: str, episodes: int) -> dict:
    results, sim_s, wall_s = [], [], []
    env = gym.make(sim.ENV_ID, skill=skill)
    for k in range(episodes):
        t0 = time.perf_counter()
        env.reset(seed=SEED_BASE + k)
        done, info = False, {}
        while not done:
            _, _, term, trunc, info = env.step(env.unwrapped.teacher_action())
            done = term or trunc
        wall_s.append(time.perf_counter() - t0)
        sim_s.append(info["time_s"])
        results.append(info["success"])
    env.close()
    return {
        "teacher_success": float(np.mean(results)),
        "episodes": episodes,
        "mean_episode_sim_s": float(np.mean(sim_s)),
        "mean_episode_wall_s": float(np.mean(wall_s)),
    }


def sim_speed(**env_kwargs) -> dict:
    """Control steps per second while trotting (walk_forward teacher), camera and microphone on."""
    env = gym.make(sim.ENV_ID, skill="walk_forward", episode_s=SPEED_STEPS / 50 + 1, **env_kwargs)
    env.reset(seed=SEED_BASE)
    u = env.unwrapped
    t0 = time.perf_counter()
    for _ in range(SPEED_STEPS):
        env.step(u.teacher_action())
    wall = time.perf_counter() - t0
    env.close()
    steps_per_s = SPEED_STEPS / wall
    return {
        "control_steps_per_s": steps_per_s,
        "real_time_factor": steps_per_s / u.control_hz,
        "control_hz": u.control_hz,
        "physics_hz": u.physics_hz,
        "camera_size": list(u.camera_size),
        "camera_hz": u.camera_hz,
        "audio_rate_hz": u.audio_rate_hz,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--episodes", type=int, default=20, help="evaluation episodes per skill")
    ap.add_argument("--json", type=Path, default=Path("bench_out/teachers.json"))
    ap.add_argument("--skills", nargs="*", default=None)
    args = ap.parse_args(argv)
    if args.episodes < 1:
        ap.error("--episodes must be >= 1")
    pinned = pin_to_one_core()
    names = args.skills or sim.skills.names()

    skills = {
        name: teacher_episodes(name, args.episodes) for name in tqdm(names, desc="skills", unit="skill")
    }
    speed = sim_speed()
    speed_camera_every_tick = sim_speed(camera_hz=50.0)
    speed["real_time_factor_camera_50hz"] = speed_camera_every_tick["real_time_factor"]
    speed["pinning"] = pinned
    result = {"skills": skills, "sim": speed, "machine": machine_info()}
    write_json(args.json, result)

    rows = [
        [n, s["teacher_success"], s["episodes"], s["mean_episode_sim_s"], s["mean_episode_wall_s"]]
        for n, s in skills.items()
    ]
    print(format_table(["skill", "teacher_success", "episodes", "episode_sim_s", "episode_wall_s"], rows))
    print()
    print(
        format_table(
            ["config", "control_steps/s", "real_time_factor", "target"],
            [
                [
                    "default (96x96 cam @10 Hz)",
                    speed["control_steps_per_s"],
                    speed["real_time_factor"],
                    f">= {RTF_TARGET}",
                ],
                [
                    "camera every tick (50 Hz)",
                    speed_camera_every_tick["control_steps_per_s"],
                    speed_camera_every_tick["real_time_factor"],
                    "(info)",
                ],
            ],
        )
    )
    met = speed["real_time_factor"] >= RTF_TARGET
    print(f"\nreal-time factor target {'met' if met else 'MISSED'} ({pinned}); wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
