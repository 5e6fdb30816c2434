"""bench/memory_task.py: its few-shot commands and its summary split by decoy (no learning run here)."""

import json

import numpy as np

from bench import few_shot, memory_task


def test_each_variant_is_a_few_shot_run_of_the_delayed_command():
    assert memory_task.SKILL in few_shot.EXTRA_SKILLS  # few_shot.py takes it with --skills
    cmd = memory_task.few_shot_command("yan_no_memory", "dev", 3, memory_task.Path("x.json"), [10])
    joined = " ".join(cmd)
    assert "--skills sit_on_go" in joined and "--policies yan" in joined and "--final-only" in joined
    assert cmd[cmd.index("--set") + 1] == "memory.enabled=false" and "--seeds 10" in joined
    assert "--set" not in memory_task.few_shot_command("yan", "dev", 3, memory_task.Path("x.json"), None)


def test_the_summary_splits_success_by_decoy_episodes(tmp_path):
    episodes, seed = 6, 0
    flags = memory_task.decoy_flags([seed], episodes)[seed]
    assert 0 < sum(flags) < episodes  # both kinds among these seeds' first tries
    # "yan" passes every try; "yan_no_memory" passes exactly the tries without a decoy
    outcomes = {"yan": [True] * episodes, "yan_no_memory": [not d for d in flags]}
    paths = {}
    for variant, ok in outcomes.items():
        job = {"kind": "single", "skill": "sit_on_go", "k": 3, "seed": seed, "eval_episodes": episodes,
               "curve": [{"skills_satisfied": [["sit_on_go"] if o else [] for o in ok]}]}
        paths[variant] = tmp_path / f"mt_{variant}.json"
        paths[variant].write_text(json.dumps({"split": "dev", "params": {"yan": 1000}, "raw": [job]}))
    out = memory_task.summarize(paths)
    yan, nomem = out["variants"]["yan"], out["variants"]["yan_no_memory"]
    assert yan["success_ci"][0] == 1.0 and yan["decoy_ci"][0] == 1.0
    assert nomem["success_ci"][0] == np.mean(outcomes["yan_no_memory"])
    assert nomem["no_decoy_ci"][0] == 1.0 and nomem["decoy_ci"][0] == 0.0
    assert out["decoy_share"] == np.mean(flags) and set(out["ahead"]) == {"yan vs yan_no_memory"}
