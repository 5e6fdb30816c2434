"""Equal tuning effort: the same lr x batch-episodes grid for every policy, scored on dev only.

    python bench/tune.py --json bench/results/2026-12-07_tuning_dev.json --write-tuned bench/tuned.json
    python bench/tune.py --policies yan transformer --lrs 0.002 0.004 --batches 2 --skills sit \
        --seeds 10 --learn-seconds 10 --eval-episodes 4 --json bench_out/tune_tiny.json   # a tiny try

Every policy gets the same grid (`--lrs` x `--batches`), the same task set (`--skills`, K = 3 each), the
same dev seeds, the same learner CPU budget per job and the same evaluation episodes: equal effort. Each
cell runs `bench/few_shot.py`'s single-skill jobs (its job functions and worker pool, the cell's lr and
batch given as its `--set` overrides, the baselines parameter-matched to Yan) and is scored by its mean
success over the task set with a 95 % interval (nested bootstrap over seeds and episodes, per skill).
A policy's best cell is the highest mean; a tie goes to LearnerConfig's defaults, then to the higher
lower bound. `--write-tuned` writes each policy's best cell to a file that `bench/few_shot.py` reads by
default (`bench/tuned.py`); the result JSON says whether the best cell's interval is clear of the
defaults' ("separable") or only ahead on the mean.

The grid is chosen on dev alone: `--split test` is refused.

JSON: {"split": "dev", "grid": {...}, "task": {...}, "params": {policy: n},
       "cells": {policy: [{"lr", "batch_episodes", "mean_ci": [m, lo, hi], "per_skill": {skill: [...]},
                           "steps_median"}]},
       "best": {policy: {"lr", "batch_episodes", "mean_ci", "default_ci", "separable"}},
       "raw": [one entry per job], "config": {...}, "machine": {...}, "complete": bool}
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from bench._common import format_table, machine_info, write_json  # noqa: E402
from bench.few_shot import POLICIES, _sizes, build_jobs, run_jobs, split_done, summarize  # noqa: E402
from bench.splits import SPLITS, check_seeds  # noqa: E402
from bench.stats import ahead, fmt_ci  # noqa: E402
from bench.tuned import TUNED_JSON  # noqa: E402

DEFAULT_LRS = (1e-3, 2e-3, 4e-3)  # around LearnerConfig's 2e-3, a factor of 2 each way
DEFAULT_BATCHES = (1, 2)  # LearnerConfig's 2 and the 1 that fits twice the steps in the budget
DEFAULT_SKILLS = ("sit", "turn_left", "come_to_ball")  # a posture, a turn that stops, the camera skill
TUNE_K = 3  # demonstrations per skill, the teaching default
LEARN_SECONDS = 60.0  # learner CPU seconds per job, the few-shot bench's budget


def default_cell() -> dict:
    """LearnerConfig's own lr and batch episodes (the untuned settings)."""
    from yan_policy.training.learner import LearnerConfig

    c = LearnerConfig()
    return {"lr": c.lr, "batch_episodes": c.batch_episodes}


def cell_jobs(policy: str, cell: dict, task: dict, widths: dict) -> list[tuple]:
    """few_shot's single-skill jobs of one (policy, cell): the cell as --set learner overrides."""
    cfg = {"skills": task["skills"], "ks": [TUNE_K], "seeds": task["seeds"],
           "learn_seconds": task["learn_seconds"], "eval_episodes": task["eval_episodes"],
           "final_only": True, "split": "dev", "widths": widths,
           "overrides": {"learner": {"lr": cell["lr"], "batch_episodes": cell["batch_episodes"]}}}
    return build_jobs(cfg, [policy], ["single"])


def _cell_of(job: dict) -> tuple[float, int]:
    learner = job["overrides"]["learner"]
    return learner["lr"], learner["batch_episodes"]


def score(results: list[dict], policies: list[str], grid: dict) -> dict:
    """{"cells": ..., "best": ...} (module docstring) from the finished jobs; cells with no job yet are
    left out."""
    default = default_cell()
    cells, best = {}, {}
    for policy in policies:
        cells[policy] = []
        for lr in grid["lr"]:
            for batch in grid["batch_episodes"]:
                mine = [r for r in results if r["policy"] == policy and _cell_of(r) == (lr, batch)]
                if not mine:
                    continue
                s = summarize(mine, [policy])
                if not s["k3_mean_ci"]:
                    continue
                cells[policy].append({"lr": lr, "batch_episodes": batch, "mean_ci": s["k3_mean_ci"][policy],
                                      "per_skill": {k: v[policy]["3"] for k, v in s["ci"].items()},
                                      "steps_median": float(np.median([r["steps"] for r in mine])),
                                      "jobs": len(mine)})
        if not cells[policy]:
            continue
        is_default = [c["lr"] == default["lr"] and c["batch_episodes"] == default["batch_episodes"]
                      for c in cells[policy]]
        mine = cells[policy]
        ranks = [(c["mean_ci"][0], d, c["mean_ci"][1]) for c, d in zip(mine, is_default, strict=True)]
        top = max(range(len(mine)), key=ranks.__getitem__)  # mean, then the default, then the lower bound
        pick = mine[top]
        base = next((c for c, d in zip(cells[policy], is_default, strict=True) if d), None)
        best[policy] = {"lr": pick["lr"], "batch_episodes": pick["batch_episodes"],
                        "mean_ci": pick["mean_ci"], "default_ci": base["mean_ci"] if base else None,
                        "separable": bool(base) and ahead(pick["mean_ci"], base["mean_ci"])}
    return {"cells": cells, "best": best}


