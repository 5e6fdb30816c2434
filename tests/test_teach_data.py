"""Episode format, skill library (atomic, versioned, crash-safe) and skill export/import."""

import json
import multiprocessing as mp
import os
import signal
import time

import numpy as np
import pytest
import torch

from yan_policy.data.episode import Episode, EpisodeBuilder
from yan_policy.data.library import LibraryError, SkillLibrary
from yan_policy.policies.config import PolicyConfig
from yan_policy.policies.registry import load_policy, make_policy

ACTION_DIM = 15


def fake_episode(skill="sit", t=30, seed=0, camera=True, cue="whistle_falling") -> Episode:
    rng = np.random.default_rng(seed)
    return Episode(
        skill=skill,
        action_mode="hybrid",
        control_hz=50,
        stamps_s=np.arange(t) / 50.0,
        camera=rng.integers(0, 255, (t, 24, 24, 3), dtype=np.uint8) if camera else None,
        audio=rng.integers(-2000, 2000, (t, 320)).astype(np.int16),
        joints=rng.normal(size=(t, 3, 12)).astype(np.float32),
        imu=rng.normal(size=(t, 10)).astype(np.float32),
        action=rng.normal(size=(t, ACTION_DIM)).astype(np.float32),
        cue=cue,
        seed=seed,
    )


def small_policy(seed=0):
    torch.manual_seed(seed)
    cfg = PolicyConfig().to_dict() | {"d_model": 32, "action_dim": ACTION_DIM}
    return make_policy("yan", PolicyConfig.from_dict(cfg))


def test_episode_round_trip(tmp_path):
    ep = fake_episode(camera=True)
    ep.label_mask[:5] = False
    ep.save(tmp_path / "ep.safetensors")
    back = Episode.load(tmp_path / "ep.safetensors")
    for k in ("stamps_s", "camera", "audio", "joints", "imu", "action", "label_mask"):
        np.testing.assert_array_equal(getattr(back, k), getattr(ep, k), err_msg=k)
    assert back.metadata() == ep.metadata()


def test_episode_without_camera_round_trips(tmp_path):
    ep = fake_episode(camera=False)
    back = Episode.load(ep.save(tmp_path / "e.safetensors"))
    assert back.camera is None and set(back.observations()) == {"audio", "joints", "imu"}


@pytest.mark.parametrize(
    "change, match",
    [
        ({"joints": np.zeros((30, 12), np.float32)}, "joints must have shape"),
        ({"action": np.full((30, ACTION_DIM), np.nan, np.float32)}, "action contains NaN"),
        ({"imu": np.zeros((29, 10), np.float32)}, "imu has 29 ticks"),
        ({"stamps_s": np.zeros(30)}, "strictly increasing"),
        ({"action_mode": "torque"}, "action_mode"),
        ({"source": "dream"}, "source"),
    ],
)
def test_episode_rejects_inconsistent_data(change, match):
    ep = fake_episode()
    fields = {
        k: getattr(ep, k)
        for k in (
            "skill",
            "action_mode",
            "control_hz",
            "stamps_s",
            "joints",
            "imu",
            "action",
            "camera",
            "audio",
            "cue",
            "source",
        )
    }
    with pytest.raises(ValueError, match=match):
        Episode(**(fields | change))


def test_damaged_episode_file_is_a_clear_error(tmp_path):
    path = fake_episode().save(tmp_path / "ep.safetensors")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="not a readable episode file"):
        Episode.load(path)


def _tick_obs(ep: Episode, t: int, camera: bool = True) -> dict:
    obs = ep.obs_at(t)
    return obs if camera else {k: v for k, v in obs.items() if k != "camera"}


def test_episode_builder_rebuilds_an_episode_tick_by_tick():
    ep = fake_episode(t=6, camera=False)
    builder = EpisodeBuilder(start_s=100.0, skill=ep.skill, cue=ep.cue, extra={"recorded_by": "test"})
    for t in range(len(ep)):
        action = ep.action[t].astype(np.float64)  # cast to float32 on the way in
        assert builder.append(_tick_obs(ep, t, camera=False), action, 100.0 + ep.stamps_s[t], label=t >= 2)
    assert len(builder) == 6 and builder.labelled == 4
    back = builder.build(action_mode="hybrid", control_hz=50, seed=0, extra={"truncated": False})
    for k in ("audio", "joints", "imu", "action"):
        np.testing.assert_array_equal(getattr(back, k), getattr(ep, k), err_msg=k)
    np.testing.assert_allclose(back.stamps_s, ep.stamps_s, atol=1e-9)  # from start_s
    assert back.camera is None and back.action.dtype == np.float32  # a stream absent on every tick: absent
    np.testing.assert_array_equal(back.label_mask, [False, False, True, True, True, True])
    assert back.metadata() | {"extra": {}} == ep.metadata() | {"extra": {}}
    assert back.extra == {"recorded_by": "test", "truncated": False}  # the start's and build's extras merged


