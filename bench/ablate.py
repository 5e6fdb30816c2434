"""The ablation table: Yan full, Yan without each part, and the tuned, parameter-matched baselines.

    python bench/ablate.py --split test --json bench/results/<date>_ablation_test.json     # the table
    python bench/ablate.py --rows yan yan_no_memory transformer --tasks single --skills sit \
        --seeds 10 --learn-seconds 10 --eval-episodes 4 --json bench_out/ablate_try.json     # a dev try

Rows (`ROWS`): "yan" (full: native memory, top-k sparse MLP, MCSD at its configured rates), "yan_no_memory"
(memory.enabled = false), "yan_no_sparsity" (every MLP neuron computed: active_fraction 1, no scorer
loss), "yan_other_rates" (the MCSD rates flipped: selective if full runs the paper's fixed rates, fixed if
it runs selective ones), and the baselines "transformer", "mlp", "gru" with their widths matched to Yan
full's parameters (`bench/matched.py`). Every row starts from its policy's dev-tuned lr and batch
(`bench/tuned.py`, `--no-tuned`: LearnerConfig's); `--set` changes Yan full (and so every Yan row).

Tasks (`--tasks`): "single" (each skill taught alone from K = 3 demos, the 8 built-ins by default: mean
success), "multi" (four skills taught in turn: cue accuracy and retention), "voice" (bench/voice.py's spoken
commands: cue accuracy and success at each SNR) and "skill:<name>" for any other registered skill run as a
single-skill task of its own (the memory task: `skill:sit_on_go`). Every job is one of
`bench/few_shot.py`'s (its job functions, worker pool, `--resume`), with the row's config changes as its
`--set` overrides.

Each cell is a mean with a 95 % interval (nested bootstrap over seeds and episodes, `bench/stats.py`;
retention over seeds). The verdict column says, for Yan full, how it stands against the best baseline on
that metric and, for a Yan ablation, whether full is ahead of it (the part earns its place): "ahead" and
"behind" only when the intervals do not overlap, else "overlap".

JSON: {"split", "rows": {row: {"policy", "overrides", "params"}}, "metrics": {metric: {row: [m, lo, hi]}},
       "verdicts": {metric: {row: str}}, "per_skill": {skill: {row: [m, lo, hi]}}, "config", "machine",
       "raw": [one entry per job], "complete"}
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import format_table, machine_info, write_json  # noqa: E402
from bench.few_shot import (  # noqa: E402
    FULL,
    _check_overrides,
    _sizes,
    build_jobs,
    parse_overrides,
    run_jobs,
    split_done,
    summarize,
)
from bench.matched import merge_overrides, param_count  # noqa: E402
from bench.splits import SPLITS, check_seeds  # noqa: E402
from bench.stats import ahead, bootstrap_ci, fmt_ci  # noqa: E402
from bench.tuned import TUNED_JSON, load_tuned  # noqa: E402

BASELINES = ("transformer", "mlp", "gru")
YAN_ROWS = ("yan", "yan_no_memory", "yan_no_sparsity", "yan_other_rates")
ROWS = (*YAN_ROWS, *BASELINES)
DENSE_FRACTION = 1.0  # active_fraction that computes every MLP neuron
ABLATION_K = 3  # demonstrations per skill
SKILL_TASK_PREFIX = "skill:"
VOICE_METRICS = {"cue accuracy": "cue_correct", "success": "success"}  # name -> bench/voice.py metric
VOICE_EVAL_EPISODES = 10  # the spoken-command task's tries per skill and condition (bench/voice.py's)
VOICE_MINUTES = 10.0  # its minutes of non-command audio per policy and seed (bench/voice.py's)


def row_overrides(row: str, full: dict) -> dict:
    """The PolicyConfig changes of `row` on top of Yan full's (`full`, from --set); {} for a baseline."""
    if row in BASELINES:
        return {}
    if row == "yan":
        return full
    if row == "yan_no_memory":
        return merge_overrides(full, {"memory": {"enabled": False}})
    if row == "yan_no_sparsity":
        dense = {"active_fraction": DENSE_FRACTION, "scorer_loss_weight": 0.0}  # no neurons to pick
        return merge_overrides(full, {"sparse": dense})
    if row == "yan_other_rates":
        selective = bool((full.get("mcsd") or {}).get("selective", _default_selective()))
        return merge_overrides(full, {"mcsd": {"selective": not selective}})
    raise ValueError(f"unknown row {row!r}; rows: {list(ROWS)}")


