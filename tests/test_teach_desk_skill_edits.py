"""The teach desk's rename and delete change the running learner too (through `BrainCore`), not only the
library; the answer says so, and a skill being demonstrated is neither renamed nor deleted."""

import json

import numpy as np
import pytest

from tests.test_teach_desk import SMALL, demonstrate, obs
from yan_dog.brain import BrainConfig, BrainCore
from yan_dog.teach_desk import TeachDesk
from yan_policy.data.library import SkillLibrary


def make_desk(tmp_path, learner_process: bool) -> TeachDesk:
    """A desk on a real brain; a learner process is never started (learning off): its commands queue."""
    core = BrainCore(BrainConfig(session=SMALL, learning=False, learner_process=learner_process),
                     SkillLibrary(tmp_path / "lib"))
    return TeachDesk(core, core.library)


def command(desk, op: str, **args) -> tuple[bool, str]:
    return desk.handle_text(json.dumps({"op": op, **args}))


def teach(desk, rng) -> None:
    """Two demonstrations of "tilt", one of "paw"; "tilt" selected again."""
    for skill in ("tilt", "tilt", "paw"):
        desk.core.set_skill(skill)
        assert demonstrate(desk, 20, rng)[0]
    desk.core.set_skill("tilt")


@pytest.mark.parametrize("learner_process", [False, True], ids=["thread", "process"])
def test_rename_and_delete_change_the_running_learner_and_say_so(tmp_path, learner_process):
    desk = make_desk(tmp_path, learner_process)
    try:
        teach(desk, np.random.default_rng(0))
        learner = desk.core.learner
        ok, message = command(desk, "rename_skill", name="tilt", new_name="head_tilt")
        assert ok and "in the running learner too" in message, message
        assert learner.buffer.skills() == ["head_tilt", "paw"] and len(learner.buffer) == 3
        assert desk.core.skill == "head_tilt" and set(desk.library.skills) == {"head_tilt", "paw"}
        if not learner_process:  # the episodes themselves carry the new name
            assert sorted(e.skill for e in learner.buffer.all()) == ["head_tilt", "head_tilt", "paw"]
        else:  # queued for the child in order, behind the episodes
            assert [c for c, _ in learner._pending][-1] == "rename"
        ok, message = command(desk, "delete_skill", name="head_tilt")  # the selected skill
        assert ok and "from the running learner too" in message, message
        assert "still selected" in message and desk.core.skill == "head_tilt"
        assert learner.buffer.skills() == ["paw"] and len(learner.buffer) == 1
        assert [s["name"] for s in desk.state()["skills"]] == ["paw"]  # not listed from the learner either
        if not learner_process:
            assert np.isfinite(learner.train_step()["action_loss"])  # trains on the rest
        ok, message = command(desk, "delete_skill", name="paw")  # not selected: no word about it
        assert ok and "selected" not in message and len(learner.buffer) == 0
    finally:
        desk.core.close()


def test_a_skill_is_neither_renamed_nor_deleted_during_its_demonstration(tmp_path):
    desk = make_desk(tmp_path, learner_process=False)
    try:
        rng = np.random.default_rng(1)
        teach(desk, rng)
        desk.core.start_demo(10.0)
        desk.core.tick(obs(rng), None, 10.0)
        for op, args in [("rename_skill", {"name": "tilt", "new_name": "t2"}),
                         ("delete_skill", {"name": "tilt"})]:
            ok, message = command(desk, op, **args)
            assert not ok and "during its demonstration" in message, message
        assert list(desk.library.skills) == desk.core.learner.buffer.skills() == ["tilt", "paw"]
        assert command(desk, "rename_skill", name="paw", new_name="shake")[0]  # another skill may change
        assert desk.core.learner.buffer.skills() == ["tilt", "shake"]
        assert not desk.core.rename_skill("tilt", "t2")[0] and not desk.core.forget_skill("tilt")[0]
        assert not desk.core.rename_skill("paw", "../x")[0]  # the core checks the name too
    finally:
        desk.core.close()


def test_the_cue_is_set_through_the_core_and_not_during_a_demonstration(tmp_path):
    desk = make_desk(tmp_path, learner_process=False)
    try:
        assert command(desk, "set_cue", cue="clap") == (True, "cue 'clap'")
        assert desk.core.config.cue == "clap"
        assert command(desk, "set_cue", cue="") == (True, "no cue") and desk.core.config.cue is None
        desk.core.start_demo(0.0)
        assert not command(desk, "set_cue", cue="x")[0] and desk.core.config.cue is None
    finally:
        desk.core.close()
