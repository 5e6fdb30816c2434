"""Teaching a skill end to end in simulation: 3 scripted demonstrations, then the robot alone on its cue."""

import numpy as np
import pytest
import torch

import sim
from robots.actions import HYBRID_ACTION_DIM
from yan_dog.cli import main as cli_main
from yan_dog.session import TeachSession
from yan_dog.teach_setup import SessionConfig, build_policy
from yan_policy.data.library import SkillLibrary
from yan_policy.training.learner import LearnerConfig

E2E_LEARN_STEPS = 200  # a step budget keeps the test deterministic (about 50 CPU s here)
E2E_LEARN_SECONDS = 600.0  # never the binding limit in the test; the benchmark uses 60 s
E2E_EVAL_EPISODES = 5


def test_teach_sit_from_three_demos_then_it_sits_on_its_cue(tmp_path):
    lib = SkillLibrary(tmp_path / "lib")
    config = SessionConfig(
        learn_seconds=E2E_LEARN_SECONDS, learn_steps=E2E_LEARN_STEPS, learn_during_demos=False
    )
    session = TeachSession(config, lib)
    try:
        report = session.teach("sit", demos=3)
        assert report.demo_success == 1.0 and report.steps == E2E_LEARN_STEPS
        assert report.curve[-1]["action_loss"] < 0.5 * report.curve[0]["action_loss"]
        tries = []
        result = session.evaluate("sit", E2E_EVAL_EPISODES, on_episode=tries.append)  # held-out seeds, the
        assert result["success_rate"] > 0.5, result  # whistle plays, the robot acts
        # the same evaluation in two forked workers: the same tries, tick for tick, in the same order
        session.config.eval_workers = 2
        forked = []
        assert session.evaluate("sit", E2E_EVAL_EPISODES, on_episode=forked.append) == result
        session.config.eval_workers = 1
        for a, b in zip(tries, forked, strict=True):
            np.testing.assert_array_equal(a.episode.action, b.episode.action)
        version = session.save()
        obs = session.learner.buffer.all()[0].obs_at(100)
        saved_policy = session.policy
        before, _ = saved_policy.step(obs, saved_policy.initial_state())
    finally:
        session.close()
    # The skill survives a restart: a new session on the same library knows it and acts the same way.
    again = TeachSession(SessionConfig(learn_seconds=E2E_LEARN_SECONDS), SkillLibrary(tmp_path / "lib"))
    try:
        assert again.library.version == version and again.known_skills() == ["sit"]
        after, _ = again.policy.step(obs, again.policy.initial_state())
        np.testing.assert_array_equal(before, after)
    finally:
        again.close()


def test_the_session_carries_its_native_memory_saves_it_and_restores_it(tmp_path):
    """A try in the robot's life (`carry_memory=True`, as teach's corrected tries) leaves its writes in the
    session's memory; an evaluation starts every try from that same memory and leaves it as it was (the
    same tries twice); `save` commits it and a new session on the library acts from it."""
    config = SessionConfig(learn_seconds=1.0, camera_size=(32, 32),
                           policy_overrides={"d_model": 32, "n_layers": 1})
    session = TeachSession(config, SkillLibrary(tmp_path / "lib"))
    try:
        assert session.memory is None  # a new robot: the policy's learned initial memory
        session.try_skill("sit", 1)
        assert session.memory is None  # an evaluation-style try leaves it
        session.try_skill("sit", 1, carry_memory=True)
        lived = session.memory
        initial = session.policy.lifetime_state()
        assert set(lived) == set(initial) and not torch.equal(lived["memory.w1"], initial["memory.w1"])
        runs = [[], []]
        for run in runs:
            session.evaluate("sit", 2, on_episode=run.append)
        for a, b in zip(*runs, strict=True):  # every evaluation try from the same memory
            np.testing.assert_array_equal(a.episode.action, b.episode.action)
        assert session.memory is lived
        session.save()
        expected = session.try_skill("sit", 7).episode.action
    finally:
        session.close()
    again = TeachSession(config, SkillLibrary(tmp_path / "lib"))
    try:
        assert all(torch.equal(again.memory[k], lived[k]) for k in lived)
        np.testing.assert_array_equal(again.try_skill("sit", 7).episode.action, expected)
        again.forget_memory()
        assert again.memory is None
    finally:
        again.close()


