"""How fast each policy fits one skill's demonstrations per optimizer step, and what a step costs.

    python bench/fit_probe.py --skill turn_left --steps 160 --seed 0 --json bench_out/fit_probe.json

The same K scripted demonstrations (the few-shot bench's, seeded the same way) and the teach session's
learner settings for every policy; then a fixed number of training steps in this thread. Reported per
policy: the training action and cue losses averaged over the 20 steps before each checkpoint, and the
median CPU time of a step as the learner counts it (its `train_seconds`, what the few-shot bench's
60 s budget counts). No closed-loop evaluation: this separates "learns less per step" from "takes
fewer steps in the budget" and from "fits but does not generalise" (`bench/few_shot.py` measures success).

JSON: {"policies": {"yan": {"ms_per_step_median": ..., "action_loss": {"40": ..., ...},
       "cue_loss": {...}}, ...}, "config": {...}, "machine": {...}}
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

from bench._common import format_table, machine_info, write_json  # noqa: E402
from bench.few_shot import _session, parse_overrides  # noqa: E402

LOSS_WINDOW_STEPS = 20  # each checkpoint's loss is the mean over this many steps before it
CHECKPOINT_EVERY_STEPS = 40
LEARN_SECONDS_CAP = 1e6  # the probe counts steps, not CPU seconds: the session's budget never binds


def probe(policy: str, skill: str, k: int, steps: int, seed: int, overrides: dict) -> dict:
    session = _session(policy, seed, LEARN_SECONDS_CAP, overrides)
    try:
        session.demonstrate(skill, k, seed_offset=1000 * seed)  # as bench/few_shot.py's single-skill jobs
        session.learner.focus = skill
        start_s = session.learner.train_seconds
        logs = [session.learner.train_step()
                for _ in tqdm(range(steps), desc=f"{policy} {skill}", unit="step", leave=False)]
    finally:
        session.close()
    # the learner's own CPU accounting of each step: what the few-shot bench's budget counts
    cpu = np.diff([start_s] + [log["train_seconds"] for log in logs])
    out = {"ms_per_step_median": float(np.median(cpu) * 1e3), "steps": steps}
    for key in ("action_loss", "cue_loss"):
        values = np.array([log[key] for log in logs])
        out[key] = {str(c): float(values[c - LOSS_WINDOW_STEPS:c].mean())
                    for c in range(CHECKPOINT_EVERY_STEPS, steps + 1, CHECKPOINT_EVERY_STEPS)}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--policies", nargs="+", default=["yan", "transformer"])
    ap.add_argument("--skill", default="turn_left")
    ap.add_argument("--k", type=int, default=3, help="demonstrations")
    ap.add_argument("--steps", type=int, default=160)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                    help="config overrides, as for bench/few_shot.py (e.g. learner.lr=0.004)")
    ap.add_argument("--json", type=Path, default=Path("bench_out/fit_probe.json"))
    args = ap.parse_args(argv)
    if args.steps < CHECKPOINT_EVERY_STEPS:
        ap.error(f"--steps must be >= {CHECKPOINT_EVERY_STEPS}")
    overrides = parse_overrides(args.set)
    results = {p: probe(p, args.skill, args.k, args.steps, args.seed, overrides) for p in args.policies}
    checkpoints = list(next(iter(results.values()))["action_loss"])
    last = checkpoints[-1]
    rows = [[p, r["ms_per_step_median"], *(r["action_loss"][c] for c in checkpoints), r["cue_loss"][last]]
            for p, r in results.items()]
    print(format_table(["policy", "ms / step", *(f"action loss @{c}" for c in checkpoints),
                        f"cue loss @{last}"], rows))
    write_json(args.json, {"policies": results, "config": {**vars(args), "json": str(args.json)},
                           "machine": machine_info()})
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