def _default_selective() -> bool:
    from yan_policy.policies.yan.configuration_yan import MCSDConfig

    return MCSDConfig().selective


def row_policy(row: str) -> str:
    return row if row in BASELINES else "yan"


def parse_tasks(tasks: list[str]) -> tuple[list[str], list[str]]:
    """(few_shot parts, extra skills) of `--tasks`; ValueError for an unknown task or skill."""
    from sim import skills as sim_skills

    parts, extra = [], []
    for task in tasks:
        if task in ("single", "multi", "voice"):
            parts.append(task)
        elif task.startswith(SKILL_TASK_PREFIX):
            name = task[len(SKILL_TASK_PREFIX):]
            if name not in sim_skills.names():
                known = sorted(sim_skills.names())
                raise ValueError(f"--tasks {task}: no skill {name!r}; registered: {known}")
            extra.append(name)
        else:
            raise ValueError(f"--tasks {task!r}: expected single, multi, voice or {SKILL_TASK_PREFIX}<skill>")
    if extra and "single" not in parts:
        parts.append("single")
    return parts, extra


def plan(rows: list[str], cfg: dict, parts: list[str], widths: dict, tuned: dict) -> list[tuple]:
    """few_shot (function, job) pairs for every row; each job carries its "row"."""
    jobs = []
    for row in rows:
        policy = row_policy(row)
        row_cfg = {**cfg, "overrides": row_overrides(row, cfg["overrides"]),
                   "widths": {policy: widths.get(policy, {})}, "tuned": tuned}
        for fn, job in build_jobs(row_cfg, [policy], parts):
            job["row"] = row
            jobs.append((fn, job))
    return jobs


def _interval(a: list[float] | None, b: list[float] | None) -> str:
    """"ahead" / "behind" when a's interval is clear of b's, "overlap" otherwise."""
    if a is None or b is None:
        return "-"
    return "ahead" if ahead(a, b) else "behind" if ahead(b, a) else "overlap"


def summary(results: list[dict], rows: list[str], extra: list[str]) -> dict:
    """{"metrics", "per_skill", "verdicts"} (module docstring) of the finished jobs."""
    metrics: dict[str, dict] = {}
    per_skill: dict[str, dict] = {}
    for row in rows:
        mine = [r for r in results if r.get("row") == row]
        if not mine:
            continue
        policy = row_policy(row)
        s = summarize(mine, [policy])
        builtin = [k for k in s["ci"] if k not in extra and "3" in s["ci"][k].get(policy, {})]
        for skill, by_policy in s["ci"].items():
            if "3" in by_policy.get(policy, {}):
                per_skill.setdefault(skill, {})[row] = by_policy[policy]["3"]
        if builtin:
            only = summarize([r for r in mine if r["kind"] != "single" or r["skill"] in builtin], [policy])
            metrics.setdefault(f"single: mean of {len(builtin)} skills", {})[row] = only["k3_mean_ci"][policy]
        for skill in extra:
            if skill in per_skill and row in per_skill[skill]:
                metrics.setdefault(f"{SKILL_TASK_PREFIX}{skill}", {})[row] = per_skill[skill][row]
        if policy in s["cue_accuracy_ci"]:
            metrics.setdefault("multi: cue accuracy", {})[row] = s["cue_accuracy_ci"][policy]
            rets = [r["retention"] for r in mine if r["kind"] == "multi" and r["retention"] is not None]
            if rets:
                metrics.setdefault("multi: retention", {})[row] = list(bootstrap_ci([[v] for v in rets]))
        for snr, by_metric in _voice(mine, policy).items():
            for name, key in VOICE_METRICS.items():
                metrics.setdefault(f"voice: {name} @ {snr} dB", {})[row] = by_metric[key]
    verdicts = {m: verdict(by_row) for m, by_row in metrics.items()}
    return {"metrics": metrics, "per_skill": per_skill, "verdicts": verdicts}


