"""Demonstrator success per skill (scripted teacher, or the human-like one), and simulator speed with the
camera on, on one core.

    python bench/teachers.py --episodes 20 --json bench_out/teachers.json
    python bench/teachers.py --demos human --episodes 20 --json bench_out/human_teachers.json

`--demos human`: `sim.humans.HumanDemonstrator`, episode k by the person of `--persons[k % n]` (default: the
dev split's training seeds, as `bench/few_shot.py --demos human` draws them), in the hybrid action space;
per skill also how many demonstrations were imperfect by plan and how often the others passed.

JSON: {"demos": "scripted" | "human", "skills": {"sit": {"teacher_success": 1.0, "episodes": 20,
       "mean_episode_sim_s": ..., "mean_episode_wall_s": ..., ("imperfect": n, "perfect_success": ...)}, ...},
       "sim": {"control_steps_per_s": ..., "real_time_factor": ...}}
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
from bench.splits import SPLITS  # noqa: E402
from sim.humans import HumanDemonstrator, person_for_seed  # noqa: E402

RTF_TARGET = 2.0
SEED_BASE = 10_000  # evaluation seeds differ from the ones the tests use
SPEED_STEPS = 500  # control steps timed for the speed measurement (10 s of sim time at 50 Hz)


def teacher_episodes(skill: str, episodes: int, persons: list[int] | None = None) -> dict:
    """The scripted teacher's success on `skill` over `episodes` seeds; with `persons`, the human-like
    demonstrator's instead (episode k by the person of seed persons[k % len(persons)])."""
    results, sim_s, wall_s, imperfect = [], [], [], []
    env = gym.make(sim.ENV_ID, skill=skill, **({"action_mode": "hybrid"} if persons else {}))
    for k in range(episodes):
        t0 = time.perf_counter()
        env.reset(seed=SEED_BASE + k)
        human = None
        if persons:
            person_seed = persons[k % len(persons)]
            human = HumanDemonstrator(person_for_seed(person_seed), person_seed)
            plan = human.begin(env, skill, SEED_BASE + k, env.unwrapped.skill.start_posture)
            imperfect.append(plan.imperfect)
        done, info = False, {}
        while not done:
            action = human.action(env) if human else env.unwrapped.teacher_action()
            _, _, term, trunc, info = env.step(action)
            done = term or trunc
        wall_s.append(time.perf_counter() - t0)
        sim_s.append(info["time_s"])
        results.append(info["success"])
    env.close()
    out = {
        "teacher_success": float(np.mean(results)),
        "episodes": episodes,
        "mean_episode_sim_s": float(np.mean(sim_s)),
        "mean_episode_wall_s": float(np.mean(wall_s)),
    }
    if persons:
        perfect = [ok for ok, bad in zip(results, imperfect, strict=True) if not bad]
        out |= {"imperfect": int(sum(imperfect)),
                "perfect_success": float(np.mean(perfect)) if perfect else None,
                "failed_seeds": [SEED_BASE + k for k, ok in enumerate(results) if not ok]}
    return out


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
    ap.add_argument("--demos", choices=("scripted", "human"), default="scripted",
                    help="whose demonstrations: the scripted teacher (default) or the human-like one")
    ap.add_argument("--persons", nargs="+", type=int, default=list(SPLITS["dev"].train_seeds),
                    help="--demos human: the persons' seeds, taken in turn (default: the dev split's)")
    ap.add_argument("--no-speed", action="store_true", help="skip the simulator speed measurement")
    args = ap.parse_args(argv)
    if args.episodes < 1:
        ap.error("--episodes must be >= 1")
    persons = args.persons if args.demos == "human" else None
    pinned = pin_to_one_core()
    names = args.skills or sim.skills.names()

    skills = {name: teacher_episodes(name, args.episodes, persons)
              for name in tqdm(names, desc="skills", unit="skill")}
    result = {"demos": args.demos, "persons": persons, "skills": skills, "machine": machine_info()}
    if not args.no_speed:
        speed = sim_speed()
        speed["real_time_factor_camera_50hz"] = sim_speed(camera_hz=50.0)["real_time_factor"]
        speed["pinning"] = pinned
        result["sim"] = speed
    write_json(args.json, result)

    human = ["imperfect", "perfect_success"] if persons else []
    rows = [[n, s["teacher_success"], s["episodes"], *[s[h] for h in human], s["mean_episode_sim_s"],
             s["mean_episode_wall_s"]] for n, s in skills.items()]
    print(format_table(["skill", f"{args.demos}_success", "episodes", *human, "episode_sim_s",
                        "episode_wall_s"], rows))
    if args.no_speed:
        print(f"\nwrote {args.json}")
        return 0
    print()
    rows = [["default (96x96 cam @10 Hz)", speed["control_steps_per_s"], speed["real_time_factor"],
             f">= {RTF_TARGET}"],
            ["camera every tick (50 Hz)", speed["real_time_factor_camera_50hz"] * speed["control_hz"],
             speed["real_time_factor_camera_50hz"], "(info)"]]
    print(format_table(["config", "control_steps/s", "real_time_factor", "target"], rows))
    met = speed["real_time_factor"] >= RTF_TARGET
    print(f"\nreal-time factor target {'met' if met else 'MISSED'} ({pinned}); wrote {args.json}")
    return 0

if __name__ == "__main__":
    raise SystemExit(main())
