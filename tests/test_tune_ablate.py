"""bench/tune.py, bench/ablate.py and bench/tuned.py: equal grids, dev only, the tuned settings reaching
few_shot's jobs, the ablation rows' configs and verdicts. Fast tests use few_shot's real job builder and
summaries on synthetic results; the slow ones train and evaluate for real at a tiny budget."""

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import ablate, tune  # noqa: E402
from bench.few_shot import _job_overrides, build_jobs  # noqa: E402
from bench.tuned import load_tuned  # noqa: E402


def _result(job: dict, success: float, steps: int = 10) -> dict:
    return {**json.loads(json.dumps(job)), "success": success, "steps": steps, "competence_seconds": None}


def test_tune_refuses_the_test_split(capsys):
    with pytest.raises(SystemExit) as exit_:
        tune.main(["--split", "test", "--json", "/nonexistent/never_written.json"])
    assert exit_.value.code == 2 and "only dev may choose" in capsys.readouterr().err


def test_tune_refuses_a_test_seed(capsys):
    with pytest.raises(SystemExit):
        tune.main(["--seeds", "30", "--json", "/nonexistent/never_written.json"])
    assert "not a dev seed" in capsys.readouterr().err


def test_every_policy_gets_the_same_grid_and_task_and_the_best_cell_is_picked():
    task = {"skills": ["sit", "turn_left"], "seeds": [10, 11], "learn_seconds": 5.0, "eval_episodes": 4}
    grid = {"lr": [1e-3, 2e-3], "batch_episodes": [1, 2]}
    jobs = {p: [j for lr in grid["lr"] for b in grid["batch_episodes"]
                for _, j in tune.cell_jobs(p, {"lr": lr, "batch_episodes": b}, task, {})]
            for p in ("yan", "mlp")}
    assert len(jobs["yan"]) == len(jobs["mlp"]) == 4 * 2 * 2  # cells x skills x seeds, for each
    strip = [{k: v for k, v in j.items() if k != "policy"} for j in jobs["yan"]]
    assert strip == [{k: v for k, v in j.items() if k != "policy"} for j in jobs["mlp"]]  # equal effort
    assert all(j["split"] == "dev" and j["k"] == tune.TUNE_K and not j["checkpoints"] for j in jobs["yan"])
    # yan: lr 1e-3 batch 1 succeeds everywhere; mlp: every cell the same -> the default cell wins the tie
    results = [_result(j, 1.0 if (j["policy"] == "mlp" or _lr_batch(j) == (1e-3, 1)) else 0.5)
               for p in jobs for j in jobs[p]]
    out = tune.score(results, ["yan", "mlp"], grid)
    assert (out["best"]["yan"]["lr"], out["best"]["yan"]["batch_episodes"]) == (1e-3, 1)
    assert out["best"]["yan"]["separable"]  # 1.0 everywhere vs 0.5: the intervals are apart
    default = tune.default_cell()
    assert (out["best"]["mlp"]["lr"], out["best"]["mlp"]["batch_episodes"]) == (default["lr"],
                                                                                default["batch_episodes"])
    assert not out["best"]["mlp"]["separable"]
    assert len(out["cells"]["yan"]) == 4 and out["cells"]["yan"][0]["jobs"] == 4


def _lr_batch(job: dict) -> tuple:
    return job["overrides"]["learner"]["lr"], job["overrides"]["learner"]["batch_episodes"]


def test_tuned_file_reaches_few_shot_jobs_and_set_wins_over_it(tmp_path):
    out = {"grid": {}, "task": {}, "best": {"yan": {"lr": 4e-3, "batch_episodes": 1, "mean_ci": [1, 1, 1],
                                                    "separable": False}}}
    path = tmp_path / "tuned.json"
    path.write_text(json.dumps(tune.tuned_file(out, tmp_path / "src.json")))
    tuned = load_tuned(path)
    assert tuned["overrides"] == {"yan": {"learner": {"lr": 4e-3, "batch_episodes": 1}}}
    cfg = {"skills": ["sit"], "ks": [3], "seeds": [10], "learn_seconds": 1.0, "eval_episodes": 1,
           "tuned": tuned["overrides"], "overrides": {"learner": {"lr": 1e-3}}}
    (_, yan), (_, mlp) = build_jobs(cfg, ["yan", "mlp"], ["single"])
    assert _job_overrides(yan)["learner"] == {"lr": 1e-3, "batch_episodes": 1}  # --set's lr, tuned batch
    assert "tuned" not in mlp and _job_overrides(mlp)["learner"] == {"lr": 1e-3}
    assert load_tuned(None) == {"source": None, "overrides": {}}
    assert load_tuned(tmp_path / "missing.json")["overrides"] == {}
    path.write_text(json.dumps({"split": "test", "policies": {}}))
    with pytest.raises(ValueError, match="only dev"):
        load_tuned(path)