def test_episode_builder_holds_caps_and_skips_what_the_recorders_skip():
    ep = fake_episode(t=8)
    hold = np.zeros(ACTION_DIM, np.float32)
    builder = EpisodeBuilder(start_s=0.0, max_ticks=4, hold_action=hold)
    assert not builder.append(None, ep.action[0], None)  # stale inputs: counted, not recorded
    assert builder.append(ep.obs_at(0), None, 0.02)  # no action: the hold, unlabelled
    assert not builder.append(ep.obs_at(1), ep.action[1], 0.02)  # the clock did not advance
    for t in range(2, 8):
        builder.append(ep.obs_at(t), ep.action[t], 0.02 * (t + 1))
    assert (len(builder), builder.stale_ticks, builder.truncated, builder.labelled) == (4, 1, True, 3)
    back = builder.build(skill="sit", action_mode="hybrid", control_hz=50)
    np.testing.assert_allclose(back.stamps_s, [0.02, 0.06, 0.08, 0.10])
    np.testing.assert_array_equal(back.action[0], hold)
    np.testing.assert_array_equal(back.label_mask, [False, True, True, True])
    assert back.camera.shape == (4, 24, 24, 3)
    with pytest.raises(ValueError, match="hold_action"):
        EpisodeBuilder().append(ep.obs_at(0), None, 0.0)


def test_episode_builder_retimes_repeated_stamps_to_nominal_ticks():
    ep = fake_episode(t=4)
    builder = EpisodeBuilder(repeated_stamps="nominal", skill="sit", action_mode="hybrid", control_hz=50)
    for t, stamp in enumerate([7.0, 7.1, 7.1, 7.3]):  # a repeated joint state
        assert builder.append(ep.obs_at(t), ep.action[t], stamp)
    np.testing.assert_allclose(builder.build().stamps_s, np.arange(4) / 50)
    builder = EpisodeBuilder(repeated_stamps="nominal", skill="sit", action_mode="hybrid", control_hz=50)
    for t, stamp in enumerate([7.0, 7.1, 7.2, 7.3]):
        builder.append(ep.obs_at(t), ep.action[t], stamp)
    np.testing.assert_allclose(builder.build().stamps_s, [0.0, 0.1, 0.2, 0.3])  # from the first tick


def test_episode_builder_refuses_what_makes_no_episode():
    ep = fake_episode(t=3)
    meta = {"skill": "sit", "action_mode": "hybrid", "control_hz": 50}
    with pytest.raises(ValueError, match="no ticks"):
        EpisodeBuilder(**meta).build()
    builder = EpisodeBuilder(**meta)
    builder.append(ep.obs_at(0), ep.action[0], 0.0)
    builder.append(_tick_obs(ep, 1, camera=False), ep.action[1], 0.02)
    with pytest.raises(ValueError, match="stream camera is missing on 1 of 2 ticks"):
        builder.build()
    with pytest.raises(ValueError, match="repeated_stamps"):
        EpisodeBuilder(repeated_stamps="keep")


def test_library_commit_load_keeps_skills_and_policy(tmp_path):
    lib = SkillLibrary(tmp_path / "lib")
    lib.add_demo(fake_episode("sit", seed=1))
    lib.add_demo(fake_episode("lie_down", seed=2, cue="whistle_trill"))
    policy = small_policy()
    v1 = lib.commit(policy)
    lib2 = SkillLibrary(tmp_path / "lib")
    loaded = lib2.load(load_policy)
    assert lib2.version == v1 and set(lib2.skills) == {"sit", "lie_down"}
    assert lib2.skills["lie_down"].cue == "whistle_trill"
    assert len(lib2.demos("sit")) == 1
    obs = fake_episode().obs_at(0)
    a1, _ = policy.step(obs, policy.initial_state())
    a2, _ = loaded.step(obs, loaded.initial_state())
    np.testing.assert_array_equal(a1, a2)


def test_empty_library_loads_as_none(tmp_path):
    assert SkillLibrary(tmp_path / "lib").load(load_policy) is None


def test_library_keeps_only_the_last_versions(tmp_path):
    lib = SkillLibrary(tmp_path / "lib", keep_versions=2)
    policy = small_policy()
    names = [lib.commit(policy) for _ in range(4)]
    assert lib.versions() == names[-2:] and lib.current() == names[-1]


def test_damaged_current_version_falls_back_to_the_previous_one(tmp_path, caplog):
    lib = SkillLibrary(tmp_path / "lib")
    lib.add_demo(fake_episode("sit"))
    v1 = lib.commit(small_policy(0))
    lib.add_demo(fake_episode("lie_down", seed=3))
    v2 = lib.commit(small_policy(1))
    weights = tmp_path / "lib" / "versions" / v2 / "policy" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])  # torn / corrupted
    lib2 = SkillLibrary(tmp_path / "lib")
    assert lib2.load(load_policy) is not None
    assert lib2.version == v1 and set(lib2.skills) == {"sit"}
    assert f"version {v2} is unusable" in caplog.text


