"""`make demo` (until the teaching loop lands): run every scripted teacher once, write one MP4 per
skill and a success table to the output folder.

    python -m sim.demo --out demo_out [--seed 0] [--skills sit walk_forward]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import gymnasium as gym
from tqdm import tqdm

import sim
from sim.video import record_episode


def run(out_dir: Path, seed: int, skill_names: list[str]) -> list[dict]:
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in tqdm(skill_names, desc="teachers", unit="skill"):
        env = gym.make(sim.ENV_ID, skill=name, render_mode="rgb_array")
        t0 = time.perf_counter()
        info = record_episode(
            env,
            lambda _obs, e=env: e.unwrapped.teacher_action(),
            out_dir / f"{name}.mp4",
            seed=seed,
            caption=f"teacher: {name} (cue {sim.skills.get(name).cue})",
        )
        rows.append(
            {
                "skill": name,
                "cue": info["cue"],
                "success": bool(info["success"]),
                "episode_s": round(info["time_s"], 2),
                "wall_s": round(time.perf_counter() - t0, 2),
                "video": f"{name}.mp4",
            }
        )
        env.close()
    return rows


def format_table(rows: list[dict]) -> str:
    lines = [
        "| skill | cue | teacher success | episode (s) | wall (s) | video |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        ok = "yes" if r["success"] else "NO"
        lines.append(
            f"| {r['skill']} | {r['cue']} | {ok} | {r['episode_s']} | {r['wall_s']} | {r['video']} |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("demo_out"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skills", nargs="*", default=None, help="default: every registered skill")
    args = ap.parse_args(argv)
    names = args.skills or sim.skills.names()
    for n in names:
        sim.skills.get(n)  # clear error for unknown names before any work
    rows = run(args.out, args.seed, names)
    table = format_table(rows)
    (args.out / "report.md").write_text(f"# yan-dog demo: scripted teachers (seed {args.seed})\n\n{table}\n")
    (args.out / "report.json").write_text(json.dumps(rows, indent=2))
    print(table)
    print(f"\nwrote {len(rows)} videos and report.md to {args.out}/")
    return 0 if all(r["success"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
