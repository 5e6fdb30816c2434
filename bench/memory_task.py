"""The memory task (`sit_on_go`, sim/memory_task.py): Yan with its native memory vs without it, and baselines.

    python bench/memory_task.py --json bench_out/memory_task_dev.json                  # yan, yan_no_memory
    python bench/memory_task.py --variants yan yan_no_memory transformer --json ...    # and the Transformer
    python bench/memory_task.py --summarize bench_out/mt_yan.json bench_out/mt_nomem.json --json ...

Each variant is one `bench/few_shot.py` run of the single-skill part on `sit_on_go` (K demonstrations,
`--final-only`, the split's seeds and evaluation episodes), a variant being a policy plus `--set`
changes (`VARIANTS`: "yan_no_memory" is Yan with `memory.enabled=false`). Up to `--parallel` runs at a
time, one worker each; each writes its own JSON (`<json stem>_<variant>.json`), so a cut run keeps them.
Then one summary: success per variant (mean and 95 % interval over seeds and episodes, `bench/stats.py`)
and split by episode kind, with and without a decoy go before the cue (the schedule is a function of the
episode's seed, read back by resetting the env): a policy that does not remember the cue until the go
can pass at most the episodes without a decoy (sitting on every go) or none (sitting on no go).
JSON: {"split", "skill", "k", "variants": {name: {"policy", "set", "params", "success_ci", "decoy_ci",
"no_decoy_ci", "per_seed", "json"}}, "ahead": {"yan vs yan_no_memory": bool, ...}, "config"}.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from bench._common import format_table, machine_info, write_json  # noqa: E402
from bench.splits import SPLITS, episode_offset  # noqa: E402
from bench.stats import ahead, bootstrap_ci, fmt_ci  # noqa: E402

SKILL = "sit_on_go"
# name -> (policy, --set items)
VARIANTS = {
    "yan": ("yan", []),
    "yan_no_memory": ("yan", ["memory.enabled=false"]),
    # the forget gate bounded (alpha <= 1e-3 per tick): a memory that keeps ~80 % of itself over minutes,
    # where the learned free gate emptied it within one 6 s window (docs/experiments.md, 2026-12-07)
    "yan_forget_max_1e-3": ("yan", ["memory.forget_max=0.001"]),
    "transformer": ("transformer", []),
    "gru": ("gru", []),
    "mlp": ("mlp", []),
}
DEFAULT_VARIANTS = ("yan", "yan_no_memory")
FEW_SHOT = Path(__file__).resolve().parent / "few_shot.py"


def few_shot_command(variant: str, split: str, k: int, out: Path, seeds: list[int] | None) -> list[str]:
    """The `bench/few_shot.py` command line of one variant."""
    policy, sets = VARIANTS[variant]
    cmd = [sys.executable, str(FEW_SHOT), "--parts", "single", "--skills", SKILL, "--ks", str(k),
           "--policies", policy, "--split", split, "--final-only", "--workers", "1", "--json", str(out)]
    if seeds:
        cmd += ["--seeds", *map(str, seeds)]
    if sets:
        cmd += ["--set", *sets]
    return cmd


def run_variants(variants: list[str], split: str, k: int, stem: Path, seeds: list[int] | None,
                 parallel: int) -> dict[str, Path]:
    """Run each variant's few-shot bench, `parallel` at a time; returns {variant: its JSON}."""
    paths = {v: stem.with_name(f"{stem.stem}_{v}.json") for v in variants}
    pending, running = list(variants), {}
    while pending or running:
        while pending and len(running) < parallel:
            v = pending.pop(0)
            print(f"memory task: running {v} -> {paths[v]}", flush=True)
            running[v] = subprocess.Popen(few_shot_command(v, split, k, paths[v], seeds))
        for v, proc in list(running.items()):
            if proc.poll() is not None:
                del running[v]
                if proc.returncode:
                    print(f"memory task: {v} exited with {proc.returncode}", flush=True)
        time.sleep(1.0)
    return paths


def decoy_flags(seeds: list[int], episodes: int) -> dict[int, list[bool]]:
    """{training seed: [episode i's schedule has a decoy go]} for the evaluation episodes of each seed."""
    import gymnasium as gym

    import sim
    from yan_dog.recording import CUE_SPLIT_OF_MODE
    from yan_dog.session import EVAL_SEED_BASE

    env = gym.make(sim.ENV_ID, skill=SKILL, action_mode="hybrid", camera_size=(16, 16))
    out = {}
    try:
        for seed in seeds:
            flags = []
            for i in range(episodes):
                _, info = env.reset(seed=EVAL_SEED_BASE + episode_offset(seed) + i,
                                    options={"skill": SKILL, "cue_split": CUE_SPLIT_OF_MODE["try"]})
                flags.append(any(role == "decoy" for _, _, role in info["cue_schedule"]))
            out[seed] = flags
    finally:
        env.close()
    return out