def _voice(results: list[dict], policy: str) -> dict:
    """{snr: {metric: [m, lo, hi]}} of the spoken-command jobs among `results` (bench/voice.py)."""
    from bench.few_shot import _rng
    from bench.voice import summarize_voice

    mine = summarize_voice(results, [policy], _rng).get(policy, {})
    return {k: v for k, v in mine.items() if k.replace(".", "").isdigit()}


def voice_config(eval_episodes: int, minutes: float, learn_seconds: float) -> dict:
    """few_shot's cfg["voice"] (as its main builds it) for the spoken-command task."""
    from bench.voice import SNRS_DB, VOICE_LEARNER, VOICE_SKILLS, VOICE_WORDS

    return {"skills": list(VOICE_SKILLS), "words": VOICE_WORDS, "snrs": list(SNRS_DB),
            "learn_seconds": learn_seconds, "eval_episodes": eval_episodes, "false_start_minutes": minutes,
            "learner_defaults": VOICE_LEARNER}


def verdict(by_row: dict[str, list[float]]) -> dict[str, str]:
    """Per row of one metric: Yan full against the best baseline (by mean), each Yan ablation against
    Yan full ("full ahead": the part earns its place), each baseline against Yan full."""
    full = by_row.get("yan")
    baselines = {r: v for r, v in by_row.items() if r in BASELINES}
    out = {}
    for row, ci in by_row.items():
        if row == "yan":
            if not baselines:
                out[row] = "no baseline"
                continue
            best = max(baselines, key=lambda r: baselines[r][0])
            out[row] = f"{_interval(ci, baselines[best])} of best baseline ({best})"
        elif row in BASELINES:
            out[row] = f"Yan full {_interval(full, ci)}" if full else "-"
        else:
            rel = _interval(full, ci)
            out[row] = ("full ahead: the part earns its place" if rel == "ahead"
                        else "ablation ahead" if rel == "behind" else "overlap") if full else "-"
    return out


