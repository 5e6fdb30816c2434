"""A person's rename and delete of a skill reach the running learner: the thread learner's buffer, the
learner process's child (its buffer, focus and mirror answers) and the parent's counts."""


import numpy as np
import pytest
import torch

from tests.test_learner_process import child_loop_in_thread, wait_for
from tests.test_teach_data import fake_episode, small_policy
from yan_dog.teach_setup import MOTOR_MIRROR as A1_MIRROR
from yan_policy.training import learner_process
from yan_policy.training.batching import DemoBuffer
from yan_policy.training.learner import LearnerConfig, OnlineLearner
from yan_policy.training.learner_process import ProcessLearner

SYMMETRIC = {"sit", "sitz"}.__contains__  # which skills are their own mirror image, here


def by_skill(buffer) -> dict[str, list[str]]:
    """Each stored episode's own skill name, grouped by the skill it is stored under."""
    out: dict[str, list[str]] = {}
    for e in buffer.all():
        out.setdefault(e.skill, []).append(e.skill)
    return out


def thread_learner(**config) -> OnlineLearner:
    torch.manual_seed(0)
    learner = OnlineLearner(small_policy(), LearnerConfig(batch_episodes=2, seed=0, **config),
                            mirror=A1_MIRROR, symmetric=SYMMETRIC)
    learner.add_episode(fake_episode("sit", t=8, seed=0))
    learner.add_episode(fake_episode("sit", t=8, seed=1))
    learner.add_episode(fake_episode("lie_down", t=8, seed=2, cue="clap"))
    return learner


def test_the_buffer_renames_in_place_merges_into_a_known_name_and_removes():
    buf = DemoBuffer()
    for skill in ("sit", "lie_down", "sit", "stand"):
        buf.add(fake_episode(skill, t=5))
    assert buf.rename("sit", "sitz") == 2 and buf.skills() == ["sitz", "lie_down", "stand"]
    assert {e.skill for e in buf.all()} == {"sitz", "lie_down", "stand"}
    assert buf.rename("lie_down", "sitz") == 1 and buf.skills() == ["sitz", "stand"]  # joins its episodes
    assert len(buf) == 4 and buf.rename("nope", "x") == 0 and buf.rename("stand", "stand") == 0
    assert buf.remove("sitz") == 3 and buf.remove("sitz") == 0 and buf.skills() == ["stand"]


def test_a_renamed_skill_trains_under_its_new_name_as_the_same_skill():
    learner = thread_learner(mirror_prob=1.0)
    learner.focus = "sit"
    for _ in range(3):
        learner.train_step()  # the sit episodes' mirror images are made and cached
    cue_ids = dict(learner.cue_ids)
    assert learner.rename_skill("sit", "sitz") == 2
    assert by_skill(learner.buffer) == {"sitz": ["sitz"] * 2, "lie_down": ["lie_down"]}
    assert learner.buffer.skills() == ["sitz", "lie_down"] and learner.focus == "sitz"
    assert learner.cue_ids == cue_ids  # classes belong to cues, not to skill names
    stored = {id(e) for e in learner.buffer.all()}
    assert all(key in stored for key in learner._mirrors)  # the old episodes' mirrors are gone
    learner.add_episode(fake_episode("sitz", t=8, seed=3))  # more of a known skill: moments kept
    assert learner._optim.state
    assert "sit" not in learner.buffer.skills() and len(learner.buffer) == 4
    assert np.isfinite(learner.train_step()["action_loss"])
    assert learner.rename_skill("nope", "other") == 0
    with pytest.raises(ValueError, match="non-empty"):
        learner.rename_skill("sitz", "")


def test_a_mirror_cached_for_a_forgotten_episode_is_never_served_to_one_that_reuses_its_id():
    learner = thread_learner(mirror_prob=1.0)
    episode = learner.buffer.all()[0]
    stale = fake_episode("old", t=8, seed=9)
    learner._mirrors[id(episode)] = (stale, stale)  # as if a freed episode had had this id
    assert learner._mirrored(episode) is not stale and learner._mirrors[id(episode)][0] is episode


