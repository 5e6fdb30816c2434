"""The live view (yan_dog.live_view): sessions recorded to .rrd and read back with Rerun's own reader
(`rerun.chunk.RrdReader`): which entities, how many rows, and the values a person would see."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from rerun.chunk import RrdReader

import sim
from yan_dog import live_view as lv
from yan_dog.runtime import Actor
from yan_dog.streams import JOINT_NAMES
from yan_dog.teach_setup import SessionConfig, build_learner
from yan_policy.data.episode import Episode
from yan_policy.training.learner import LearnerConfig

# A small policy: these tests check what is shown, not learning.
SMALL = SessionConfig(policy="mlp", policy_overrides={"d_model": 32, "n_layers": 1},
                      learner=LearnerConfig(batch_episodes=1, publish_every=1))
TICK_ENTITIES = {lv.HEAD_CAMERA, lv.CHASE_CAMERA, lv.AUDIO_LEVEL, lv.SKILL} | {
    f"{lv.JOINTS}/{name}" for name in JOINT_NAMES}
NO_CUE = f"{lv.CUE_BELIEF}/no_cue"


def read_rrd(path) -> dict[str, list]:
    """entity path (no leading '/') -> its non-static chunks' record batches, in file order."""
    out: dict[str, list] = {}
    (recording,) = RrdReader(path).recordings()
    assert recording.application_id == lv.APPLICATION_ID
    for chunk in RrdReader(path).stream(store=recording).to_chunks():
        if not chunk.is_static:
            out.setdefault(chunk.entity_path.lstrip("/"), []).append(chunk.to_record_batch())
    return out


def rows(batches) -> int:
    return sum(b.num_rows for b in batches)


def column(batches, name: str) -> list:
    """One column of an entity's rows, sorted by tick (chunks may come in any order)."""
    pairs = []
    for b in batches:
        ticks = b.column("tick").to_pylist() if "tick" in b.column_names else [0] * b.num_rows
        pairs += zip(ticks, b.column(name).to_pylist(), strict=True)
    return [v for _, v in sorted(pairs, key=lambda p: p[0])]


def test_sink_values():
    assert lv.parse_sink("") is None and lv.parse_sink(False) is None and lv.parse_sink("off") is None
    assert lv.parse_sink("spawn") == lv.Sink("spawn") == lv.parse_sink(True)
    assert lv.parse_sink("web") == lv.Sink("web")
    assert lv.parse_sink("rerun+http://10.0.0.5:9876/proxy") == lv.Sink("connect", "rerun+http://10.0.0.5:9876/proxy")
    assert lv.parse_sink("out/run.rrd") == lv.Sink("file", "out/run.rrd")
    with pytest.raises(ValueError, match="PATH.rrd"):
        lv.parse_sink("run.mp4")
    assert lv.audio_level_db(np.zeros(320, np.int16)) == lv.SILENCE_DB
    assert lv.audio_level_db(np.full(320, 32767, np.int16)) == pytest.approx(0.0, abs=1e-3)
    assert lv.audio_level_db(np.full(320, 328, np.int16)) == pytest.approx(-40.0, abs=0.05)
    assert lv.cue_class_names({"whistle": 1, "clap": 2}) == ("no cue", "whistle", "clap")
    assert lv.entity_part("no cue") == "no_cue" and lv.entity_part("whistle_falling") == "whistle_falling"


def _run(env, act, ticks: int, seed: int):
    """Reset, then `ticks` steps; returns every tick's (obs, info)."""
    obs, info = env.reset(seed=seed)
    seen = [(obs, info)]
    for _ in range(ticks):
        obs, _, _, _, info = env.step(act(obs))
        seen.append((obs, info))
    return seen


