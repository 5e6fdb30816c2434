"""Few-shot teaching in simulation: Yan vs MLP / GRU / Transformer behaviour cloning, same demos, same CPU.

    python bench/few_shot.py --json bench_out/few_shot.json            # full (hours on 2 cores)
    python bench/few_shot.py --quick --json bench_out/few_shot_quick.json   # reduced (~40 min)
    python bench/few_shot.py --parts single --skills sit lie_down --json bench_out/fs_1.json  # one shard
    python bench/few_shot.py --merge bench_out/fs_*.json --json bench_out/few_shot.json     # shards merged
    python bench/few_shot.py --split test --json bench_out/few_shot_test.json   # the final table only

Splits (`bench/splits.py`): `--split dev` (the default) for every choice, `--split test` only for the
final table of a change; the split fixes the training seeds, the evaluation episodes' sim seeds and the
conditions, and is recorded as "split" in the JSON and in every job. The bench refuses to mix them:
`--seeds` or `--quick` with test, a test seed on dev, `--resume` or `--merge` of another split's file.
`--matched` (the default, on both splits: dev choices must transfer to test) sets each baseline's width
knob so its parameter count is within 10 % of Yan's (`bench/matched.py`); the counts head the tables and
are in the JSON ("params"). `--tuned` (the default) starts each policy from its dev-tuned lr and batch
episodes in `bench/tuned.json` (`bench/tune.py`; no file: LearnerConfig's), recorded per job ("tuned").
`--demos human` teaches every policy from a human-like demonstrator instead of the scripted teacher
(`sim/humans.py`: joystick and pose editor, reaction delay, jitter, overshoot; a different person per
training seed), recorded as "demos" in the config and every job. Demonstrations are checked either way: one
that fails its skill's check is reported and repeated (`yan_dog.session`); each job records
"demo_attempts" and "demos_discarded", the JSON's "demonstrations" their totals.
Every success and cue-accuracy cell is a mean with a 95 % interval from a bootstrap over seeds, then
episodes within each (`bench/stats.py`); a policy is "ahead" only when the intervals do not overlap.

What is measured (every policy is trained on the same scripted demonstrations, recorded once per
(skill, K, seed), for the same budget of learner-thread CPU seconds, one torch thread each, two worker
processes on two cores; evaluation on held-out randomised seeds, the skill asked for by its cue):
- success rate per skill, K demonstrations and policy (mean and spread over seeds);
- time to competence: CPU seconds of learning until success >= COMPETENCE (checked at fractions of the
  budget, K = 3);
- retention: a robot is taught several skills in turn (K = 3 each); each skill's success right after
  it was taught vs after all were taught;
- cue accuracy: with all those skills known, how often the cue made the robot do the right one (and
  only it); wrong-skill rate: how often it did another known skill's motion instead (or as well);
- loop: the 50 Hz control loop's period and jitter while the learner trains (Yan): in a child process as
  the robot's brain runs it ("learning"), in a thread of the loop's process ("learning_thread"), and
  without learning ("idle").
JSON: {"split": "dev" | "test", "params": {policy: n}, "skills": {skill: {policy: {K: mean}}}, "ci": {skill:
{policy: {K: [mean, lo, hi]}}}, "k3_mean_ci": {policy: [...]}, "cue_accuracy_ci": {policy: [...]},
"spread": {...std...}, "learn_seconds": {policy: ...},
"competence_seconds": {skill: {policy: s | null}}, "retention": {policy: ...}, "cue_accuracy":
{policy: ...}, "wrong_skill_rate": {policy: ...}, "loop": {"learning": {...}, "idle": {...}}, "config": {...},
"raw": [one entry per job], "complete": bool}
--json is rewritten after every finished job ("complete": false until the end), so a run that is killed
or crashes keeps what it finished; `--resume` then runs only the jobs that file lacks. Its workers exit
when the bench does (Ctrl-C, SIGTERM, even SIGKILL).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

from bench._common import format_table, machine_info, write_json  # noqa: E402
from bench.matched import matched_baselines, merge_overrides  # noqa: E402
from bench.splits import SPLITS, check_seeds, episode_offset  # noqa: E402
from bench.stats import ahead, bootstrap_ci, bootstrap_mean_ci, episode_outcomes, fmt_ci  # noqa: E402
from bench.tuned import TUNED_JSON, load_tuned  # noqa: E402
from bench.voice import (  # noqa: E402
    DEFAULT_EVAL_EPISODES,
    DEFAULT_FALSE_START_MINUTES,
    SNRS_DB,
    VOICE_LEARNER,
    VOICE_SKILLS,
    VOICE_WORDS,
    report_voice,
    summarize_voice,
    voice_jobs,
)

POLICIES = ("yan", "mlp", "gru", "transformer")
COMPETENCE = 0.8  # success rate that counts as "competent"
CHECKPOINT_FRACTIONS = (0.25, 0.5, 1.0)  # of the learning budget, for time to competence (K = 3)
FULL = {
    "skills": [
        "sit",
        "lie_down",
        "shake_paw",
        "stand",
        "walk_forward",
        "turn_left",
        "turn_right",
        "come_to_ball",
    ],
    "ks": [1, 3, 5],
    "learn_seconds": 60.0,
    "eval_episodes": 20,
    "multi_skills": ["sit", "lie_down", "walk_forward", "turn_left"],
    "multi_learn_seconds": 60.0,
    "loop_seconds": 30.0,
}
QUICK = {
    "skills": ["sit", "walk_forward"],
    "ks": [1, 3],
    "learn_seconds": 30.0,
    "eval_episodes": 10,
    "multi_skills": ["sit", "lie_down", "walk_forward", "turn_left"],  # retention after three more
    "multi_learn_seconds": 60.0,  # per skill, as `yan-dog demo` teaches them
    "loop_seconds": 10.0,
}
# Targets from the issue, checked in the printed summary.
TARGET_POSTURE = 0.9  # sit, lie_down, shake_paw with K <= 3
TARGET_MOVING = 0.8  # walk_forward, turns, come_to_ball with K <= 5
TARGET_LEARN_S = 60.0
TARGET_RETENTION = 0.9
TARGET_CUE = 0.95
# Success rates are means of multiples of 1/episodes: three seeds' 1.0, 1.0 and 0.4 average to
# 0.7999999999999999, which is 0.8 and meets a 0.8 target.
RATE_TOLERANCE = 1e-9
POSTURE_SKILLS = {"sit", "lie_down", "shake_paw"}
# Skills the single-skill part runs when named with --skills, outside FULL's default list: the delayed
# command that needs memory (sim/memory_task.py; bench/memory_task.py compares Yan with and without it).
EXTRA_SKILLS = ("sit_on_go",)


def _session(policy: str, seed: int, learn_seconds: float, overrides: dict | None = None,
             demo_gait_gain: list[float] | None = None):
    import torch

    from yan_dog.session import TeachSession

    torch.set_num_threads(1)
    return TeachSession(session_config(policy, seed, learn_seconds, overrides, demo_gait_gain))


def session_config(policy: str, seed: int, learn_seconds: float, overrides: dict | None = None,
                   demo_gait_gain: list[float] | None = None):
    """The bench's SessionConfig; `overrides` (from --set) change PolicyConfig fields, except those under
    "learner", which change LearnerConfig fields."""
    from yan_dog.teach_setup import SessionConfig
    from yan_policy.training.learner import LearnerConfig

    overrides = dict(overrides or {})
    learner = LearnerConfig(**overrides.pop("learner", {}))
    gain = {"demo_gait_gain_range": tuple(demo_gait_gain)} if demo_gait_gain else {}
    return SessionConfig(policy=policy, learn_seconds=learn_seconds, learn_during_demos=False, seed=seed,
                         policy_overrides={**SessionConfig().policy_overrides, **overrides}, learner=learner,
                         **gain)


def parse_overrides(items: list[str]) -> dict:
    """["tokenizer.imu_heading_frame=false", "cue_latch=0"] -> {"tokenizer": {...}, "cue_latch": 0}
    (values are JSON; the dotted path names a PolicyConfig field or a field of one of its sections, or
    with "learner." a LearnerConfig field)."""
    out: dict = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--set {item!r}: expected KEY=VALUE, e.g. tokenizer.imu_heading_frame=false")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as e:
            raise ValueError(f"--set {item!r}: the value must be JSON (true, 0.5, \"l1\"): {e}") from e
        *sections, leaf = key.split(".")
        node = out
        for section in sections:
            node = node.setdefault(section, {})
        node[leaf] = value
    return out


def _job_overrides(job: dict) -> dict:
    """The job's PolicyConfig changes: its policy's tuned learner settings (bench/tuned.py), its ablation's
    (--set, which wins over them) and its policy's matched width (--matched)."""
    ablation = merge_overrides(job.get("tuned") or {}, job.get("overrides") or {})
    return merge_overrides(ablation, job.get("width") or {})


