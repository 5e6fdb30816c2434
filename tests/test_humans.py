"""The human-like demonstrator (`sim.humans`) and checked demonstrations (`yan_dog.session`): persons drawn
per seed, only a person's inputs (joystick, pose editor) and view, its demonstrations passing their checks,
imperfect ones at the configured rate, failed demonstrations discarded and repeated or kept, and
`bench/few_shot.py --demos human`."""

import dataclasses
import json
import logging
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import sim
from sim.humans import (
    BALL_PUSHED_M,
    BALL_REAPPROACH_M,
    BALL_SETTLE_S,
    BALL_TOO_CLOSE_M,
    IMPERFECT_GOAL_SCALE_RANGE,
    JOYSTICK_MAX,
    PRESETS,
    STICK_RATE_PER_S,
    DemoPlan,
    HumanDemonstrator,
    MoveIntent,
    PersonConfig,
    PersonView,
    PostureIntent,
    intent_for,
    person_for_seed,
    register_intent,
    unregister_intent,
)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DT_S = 0.02  # the env's control period
SMALL_POLICY = {"d_model": 32, "n_layers": 1}


def _env_stub():
    """What `HumanDemonstrator.begin` needs of an env when `decide` is driven by hand: the control period."""
    return SimpleNamespace(unwrapped=SimpleNamespace(control_dt_s=DT_S))


def _view(t_s: float, cue_end_s: float | None, xy=(0.0, 0.0), heading: float = 0.0) -> PersonView:
    return PersonView(t_s, t_s, cue_end_s, np.asarray(xy, float), heading, np.array([1.5, 0.0]))


# --- persons --------------------------------------------------------------------------------------------
def test_a_person_config_validates_itself_in_one_line():
    bad_values = [({"reaction_delay_s": -0.1}, "reaction_delay_s"),
                  ({"imperfect_prob": 1.5}, "imperfect_prob"), ({"speed_range": (1.0, 0.8)}, "speed_range"),
                  ({"correction_gain_per_s": 0.0}, "correction"), ({"overshoot": float("nan")}, "overshoot")]
    for bad, field in bad_values:
        with pytest.raises(ValueError, match=field) as err:
            PersonConfig(**bad)
        assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="one after_s per target"):
        PostureIntent(("sit", "lie_down"), (0.0,))
    with pytest.raises(ValueError, match="unknown posture preset"):
        PostureIntent(("backflip",))
    with pytest.raises(ValueError, match="exactly one goal"):
        MoveIntent((0.5, 0.0, 0.0))
    with pytest.raises(ValueError, match="joystick"):
        MoveIntent((5.0, 0.0, 0.0), distance_m=1.0)
    with pytest.raises(KeyError, match="register_intent"):
        intent_for("backflip")


def test_persons_are_drawn_per_seed_deterministically_and_differ():
    assert person_for_seed(10) == person_for_seed(10)
    persons = [person_for_seed(s) for s in range(10, 15)]
    assert len({p.reaction_delay_s for p in persons}) == 5 and len({p.overshoot for p in persons}) == 5
    for p in persons:  # the draws stay in the module's ranges
        assert 0.2 <= p.reaction_delay_s <= 0.5 and 0.0 <= p.overshoot <= 0.25
        assert 0.05 <= p.imperfect_prob <= 0.2 and p.speed_range[0] <= p.speed_range[1]
    rng_a, rng_b = np.random.default_rng(3), np.random.default_rng(3)
    assert PersonConfig.draw(rng_a) == PersonConfig.draw(rng_b)
    assert json.loads(json.dumps(persons[0].to_dict()))["speed_range"] == list(persons[0].speed_range)


def test_imperfect_demonstrations_happen_at_the_configured_rate():
    n = 4000
    for prob in (0.0, 0.15, 1.0):
        person = PersonConfig(imperfect_prob=prob)
        plans = [DemoPlan.draw(person, np.random.default_rng([7, i])) for i in range(n)]
        rate = np.mean([p.imperfect for p in plans])
        assert abs(rate - prob) <= 4 * np.sqrt(prob * (1 - prob) / n) + 1e-12, (prob, rate)
        lo, hi = IMPERFECT_GOAL_SCALE_RANGE
        assert all(lo <= p.goal_scale <= hi if p.imperfect else p.goal_scale == 1.0 for p in plans)
        assert all(person.speed_range[0] <= p.speed <= person.speed_range[1] for p in plans)