def test_a_sim_session_streamed_to_rrd_reads_back_in_rerun(tmp_path):
    """A demonstration (teacher acts), two learner steps on it, then a try (the policy acts), through
    `ViewedEnv` as `yan-dog demo --view` runs them: every tick's joints and audio, the head camera when its
    frame changed, the chase camera every `chase_every` ticks, a cue belief per policy step named by the
    learner's cues, the learner's loss, the skill."""
    ticks, chase_every, path = 12, 4, tmp_path / "session.rrd"
    learner = build_learner(SMALL)
    env = gym.make(sim.ENV_ID, skill="sit", action_mode="hybrid", camera_size=(32, 32),
                   render_mode="rgb_array", render_size=(48, 64))
    view = lv.LiveView(path, loss=lambda: lv.learner_loss(learner), blocking=True, log=lambda _: None)
    env = lv.ViewedEnv(env, view, learner, chase_every=chase_every)
    actions: list[np.ndarray] = []

    def teacher(obs):
        actions.append(env.unwrapped.teacher_action())
        return actions[-1]

    demo = _run(env, teacher, ticks, seed=3)
    streams = {k: np.stack([o[k] for o, _ in demo[:-1]]) for k in ("camera", "audio", "joints", "imu")}
    episode = Episode(skill="sit", action_mode="hybrid", control_hz=50.0, action=np.stack(actions),
                      stamps_s=np.array([info["time_s"] for _, info in demo[:-1]]), **streams,
                      cue=sim.skills.get("sit").cue)
    learner.add_episode(episode)
    logs = [learner.train_step() for _ in range(2)]
    actor = Actor(learner)
    tried = _run(env, actor.act, ticks, seed=4)
    view.close()
    assert (view.ticks, view.dropped, view.errors) == (2 * (ticks + 1), 0, 0)

    shown = read_rrd(path)
    cue = f"{lv.CUE_BELIEF}/{sim.skills.get('sit').cue}"
    assert set(shown) == TICK_ENTITIES | {lv.LOSS, NO_CUE, cue}
    seen = demo + tried
    for name in JOINT_NAMES:
        assert rows(shown[f"{lv.JOINTS}/{name}"]) == len(seen)
    assert rows(shown[lv.AUDIO_LEVEL]) == len(seen)
    frames = [o["camera"] for o, _ in seen]
    changes = 1 + sum(not np.array_equal(a, b) for a, b in zip(frames, frames[1:], strict=False))
    assert rows(shown[lv.HEAD_CAMERA]) == changes < len(seen)  # the head camera runs at camera_hz
    assert rows(shown[lv.CHASE_CAMERA]) == 2 * (ticks // chase_every + 1)  # per episode: ticks 0, 4, 8, 12
    assert rows(shown[NO_CUE]) == rows(shown[cue]) == ticks  # one per policy step: the try only

    # the values: tick 7 of the try shows its joint targets and positions; beliefs are probabilities
    k = len(demo) + 7
    target_pos = column(shown[f"{lv.JOINTS}/{JOINT_NAMES[1]}"], "Scalars:scalars")[k]
    obs, info = seen[k]
    np.testing.assert_allclose(target_pos, [info["joint_targets"][1], obs["joints"][0, 1]], rtol=1e-6)
    beliefs = np.array([column(shown[e], "Scalars:scalars") for e in (NO_CUE, cue)])[..., 0]  # (2, ticks)
    assert (beliefs >= 0).all() and (beliefs.sum(0) <= 1 + 1e-6).all()  # probabilities of 2 of 16 classes
    levels = column(shown[lv.AUDIO_LEVEL], "Scalars:scalars")
    np.testing.assert_allclose([v[0] for v in levels], [lv.audio_level_db(o["audio"]) for o, _ in seen])
    losses = shown[lv.LOSS]
    assert column(losses, "learner_step")[-1] == 2
    assert column(losses, "Scalars:scalars")[-1] == pytest.approx([logs[-1]["action_loss"]])
    assert column(shown[lv.SKILL], "TextDocument:text")[-1] == [f"sit (cue: {sim.skills.get('sit').cue})"]


def test_brain_ticks_stream_through_the_same_view(tmp_path):
    """`open_brain_view` + `brain_tick`, as the ROS brain's `view` parameter runs them: the observation it
    got, the targets it commanded, the actor's cue belief each policy step, the skill and mode, a stale
    tick shown as such (no camera, no positions)."""
    from yan_dog.brain import BrainConfig, BrainCore

    assert lv.open_brain_view("", None) is None  # off by default
    core = BrainCore(BrainConfig(session=SMALL, learning=False, trying=True, learner_process=False))
    path = tmp_path / "brain.rrd"
    view = lv.open_brain_view(str(path), core, log=lambda _: None)
    rng = np.random.default_rng(0)
    stand = np.array([0.0, 0.9, -1.8] * 4)
    sent = []
    try:
        for k in range(10):
            obs = None if k == 6 else {  # tick 6: a stale stream
                "camera": rng.integers(0, 256, (32, 32, 3), dtype=np.uint8),
                "audio": rng.integers(-100, 100, 320).astype(np.int16),
                "joints": np.stack([stand + 0.01 * k, np.zeros(12), np.zeros(12)]).astype(np.float32),
                "imu": np.array([0, 0, 0, 1, 0, 0, 0, 0, 0, 9.81], np.float32)}
            targets = core.tick(obs, None, k * 0.02)
            sent.append((obs, targets))
            while not view.log_tick(lv.brain_tick(core, obs, targets)):  # the test waits; a brain drops
                pass
    finally:
        view.close()
        core.close()
    shown = read_rrd(path)
    assert set(shown) == TICK_ENTITIES - {lv.CHASE_CAMERA} | {NO_CUE}  # no cue taught yet
    assert rows(shown[f"{lv.JOINTS}/{JOINT_NAMES[0]}"]) == 10 and rows(shown[lv.AUDIO_LEVEL]) == 9
    assert rows(shown[lv.HEAD_CAMERA]) == 9 and rows(shown[NO_CUE]) == 9  # the policy stepped 9 times
    hip = column(shown[f"{lv.JOINTS}/{JOINT_NAMES[0]}"], "Scalars:scalars")
    assert hip[5] == pytest.approx([sent[5][1][0], sent[5][0]["joints"][0, 0]])
    assert hip[6][0] == pytest.approx(sent[6][1][0]) and np.isnan(hip[6][1])  # stale: target, no position
    assert column(shown[lv.SKILL], "TextDocument:text") == [["sit: trying"], ["sit: trying (inputs stale)"],
                                                           ["sit: trying"]]