DEMONSTRATORS = ("scripted", "human")


def demonstrator_for(job: dict):
    """The job's demonstrator (--demos): None for the scripted teacher; for "human", the person of the
    job's training seed (`sim.humans.person_for_seed`: a different person per seed, the same in every job
    of that seed, whatever the policy)."""
    if job.get("demos", "scripted") == "scripted":
        return None
    from sim.humans import HumanDemonstrator, person_for_seed

    return HumanDemonstrator(person_for_seed(job["seed"]), job["seed"])


def _demo_counts(session) -> dict:
    """How many demonstrations the job ran, and how many failed their check and were repeated."""
    return {"demo_attempts": session.demo_attempts, "demos_discarded": session.demos_discarded}


def single_skill_job(job: dict) -> dict:
    """Teach one skill from K demos to a fresh policy; evaluate at checkpoints of the budget."""
    session = _session(job["policy"], job["seed"], job["learn_seconds"], _job_overrides(job),
                       job.get("demo_gait_gain"))
    session.demonstrator = demonstrator_for(job)  # --demos: the scripted teacher or a person
    offset = episode_offset(job["seed"])  # the split's sim seeds (bench/splits.py)
    try:
        session.demonstrate(job["skill"], job["k"], seed_offset=offset)
        session.learner.focus = job["skill"]
        fractions = CHECKPOINT_FRACTIONS if job["checkpoints"] else (1.0,)
        curve = []
        for frac in fractions:
            target = frac * job["learn_seconds"]
            session.learner.train_for(max(0.0, target - session.learner.train_seconds))
            ev = session.evaluate(job["skill"], job["eval_episodes"], seed_offset=offset)
            curve.append({"cpu_s": session.learner.train_seconds, "success": ev["success_rate"],
                          "nonfinite_action_episodes": ev["nonfinite_action_episodes"],
                          "skills_satisfied": ev["skills_satisfied"]})  # per episode, in seed order
        competent = [c["cpu_s"] for c in curve if c["success"] >= COMPETENCE]
        return {
            **job,
            "success": curve[-1]["success"],
            "curve": curve,
            "steps": session.learner.steps,
            "learn_seconds_used": session.learner.train_seconds,
            "competence_seconds": competent[0] if competent else None,
            **_demo_counts(session),
        }
    finally:
        session.close()


