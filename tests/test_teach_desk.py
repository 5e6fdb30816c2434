"""yan_dog.teach_desk: the panel's and the keyboard's commands on a real BrainCore and skill library."""

import json

import numpy as np
import pytest

from yan_dog.brain import BrainConfig, BrainCore
from yan_dog.teach_desk import TeachDesk, parse_command
from yan_dog.teach_setup import SessionConfig
from yan_policy.data.library import SkillLibrary
from yan_policy.training.learner import LearnerConfig

DT_S = 0.02
STAND = np.array([0.0, 0.9, -1.8] * 4)
SMALL = SessionConfig(policy_overrides={"d_model": 32, "n_layers": 1},
                      learner=LearnerConfig(batch_episodes=1, publish_every=1))
TILT = np.r_[0.0, 0.0, 0.0, 0.2, 0.0, 0.0, -0.2, 0.0, 0.0, np.zeros(6)]  # a head tilt's hybrid action (15,)


def obs(rng):
    return {"camera": rng.integers(0, 256, (32, 32, 3), dtype=np.uint8),
            "audio": rng.integers(-100, 100, 320).astype(np.int16),
            "joints": np.stack([STAND, np.zeros(12), np.zeros(12)]).astype(np.float32),
            "imu": np.array([0, 0, 0, 1, 0, 0, 0, 0, 0, 9.81], np.float32)}


@pytest.fixture
def desk(tmp_path):
    core = BrainCore(BrainConfig(session=SMALL, learning=False, learner_process=False),
                     SkillLibrary(tmp_path / "lib"))
    yield TeachDesk(core, core.library)
    core.close()


def demonstrate(desk, ticks: int, rng, keep=True):
    desk.core.start_demo(0.0)
    for k in range(ticks):
        desk.core.tick(obs(rng), TILT, k * DT_S)
    return desk.stop_demo() if keep else desk.handle_text(json.dumps({"op": "discard_demo"}))


def test_commands_are_parsed_and_bad_ones_refused_in_one_line():
    cmd = parse_command('{"op": "set_skill", "name": "head_tilt", "id": 7}')
    assert (cmd.op, cmd.args, cmd.id) == ("set_skill", {"name": "head_tilt"}, 7)
    for text, why in [("not json", "not JSON"), ('{"op": "fly"}', "op in"),
                      ('{"op": "set_skill"}', "string 'name'"),
                      ('{"op": "set_cue", "cue": 3}', "string 'cue'"), ("x" * 5000, "longer than")]:
        with pytest.raises(ValueError, match=why):
            parse_command(text)


def test_skill_cue_and_demonstration_lengths_reach_the_core_and_the_state(desk):
    rng = np.random.default_rng(0)
    assert desk.handle_text('{"op": "set_skill", "name": "head_tilt", "id": "a"}')[0]
    assert desk.handle_text('{"op": "set_cue", "cue": "head_tilt_cue"}')[0]
    assert desk.core.skill == "head_tilt" and desk.core.config.cue == "head_tilt_cue"
    ok, _ = demonstrate(desk, 25, rng)
    assert ok
    (ep,) = desk.library.demos("head_tilt")
    assert ep.cue == "head_tilt_cue" and len(ep) == 25  # the cue is recorded with the demonstration
    state = desk.state()
    assert state["demos"] == [{"skill": "head_tilt", "ticks": 25, "seconds": 0.5, "kept": True,
                               "message": state["demos"][0]["message"]}]
    assert state["skills"][0]["name"] == "head_tilt" and state["skills"][0]["demos"] == 1
    assert state["last_result"]["op"] == "set_cue" and json.dumps(state)  # JSON-ready
    bad = desk.handle_text('{"op": "set_skill", "name": "../etc", "id": 9}')
    assert not bad[0] and desk.state()["last_result"] == {"id": 9, "op": "set_skill", "ok": False,
                                                          "message": bad[1]}


def test_discard_drops_the_running_demonstration_before_the_learner_sees_it(desk):
    rng = np.random.default_rng(1)
    desk.core.set_skill("head_tilt")
    ok, message = demonstrate(desk, 30, rng, keep=False)
    assert ok and "discarded" in message
    assert desk.core.mode == "idle" and len(desk.core.learner.buffer) == 0 and not desk.library.skills
    assert desk.core.counts["demos_discarded"] == 1 and desk.state()["demos"][0]["kept"] is False
    assert not desk.handle_text('{"op": "discard_demo"}')[0]  # nothing running now
    assert desk.handle_text('{"op": "set_cue", "cue": "x"}')[0]  # idle: the cue may change
    desk.core.start_demo(1.0)
    assert not desk.handle_text('{"op": "set_cue", "cue": "y"}')[0]  # not in the middle of one


def test_rename_delete_and_export_work_on_the_library(desk, tmp_path):
    rng = np.random.default_rng(2)
    desk.core.set_skill("tilt")
    demonstrate(desk, 20, rng)
    demonstrate(desk, 20, rng)
    ok, message = desk.handle_text('{"op": "rename_skill", "name": "tilt", "new_name": "head_tilt"}')
    assert ok, message
    assert list(desk.library.skills) == ["head_tilt"] and desk.core.skill == "head_tilt"
    assert [ep.skill for ep in desk.library.demos("head_tilt")] == ["head_tilt"] * 2
    out = tmp_path / "head_tilt.yanskill"
    ok, message = desk.handle_text(json.dumps({"op": "export_skill", "name": "head_tilt", "path": str(out)}))
    assert ok and out.is_file(), message
    meta, episodes = SkillLibrary.read_skill_file(out)
    assert len(episodes) == 2 and {ep.skill for ep in episodes} == {"head_tilt"}
    assert not desk.handle_text('{"op": "delete_skill", "name": "nope"}')[0]
    assert desk.handle_text('{"op": "delete_skill", "name": "head_tilt"}')[0]
    assert not desk.library.skills
    assert not desk.handle_text('{"op": "rename_skill", "name": "head_tilt", "new_name": "x"}')[0]


def test_library_commands_without_a_library_are_refused(tmp_path):
    core = BrainCore(BrainConfig(session=SMALL, learning=False, learner_process=False), None)
    try:
        ok, message = TeachDesk(core, None).handle_text('{"op": "delete_skill", "name": "sit"}')
        assert not ok and "library" in message
    finally:
        core.close()
