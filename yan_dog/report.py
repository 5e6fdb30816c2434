"""Plots and tables for people: learning curves, success tables, the demo report."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")  # headless: files only
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

if TYPE_CHECKING:
    from yan_dog.demo import DemoResult

SMOOTH_STEPS = 10  # moving-average window of the plotted loss


def _smooth(values: np.ndarray, window: int) -> np.ndarray:
    if len(values) < window:
        return values
    kernel = np.ones(window) / window
    return np.convolve(values, kernel, mode="valid")


def plot_learning_curves(curves: dict[str, list[dict]], path: str | os.PathLike) -> Path:
    """Action loss against CPU seconds of learning, one line per taught skill."""
    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    for skill, logs in curves.items():
        if not logs:
            continue
        t = np.array([log["train_seconds"] for log in logs])
        t = t - t[0]
        loss = np.array([log["action_loss"] for log in logs])
        s = _smooth(loss, SMOOTH_STEPS)
        ax.plot(t[len(t) - len(s) :], s, label=skill)
    ax.set_xlabel("CPU seconds of learning (since the skill's first demonstration)")
    ax.set_ylabel("action loss (L1, normalised)")
    ax.set_yscale("log")
    ax.set_title("Learning curves: one line per taught skill")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_success(table: dict[str, dict[str, float]], path: str | os.PathLike, title: str) -> Path:
    """Grouped bars: success rate per skill for each column (e.g. before / after teaching)."""
    skills = list(table)
    columns = list(next(iter(table.values()))) if table else []
    fig, ax = plt.subplots(figsize=(max(5, 1.3 * len(skills)), 3.6), dpi=110)
    width = 0.8 / max(1, len(columns))
    for j, col in enumerate(columns):
        vals = [table[s][col] for s in skills]
        ax.bar(np.arange(len(skills)) + (j - (len(columns) - 1) / 2) * width, vals, width, label=col)
    ax.set_xticks(np.arange(len(skills)), skills)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("success rate")
    ax.set_title(title)
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path


def markdown_table(headers: list[str], rows: list[list]) -> str:
    def cell(v):
        if isinstance(v, float):
            return f"{v:.2f}"
        return str(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)


def write_demo_report(result: DemoResult) -> Path:
    """The report of a `yan_dog.demo.run_demo` run in `result.out`: report.md, report.json,
    learning_curves.png and success.png; the table also goes to the console. Returns report.md's path."""
    out, skills = result.out, result.skills
    reports, right_after, final = result.teach, result.right_after, result.final
    rows, table = [], {}
    for s in skills:
        r0, r1 = right_after[s]["success_rate"], final[s]["success_rate"]
        # the last skill taught had nothing taught after it to forget: its ratio is only evaluation noise
        retention = "n/a" if s == skills[-1] or r0 == 0 else r1 / r0
        rows.append(
            [
                s,
                result.cues[s],
                result.demos_per_skill,
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
        table, out / "success.png", f"Success on held-out seeds ({result.eval_episodes} episodes each)"
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
        "policy": result.policy,
        "demos_per_skill": result.demos_per_skill,
        "eval_episodes": result.eval_episodes,
        "eval_workers": result.eval_workers,
        "library_version": result.library_version,
        "wall_seconds": result.wall_seconds,
        "phase_seconds": result.phase_seconds,
        "skills": {
            s: {
                "cue": result.cues[s],
                "learn_seconds": reports[s].learn_seconds,
                "steps": reports[s].steps,
                "success_right_after": right_after[s]["success_rate"],
                "success_final": final[s]["success_rate"],
                "cue_correct_rate": final[s]["cue_correct_rate"],
                "wrong_skill_rate": final[s]["wrong_skill_rate"],
                "before_video_success": result.before_video_success[s],
                "after_video_success": result.after_video_success[s],
            }
            for s in skills
        },
        "mean_final_success": float(np.mean([final[s]["success_rate"] for s in skills])),
    }
    (out / "report.json").write_text(json.dumps(summary, indent=2))
    md = [
        "# yan-dog demo: teaching a simulated A1 new tricks",
        "",
        f"Policy `{result.policy}`, {result.demos_per_skill} scripted demonstrations per skill, each skill "
        f"asked for by its own audio cue; evaluation on {result.eval_episodes} held-out randomised episodes "
        "per skill.",
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
        f"Skill library: `library/` (version {result.library_version}). Total wall time "
        f"{result.wall_seconds:.0f} s: "
        + ", ".join(f"{name.replace('_', ' ')} {sec:.0f} s" for name, sec in result.phase_seconds.items())
        + f" (evaluation in {result.eval_workers} process{'es' if result.eval_workers > 1 else ''}).",
    ]
    path = out / "report.md"
    path.write_text("\n".join(md) + "\n")
    print()
    print(markdown_table(headers, rows))
    print(f"\nwrote {out}/report.md, plots and videos ({result.wall_seconds:.0f} s)")
    return path