def multi_skill_job(job: dict) -> dict:
    """Teach several skills in turn (K = 3 each) to one robot: retention and cue accuracy."""
    session = _session(job["policy"], job["seed"], job["learn_seconds"], _job_overrides(job),
                       job.get("demo_gait_gain"))
    session.demonstrator = demonstrator_for(job)  # --demos: the scripted teacher or a person
    offset = episode_offset(job["seed"])  # the split's sim seeds (bench/splits.py)
    try:
        right_after, learn_s = {}, {}
        for skill in job["skills"]:
            # Same demo scenes for every skill: only the cue differs (see yan_dog/demo.py).
            report = session.teach(skill, 3, seed_offset=offset)
            learn_s[skill] = report.learn_seconds
            right_after[skill] = session.evaluate(skill, job["eval_episodes"], seed_offset=offset + 500)[
                "success_rate"
            ]
        final, cue, wrong = {}, {}, {}
        for skill in job["skills"]:
            ev = session.evaluate(skill, job["eval_episodes"], seed_offset=offset + 700)
            final[skill], cue[skill] = ev["success_rate"], ev["cue_correct_rate"]
            wrong[skill] = ev["wrong_skill_rate"]
        earlier = job["skills"][:-1]  # the last skill taught has nothing after it to forget
        kept = [final[s] / right_after[s] for s in earlier if right_after[s] > 0]
        return {
            **job,
            "right_after": right_after,
            "final": final,
            "cue_correct": cue,
            "wrong_skill": wrong,
            "learn_s": learn_s,
            "retention": float(np.mean([min(k, 1.0) for k in kept])) if kept else None,
            "cue_accuracy": float(np.mean(list(cue.values()))),
            "wrong_skill_rate": float(np.mean(list(wrong.values()))),
            **_demo_counts(session),
        }
    finally:
        session.close()


LEARNER_WARM_TIMEOUT_S = 180.0  # the learner process's start (torch import) and first step, on a busy core


def loop_job(job: dict) -> dict:
    """The real-time 50 Hz loop while the learner trains in the background, and without learning.

    "learning" is the learner as the robot's brain runs it (`yan_dog.brain.process_learner` at
    `BrainConfig`'s defaults: a child process under SCHED_IDLE, niced); "learning_thread" is the teach
    session's own learner, a thread of the control loop's process (sharing its interpreter lock), for
    comparison; "idle" learns nothing. The learner process has started and taken a step before its run, as
    in a brain that is up: its start-up (importing torch at normal priority) is not what is measured."""
    import copy
    import dataclasses

    from yan_dog.brain import BrainConfig, process_learner
    from yan_dog.realtime import run_realtime
    from yan_policy.modules.tokenizers import episode_at_image_size

    session = _session("yan", 0, 30.0)
    process = None
    try:
        # taught first, so the robot does not fall over and reset mid-run (a reset costs ~60-90 ms)
        session.teach(job["skill"], 2)
        brain = dataclasses.replace(BrainConfig(), session=session.config)
        process = process_learner(copy.deepcopy(session.learner.policy), brain)
        size = session.learner.policy.config.tokenizer.image_size
        for episode in session.learner.buffer.all():  # resized first, as the brain sends them
            process.add_episode(episode_at_image_size(episode, size))
        process.start()
        deadline = time.monotonic() + LEARNER_WARM_TIMEOUT_S
        while process.steps < 1:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the learner process took no step within {LEARNER_WARM_TIMEOUT_S} s")
            time.sleep(0.1)
        process.stop()
        out = {}
        for mode, learner in (("learning", process), ("learning_thread", session.learner), ("idle", None)):
            stats, counts = run_realtime(session, job["skill"], job["seconds"], learn=learner is not None,
                                         learner=learner)
            out[mode] = {**stats.summary(), **counts}
        return {**job, "loop": out}
    finally:
        if process is not None:
            process.close()
        session.close()


def _run(fn_job):
    from yan_dog.plugins import load_plugins_from_env

    load_plugins_from_env()  # a spawned worker: the user's skills of --plugins, through $YAN_DOG_PLUGINS
    fn, job = fn_job
    return fn(job)