# --- only a person's inputs and view ------------------------------------------------------------------
def test_the_pose_editor_presets_are_the_teleops_posture_offsets():
    from yan_dog.teleop import POSTURE_OFFSETS_RAD

    assert set(PRESETS) == set(POSTURE_OFFSETS_RAD)
    for name, offsets in POSTURE_OFFSETS_RAD.items():
        np.testing.assert_allclose(PRESETS[name], offsets, atol=1e-12)


def test_the_joystick_waits_for_the_cue_moves_at_a_thumbs_rate_and_lets_go_at_the_goal():
    person = PersonConfig(reaction_delay_s=0.3, stick_jitter=0.0, speed_range=(1.0, 1.0), imperfect_prob=0.0)
    human = HumanDemonstrator(person, seed=1)
    human.begin(_env_stub(), "walk_forward", episode_seed=5)
    goal_m = intent_for("walk_forward").distance_m * human.plan.aim_scale
    sticks, t = [], 0.0
    for _ in range(10):  # before the cue is heard: hands off
        sticks.append(human.decide(_view(t, None)).stick)
        t += DT_S
    assert not np.any(sticks)
    for _ in range(40):  # the cue heard: the stick goes forward, never faster than a thumb
        sticks.append(human.decide(_view(t, 0.1)).stick)
        t += DT_S
    steps = np.abs(np.diff(np.array(sticks), axis=0))  # (T-1, 3)
    assert np.all(steps <= STICK_RATE_PER_S * DT_S * JOYSTICK_MAX + 1e-9)
    assert sticks[-1][0] == pytest.approx(intent_for("walk_forward").command[0])
    assert np.all(np.abs(sticks) <= JOYSTICK_MAX + 1e-9)
    heading = 0.3  # the dog faces 0.3 rad: the person judges progress along its start heading
    human.begin(_env_stub(), "walk_forward", episode_seed=5)
    human.decide(_view(t, 0.1, heading=heading))
    along = goal_m * np.array([np.cos(heading), np.sin(heading)])
    assert human.decide(_view(t + DT_S, 0.1, xy=0.9 * along, heading=heading)).stick[0] > 0
    for i in range(30):  # there: let go; the stick springs back to the centre
        stick = human.decide(_view(t + (2 + i) * DT_S, 0.1, xy=1.01 * along, heading=heading)).stick
    assert not np.any(stick)