def test_ablation_rows_change_only_their_part_and_baselines_match_yan_full():
    full = {"mcsd": {"selective": True}}
    assert ablate.row_overrides("yan", full) == full
    assert ablate.row_overrides("yan_no_memory", full) == {"mcsd": {"selective": True},
                                                           "memory": {"enabled": False}}
    assert ablate.row_overrides("yan_other_rates", full) == {"mcsd": {"selective": False}}
    assert ablate.row_overrides("yan_other_rates", {}) == {"mcsd": {"selective": True}}  # default: fixed
    assert ablate.row_overrides("yan_no_sparsity", {})["sparse"]["active_fraction"] == 1.0
    assert ablate.row_overrides("transformer", full) == {}
    cfg = {"skills": ["sit"], "ks": [3], "seeds": [10], "learn_seconds": 1.0, "eval_episodes": 2,
           "multi_skills": ["sit", "stand"], "multi_learn_seconds": 1.0, "final_only": True, "split": "dev",
           "overrides": {}}
    widths = {"transformer": {"transformer": {"hidden_mult": 3}}}
    jobs = ablate.plan(["yan", "yan_no_memory", "transformer"], cfg, ["single", "multi"], widths,
                       {"transformer": {"learner": {"lr": 4e-3}}})
    by_row = {}
    for _, j in jobs:
        by_row.setdefault(j["row"], []).append(j)
    assert sorted(by_row) == ["transformer", "yan", "yan_no_memory"]
    assert all(len(v) == 2 for v in by_row.values())  # one single, one multi job each
    t = by_row["transformer"][0]
    assert _job_overrides(t) == {"learner": {"lr": 4e-3}, "transformer": {"hidden_mult": 3}}
    assert _job_overrides(by_row["yan_no_memory"][0]) == {"memory": {"enabled": False}}


def test_ablation_verdicts_say_ahead_only_when_intervals_do_not_overlap():
    cfg = {"skills": ["sit", "stand"], "ks": [3], "seeds": [10, 11], "learn_seconds": 1.0,
           "eval_episodes": 10, "final_only": True, "split": "dev", "overrides": {}}
    rows = ["yan", "yan_no_memory", "yan_no_sparsity", "transformer", "mlp"]
    success = {"yan": 0.9, "yan_no_memory": 0.2, "yan_no_sparsity": 0.8, "transformer": 0.3, "mlp": 0.1}
    results = [_result(j, success[j["row"]]) for _, j in ablate.plan(rows, cfg, ["single"], {}, {})]
    out = ablate.summary(results, rows, [])
    (metric,) = out["metrics"]
    assert metric == "single: mean of 2 skills"
    v = out["verdicts"][metric]
    assert v["yan"] == "ahead of best baseline (transformer)"
    assert v["yan_no_memory"] == "full ahead: the part earns its place"
    assert v["yan_no_sparsity"] == "overlap"  # 0.8 vs 0.9 over 2 x 10 episodes: not apart
    assert v["mlp"] == "Yan full ahead"
    assert out["per_skill"]["sit"]["yan"][0] == pytest.approx(0.9)


def test_ablation_rejects_unknown_tasks_and_test_seeds(capsys):
    with pytest.raises(SystemExit):
        ablate.main(["--tasks", "skill:no_such_skill", "--json", "/nonexistent/x.json"])
    assert "no skill 'no_such_skill'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        ablate.main(["--split", "test", "--seeds", "30", "--json", "/nonexistent/x.json"])
    assert "its own seeds" in capsys.readouterr().err


@pytest.mark.slow
def test_tune_and_ablate_run_for_real_at_a_tiny_budget(tmp_path):
    """~2 min on a busy core: one cell of one policy, then two ablation rows, trained and evaluated."""
    tuned = tmp_path / "tuned.json"
    assert tune.main(["--policies", "mlp", "--lrs", "0.002", "--batches", "2", "--skills", "sit",
                      "--seeds", "10", "--learn-seconds", "2", "--eval-episodes", "1", "--workers", "1",
                      "--json", str(tmp_path / "tune.json"), "--write-tuned", str(tuned)]) == 0
    assert load_tuned(tuned)["overrides"] == {"mlp": {"learner": {"lr": 0.002, "batch_episodes": 2}}}
    out_path = tmp_path / "ablate.json"
    assert ablate.main(["--rows", "yan_no_memory", "mlp", "--tasks", "single", "--skills", "sit",
                        "--seeds", "10", "--learn-seconds", "2", "--eval-episodes", "1", "--workers", "1",
                        "--tuned-json", str(tuned), "--json", str(out_path)]) == 0
    out = json.loads(out_path.read_text())
    assert out["split"] == "dev" and out["complete"]
    assert set(out["metrics"]["single: mean of 1 skills"]) == {"yan_no_memory", "mlp"}
    mlp_job = next(r for r in out["raw"] if r["row"] == "mlp")
    assert mlp_job["tuned"] == {"learner": {"lr": 0.002, "batch_episodes": 2}}
    assert out["rows"]["yan_no_memory"]["params"] < out["rows"]["mlp"]["params"]


def test_ablation_takes_the_voice_and_memory_tasks_when_they_exist():
    parts, extra = ablate.parse_tasks(["multi", "voice", "skill:sit_on_go"])
    assert parts == ["multi", "voice", "single"] and extra == ["sit_on_go"]
    cfg = {"skills": extra, "ks": [3], "seeds": [10], "learn_seconds": 1.0, "eval_episodes": 2,
           "multi_skills": ["sit", "stand"], "multi_learn_seconds": 1.0, "final_only": True, "split": "dev",
           "overrides": {}, "voice": ablate.voice_config(2, 0.5, 1.0)}
    kinds = sorted(j["kind"] for _, j in ablate.plan(["yan_no_memory"], cfg, parts, {}, {}))
    assert kinds == ["multi", "single", "voice"]