PARTS = ("single", "multi", "loop", "voice")
DEFAULT_PARTS = ("single", "multi", "loop")  # the spoken-command part runs on request (bench/voice.py)


def build_jobs(cfg: dict, policies: list[str], parts: list[str]) -> list[tuple]:
    """(function, job) pairs for the chosen parts; the long multi-skill jobs first, so two workers
    finish together (the loop job runs alone afterwards, see main). An ablation's `cfg["overrides"]`
    (config changes, from --set), `cfg["demo_gait_gain"]` (the demos' gait gain range) and `cfg["split"]`
    go into every job, and `cfg["widths"][policy]` (--matched: the policy's width knob) into its jobs."""
    jobs = []
    ablation = {"overrides": cfg.get("overrides") or {}, "demo_gait_gain": cfg.get("demo_gait_gain"),
                "split": cfg.get("split", "dev"), "demos": cfg.get("demos", "scripted")}
    widths = cfg.get("widths") or {}
    if "voice" in parts:  # five skills in turn, evaluations at two SNRs and a false-start stream: longest
        jobs += voice_jobs(cfg, policies, ablation, widths)
    if "multi" in parts:
        for policy in policies:
            for seed in cfg["seeds"]:
                job = {"kind": "multi", "policy": policy, "seed": seed, "skills": cfg["multi_skills"],
                       "learn_seconds": cfg["multi_learn_seconds"], "eval_episodes": cfg["eval_episodes"],
                       **ablation, "width": widths.get(policy, {})}
                jobs.append((multi_skill_job, job))
    if "single" in parts:
        for skill in cfg["skills"]:
            for k in cfg["ks"]:
                for policy in policies:
                    for seed in cfg["seeds"]:
                        job = {"kind": "single", "skill": skill, "k": k, "policy": policy, "seed": seed,
                               "learn_seconds": cfg["learn_seconds"], "eval_episodes": cfg["eval_episodes"],
                               "checkpoints": k == 3 and not cfg.get("final_only"), **ablation,
                               "width": widths.get(policy, {})}
                        jobs.append((single_skill_job, job))
    for _, job in jobs:  # each policy's tuned learner settings (--tuned), only where it has some
        if (cfg.get("tuned") or {}).get(job["policy"]):
            job["tuned"] = cfg["tuned"][job["policy"]]
    return jobs


def summarize(results: list[dict], policies: list[str]) -> dict:
    """The JSON summary of whatever results there are (one run, or shards merged with --merge): means and
    spreads over seeds per (skill, policy, K) with 95 % intervals (`bench/stats.py`), time to competence,
    retention, cue accuracy, loop."""
    single = [r for r in results if r["kind"] == "single"]
    multi = [r for r in results if r["kind"] == "multi"]
    loops = [r for r in results if r["kind"] == "loop"]
    skills = list(dict.fromkeys(r["skill"] for r in single))
    ks = sorted({r["k"] for r in single})
    out = {"skills": {}, "spread": {}, "ci": {}, "k3_mean_ci": {}, "competence_seconds": {},
           "learn_seconds": {}, "retention": {}, "cue_accuracy": {}, "cue_accuracy_ci": {},
           "wrong_skill_rate": {}, "loop": loops[-1]["loop"] if loops else None,
           "seeds": sorted({r["seed"] for r in single + multi})}
    outcomes = {}  # (skill, policy, K): one list of 0 / 1 episode outcomes per seed
    for skill in skills:
        out["skills"][skill], out["spread"][skill], out["competence_seconds"][skill] = {}, {}, {}
        out["ci"][skill] = {}
        for policy in policies:
            mine = [r for r in single if r["skill"] == skill and r["policy"] == policy]
            by_k = {k: [r["success"] for r in mine if r["k"] == k] for k in ks}
            out["skills"][skill][policy] = {str(k): float(np.mean(v)) for k, v in by_k.items() if v}
            out["spread"][skill][policy] = {str(k): float(np.std(v)) for k, v in by_k.items() if v}
            for k in ks:
                per_seed = [_outcomes(r["success"], r) for r in mine if r["k"] == k]
                if per_seed:
                    outcomes[skill, policy, k] = per_seed
            out["ci"][skill][policy] = {str(k): list(bootstrap_ci(outcomes[skill, policy, k], rng=_rng()))
                                        for k in ks if (skill, policy, k) in outcomes}
            comp = [r["competence_seconds"] for r in mine
                    if r["k"] == 3 and r["competence_seconds"] is not None]
            out["competence_seconds"][skill][policy] = float(np.median(comp)) if comp else None
    k3 = _k3_skills(out, policies)
    if k3:
        out["k3_mean_ci"] = {p: list(bootstrap_mean_ci([outcomes[s, p, 3] for s in k3], rng=_rng()))
                             for p in policies}
    for policy in policies:
        mine = [r for r in multi if r["policy"] == policy]
        if not mine:
            continue
        out["learn_seconds"][policy] = float(np.mean([v for r in mine for v in r["learn_s"].values()]))
        rets = [r["retention"] for r in mine if r["retention"] is not None]
        out["retention"][policy] = float(np.mean(rets)) if rets else None
        out["cue_accuracy"][policy] = float(np.mean([r["cue_accuracy"] for r in mine]))
        per_seed = [[o for s in r["cue_correct"] for o in _outcomes(r["cue_correct"][s], r)] for r in mine]
        out["cue_accuracy_ci"][policy] = list(bootstrap_ci(per_seed, rng=_rng()))
        wrongs = [r["wrong_skill_rate"] for r in mine if "wrong_skill_rate" in r]  # older shards lack it
        out["wrong_skill_rate"][policy] = float(np.mean(wrongs)) if wrongs else None
    return out


