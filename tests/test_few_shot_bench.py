"""bench/few_shot.py's machinery (not its numbers): results saved after every job, --resume, no workers
left behind when the bench is killed, --set parsing, the dev / test split it refuses to mix, intervals and
"ahead". Real processes, no policies trained."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.few_shot import (  # noqa: E402
    FULL,
    build_jobs,
    k3_means,
    main,
    parse_overrides,
    single_skill_job,
    split_done,
    summarize,
)

WAIT_S = 60.0  # generous: spawning a worker imports numpy and the bench module (~1-3 s on a busy core)


# --- jobs for the runner below (module level: spawned workers import them by name) --------------------
def quick_job(job: dict) -> dict:
    return {**job, "success": 1.0}


def stuck_job(job: dict) -> dict:
    Path(job["pid_file"]).write_text(str(os.getpid()))
    while True:  # a job that would outlive the bench
        time.sleep(0.1)


RUNNER = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, {root!r})
    from bench._common import write_json
    from bench.few_shot import run_jobs
    from tests.test_few_shot_bench import quick_job, stuck_job

    jobs = [(quick_job, {{"kind": "single", "skill": "sit", "k": 3, "policy": "mlp", "seed": 0}}),
            (stuck_job, {{"kind": "single", "skill": "sit", "k": 3, "policy": "gru", "seed": 0,
                          "pid_file": {pid_file!r}}})]
    run_jobs(jobs, 2, [], lambda done: write_json({out!r}, {{"raw": done, "complete": False}}))
""")