def _ci(per_seed: list[list[float]]) -> list[float] | None:
    per_seed = [v for v in per_seed if v]
    return list(bootstrap_ci(per_seed, rng=np.random.default_rng(0))) if per_seed else None


def summarize(paths: dict[str, Path]) -> dict:
    """The memory-task summary of the variants' few-shot JSON files."""
    variants, runs = {}, {}
    for v, path in paths.items():
        if path.exists():
            runs[v] = json.loads(path.read_text())
    jobs = {v: [r for r in run["raw"] if r["kind"] == "single" and r["skill"] == SKILL]
            for v, run in runs.items()}
    seeds = sorted({r["seed"] for js in jobs.values() for r in js})
    episodes = max((r["eval_episodes"] for js in jobs.values() for r in js), default=0)
    flags = decoy_flags(seeds, episodes) if seeds else {}
    for v, js in jobs.items():
        per_seed, decoy, plain = [], [], []
        for r in sorted(js, key=lambda r: r["seed"]):
            satisfied = r["curve"][-1].get("skills_satisfied")
            if satisfied is None:  # a run from before few_shot recorded each episode
                continue
            ok = [float(SKILL in s) for s in satisfied]
            kinds = flags[r["seed"]][: len(ok)]
            per_seed.append(ok)
            decoy.append([o for o, d in zip(ok, kinds, strict=True) if d])
            plain.append([o for o, d in zip(ok, kinds, strict=True) if not d])
        policy, sets = VARIANTS[v]
        variants[v] = {"policy": policy, "set": sets, "params": (runs[v].get("params") or {}).get(policy),
                       "seeds": [r["seed"] for r in sorted(js, key=lambda r: r["seed"])],
                       "success_ci": _ci(per_seed), "decoy_ci": _ci(decoy), "no_decoy_ci": _ci(plain),
                       "per_seed": [float(np.mean(o)) for o in per_seed], "json": str(paths[v])}
    first = next(iter(runs.values()), {})
    out = {"split": first.get("split"), "skill": SKILL,
           "k": next((r["k"] for js in jobs.values() for r in js), None), "variants": variants,
           "decoy_share": float(np.mean([f for fs in flags.values() for f in fs])) if flags else None}
    cis = {v: s["success_ci"] for v, s in variants.items() if s["success_ci"]}
    out["ahead"] = {f"{a} vs {b}": ahead(cis[a], cis[b]) for a in cis for b in cis if a == "yan" and b != a}
    return out


def report(out: dict) -> None:
    rows = [[v, s["params"] or "-", fmt_ci(s["success_ci"]), fmt_ci(s["no_decoy_ci"]), fmt_ci(s["decoy_ci"]),
             " ".join(f"{x:.2f}" for x in s["per_seed"])] for v, s in out["variants"].items()]
    print(f"{out['skill']}, K = {out['k']}, split {out['split']}; success: mean [95 % interval] over seeds "
          f"and episodes; {100 * (out['decoy_share'] or 0):.0f} % of the episodes had a decoy go")
    headers = ["variant", "params", "success", "no decoy", "decoy before the cue", "per seed"]
    print(format_table(headers, rows))
    for pair, is_ahead in out["ahead"].items():
        print(f"{pair}: {'ahead' if is_ahead else 'not ahead (intervals overlap)'}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", type=Path, default=Path("bench_out/memory_task.json"))
    ap.add_argument("--variants", nargs="+", default=list(DEFAULT_VARIANTS), choices=tuple(VARIANTS))
    ap.add_argument("--split", choices=tuple(SPLITS), default="dev")
    ap.add_argument("--k", type=int, default=3, help="demonstrations")
    ap.add_argument("--seeds", nargs="+", type=int, help="only these training seeds (dev only)")
    ap.add_argument("--parallel", type=int, default=2, help="few-shot runs at a time (one worker each)")
    ap.add_argument("--summarize", nargs="+", type=Path, metavar="JSON",
                    help="run nothing: summarize these variant files (named <stem>_<variant>.json)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    if args.summarize:
        paths = {}
        for p in args.summarize:
            v = next((v for v in sorted(VARIANTS, key=len, reverse=True) if p.stem.endswith(f"_{v}")), None)
            if v is None:
                ap.error(f"--summarize: {p} is not named <stem>_<variant>.json, variants {sorted(VARIANTS)}")
            paths[v] = p
    else:
        if args.split == "test" and args.seeds:
            ap.error("--split test runs its own seeds: drop --seeds")
        paths = run_variants(args.variants, args.split, args.k, args.json, args.seeds, args.parallel)
    out = summarize(paths)
    out["config"] = {"variants": {v: VARIANTS[v] for v in paths},
                     "argv": sys.argv[1:] if argv is None else list(argv)}
    out["machine"] = machine_info()
    out["wall_seconds"] = time.perf_counter() - t0
    write_json(args.json, out)
    report(out)
    print(f"\nwrote {args.json} ({out['wall_seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