def _rng() -> np.random.Generator:
    """The bootstrap's generator: seeded, so a summary reads the same every time it is made."""
    return np.random.default_rng(0)


def _outcomes(rate: float, job: dict) -> list[float]:
    """A job's per-episode 0 / 1 outcomes from its `rate` over its eval episodes (its rate alone, as one
    value, if it does not say how many)."""
    n = job.get("eval_episodes")
    return [float(o) for o in episode_outcomes(rate, n)] if n else [rate]


def _check_overrides(overrides: dict) -> None:
    """Build the policy once here, so a misspelled --set key fails now, not in every worker."""
    from yan_dog.teach_setup import build_policy

    if overrides:
        try:
            build_policy(session_config("yan", 0, 1.0, overrides))
        except TypeError as e:  # LearnerConfig(**unknown)
            raise ValueError(f"--set: {e}") from e


def _output(results: list[dict], cfg: dict, args, t0: float, complete: bool) -> dict:
    """The JSON written to --json: the summary, the config, the raw jobs; `complete` is false while the
    run is still going (or was cut short)."""
    out = {"split": cfg.get("split"), "params": cfg.get("params"), **summarize(results, args.policies)}
    out["voice"] = summarize_voice(results, args.policies, _rng)
    out["config"] = cfg | {"policies": args.policies, "parts": sorted({r["kind"] for r in results})}
    out["demonstrations"] = {"demos": cfg.get("demos", "scripted"),  # checked: failed ones were repeated
                             "attempts": sum(r.get("demo_attempts", 0) for r in results),
                             "discarded": sum(r.get("demos_discarded", 0) for r in results)}
    out["machine"] = machine_info()
    out["raw"] = results
    out["complete"] = complete
    out["wall_seconds"] = time.perf_counter() - t0
    return out


def split_done(jobs: list[tuple], previous: list[dict]) -> tuple[list[tuple], list[dict]]:
    """(jobs still to run, results to keep) for --resume: a previous result is kept when it ran a job of
    this plan with exactly the same settings (skill, K, policy, seed, budget, episodes, ablation)."""
    todo, kept = [], []
    for fn, job in jobs:
        same = json.loads(json.dumps(job))  # as it reads back from JSON (tuples become lists)
        match = next((r for r in previous if all(r.get(key) == v for key, v in same.items())), None)
        if match is None:
            todo.append((fn, job))
        else:
            kept.append(match)
    return todo, kept


PARENT_POLL_S = 1.0  # how often a worker checks that the bench that started it is still alive