def test_a_forgotten_skill_is_no_longer_trained_and_training_goes_on_with_the_rest():
    learner = thread_learner(mirror_prob=1.0)
    learner.focus = "sit"
    learner.start()
    try:
        assert wait_for(lambda: learner.steps >= 2), "the learner thread made no progress"
        assert learner.forget_skill("sit") == 2  # while it trains
        assert learner.buffer.skills() == ["lie_down"] and learner.focus is None
        steps = learner.steps
        assert wait_for(lambda: learner.steps >= steps + 3), "training stopped after the forget"
    finally:
        learner.stop()  # re-raises a failure of the learner thread
    picks = learner.buffer.sample(20, np.random.default_rng(0), focus="sit", rehearsal=0.0)
    assert {e.skill for e in picks} == {"lie_down"}
    assert learner.forget_skill("sit") == 0


def _mismatched(skill: str, seed: int):
    """An episode whose audio blocks differ from fake_episode's: a batch holding both makes a learner
    fail, so a learner that keeps training proves it no longer holds this episode."""
    episode = fake_episode(skill, seed=seed)
    episode.audio = np.zeros((len(episode), 160), np.int16)
    return episode


def test_rename_and_forget_reach_a_real_learner_process_in_order_before_and_after_it_starts():
    config = LearnerConfig(batch_episodes=4, publish_every=1)
    learner = ProcessLearner(small_policy(), config, sched_idle=False)
    try:
        learner.add_episode(fake_episode("sit", seed=0))
        learner.add_episode(_mismatched("bad", seed=1))  # before the child exists: queued
        learner.focus = "bad"
        assert learner.rename_skill("bad", "broken") == 1 and learner.focus == "broken"
        assert learner.buffer.skills() == ["sit", "broken"]
        assert learner.forget_skill("broken") == 1 and learner.focus is None  # under its new name
        assert learner.rename_skill("sit", "sitz") == 1
        assert learner.buffer.skills() == ["sitz"] and len(learner.buffer) == 1
        learner.start()
        assert wait_for(lambda: learner.steps >= 3), "the learner process made no progress"
        learner.stop()  # raises had the child trained on the mismatched episode
        steps = learner.steps
        learner.add_episode(_mismatched("bad", seed=2))  # through the live queue, to a paused child
        assert learner.rename_skill("bad", "broken") == 1 and learner.forget_skill("broken") == 1
        learner.start()
        assert wait_for(lambda: learner.steps >= steps + 3), "no progress after the live commands"
        learner.stop()
        assert learner.buffer.skills() == ["sitz"] and len(learner.buffer) == 1
    finally:
        learner.close()


def test_the_childs_buffer_focus_and_mirror_answers_follow_a_rename_and_a_forget(monkeypatch):
    """The child's loop runs in a thread here, over plain queues, to look into its learner."""
    made: list[OnlineLearner] = []

    class Seen(learner_process._SharedWeightsLearner):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(learner_process, "_SharedWeightsLearner", Seen)
    policy = small_policy()
    config = LearnerConfig(batch_episodes=2, threads=torch.get_num_threads())
    learner = ProcessLearner(policy, config, mirror=A1_MIRROR, symmetric=SYMMETRIC)
    for skill, seed in (("sit", 0), ("lie_down", 1), ("sit", 2), ("stand", 3)):
        learner.add_episode(fake_episode(skill, t=8, seed=seed))
    learner.focus = "sit"
    learner.rename_skill("sit", "sitz")
    learner.rename_skill("lie_down", "tuck")
    learner.forget_skill("stand")
    with child_loop_in_thread(config, learner, policy, ("pause", 1), A1_MIRROR) as (events, _):
        assert events.get(timeout=30.0) == ("paused", 1)  # every command before it was applied
    (seen,) = made
    assert by_skill(seen.buffer) == {"sitz": ["sitz"] * 2, "tuck": ["tuck"]}
    assert seen.buffer.skills() == learner.buffer.skills() == ["sitz", "tuck"]
    assert seen.focus == learner.focus == "sitz"
    assert seen.symmetric("sitz") and not seen.symmetric("tuck")  # asked by the new name, in the parent