def test_a_person_walks_the_dog_to_the_ball_and_corrects_it_until_it_is_there():
    """come_to_ball: let go at the aim (or when the dog bumps the ball), and once the dog has settled walk it
    on if it stopped short, turn it to face the ball, back it off the ball; a person giving up (imperfect)
    leaves it where it stopped."""
    ball = np.array([1.5, 0.0])  # where `_view` puts the ball

    def ticks(human, t, gap_m, heading=0.0, n=1):  # the dog gap_m short of the ball, facing `heading`
        for _ in range(n):
            stick = human.decide(_view(t, 0.0, xy=ball - [gap_m, 0.0], heading=heading)).stick
            t += DT_S
        return t, stick

    person = PersonConfig(reaction_delay_s=0.2, stick_jitter=0.0, speed_range=(1.0, 1.0), imperfect_prob=0.0)
    human = HumanDemonstrator(person, seed=3)
    human.begin(_env_stub(), "come_to_ball", episode_seed=0)
    aim_m = intent_for("come_to_ball").stop_m * human.plan.aim_scale
    assert aim_m < 0.45  # at the ball, well inside the check's 0.5 m
    t, stick = ticks(human, 0.0, 1.2, n=50)
    assert stick[0] > 0.3
    settle = int(BALL_SETTLE_S / DT_S)  # ticks after letting go before the person judges the stop
    t, stick = ticks(human, t, aim_m - 0.02, n=12)  # at the aim: let go (the stick is back in 11 ticks)
    assert not np.any(stick)
    t, stick = ticks(human, t, aim_m + BALL_REAPPROACH_M + 0.1, n=settle - 14)
    assert not np.any(stick)  # short of the aim, but not yet seen settled: hands off
    t, stick = ticks(human, t, aim_m + BALL_REAPPROACH_M + 0.1, n=6)
    assert stick[0] > 0  # stopped short: walk it on
    t, stick = ticks(human, t, aim_m - 0.02, n=20 + settle)
    assert not np.any(stick)
    t, stick = ticks(human, t, aim_m - 0.02, heading=1.0, n=10)  # the ball 1 rad to its right: turn it
    assert stick[0] == 0 and stick[2] < 0
    t, stick = ticks(human, t, aim_m - 0.02, n=20 + settle)
    assert not np.any(stick)
    t, stick = ticks(human, t, BALL_TOO_CLOSE_M - 0.05, n=10)  # on the ball: back it up
    assert stick[0] < 0 and stick[2] == 0

    bumped = HumanDemonstrator(person, seed=3)  # the ball rolls: the dog is at it, however far it looks
    bumped.begin(_env_stub(), "come_to_ball", episode_seed=0)
    t, stick = ticks(bumped, 0.0, 1.2, n=50)
    rolled = ball + [BALL_PUSHED_M + 0.02, 0.0]
    for _ in range(12):
        stick = bumped.decide(PersonView(t, t, 0.0, rolled - [aim_m + 0.1, 0.0], 0.0, rolled)).stick
        t += DT_S
    assert not np.any(stick)

    careless = HumanDemonstrator(dataclasses.replace(person, imperfect_prob=1.0), seed=3)
    careless.begin(_env_stub(), "come_to_ball", episode_seed=0)
    t, stick = ticks(careless, 0.0, 1.2, n=20)
    t, stick = ticks(careless, t, 0.3, n=20)  # where this person gives up (0.4-0.8 m here): let go
    t, stick = ticks(careless, t, 1.0, n=100)  # and never takes the stick again
    assert not np.any(stick)

def test_the_pose_editor_overshoots_the_target_then_corrects_back_to_it():
    person = PersonConfig(reaction_delay_s=0.2, overshoot=0.2, slider_jitter_rad=0.0,
                          correction_gain_per_s=4.0, speed_range=(1.0, 1.0), imperfect_prob=0.0)
    human = HumanDemonstrator(person, seed=2)
    human.begin(_env_stub(), "sit", episode_seed=0)
    target = PRESETS["sit"]
    j = int(np.argmax(np.abs(target)))  # the joint that moves most
    sliders = [human.decide(_view(i * DT_S, 0.0)).sliders for i in range(300)]  # 6 s
    path = np.array([s[j] for s in sliders]) / target[j]  # fraction of the move
    assert path[:10].max() == 0.0  # the person starts one reaction delay after the cue
    assert path.max() == pytest.approx(1.2, abs=1e-6)  # past the target by the overshoot...
    assert path[-1] == pytest.approx(1.0, abs=1e-3)  # ...then corrected back to it
    assert np.all(np.abs(np.diff(path)) <= 1.2 / 1.0 * DT_S + 1e-9)  # dragged, not jumped


def test_a_user_skill_is_demonstrated_from_its_registered_pose_editor_target():
    pose = np.zeros(12)
    pose[1] = 0.4  # the front-right thigh forward: a user's own posture
    register_intent("paw_forward", PostureIntent((tuple(pose),)))
    try:
        with pytest.raises(ValueError, match="already has an intent"):
            register_intent("paw_forward", PostureIntent(("sit",)))
        person = PersonConfig(slider_jitter_rad=0.0, overshoot=0.0, imperfect_prob=0.0)
        human = HumanDemonstrator(person)
        human.begin(_env_stub(), "paw_forward", episode_seed=0)
        last = [human.decide(_view(i * DT_S, 0.0)).sliders for i in range(200)][-1]
        np.testing.assert_allclose(last, pose, atol=1e-9)
    finally:
        unregister_intent("paw_forward")