def _alive(pid: int) -> bool:
    """Running (not gone, not a zombie waiting for a reaper)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def _wait_for(predicate, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads process states from /proc")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_a_killed_bench_keeps_finished_jobs_and_leaves_no_worker_running(tmp_path, sig):
    out, pid_file = tmp_path / "out.json", tmp_path / "stuck.pid"
    runner = subprocess.Popen(
        [sys.executable, "-c", RUNNER.format(root=str(ROOT), pid_file=str(pid_file), out=str(out))],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    worker = None
    try:
        _wait_for(lambda: out.exists() and pid_file.exists() and pid_file.read_text(), "both jobs to start")
        worker = int(pid_file.read_text())
        assert _alive(worker)
        runner.send_signal(sig)
        runner.wait(timeout=WAIT_S)
        # SIGTERM: the pool terminates its workers; SIGKILL: the worker sees its parent gone and exits
        _wait_for(lambda: not _alive(worker), f"worker {worker} to exit after {sig.name}")
        saved = json.loads(out.read_text())
        assert [r["policy"] for r in saved["raw"]] == ["mlp"] and saved["complete"] is False
        if sig == signal.SIGTERM:
            assert runner.returncode == 128 + signal.SIGTERM, runner.stderr.read().decode()
    finally:
        if runner.poll() is None:
            runner.kill()
        if worker is not None and _alive(worker):
            os.kill(worker, signal.SIGKILL)
            pytest.fail(f"worker {worker} was still running")


def test_resume_keeps_only_results_of_the_same_job_with_the_same_settings():
    cfg = {"skills": ["sit", "walk_forward"], "ks": [3], "seeds": [0], "learn_seconds": 60.0,
           "eval_episodes": 20, "demo_gait_gain": [0.9, 1.1]}
    jobs = build_jobs(cfg, ["yan", "mlp"], ["single"])
    assert len(jobs) == 4
    # as the file reads back: the job's fields (the gain range a list) plus its results
    done = {**json.loads(json.dumps(jobs[0][1])), "success": 0.95, "curve": []}
    other_budget = {**json.loads(json.dumps(jobs[1][1])), "learn_seconds": 30.0, "success": 1.0}
    other_ablation = {**json.loads(json.dumps(jobs[2][1])), "overrides": {"cue_latch": 0}, "success": 1.0}
    todo, kept = split_done(jobs, [done, other_budget, other_ablation])
    assert kept == [done]
    assert [job for _, job in todo] == [job for _, job in jobs[1:]]
    assert all(fn is single_skill_job for fn, _ in todo)


def test_final_only_evaluates_k3_jobs_once_and_resume_tells_them_apart():
    cfg = {"skills": ["sit"], "ks": [1, 3], "seeds": [0], "learn_seconds": 60.0, "eval_episodes": 20}
    with_curve = [job for _, job in build_jobs(cfg, ["yan"], ["single"])]
    final_only = [job for _, job in build_jobs({**cfg, "final_only": True}, ["yan"], ["single"])]
    assert [j["checkpoints"] for j in with_curve] == [False, True]
    assert [j["checkpoints"] for j in final_only] == [False, False]
    done = {**with_curve[1], "success": 1.0, "curve": []}
    todo, kept = split_done(build_jobs({**cfg, "final_only": True}, ["yan"], ["single"]), [done])
    assert kept == [] and len(todo) == 2  # a curve run's result is not a final-only one's, nor back


def test_resume_refuses_a_file_whose_jobs_it_would_drop(tmp_path, capsys):
    # a finished job of another skill: resuming a narrower run would rewrite the file without it
    other = {"kind": "single", "skill": "lie_down", "k": 3, "policy": "yan", "seed": 0, "success": 1.0,
             "learn_seconds": FULL["learn_seconds"], "eval_episodes": FULL["eval_episodes"]}
    out = tmp_path / "part.json"
    out.write_text(json.dumps({"raw": [other]}))
    with pytest.raises(SystemExit) as exit_:
        main(["--parts", "single", "--skills", "sit", "--ks", "3", "--seeds", "0", "--policies", "yan",
              "--resume", "--json", str(out)])
    assert exit_.value.code == 2 and "would not run" in capsys.readouterr().err
    assert json.loads(out.read_text()) == {"raw": [other]}  # untouched


def test_set_overrides_parse_json_values_into_nested_sections():
    assert parse_overrides(["tokenizer.imu_heading_frame=false", "learner.lr=0.001", "cue_latch=2"]) == {
        "tokenizer": {"imu_heading_frame": False}, "learner": {"lr": 0.001}, "cue_latch": 2}
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_overrides(["cue_latch"])
    with pytest.raises(ValueError, match="must be JSON"):
        parse_overrides(["learner.mode=fast"])


def test_k3_means_average_only_the_skills_every_policy_ran_at_k3():
    def job(skill, policy, k, seed, success):
        return {"kind": "single", "skill": skill, "policy": policy, "k": k, "seed": seed, "success": success,
                "competence_seconds": None}

    raw = [job("sit", "yan", 3, 0, 1.0), job("sit", "yan", 3, 1, 0.9), job("sit", "mlp", 3, 0, 1.0),
           job("turn_left", "yan", 3, 0, 0.8), job("turn_left", "mlp", 3, 0, 0.4),
           job("stand", "yan", 3, 0, 0.0),  # the MLP did not run stand: left out of both means
           job("stand", "mlp", 1, 0, 1.0)]  # nor does K = 1 count
    means = k3_means(summarize(raw, ["yan", "mlp"]), ["yan", "mlp"])
    assert means == pytest.approx({"yan": (0.95 + 0.8) / 2, "mlp": (1.0 + 0.4) / 2})
    assert k3_means(summarize(raw[:1], ["yan", "mlp"]), ["yan", "mlp"]) == {}


def test_machine_info_names_the_cpu_and_its_vector_extensions():
    from bench._common import cpu_model, machine_info

    cpuinfo = ("processor\t: 0\nmodel name\t: AMD EPYC 9654\nflags\t\t: fpu sse2 avx2 fma\n\n"
               "processor\t: 1\nmodel name\t: AMD EPYC 9654\nflags\t\t: fpu sse2 avx2 fma\n")
    assert cpu_model(cpuinfo) == {"cpu_model": "AMD EPYC 9654", "cpu_vector_flags": ["avx2", "fma"]}
    assert cpu_model("") == {"cpu_model": "unknown", "cpu_vector_flags": []}
    info = machine_info()
    assert info["cpu_count"] >= 1
    if Path("/proc/cpuinfo").exists():
        assert info["cpu_model"] != "unknown"


def test_fit_probe_reports_losses_at_each_checkpoint_and_the_step_time(tmp_path, capsys):
    """bench/fit_probe.py at its smallest: one demonstration, 40 steps of the MLP; the JSON holds what the
    table prints, and a step count below one checkpoint is refused."""
    from bench import fit_probe

    out = tmp_path / "probe.json"
    assert fit_probe.main(["--policies", "mlp", "--skill", "sit", "--k", "1", "--steps", "40",
                           "--json", str(out)]) == 0
    result = json.loads(out.read_text())["policies"]["mlp"]
    assert set(result["action_loss"]) == {"40"} and result["ms_per_step_median"] > 0
    assert np.isfinite(result["action_loss"]["40"]) and "action loss @40" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        fit_probe.main(["--steps", "10", "--json", str(out)])


@pytest.mark.parametrize("argv, message", [
    (["--split", "test", "--seeds", "30"], "drop --seeds / --quick"),
    (["--split", "test", "--quick"], "drop --seeds / --quick"),
    (["--split", "test", "--no-matched"], "drop --no-matched"),
    (["--split", "dev", "--seeds", "30"], "not a dev seed"),
], ids=["test-seeds", "test-quick", "test-unmatched", "dev-test-seed"])
def test_the_bench_refuses_to_mix_splits(tmp_path, capsys, argv, message):
    out = tmp_path / "never.json"
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--parts", "single", "--json", str(out)])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and message in err and len(err.strip().splitlines()[-1]) < 200
    assert not out.exists()


def test_resume_refuses_a_file_of_the_other_split(tmp_path, capsys):
    out = tmp_path / "test_run.json"
    saved = {"split": "test", "raw": [{"kind": "single", "skill": "sit", "k": 3, "policy": "yan", "seed": 30,
                                        "split": "test", "success": 1.0}]}
    out.write_text(json.dumps(saved))
    with pytest.raises(SystemExit) as exit_:
        main(["--parts", "single", "--skills", "sit", "--ks", "3", "--policies", "yan", "--resume",
              "--json", str(out)])
    assert exit_.value.code == 2 and "splits do not mix" in capsys.readouterr().err
    assert json.loads(out.read_text()) == saved


def test_jobs_carry_their_split_and_the_policys_matched_width():
    cfg = {"skills": ["sit"], "ks": [3], "seeds": [30], "learn_seconds": 60.0, "eval_episodes": 20,
           "split": "test", "widths": {"gru": {"gru": {"hidden_size": 240}}}}
    jobs = {job["policy"]: job for _, job in build_jobs(cfg, ["yan", "gru"], ["single"])}
    assert {j["split"] for j in jobs.values()} == {"test"}
    assert jobs["gru"]["width"] == {"gru": {"hidden_size": 240}} and jobs["yan"]["width"] == {}
    done = {**jobs["yan"], "success": 1.0, "curve": []}
    todo, kept = split_done(build_jobs({**cfg, "split": "dev"}, ["yan"], ["single"]), [done])
    assert kept == [] and len(todo) == 1  # a test result never stands in for a dev job


def _single(skill, policy, seed, success, split="dev"):
    return {"kind": "single", "skill": skill, "policy": policy, "k": 3, "seed": seed, "success": success,
            "eval_episodes": 20, "competence_seconds": None, "split": split}


def test_merge_records_the_split_and_intervals_and_says_ahead_only_without_overlap(tmp_path, capsys):
    clear = [_single("sit", "yan", s, 1.0) for s in (10, 11, 12)] + [
        _single("sit", "mlp", s, r) for s, r in ((10, 0.3), (11, 0.4), (12, 0.35))]
    close = [_single("stand", "yan", s, r) for s, r in ((10, 0.9), (11, 0.8), (12, 0.85))] + [
        _single("stand", "mlp", s, r) for s, r in ((10, 0.8), (11, 0.85), (12, 0.75))]
    shard = tmp_path / "shard.json"
    params = {"yan": 1035929, "mlp": 1044694}
    shard.write_text(json.dumps({"split": "dev", "params": params, "raw": clear + close}))
    out = tmp_path / "merged.json"
    assert main(["--merge", str(shard), "--policies", "yan", "mlp", "--json", str(out)]) == 0
    merged = json.loads(out.read_text())
    assert merged["split"] == "dev" and merged["params"] == params
    mean, lo, hi = merged["ci"]["sit"]["mlp"]["3"]
    assert mean == pytest.approx(0.35) and lo < mean < hi
    assert merged["ci"]["sit"]["yan"]["3"] == [1.0, 1.0, 1.0]
    printed = capsys.readouterr().out
    sit, stand = (next(line for line in printed.splitlines() if line.strip().startswith("K=3: yan") and
                       f"mlp {v}" in line) for v in ("0.35", "0.80"))
    assert sit.endswith("ahead of every baseline") and "NOT ahead of mlp" in stand
    assert "yan (1.04 M)" in printed and "mlp (1.04 M)" in printed  # the parameter counts head the table

    other = tmp_path / "test_shard.json"
    other.write_text(json.dumps({"split": "test", "raw": [_single("lie_down", "yan", 30, 1.0, "test")]}))
    with pytest.raises(SystemExit) as exit_:
        main(["--merge", str(shard), str(other), "--json", str(tmp_path / "mixed.json")])
    assert exit_.value.code == 2 and "different splits" in capsys.readouterr().err