def report(out: dict) -> None:
    rows = [[metric, row, fmt_ci(ci), out["verdicts"][metric][row]]
            for metric, by_row in out["metrics"].items() for row, ci in by_row.items()]
    print(f"split: {out['split']}; mean [95 % interval] over seeds and episodes; parameters: "
          + ", ".join(f"{r} {v['params'] / 1e6:.2f} M" for r, v in out["rows"].items()))
    print(format_table(["metric", "row", "mean [95 %]", "verdict"], rows))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", choices=tuple(SPLITS), default="dev", help="dev to try, test for the table")
    ap.add_argument("--rows", nargs="+", default=list(ROWS), choices=ROWS)
    ap.add_argument("--tasks", nargs="+", default=["single", "multi"],
                    help=f"single, multi, {SKILL_TASK_PREFIX}<skill> (a registered skill as its own task)")
    ap.add_argument("--skills", nargs="+", default=list(FULL["skills"]), help="the single task's skills")
    ap.add_argument("--seeds", nargs="+", type=int, help="dev only (default: the split's)")
    ap.add_argument("--learn-seconds", type=float, default=FULL["learn_seconds"])
    ap.add_argument("--multi-learn-seconds", type=float, default=FULL["multi_learn_seconds"])
    ap.add_argument("--eval-episodes", type=int, help="dev only (default: the split's)")
    ap.add_argument("--voice-eval-episodes", type=int, default=VOICE_EVAL_EPISODES)
    ap.add_argument("--voice-minutes", type=float, default=VOICE_MINUTES,
                    help="voice task: minutes of non-command audio per row and seed (false starts)")
    ap.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", dest="overrides",
                    help="Yan full's config changes (as few_shot's --set); its ablation rows build on them")
    ap.add_argument("--tuned", action=argparse.BooleanOptionalAction, default=True,
                    help="each row from its policy's dev-tuned lr and batch (bench/tuned.py)")
    ap.add_argument("--tuned-json", type=Path, default=TUNED_JSON)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--resume", action="store_true", help="run only the jobs --json lacks")
    ap.add_argument("--json", type=Path, default=Path("bench_out/ablation.json"))
    args = ap.parse_args(argv)
    split = SPLITS[args.split]
    if args.split == "test" and (args.seeds or args.eval_episodes):
        ap.error("--split test runs its own seeds and episodes (bench/splits.py): drop --seeds and "
                 "--eval-episodes")
    seeds = args.seeds or list(split.train_seeds)
    try:
        check_seeds(args.split, seeds)
        parts, extra = parse_tasks(args.tasks)
        full = parse_overrides(args.overrides)
        for row in args.rows:
            _check_overrides(row_overrides(row, full))
        tuned = load_tuned(args.tuned_json if args.tuned else None)
    except ValueError as e:
        ap.error(str(e))
    unknown = sorted(set(args.skills) - set(FULL["skills"]))
    if unknown:
        ap.error(f"--skills: unknown {unknown}; other skills go in --tasks {SKILL_TASK_PREFIX}<name>")
    t0 = time.perf_counter()
    sizes = _sizes(full, list(BASELINES), True)  # baselines matched to Yan full
    params = {row: (sizes["params"][row] if row in BASELINES
                    else _params(row_overrides(row, full))) for row in args.rows}
    cfg = {"skills": [*args.skills, *extra] if "single" in args.tasks else extra, "ks": [ABLATION_K],
           "seeds": seeds, "learn_seconds": args.learn_seconds, "eval_episodes": args.eval_episodes
           or split.eval_episodes, "multi_skills": FULL["multi_skills"],
           "multi_learn_seconds": args.multi_learn_seconds, "final_only": True, "split": args.split,
           "overrides": full, "demo_gait_gain": None,
           "voice": voice_config(args.voice_eval_episodes, args.voice_minutes, args.multi_learn_seconds)}
    jobs = plan(args.rows, cfg, parts, sizes["widths"], tuned["overrides"])
    results = []
    if args.resume and args.json.exists():
        saved = json.loads(args.json.read_text())
        if saved.get("split") != args.split:
            ap.error(f"--resume: {args.json} holds a {saved.get('split')} run, this is --split {args.split}")
        jobs, results = split_done(jobs, saved.get("raw", []))
        print(f"--resume: {len(results)} jobs already in {args.json}, {len(jobs)} to run")

    planned = len(jobs) + len(results)  # this run's and the resumed ones

    def output(done: list[dict], complete: bool) -> dict:
        out = {"split": args.split,
               "rows": {r: {"policy": row_policy(r), "overrides": row_overrides(r, full), "params": params[r]}
                        for r in args.rows},
               **summary(done, args.rows, extra)}
        out["config"] = {**{k: v for k, v in cfg.items() if k != "overrides"}, "yan_full_overrides": full,
                         "tasks": args.tasks, "tuned": tuned, "widths": sizes["widths"],
                         "split_definition": split.to_dict(), "jobs": planned}
        out |= {"machine": machine_info(), "raw": done, "complete": complete,
                "wall_seconds": time.perf_counter() - t0}
        return out

    results = run_jobs(jobs, args.workers, results, lambda done: write_json(args.json, output(done, False)))
    out = output(results, True)
    write_json(args.json, out)
    report(out)
    print(f"wrote {args.json} ({out['wall_seconds']:.0f} s)")
    return 0


def _params(overrides: dict) -> int:
    """Yan's parameter count at the teaching size under `overrides`."""
    from bench.few_shot import session_config
    from yan_dog.teach_setup import build_policy

    return param_count("yan", build_policy(session_config("yan", 0, 1.0, overrides)).config)


if __name__ == "__main__":
    raise SystemExit(main())
