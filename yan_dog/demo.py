"""`yan-dog demo` (`make demo`): a full teaching session in simulation, with a report people can read.

1. record the untrained robot on each skill's cue (before videos);
2. teach each skill from a few scripted demonstrations, each with its own cue, learning during and after
   the demonstrations; evaluate it right after it was taught;
3. evaluate every skill again, cue by cue, once all are taught (retention, cue selection);
4. record the taught robot (after videos) and write demo_out/: report.md, report.json, learning curves
   and success plots (PNG), before/after MP4s, and the skill library itself.
"""

from __future__ import annotations

import json
import shutil
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

import sim
from sim.video import annotate, write_mp4
from yan_dog.report import markdown_table, plot_learning_curves, plot_success

DEFAULT_DEMO_SKILLS = ["sit", "lie_down", "walk_forward", "turn_left"]
VIDEO_EVERY_TICKS = 2  # 25 fps videos from the 50 Hz control loop
VIDEO_SEED_OFFSET = 9_000  # videos use their own held-out seeds
RIGHT_AFTER_SEED_OFFSET = 5_000  # evaluation right after teaching uses other held-out seeds


def _video(session, skill: str, path: Path, caption: str) -> bool:
    res = session.try_skill(skill, seed=VIDEO_SEED_OFFSET, render_every=VIDEO_EVERY_TICKS)
    frames = [annotate(f, f"{caption} | cue: {sim.skills.get(skill).cue}") for f in res.frames]
    write_mp4(frames, path, fps=session.env.unwrapped.control_hz / VIDEO_EVERY_TICKS)
    return res.success


@contextmanager
def _timed(phases: dict[str, float], name: str):
    """Add the wall time of the block to phases[name] (s)."""
    start = time.perf_counter()
    try:
        yield
    finally:
        phases[name] = phases.get(name, 0.0) + time.perf_counter() - start