# --- in the simulator ------------------------------------------------------------------------------------
@pytest.fixture
def no_scripted_teacher(monkeypatch):
    """Every skill's scripted teacher raises: a human demonstration must never ask it."""
    def refuse(ctx):
        raise AssertionError("the human-like demonstrator asked the scripted teacher")

    for name in ("sit", "walk_forward"):
        skill = sim.skills.get(name)
        sim.skills.register(dataclasses.replace(skill, teacher=refuse), overwrite=True)
    yield
    for skill in sim.skills.BUILTIN_SKILLS:
        if skill.name in ("sit", "walk_forward"):
            sim.skills.register(skill, overwrite=True)


@pytest.fixture(scope="module")
def env():
    import gymnasium as gym

    e = gym.make(sim.ENV_ID, skill="sit", action_mode="hybrid", camera_size=(32, 32))
    yield e
    e.close()


def _demo(env, skill: str, person_seed: int, seed: int):
    from yan_dog.recording import run_episode

    human = HumanDemonstrator(person_for_seed(person_seed), person_seed)
    return run_episode(env, None, "demo", seed, skill=skill, demonstrator=human)


def test_a_person_demonstrates_sit_and_walk_through_the_joystick_and_pose_editor(env, no_scripted_teacher):
    """One demonstration each (the slow test below measures the pass rate): recorded as the person's own
    inputs, passing the check, deterministic per person and seed, different for another person."""
    results = {}
    for skill in ("sit", "walk_forward"):
        res = results[skill] = _demo(env, skill, 10, 100_000)
        ep = res.episode
        assert res.success and ep.source == "teleop" and ep.extra["demonstrator"] == "human"
        assert ep.extra["person"] == person_for_seed(10).to_dict() and "gait_gain" not in ep.extra
    sit, walk = (np.asarray(results[s].episode.action) for s in ("sit", "walk_forward"))  # (T, 15) each
    assert not np.any(sit[:, :3])  # a posture: the stick untouched, the sliders moved
    assert np.all(np.abs(walk[:, :3]) <= JOYSTICK_MAX + 1e-6) and walk[:, 0].max() > 0.3
    np.testing.assert_array_equal(_demo(env, "sit", 10, 100_000).episode.action, sit)  # deterministic
    assert not np.array_equal(np.asarray(_demo(env, "sit", 11, 100_000).episode.action), sit)


@pytest.mark.slow
@pytest.mark.parametrize("skill", ["sit", "walk_forward"])
def test_human_demonstrations_pass_their_checks_at_a_reasonable_rate(env, skill):
    results = [_demo(env, skill, 10 + i % 5, 100_000 + i) for i in range(10)]
    perfect = [r.success for r in results if not r.episode.extra["plan"]["imperfect"]]
    assert np.mean(perfect) >= 0.8, [r.success for r in results]


# --- checked demonstrations: discarded and repeated, or kept ------------------------------------------
PICKY_AFTER_S = 0.7  # after every cue has started (sim.env.CUE_TIME_RANGE_S): passing is not early


def _check_start_heading_positive(ctx) -> bool:
    """Passes on about half the seeds (those that spawn the dog facing left of the x axis)."""
    return ctx.time_s >= PICKY_AFTER_S and ctx.start.base_rpy_rad[2] > 0


@pytest.fixture
def picky_skill():
    from sim.skills import Skill

    def hold(ctx):
        return ctx.start.joint_pos_rad

    sim.skills.register(Skill("picky", hold, _check_start_heading_positive, cue="click", duration_s=1.0,
                              hold_s=0.1))
    yield "picky"
    sim.skills.unregister("picky")


def _session(**kwargs):
    from yan_dog.session import TeachSession
    from yan_dog.teach_setup import SessionConfig

    config = SessionConfig(learn_seconds=1.0, learn_during_demos=False, camera_size=(32, 32),
                           policy_overrides=SMALL_POLICY)
    return TeachSession(config, **kwargs)


