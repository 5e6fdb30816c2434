"""Speed at equal CPU: a Yan learner step against the parameter-matched Transformer's, in the same run.

    python bench/speed.py --json bench/results/2026-12-07_speed_<what>.json
    python bench/speed.py --repeats 2 --steps 2 --ticks 50 --json bench_out/speed_tiny.json   # a quick look

The few-shot budget is learner CPU seconds, so a slower step is fewer steps. Both learners are the teach
session's (one torch thread, the same LearnerConfig, seed and demonstrations, hence the same sampled
batches), the Transformer's width matched to Yan's parameters (`bench/matched.py`). Their steps are timed
in interleaved blocks (A B, then B A, ...), each step's CPU time as the learner counts it (`train_seconds`:
what the budget counts), after untimed warm-up steps; reported: median and interquartile range over every
timed step, the ratio of the medians and the median of per-block ratios (a noisy neighbour slows a block
of both alike). The machine's load average is recorded before and after.
Also: Yan's control tick (`policy.step` on the trained weights, one observation at a time: median and p99
of wall time and of the thread's CPU time) and a torch.profiler table of where a Yan learner step goes
(top ops by self CPU time).

Targets (issue 30, §4): Yan step <= 1.2x the Transformer's; control tick <= 1 ms median.

JSON: {"learner_step_ms": {policy: {"median", "q25", "q75", "n"}}, "ratio_of_medians", "ratio_block_median",
       "tick_ms": {"median", "p99" (wall), "cpu_median", "cpu_p99" (this thread's CPU), "n"},
       "profile": [{"op", "self_cpu_ms", "cpu_total_ms", "calls"}],
       "params": {...}, "load_avg": {"before", "after"}, "targets": {...}, "config", "machine"}
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from bench._common import format_table, machine_info, write_json  # noqa: E402
from bench.few_shot import _session, _sizes, parse_overrides  # noqa: E402
from bench.matched import merge_overrides  # noqa: E402

POLICIES = ("yan", "transformer")
LEARN_SECONDS_CAP = 1e6  # steps are counted here, not a budget: the session's never binds
WARMUP_STEPS = 3  # untimed steps per learner (first-call allocations, lazy kernel compiles)
TICK_WARMUP = 20  # untimed control ticks
PROFILE_STEPS = 3  # Yan learner steps under torch.profiler
PROFILE_ROWS = 20  # ops kept in the profile table
TARGET_RATIO = 1.2
TARGET_TICK_MS = 1.0


def learner_sessions(skill: str, k: int, seed: int, overrides: dict) -> tuple[dict, dict]:
    """({policy: session with K demos of `skill`}, {policy: params}): Yan and the matched Transformer."""
    sizes = _sizes(overrides, list(POLICIES), True)
    sessions = {}
    for policy in POLICIES:
        config = merge_overrides(overrides, sizes["widths"][policy])
        session = _session(policy, seed, LEARN_SECONDS_CAP, config)
        session.demonstrate(skill, k, seed_offset=1000 * seed)
        session.learner.focus = skill
        sessions[policy] = session
    return sessions, sizes["params"]


def step_cpu_ms(learner, n: int) -> list[float]:
    """CPU ms of each of `n` learner steps, as the learner counts them."""
    out = []
    for _ in range(n):
        before = learner.train_seconds
        learner.train_step()
        out.append((learner.train_seconds - before) * 1e3)
    return out


def interleaved(learners: dict, repeats: int, steps: int) -> tuple[dict[str, list[float]], list[float]]:
    """({policy: every timed step's ms}, per-block Yan / Transformer ratios of medians), blocks of
    `steps` steps in the order A B, B A, A B, ..."""
    times: dict[str, list[float]] = {p: [] for p in learners}
    ratios = []
    for r in range(repeats):
        order = list(learners) if r % 2 == 0 else list(reversed(learners))
        block = {p: step_cpu_ms(learners[p], steps) for p in order}
        for p, v in block.items():
            times[p] += v
        ratios.append(float(np.median(block["yan"]) / np.median(block["transformer"])))
    return times, ratios


def tick_ms(policy, n: int, seed: int) -> dict:
    """Wall and CPU (this thread's) ms of `n` control ticks (`policy.step`, one observation each) after a
    warm-up: on a loaded machine the wall time includes waiting for a core, the CPU time does not."""
    from yan_policy.data.synthetic import random_obs

    rng = np.random.default_rng(seed)
    obs = [random_obs(policy.config.tokenizer, rng) for _ in range(min(n, 64))]
    policy.eval()
    state = policy.initial_state()
    for i in range(TICK_WARMUP):
        _, state = policy.step(obs[i % len(obs)], state)
    wall, cpu = np.empty(n), np.empty(n)
    for i in range(n):
        t0, c0 = time.perf_counter(), time.thread_time()
        _, state = policy.step(obs[i % len(obs)], state)
        wall[i], cpu[i] = time.perf_counter() - t0, time.thread_time() - c0
    return {"median": float(np.median(wall) * 1e3), "p99": float(np.percentile(wall, 99) * 1e3),
            "cpu_median": float(np.median(cpu) * 1e3), "cpu_p99": float(np.percentile(cpu, 99) * 1e3), "n": n}


def profile_steps(learner, n: int) -> tuple[list[dict], str]:
    """Top ops by self CPU time over `n` learner steps: (rows, torch's table)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(n):
            learner.train_step()
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)[:PROFILE_ROWS]
    rows = [{"op": e.key, "self_cpu_ms": e.self_cpu_time_total / 1e3 / n,
             "cpu_total_ms": e.cpu_time_total / 1e3 / n, "calls": e.count / n} for e in events]
    return rows, prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=PROFILE_ROWS)


def _spread(v: list[float]) -> dict:
    q25, med, q75 = np.percentile(v, [25, 50, 75])
    return {"median": float(med), "q25": float(q25), "q75": float(q75), "n": len(v)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--skill", default="turn_left")
    ap.add_argument("--k", type=int, default=3, help="demonstrations")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=6, help="interleaved blocks per policy")
    ap.add_argument("--steps", type=int, default=5, help="timed learner steps per block")
    ap.add_argument("--ticks", type=int, default=500, help="timed control ticks")
    ap.add_argument("--no-profile", action="store_true")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                    help="config overrides for both, as for few_shot.py (e.g. learner.batch_episodes=1)")
    ap.add_argument("--json", type=Path, default=Path("bench_out/speed.json"))
    args = ap.parse_args(argv)
    if min(args.repeats, args.steps, args.ticks, args.k) < 1:
        ap.error("--repeats, --steps, --ticks and --k must be >= 1")
    try:
        overrides = parse_overrides(args.set)
    except ValueError as e:
        ap.error(str(e))
    load_before = os.getloadavg()
    sessions, params = learner_sessions(args.skill, args.k, args.seed, overrides)
    try:
        learners = {p: s.learner for p, s in sessions.items()}
        for learner in learners.values():
            step_cpu_ms(learner, WARMUP_STEPS)
        times, ratios = interleaved(learners, args.repeats, args.steps)
        ticks = tick_ms(learners["yan"].policy, args.ticks, args.seed)
        profile, table = ([], "") if args.no_profile else profile_steps(learners["yan"], PROFILE_STEPS)
    finally:
        for s in sessions.values():
            s.close()
    steps = {p: _spread(v) for p, v in times.items()}
    ratio = steps["yan"]["median"] / steps["transformer"]["median"]
    out = {"learner_step_ms": steps, "ratio_of_medians": ratio,
           "ratio_block_median": float(np.median(ratios)), "ratio_blocks": ratios, "tick_ms": ticks,
           "profile": profile, "params": params,
           "load_avg": {"before": load_before, "after": os.getloadavg()},
           "targets": {"ratio": TARGET_RATIO, "ratio_met": ratio <= TARGET_RATIO, "tick_ms": TARGET_TICK_MS,
                       "tick_met": ticks["median"] <= TARGET_TICK_MS,
                       "tick_cpu_met": ticks["cpu_median"] <= TARGET_TICK_MS},
           "config": {**vars(args), "json": str(args.json), "overrides": overrides},
           "machine": machine_info()}
    write_json(args.json, out)
    if table:
        print(table)
    print(format_table(["policy", "params", "step ms median", "IQR", "steps"],
                       [[p, params[p], s["median"], f"{s['q25']:.1f}-{s['q75']:.1f}", s["n"]]
                        for p, s in steps.items()]))
    print(f"Yan / Transformer step: {ratio:.2f}x (median of blocks {out['ratio_block_median']:.2f}x; target "
          f"<= {TARGET_RATIO}); Yan control tick median {ticks['median']:.2f} ms wall, "
          f"{ticks['cpu_median']:.2f} ms CPU, p99 {ticks['p99']:.2f} ms wall "
          f"(target <= {TARGET_TICK_MS}); load average {load_before[0]:.1f} -> "
          f"{out['load_avg']['after'][0]:.1f}")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