def run_demo(args) -> int:
    from yan_dog.cli import teach_with_progress
    from yan_dog.session import SessionConfig, TeachSession
    from yan_policy.data.library import SkillLibrary

    out: Path = args.out
    skills = args.skills or DEFAULT_DEMO_SKILLS
    for s in skills:
        sim.skills.get(s)
    out.mkdir(parents=True, exist_ok=True)
    lib_dir = out / "library"
    if lib_dir.exists():
        shutil.rmtree(lib_dir)  # the demo always starts from a robot that knows nothing
    t_start = time.perf_counter()
    session = TeachSession(
        SessionConfig(policy=args.policy, learn_seconds=args.learn_seconds, seed=args.seed,
                      eval_workers=args.eval_workers),
        SkillLibrary(lib_dir),
    )
    try:
        print(
            f"demo: teaching {', '.join(skills)} with {args.demos} demonstrations each ({args.policy} policy)"
        )
        phases: dict[str, float] = {}  # wall seconds per phase, for the report
        with _timed(phases, "before_videos"):
            before = {s: _video(session, s, out / f"before_{s}.mp4", f"before teaching: {s}") for s in skills}

        reports, right_after = {}, {}
        for skill in skills:
            # Every skill is demonstrated in the same randomised scenes, so only the cue tells the skills
            # apart. With a different scene per skill, 3 demos let the policy learn "which scene -> which
            # skill" and ignore the cue (measured: identical behaviour under every cue).
            with _timed(phases, "teaching"):
                reports[skill] = teach_with_progress(session, skill, args.demos, seed_offset=0)
            with _timed(phases, "evaluation"):
                right_after[skill] = session.evaluate(
                    skill, args.eval_episodes, seed_offset=RIGHT_AFTER_SEED_OFFSET
                )
            print(f"  {skill}: success right after teaching {right_after[skill]['success_rate']:.2f}")
        version = session.save()

        final = {}
        for skill in skills:
            with _timed(phases, "evaluation"):
                final[skill] = session.evaluate(skill, args.eval_episodes)
            print(
                f"  {skill}: final success {final[skill]['success_rate']:.2f} "
                f"(cue selected correctly {final[skill]['cue_correct_rate']:.2f})"
            )
        with _timed(phases, "after_videos"):
            after = {s: _video(session, s, out / f"after_{s}.mp4", f"after teaching: {s}") for s in skills}
    finally:
        session.close()

    rows, table = [], {}
    for s in skills:
        r0, r1 = right_after[s]["success_rate"], final[s]["success_rate"]
        # the last skill taught had nothing taught after it to forget: its ratio is only evaluation noise
        retention = "n/a" if s == skills[-1] or r0 == 0 else r1 / r0
        rows.append(
            [
                s,
                sim.skills.get(s).cue,
                args.demos,
                f"{reports[s].learn_seconds:.1f}",
                reports[s].steps,
                r0,
                r1,
                final[s]["cue_correct_rate"],
                final[s]["wrong_skill_rate"],
                retention,
            ]
        )
        table[s] = {"right after teaching": r0, "after all skills taught": r1}
    plot_learning_curves({s: reports[s].curve for s in skills}, out / "learning_curves.png")
    plot_success(
        table, out / "success.png", f"Success on held-out seeds ({args.eval_episodes} episodes each)"
    )
    headers = [
        "skill",
        "cue",
        "demos",
        "learn CPU s",
        "steps",
        "success right after",
        "success at end",
        "cue correct",
        "wrong skill",
        "retention",
    ]
    summary = {
        "policy": args.policy,
        "demos_per_skill": args.demos,
        "eval_episodes": args.eval_episodes,
        "eval_workers": args.eval_workers,
        "library_version": version,
        "wall_seconds": time.perf_counter() - t_start,
        "phase_seconds": phases,
        "skills": {
            s: {
                "cue": sim.skills.get(s).cue,
                "learn_seconds": reports[s].learn_seconds,
                "steps": reports[s].steps,
                "success_right_after": right_after[s]["success_rate"],
                "success_final": final[s]["success_rate"],
                "cue_correct_rate": final[s]["cue_correct_rate"],
                "wrong_skill_rate": final[s]["wrong_skill_rate"],
                "before_video_success": before[s],
                "after_video_success": after[s],
            }
            for s in skills
        },
        "mean_final_success": float(np.mean([final[s]["success_rate"] for s in skills])),
    }
    (out / "report.json").write_text(json.dumps(summary, indent=2))
    md = [
        "# yan-dog demo: teaching a simulated A1 new tricks",
        "",
        f"Policy `{args.policy}`, {args.demos} scripted demonstrations per skill, each skill asked for "
        f"by its own audio cue; evaluation on {args.eval_episodes} held-out randomised episodes per skill.",
        "",
        markdown_table(headers, rows),
        "",
        "- *success right after*: evaluated as soon as that skill was taught;",
        "- *success at end*: evaluated after every skill was taught;",
        "- *cue correct*: the robot did what the cue asked and nothing another cue asks for;",
        "- *wrong skill*: it did another taught skill's motion instead (or as well); the rest of the",
        "  misses are the right skill left unfinished;",
        "- *retention*: end / right after, for skills that had others taught after them.",
        "",
        "![learning curves](learning_curves.png)",
        "![success](success.png)",
        "",
        "Videos: " + ", ".join(f"`before_{s}.mp4` / `after_{s}.mp4`" for s in skills),
        "",
        f"Skill library: `library/` (version {version}). Total wall time {summary['wall_seconds']:.0f} s: "
        + ", ".join(f"{name.replace('_', ' ')} {sec:.0f} s" for name, sec in phases.items())
        + f" (evaluation in {args.eval_workers} process{'es' if args.eval_workers > 1 else ''}).",
    ]
    (out / "report.md").write_text("\n".join(md) + "\n")
    print()
    print(markdown_table(headers, rows))
    print(f"\nwrote {out}/report.md, plots and videos ({summary['wall_seconds']:.0f} s)")
    return 0