def test_no_intact_version_is_a_clear_error(tmp_path):
    lib = SkillLibrary(tmp_path / "lib")
    v1 = lib.commit(small_policy())
    (tmp_path / "lib" / "versions" / v1 / "manifest.json").write_text("{not json")
    with pytest.raises(LibraryError, match="no intact version"):
        SkillLibrary(tmp_path / "lib").load(load_policy)


def _commit_forever(root: str, ready, last_committed) -> None:
    lib = SkillLibrary(root)
    policy = small_policy()
    lib.load(load_policy)
    ready.set()
    i = 0
    while True:
        lib.add_demo(fake_episode("sit", t=10, seed=i))
        version = lib.commit(policy)
        last_committed.value = int(version[1:])  # reported only once commit() has returned
        i += 1


def test_kill_during_save_never_loses_the_saved_skills(tmp_path):
    """kill -9 a process that commits in a loop, at random moments: the library always loads, and holds
    every version that had finished committing before the kill."""
    root = tmp_path / "lib"
    lib = SkillLibrary(root)
    lib.add_demo(fake_episode("lie_down", t=10))
    lib.commit(small_policy())
    ctx = mp.get_context("spawn")
    rng = np.random.default_rng(0)
    for _ in range(5):
        ready, last = ctx.Event(), ctx.Value("i", 0)
        proc = ctx.Process(target=_commit_forever, args=(str(root), ready, last))
        proc.start()
        assert ready.wait(60)
        time.sleep(float(rng.uniform(0.05, 0.4)))
        os.kill(proc.pid, signal.SIGKILL)
        proc.join()
        check = SkillLibrary(root)
        assert check.load(load_policy) is not None
        assert int(check.version[1:]) >= last.value  # nothing that finished saving was lost
        assert len(check.demos("lie_down")) == 1
        if last.value > 1:
            assert "sit" in check.skills


def test_skill_export_import_round_trip(tmp_path):
    a = SkillLibrary(tmp_path / "a")
    eps = [fake_episode("sit", seed=s) for s in range(2)]
    for ep in eps:
        a.add_demo(ep)
    path = a.export_skill("sit", tmp_path / "sit.yanskill")
    b = SkillLibrary(tmp_path / "b")
    imported = b.import_skill(path, expect_action_dim=ACTION_DIM)
    assert len(imported) == 2 and "sit" in b.skills
    np.testing.assert_array_equal(imported[1].action, eps[1].action)


def test_tampered_or_foreign_skill_files_are_refused(tmp_path):
    a = SkillLibrary(tmp_path / "a")
    a.add_demo(fake_episode("sit"))
    path = a.export_skill("sit", tmp_path / "sit.yanskill")
    b = SkillLibrary(tmp_path / "b")
    with pytest.raises(LibraryError, match="action dims"):
        b.import_skill(path, expect_action_dim=12)
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF  # flip bits in the last tensor's bytes
    path.write_bytes(bytes(data))
    with pytest.raises(LibraryError, match="content hash mismatch"):
        b.import_skill(path)
    foreign = tmp_path / "foreign.yanskill"
    foreign.write_text(json.dumps({"not": "a skill"}))
    with pytest.raises(LibraryError, match="not a yan-dog skill file"):
        b.import_skill(foreign)


def test_a_reloaded_library_numbers_the_cues_as_the_policy_learned_them(tmp_path):
    """The cue head's classes are numbered in the order cues first reached the learner; a learner rebuilt
    from the library (a restart) must number them the same way, or further teaching relabels old skills.
    Taught here in non-alphabetical order (the manifest's JSON sorts its keys)."""
    from yan_policy.training.learner import OnlineLearner

    lib = SkillLibrary(tmp_path / "lib")
    first = OnlineLearner(small_policy())
    for i, (skill, cue) in enumerate([("walk_forward", "whistle_rising"), ("sit", "whistle_falling"),
                                      ("lie_down", "whistle_trill"), ("sit", "whistle_falling")]):
        ep = fake_episode(skill, seed=i, cue=cue)
        first.add_episode(ep)
        lib.add_demo(ep)
    lib.commit(first.policy)
    again = SkillLibrary(tmp_path / "lib")
    rebuilt = OnlineLearner(again.load(load_policy))
    for ep in again.demos():
        rebuilt.add_episode(ep)
    assert first.cue_ids == {"whistle_rising": 1, "whistle_falling": 2, "whistle_trill": 3}
    assert rebuilt.cue_ids == first.cue_ids
    assert list(again.skills) == ["walk_forward", "sit", "lie_down"]