def test_user_skill_from_the_registry_is_taught_with_no_library_change():
    from sim.skills import Skill

    def teacher(ctx):
        return sim.skills.SIT_POSE_RAD if ctx.since_go_s > 0 else ctx.start.joint_pos_rad

    sim.skills.register(Skill("sit_quick", teacher, sim.skills.check_sit, cue="click", duration_s=3.0))
    try:
        session = TeachSession(
            SessionConfig(
                learn_seconds=2.0, learn_during_demos=False, learner=LearnerConfig(batch_episodes=2)
            )
        )
        try:
            report = session.teach("sit_quick", demos=1)
            assert report.demo_success == 1.0 and report.steps >= 1
            assert session.evaluate("sit_quick", 1)["episodes"] == 1
            session.config.eval_workers = 2  # forked workers know the skill registered in this process
            assert session.evaluate("sit_quick", 2)["episodes"] == 2
        finally:
            session.close()
    finally:
        sim.skills.unregister("sit_quick")


def test_cli_rejects_unknown_skills_and_bad_counts(tmp_path, capsys):
    with pytest.raises(SystemExit, match="unknown skill 'backflip'"):
        cli_main(["teach", "--skill", "backflip", "--library", str(tmp_path / "lib")])
    with pytest.raises(SystemExit, match="--demos must be >= 1"):
        cli_main(["teach", "--skill", "sit", "--demos", "0", "--library", str(tmp_path / "lib")])


def test_session_config_validates_itself():
    with pytest.raises(ValueError, match="learn_seconds"):
        SessionConfig(learn_seconds=0)
    with pytest.raises(ValueError, match="execute_chunk"):
        SessionConfig(execute_chunk=0)
    with pytest.raises(ValueError, match="demo_gait_gain_range"):
        SessionConfig(demo_gait_gain_range=(1.0, 0.5))
    with pytest.raises(ValueError, match="demo_gait_gain_range"):
        SessionConfig(demo_gait_gain_range=(0.0, 1.0))
    assert np.isfinite(SessionConfig().learn_seconds)


@pytest.mark.parametrize("policy", ["yan", "mlp"])
def test_a_steering_error_weighs_as_much_as_a_speed_error_of_the_same_size(policy):
    """Every policy learns the hybrid actions with one scale for all dims. With the yaw rate in units of
    1 rad/s (and vx in 0.5 m/s), come_to_ball's small steering got a quarter of the loss weight of an
    equal forward-speed error and was still unfit after 60 CPU s at seed 1 (the robot walked past the
    ball)."""
    head = build_policy(SessionConfig(policy=policy)).head
    speed_err, steer_err = torch.zeros(HYBRID_ACTION_DIM), torch.zeros(HYBRID_ACTION_DIM)
    speed_err[0], steer_err[2] = 0.3, 0.3  # (A,): 0.3 m/s in vx, 0.3 rad/s in yaw rate
    zero = head.normalize(torch.zeros(HYBRID_ACTION_DIM))
    speed_loss = (head.normalize(speed_err) - zero).square().sum()
    steer_loss = (head.normalize(steer_err) - zero).square().sum()
    assert float(steer_loss) == pytest.approx(float(speed_loss)) and float(speed_loss) > 0


def test_a_slowed_demonstration_keeps_the_teachers_labels_and_turns_as_far():
    """With a gait gain of 0.6 the robot turns slower, the teacher (closed-loop on the yaw turned)
    commands 1 rad/s for longer, and the labels are the teacher's commands, not the executed ones. (So
    slowed down, it reaches the teacher's angle only near the end of the episode: too late to hold it for
    the check, which a full-speed demonstration passes.)"""
    from yan_dog.recording import run_episode

    session = TeachSession(SessionConfig(learn_seconds=1.0))
    runs, turned = {}, {}
    try:
        for g in (1.0, 0.6):
            runs[g] = run_episode(session.env, None, "demo", 7, skill="turn_left", demo_gait_gain=g)
            ctx = session.env.unwrapped.skill_context()
            turned[g] = ctx.state.yaw_unwrapped_rad - ctx.start.yaw_unwrapped_rad
    finally:
        session.close()
    assert runs[1.0].success
    turning = {g: r.episode.action[:, 2] > 0.5 for g, r in runs.items()}  # labelled yaw rate (rad/s)
    for g, r in runs.items():
        assert turned[g] >= sim.skills.TURN_TARGET_RAD, (g, turned[g])  # as far, at either speed
        assert r.episode.extra["gait_gain"] == g
        assert r.episode.extra["teacher_action_mode"] == "gait"  # the learner's joint noise follows it
        assert np.allclose(r.episode.action[turning[g], 2], 1.0)  # the teacher's command, not 0.6
    assert turning[0.6].sum() > 1.3 * turning[1.0].sum()  # slower, so it commanded the turn for longer
    with pytest.raises(ValueError, match="demo_gait_gain"):
        run_episode(None, None, "demo", 0, demo_gait_gain=0.0)