def _exit_with_parent(parent_pid: int, poll_s: float) -> None:
    """Pool initializer: the worker exits as soon as its parent is gone (killed, even by SIGKILL), instead
    of finishing a job nobody will read and lingering on the cores."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(poll_s)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _terminate_on_sigterm() -> None:
    """SIGTERM ends the bench like Ctrl-C (an exception), so the pool's `with` terminates the workers."""

    def handler(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def run_jobs(jobs: list[tuple], workers: int, results: list[dict],
             on_result: Callable[[list[dict]], None]) -> list[dict]:
    """Run (function, job) pairs on `workers` spawned processes, one job each; every result is appended
    to `results` and `on_result(results)` is called at once (to save them)."""
    if not jobs:
        return results
    _terminate_on_sigterm()
    ctx = mp.get_context("spawn")
    with ctx.Pool(workers, maxtasksperchild=1, initializer=_exit_with_parent,
                  initargs=(os.getpid(), PARENT_POLL_S)) as pool:
        for res in tqdm(pool.imap_unordered(_run, jobs), total=len(jobs), desc="few-shot jobs", unit="job"):
            results.append(res)
            on_result(results)
    return results


def _job_key(r: dict) -> tuple:
    return (r["kind"], r.get("skill"), r.get("k"), r.get("policy"), r.get("seed"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", type=Path, default=Path("bench_out/few_shot.json"))
    ap.add_argument("--quick", action="store_true",
                    help="reduced run (2 skills, K in {1, 3}, 1 seed; 4 skills taught in turn)")
    ap.add_argument("--policies", nargs="+", default=list(POLICIES), choices=POLICIES)
    ap.add_argument("--workers", type=int, default=2, help="worker processes (one torch thread each)")
    ap.add_argument("--plugins", nargs="+", default=[], metavar="FILE",
                    help="Python files of your own skills and cues (yan_dog/plugins.py, e.g. "
                         "examples/my_tricks.py): their skills can then be given to --skills")
    ap.add_argument("--split", choices=tuple(SPLITS), default="dev",
                    help="dev (default): for every choice; test: only for a change's final table, with its "
                         "own seeds, episodes and conditions (bench/splits.py)")
    ap.add_argument("--matched", action=argparse.BooleanOptionalAction, default=True,
                    help="baselines' widths set to within 10%% of Yan's parameters (bench/matched.py); "
                         "default: on (--split test refuses --no-matched)")
    shard = ap.add_argument_group("shards (the full run takes hours on 2 cores: run parts, then --merge)")
    shard.add_argument("--skills", nargs="+", help="only these skills (single-skill and voice parts)")
    shard.add_argument("--ks", nargs="+", type=int, help="only these demonstration counts")
    shard.add_argument("--seeds", nargs="+", type=int, help="only these seeds")
    shard.add_argument("--parts", nargs="+", default=list(DEFAULT_PARTS), choices=PARTS,
                       help="which parts to run (default: single multi loop; voice: bench/voice.py)")
    ap.add_argument("--voice-minutes", type=float, default=DEFAULT_FALSE_START_MINUTES,
                    help="voice part: minutes of non-command audio per policy and seed for false starts")
    ap.add_argument("--voice-eval-episodes", type=int, default=DEFAULT_EVAL_EPISODES,
                    help="voice part: tries per skill and condition (right after; each SNR at the end)")
    ap.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", dest="overrides",
                    help="config changes for an ablation: PolicyConfig fields (tokenizer.imu_heading_frame="
                         "false) or LearnerConfig ones (learner.lr_anneal_steps=0); values are JSON, "
                         "recorded in the output's config")
    ap.add_argument("--tuned", action=argparse.BooleanOptionalAction, default=True,
                    help="start each policy from its dev-tuned lr and batch episodes in --tuned-json "
                         "(bench/tune.py; none there: LearnerConfig's); --set wins over them")
    ap.add_argument("--tuned-json", type=Path, default=TUNED_JSON, help="the tuned settings' file")
    ap.add_argument("--demo-gait-gain", nargs=2, type=float, metavar=("LOW", "HIGH"),
                    help="range of the demos' executed gait gain (default: SessionConfig's; 1 1: off)")
    ap.add_argument("--demos", choices=DEMONSTRATORS, default="scripted",
                    help="who demonstrates: the scripted teacher (default) or a human-like person through a "
                         "joystick and the pose editor, a different person per seed (sim/humans.py)")
    ap.add_argument("--final-only", action="store_true",
                    help="evaluate K = 3 only at the end of the budget, not also at 1/4 and 1/2 of it: about "
                         "a third of the evaluation time, and no time to competence (for ablations)")
    ap.add_argument("--resume", action="store_true",
                    help="keep the jobs that --json already holds (from a run that was cut short, or an "
                         "earlier shard with the same settings) and run only the others")
    shard.add_argument("--merge", nargs="+", type=Path, metavar="JSON",
                       help="run nothing: merge these result files (their raw jobs) into --json")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    from yan_dog.plugins import PluginError, export_plugin_paths, load_plugins, plugin_paths_from_env

    try:  # here, and through $YAN_DOG_PLUGINS in the spawned workers
        plugin_skills = [s for p in load_plugins([*plugin_paths_from_env(), *args.plugins]) for s in p.skills]
    except PluginError as e:
        ap.error(f"--plugins: {e}")
    if args.plugins:
        export_plugin_paths(args.plugins)

    if args.merge:
        merged = {}
        for path in args.merge:
            for r in json.loads(path.read_text())["raw"]:
                merged[_job_key(r)] = r  # a job run twice: the later file wins
        results = list(merged.values())
        files = [json.loads(path.read_text()) for path in args.merge]
        splits = {r.get("split") for r in results} | {f.get("split") for f in files}
        if len(splits) > 1:
            ap.error(f"--merge: these files ran different splits: {sorted(map(str, splits))}")
        params = {json.dumps(f.get("params"), sort_keys=True) for f in files}
        if len(params) > 1:
            ap.error(f"--merge: these files ran policies of different sizes (--matched): {sorted(params)}")
        ablations = {json.dumps([r.get("overrides", {}), r.get("demo_gait_gain"), r.get("tuned"),
                                 r.get("demos", "scripted")], sort_keys=True) for r in results}
        if len(ablations) > 1:
            ap.error(f"--merge: these files ran different ablations (--set, --demo-gait-gain): "
                     f"{sorted(ablations)}")
        cfg = {"merged_from": [str(p) for p in args.merge], "split": splits.pop(),
               "params": files[0].get("params")}
    else:
        split = SPLITS[args.split]
        if args.split == "test" and (args.seeds or args.quick):
            ap.error("--split test runs its own seeds and episodes (bench/splits.py): drop --seeds / --quick")
        if args.split == "test" and args.matched is False:
            ap.error("--split test compares parameter-matched baselines only: drop --no-matched")
        cfg = dict(QUICK if args.quick else FULL)
        cfg["split"] = args.split
        cfg["seeds"] = list(split.train_seeds[:1] if args.quick else split.train_seeds)
        if not args.quick:
            cfg["eval_episodes"] = split.eval_episodes
        cfg["split_definition"] = split.to_dict()  # seeds, episode offsets, conditions
        for key in ("skills", "ks", "seeds"):
            if getattr(args, key):
                cfg[key] = getattr(args, key)
        try:
            check_seeds(args.split, cfg["seeds"])
        except ValueError as e:
            ap.error(f"--seeds: {e}")
        unknown = sorted(set(cfg["skills"]) - set(FULL["skills"]) - set(EXTRA_SKILLS) - set(plugin_skills))
        if unknown:
            ap.error(f"unknown skills {unknown}; the benchmark's skills: {FULL['skills']}")
        cfg["demo_gait_gain"] = args.demo_gait_gain
        cfg["final_only"] = args.final_only
        cfg["demos"] = args.demos
        if args.voice_minutes <= 0 or args.voice_eval_episodes < 1:
            ap.error("--voice-minutes must be > 0 and --voice-eval-episodes >= 1")
        voice_skills = args.skills or list(VOICE_SKILLS)  # --skills: a reduced voice part, in this order
        if set(voice_skills) - set(VOICE_SKILLS) and "voice" in args.parts:
            ap.error(f"the voice part's skills are {list(VOICE_SKILLS)}, got {voice_skills}")
        cfg["voice"] = {"skills": voice_skills, "words": VOICE_WORDS, "snrs": list(SNRS_DB),
                        "learn_seconds": FULL["multi_learn_seconds"],
                        "eval_episodes": args.voice_eval_episodes, "false_start_minutes": args.voice_minutes,
                        "learner_defaults": VOICE_LEARNER}
        try:
            cfg["overrides"] = parse_overrides(args.overrides)
            _check_overrides(cfg["overrides"])
        except ValueError as e:
            ap.error(str(e))
        cfg["matched"] = args.matched
        try:  # each policy's dev-tuned lr and batch (bench/tuned.py), recorded in the config
            tuned = load_tuned(args.tuned_json if args.tuned else None)
        except ValueError as e:
            ap.error(f"--tuned: {e}")
        cfg["tuned"], cfg["tuned_source"] = tuned["overrides"], tuned["source"]
        cfg.update(_sizes(cfg["overrides"], args.policies, cfg["matched"]))
        jobs = build_jobs(cfg, args.policies, args.parts)
        results = []
        if args.resume and args.json.exists():
            saved = json.loads(args.json.read_text())
            previous = saved.get("raw", [])
            other = ({saved.get("split")} | {r.get("split") for r in previous}) - {None, args.split}
            if other:
                ap.error(f"--resume: {args.json} holds a {sorted(other)[0]} run, this is --split "
                         f"{args.split}: the splits do not mix (write to another --json)")
            jobs, results = split_done(jobs, previous)
            if len(results) < len(previous):  # rewriting the file would lose them
                ap.error(f"--resume: {args.json} holds {len(previous) - len(results)} jobs this run would "
                         f"not run (other skills, seeds or settings): repeat the command that wrote it, "
                         f"or write to another --json")
            print(f"--resume: {len(results)} jobs already in {args.json}, {len(jobs)} to run")

        def save_partial(done: list[dict]) -> None:  # after each job: a kill loses only the running ones
            write_json(args.json, _output(done, cfg, args, t0, complete=False))

        results = run_jobs(jobs, args.workers, results, save_partial)
        if "loop" in args.parts:  # alone, so the other worker does not share its cores
            results.append(
                loop_job({"kind": "loop", "skill": cfg["multi_skills"][0], "seconds": cfg["loop_seconds"]})
            )
    out = _output(results, cfg, args, t0, complete=True)
    write_json(args.json, out)
    report(out, args.policies)
    print(f"\nwrote {args.json} ({out['wall_seconds']:.0f} s)")
    return 0


def _sizes(overrides: dict, policies: list[str], matched: bool) -> dict:
    """{"widths": {policy: width overrides}, "params": {policy: n}}: with `matched`, each baseline's width
    knob set to within 10 % of Yan's parameter count at the teaching size (under the ablation's
    `overrides`); without, every policy at the shared config."""
    from bench.matched import param_count
    from yan_dog.teach_setup import build_policy

    yan_config = build_policy(session_config("yan", 0, 1.0, overrides)).config
    if matched:
        sizes = matched_baselines(yan_config, policies)
        return {"widths": {p: sizes[p]["overrides"] for p in policies},
                "params": {p: sizes[p]["params"] for p in policies}}
    return {"widths": {}, "params": {p: param_count(p, yan_config) for p in policies}}


def _label(out: dict, policy: str) -> str:
    """"transformer (1.01 M)": the policy and its parameter count, where the output has it."""
    n = (out.get("params") or {}).get(policy)
    return f"{policy} ({n / 1e6:.2f} M)" if n else policy


def report(out: dict, policies: list[str]) -> None:
    """Print the tables and the targets of whatever `out` holds."""
    skills = list(out["skills"])
    ks = sorted({int(k) for s in skills for p in policies for k in out["skills"][s][p]})
    print(f"split: {out.get('split') or 'none recorded'}; success: mean [95 % interval] over seeds and "
          f"episodes; parameters: " + ", ".join(_label(out, p) for p in policies))
    ci = out.get("ci", {})
    if skills:
        rows = [
            [s, _label(out, p), *[fmt_ci(ci.get(s, {}).get(p, {}).get(str(k))) for k in ks],
             "-" if "3" not in out["skills"][s][p]  # not run at K = 3
             else "never" if out["competence_seconds"][s][p] is None else out["competence_seconds"][s][p]]
            for s in skills
            for p in policies
        ]
        print(format_table(["skill", "policy", *[f"K={k}" for k in ks], "s to competence (K=3)"], rows))
        print()
    if out["cue_accuracy"]:
        wrong = out["wrong_skill_rate"]
        cue_ci = out.get("cue_accuracy_ci", {})
        rows = [[_label(out, p), out["learn_seconds"][p],
                 "n/a" if out["retention"][p] is None else out["retention"][p],
                 fmt_ci(cue_ci[p]) if p in cue_ci else out["cue_accuracy"][p],
                 "n/a" if wrong.get(p) is None else wrong[p]]
                for p in policies if p in out["cue_accuracy"]]
        print(format_table(["policy", "learn CPU s/skill", "retention", "cue accuracy", "wrong skill"], rows))
        print()
    if out["loop"]:
        rows = [[m, v["period_ms_median"], v["period_ms_p99"], v["jitter_ms_std"], v["missed_ticks"],
                 v.get("learner_steps", 0), v.get("resets", 0)] for m, v in out["loop"].items()]
        print(format_table(["loop", "period ms median", "p99", "jitter ms", "missed ticks", "learner steps",
                            "resets"], rows))
        print()
    report_voice(out.get("voice") or {}, policies, lambda p: _label(out, p))
    _print_targets(out, policies)


def _k3_skills(out: dict, policies: list[str]) -> list[str]:
    """The skills that every one of `policies` ran at K = 3."""
    return [s for s, by_policy in out["skills"].items()
            if all("3" in by_policy.get(p, {}) for p in policies)]


def k3_means(out: dict, policies: list[str]) -> dict[str, float]:
    """{policy: mean K = 3 success over the skills every policy ran at K = 3} ({} if there are none)."""
    skills = _k3_skills(out, policies)
    if not skills:
        return {}
    return {p: float(np.mean([out["skills"][s][p]["3"] for s in skills])) for p in policies}


def _verdict(yan: list[float], others: dict[str, list[float]]) -> str:
    """Whether Yan's interval lies above every baseline's (non-overlapping: "ahead")."""
    if not others:
        return "no baseline in this run"
    behind = [p for p, v in others.items() if not ahead(yan, v)]
    if not behind:
        return "ahead of every baseline"
    return f"NOT ahead of {', '.join(behind)} (intervals overlap)"


def _print_targets(out: dict, policies: list[str]) -> None:
    """Say plainly which of the issue's targets this run met (for Yan) and which it missed."""
    lines = []
    for skill, by_policy in out["skills"].items():
        limit = 3 if skill in POSTURE_SKILLS else 5
        yan = {int(k): v for k, v in by_policy.get("yan", {}).items() if int(k) <= limit}
        target = TARGET_POSTURE if skill in POSTURE_SKILLS else TARGET_MOVING
        if yan:
            best = max(yan.values())
            lines.append(f"{skill}: Yan best success {best:.2f} with K <= {max(yan)} (target {target}) "
                         f"-> {'met' if best >= target - RATE_TOLERANCE else 'MISSED'}")
        cis = {p: c["3"] for p, c in out.get("ci", {}).get(skill, {}).items() if "3" in c}
        if "yan" in cis:
            others = {p: v for p, v in cis.items() if p != "yan" and p in policies}
            lines.append(f"  K=3: yan {fmt_ci(cis['yan'])} vs "
                         + ", ".join(f"{p} {fmt_ci(v)}" for p, v in others.items())
                         + f" -> {_verdict(cis['yan'], others)}")
    means = out.get("k3_mean_ci") or {}
    if "yan" in means and len(means) > 1:
        n = len(_k3_skills(out, policies))
        others = {p: v for p, v in means.items() if p != "yan"}
        lines.append(f"K=3 mean over the {n} skills every policy ran: "
                     + ", ".join(f"{p} {fmt_ci(v)}" for p, v in means.items())
                     + f" -> {_verdict(means['yan'], others)}")
    if "yan" in out["cue_accuracy"]:
        learn_s = out["learn_seconds"]["yan"]
        lines.append(f"learning CPU per skill {learn_s:.1f} s (target <= {TARGET_LEARN_S})")
        r = out["retention"]["yan"]
        lines.append(f"retention {r if r is None else round(r, 2)} (target >= {TARGET_RETENTION})")
        lines.append(f"cue accuracy {out['cue_accuracy']['yan']:.2f} (target >= {TARGET_CUE})")
    if out["loop"]:
        lp = out["loop"]["learning"]
        lines.append(f"loop while learning: median {lp['period_ms_median']:.1f} ms, "
                     f"p99 {lp['period_ms_p99']:.1f} ms, missed {lp['missed_ticks']} ticks")
    print("Targets (Yan):\n  " + "\n  ".join(lines or ["no Yan results in this run"]))


if __name__ == "__main__":
    raise SystemExit(main())