def tuned_file(out: dict, source: Path) -> dict:
    """The `bench/tuned.json` content (`bench/tuned.py`) of a tuning result."""
    return {"split": "dev", "source": str(source), "grid": out["grid"], "task": out["task"],
            "policies": {p: {"learner": {"lr": b["lr"], "batch_episodes": b["batch_episodes"]},
                             "dev_mean_ci": b["mean_ci"], "separable_from_default": b["separable"]}
                         for p, b in out["best"].items()}}


def report(out: dict) -> None:
    def is_best(p: str, c: dict) -> bool:
        return (c["lr"], c["batch_episodes"]) == (out["best"][p]["lr"], out["best"][p]["batch_episodes"])

    rows = [[p, c["lr"], c["batch_episodes"], fmt_ci(c["mean_ci"]), c["steps_median"],
             "best" if is_best(p, c) else ""] for p, cs in out["cells"].items() for c in cs]
    print(f"split: dev; mean success over {out['task']['skills']} (K = {TUNE_K}) [95 % interval]")
    print(format_table(["policy", "lr", "batch episodes", "mean success", "steps (median)", ""], rows))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", choices=tuple(SPLITS), default="dev",
                    help="dev only: the tuning is a choice, and test is never used to choose")
    ap.add_argument("--policies", nargs="+", default=list(POLICIES), choices=POLICIES)
    ap.add_argument("--lrs", nargs="+", type=float, default=list(DEFAULT_LRS))
    ap.add_argument("--batches", nargs="+", type=int, default=list(DEFAULT_BATCHES), help="batch episodes")
    ap.add_argument("--skills", nargs="+", default=list(DEFAULT_SKILLS))
    ap.add_argument("--seeds", nargs="+", type=int, help="dev seeds (default: all of dev's)")
    ap.add_argument("--learn-seconds", type=float, default=LEARN_SECONDS)
    ap.add_argument("--eval-episodes", type=int, help="per job (default: dev's)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--json", type=Path, default=Path("bench_out/tuning_dev.json"))
    ap.add_argument("--resume", action="store_true",
                    help="keep the jobs --json already holds with the same settings, run only the others")
    ap.add_argument("--write-tuned", type=Path, metavar="JSON",
                    help=f"write each policy's best cell here when the run completes (few_shot reads "
                         f"{TUNED_JSON.name} by default)")
    args = ap.parse_args(argv)
    if args.split != "dev":
        ap.error("--split test: tuning chooses settings, and only dev may choose (bench/splits.py)")
    split = SPLITS["dev"]
    seeds = args.seeds or list(split.train_seeds)
    try:
        check_seeds("dev", seeds)
    except ValueError as e:
        ap.error(f"--seeds: {e}")
    if args.learn_seconds <= 0 or (args.eval_episodes is not None and args.eval_episodes < 1):
        ap.error("--learn-seconds must be > 0 and --eval-episodes >= 1")
    from bench.few_shot import FULL

    unknown = sorted(set(args.skills) - set(FULL["skills"]))
    if unknown:
        ap.error(f"unknown skills {unknown}; the benchmark's skills: {FULL['skills']}")
    t0 = time.perf_counter()
    grid = {"lr": args.lrs, "batch_episodes": args.batches}
    task = {"skills": args.skills, "k": TUNE_K, "seeds": seeds, "learn_seconds": args.learn_seconds,
            "eval_episodes": args.eval_episodes or split.eval_episodes}
    sizes = _sizes({}, args.policies, True)  # parameter-matched, as few_shot runs them
    jobs = [j for p in args.policies for lr in args.lrs for b in args.batches
            for j in cell_jobs(p, {"lr": lr, "batch_episodes": b}, task, sizes["widths"])]

    results = []
    if args.resume and args.json.exists():
        jobs, results = split_done(jobs, json.loads(args.json.read_text()).get("raw", []))
        print(f"--resume: {len(results)} jobs already in {args.json}, {len(jobs)} to run")

    planned = len(jobs) + len(results)  # this run's and the resumed ones

    def output(done: list[dict], complete: bool) -> dict:
        out = {"split": "dev", "grid": grid, "task": task, "params": sizes["params"],
               **score(done, args.policies, grid), "default_cell": default_cell()}
        out["config"] = {**{k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
                         "jobs": planned, "split_definition": split.to_dict()}
        out |= {"machine": machine_info(), "raw": done, "complete": complete,
                "wall_seconds": time.perf_counter() - t0}
        return out

    results = run_jobs(jobs, args.workers, results, lambda done: write_json(args.json, output(done, False)))
    out = output(results, True)
    write_json(args.json, out)
    report(out)
    if args.write_tuned:
        write_json(args.write_tuned, tuned_file(out, args.json))
        print(f"wrote {args.write_tuned}")
    print(f"wrote {args.json} ({out['wall_seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