def test_failed_demonstrations_are_reported_discarded_and_repeated_or_kept(picky_skill, caplog):
    from yan_dog.session import DEMO_ATTEMPTS, DEMO_RETRY_SEED_STEP, DemonstrationsFailed

    session = _session()
    try:
        with caplog.at_level(logging.WARNING, logger="yan_dog.session"):
            kept = session.demonstrate(picky_skill, 3)
        assert len(kept) == 3 and all(r.success for r in kept)
        assert session.demos_discarded == session.demo_attempts - 3 > 0  # some seeds failed, were repeated
        failures = [r.getMessage() for r in caplog.records if "failed its check" in r.getMessage()]
        assert len(failures) == session.demos_discarded and all("\n" not in m for m in failures)
        assert all("discarded" in m for m in failures)
        assert all(r.episode.seed % DEMO_RETRY_SEED_STEP < 3 for r in kept)  # repeats on seed + step * n
        assert len(session.learner.buffer.all()) == 3  # the failed ones never reached the learner
    finally:
        session.close()

    session = _session(keep_failed=True)
    try:
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="yan_dog.session"):
            kept = session.demonstrate(picky_skill, 3)
        assert session.demo_attempts == 3 and session.demos_discarded == 0
        assert session.demos_failed_kept == sum(not r.success for r in kept) > 0
        kept_lines = [r for r in caplog.records if "kept (keep_failed)" in r.getMessage()]
        assert len(kept_lines) == session.demos_failed_kept
    finally:
        session.close()

    never = dataclasses.replace(sim.skills.get(picky_skill), check=lambda ctx: False)
    sim.skills.register(never, overwrite=True)
    session = _session()
    try:
        with pytest.raises(DemonstrationsFailed, match=f"all {DEMO_ATTEMPTS} attempts") as err:
            session.demonstrate(picky_skill, 1)
        assert "\n" not in str(err.value) and session.demo_attempts == DEMO_ATTEMPTS
    finally:
        session.close()


# --- bench/few_shot.py --demos human -----------------------------------------------------------------------
def test_few_shot_records_the_demonstrator_in_every_job_with_a_person_per_seed(tmp_path, capsys):
    from bench.few_shot import build_jobs, demonstrator_for, main

    cfg = {"skills": ["sit"], "ks": [3], "seeds": [10, 11], "learn_seconds": 60.0, "eval_episodes": 20,
           "demos": "human"}
    jobs = [job for _, job in build_jobs(cfg, ["yan", "mlp"], ["single"])]
    assert {j["demos"] for j in jobs} == {"human"}
    people = {(j["policy"], j["seed"]): demonstrator_for(j) for j in jobs}
    assert people["yan", 10].person == people["mlp", 10].person == person_for_seed(10)  # one person a seed
    assert people["yan", 10].person != people["yan", 11].person
    assert demonstrator_for({**jobs[0], "demos": "scripted"}) is None
    scripted = build_jobs({**cfg, "demos": "scripted"}, ["yan"], ["single"])
    assert {j["demos"] for _, j in scripted} == {"scripted"}

    def shard(name: str, demos: str, seed: int) -> Path:
        job = {"kind": "single", "skill": "sit", "k": 3, "policy": "yan", "seed": seed, "success": 1.0,
               "eval_episodes": 20, "competence_seconds": None, "split": "dev", "demos": demos}
        path = tmp_path / name
        path.write_text(json.dumps({"split": "dev", "raw": [job]}))
        return path

    with pytest.raises(SystemExit) as exit_:  # human and scripted results never merge into one table
        main(["--merge", str(shard("h.json", "human", 10)), str(shard("s.json", "scripted", 11)),
              "--json", str(tmp_path / "m.json")])
    assert exit_.value.code == 2 and "different ablations" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--demos", "robot", "--json", str(tmp_path / "never.json")])


def test_yan_dog_teach_keep_failed_reaches_the_session():
    from yan_dog.cli import _session, build_parser

    for extra, keep in (([], False), (["--keep-failed"], True)):
        args = build_parser().parse_args(["teach", "--skill", "sit", "--learn-seconds", "1", *extra])
        session = _session(args, None)
        try:
            assert session.keep_failed is keep and session.demonstrator is None
        finally:
            session.close()