def test_evaluation_tells_a_wrong_skill_from_an_unfinished_one(monkeypatch):
    """cue_correct_rate: the asked skill done and no other; wrong_skill_rate: another known skill done."""
    from yan_dog.recording import EpisodeResult

    outcomes = iter([["sit"], [], ["lie_down"], ["sit", "lie_down"]])  # right, unfinished, wrong, both
    session = TeachSession(SessionConfig(learn_seconds=1.0))
    try:
        monkeypatch.setattr(session, "try_skill", lambda skill, seed, track=False: EpisodeResult(
            episode=None, success=False, skills_satisfied=next(outcomes)))
        result = session.evaluate("sit", 4)
    finally:
        session.close()
    assert result["cue_correct_rate"] == 0.25 and result["wrong_skill_rate"] == 0.5


def test_a_non_finite_policy_action_holds_the_robot_and_is_counted_not_raised():
    """A diverged policy (NaN / inf actions) ends a try as a failure the evaluation reports, as the ROS
    brain holds on one, instead of the env's ValueError ending the whole evaluation (it once ended a
    benchmark job after 10 minutes)."""
    from robots.actions import HOLD_ACTION
    from yan_dog.recording import run_episode

    calls = []

    def diverging(obs):  # finite for 5 ticks, then NaN, with an inf now and then
        calls.append(1)
        a = np.zeros(HYBRID_ACTION_DIM, np.float32)
        if len(calls) > 5:
            a[len(calls) % HYBRID_ACTION_DIM] = np.inf if len(calls) % 7 == 0 else np.nan
        return a

    session = TeachSession(SessionConfig(learn_seconds=1.0))
    try:
        res = run_episode(session.env, diverging, "try", 3, skill="sit")
        assert res.nonfinite_actions == len(calls) - 5 > 0 and not res.success
        held = res.episode.action[5:]  # what the robot did, recorded as the episode's actions
        assert np.isfinite(res.episode.action).all() and np.all(held == HOLD_ACTION)
        session.try_skill = lambda skill, seed, track=False: run_episode(  # the same policy, evaluated
            session.env, diverging, "try", seed, skill=skill)
        with pytest.warns(UserWarning, match="non-finite action in 2 of 2 tries"):
            ev = session.evaluate("sit", 2)
        assert ev["nonfinite_action_episodes"] == 2 and ev["success_rate"] == 0.0
    finally:
        session.close()


def test_demo_writes_its_report_plots_videos_and_library(tmp_path):
    """`yan-dog demo` end to end at a tiny size: every output it promises exists and the JSON report
    accounts for the wall time by phase (evaluation in two forked workers)."""
    import json

    out = tmp_path / "demo_out"
    assert cli_main(["demo", "--out", str(out), "--skills", "sit", "--demos", "1", "--learn-seconds", "2",
                     "--eval-episodes", "2", "--eval-workers", "2"]) == 0
    for name in ("report.md", "report.json", "learning_curves.png", "success.png", "before_sit.mp4",
                 "after_sit.mp4"):
        assert (out / name).stat().st_size > 0, name
    assert (out / "library").is_dir()
    report = json.loads((out / "report.json").read_text())
    assert report["eval_workers"] == 2 and report["skills"]["sit"]["steps"] >= 1
    phases = report["phase_seconds"]
    assert set(phases) == {"before_videos", "teaching", "evaluation", "after_videos"}
    assert 0 < sum(phases.values()) <= report["wall_seconds"]
