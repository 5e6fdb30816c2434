"""Non-command training data (yan_policy/training/negatives.py, sim/non_command.py): the sounds are a pure
function of the seed, no non-command word is a taught word, a negative copy holds still and says "no
cue", and the learner makes them at `negative_prob`."""

import numpy as np
import pytest

from sim.non_command import EVAL_WORDS, TRAIN_WORDS, non_command_words, spoken_non_commands
from sim.speech import espeak_available
from yan_policy.data.episode import Episode
from yan_policy.data.synthetic import random_obs, tiny_config
from yan_policy.policies.registry import make_policy
from yan_policy.training.audio_augment import coloured_noise, find_cue_segment
from yan_policy.training.batching import NO_CUE_CLASS, collate
from yan_policy.training.learner import LearnerConfig, OnlineLearner
from yan_policy.training.negatives import (
    SOUND_KINDS,
    NonCommandSound,
    make_negative_row,
    negative_rows,
    non_command_audio,
    synthetic_sounds,
)

needs_espeak = pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed (make install)")
RATE = 16000
TICKS = 60
CUE_AT = 10  # tick where the cue (a tone burst) starts
ONSET = 40  # first tick of the demonstrated motion


def _episode(seed=0, cue="say:sit", skill="sit") -> Episode:
    """A 60-tick episode: still body streams with noise, a loud burst at CUE_AT, motion from ONSET."""
    cfg = tiny_config()
    rng = np.random.default_rng(seed)
    ticks = [random_obs(cfg.tokenizer, rng, (16, 16)) for _ in range(TICKS)]
    audio = 0.01 * coloured_noise(TICKS * 320, rng, pink=True)
    audio[CUE_AT * 320:(CUE_AT + 15) * 320] += 0.2 * np.sin(np.arange(15 * 320) * 0.3)
    action = np.zeros((TICKS, 12), np.float32)
    action[ONSET:] = 0.7
    return Episode(
        skill=skill, action_mode="joint", control_hz=50.0, cue=cue,
        stamps_s=np.arange(TICKS) / 50.0, action=action, label_mask=np.ones(TICKS, bool),
        camera=np.stack([t["camera"] for t in ticks]),
        audio=np.clip(np.rint(audio * 32768), -32768, 32767).astype(np.int16).reshape(TICKS, 320),
        joints=np.stack([t["joints"] for t in ticks]), imu=np.stack([t["imu"] for t in ticks]),
    )


def test_synthetic_sounds_are_a_pure_function_of_the_seed_and_cover_every_kind():
    a, b, c = synthetic_sounds(3, RATE), synthetic_sounds(3, RATE), synthetic_sounds(4, RATE)
    assert [s.label for s in a] == [SOUND_KINDS[i % len(SOUND_KINDS)] for i in range(len(a))]
    assert all(np.array_equal(x.samples, y.samples) for x, y in zip(a, b, strict=True))
    assert not all(len(x.samples) == len(y.samples) and np.allclose(x.samples, y.samples)
                   for x, y in zip(a, c, strict=True))
    assert all(np.abs(s.samples).max() == pytest.approx(1.0) for s in a)
    with pytest.raises(ValueError, match="finite"):
        NonCommandSound(np.array([np.nan]), RATE, "bad")


def test_word_lists_are_disjoint_and_a_taught_word_is_never_a_non_command():
    assert not set(TRAIN_WORDS) & set(EVAL_WORDS)
    assert "hello" not in non_command_words("demo", exclude={"Hello"})
    assert "good dog" not in non_command_words("demo", exclude={"good_dog"})  # a cue name's spelling
    assert len(non_command_words("eval", exclude={"sit"})) == len(EVAL_WORDS)
    with pytest.raises(ValueError, match="split"):
        non_command_words("test")


@needs_espeak
def test_spoken_non_commands_are_seeded_and_exclude_taught_words():
    taught = {"hello", "water", "okay"}
    a = spoken_non_commands(0, "demo", taught)
    b = spoken_non_commands(0, "demo", taught)
    assert [lab for lab, _ in a] == [lab for lab, _ in b]
    assert all(np.array_equal(x, y) for (_, x), (_, y) in zip(a, b, strict=True))
    said = {w for lab, _ in a for w in lab.split(":", 1)[1].split("+")}
    assert said and not said & taught and said <= set(TRAIN_WORDS)
    assert any(lab.startswith("babble:") for lab, _ in a)
    with pytest.raises(ValueError, match="excluded"):
        spoken_non_commands(0, "eval", EVAL_WORDS)


def test_non_command_audio_cuts_the_cue_and_mixes_in_the_sound():
    ep = _episode()
    x = ep.audio.reshape(-1).astype(np.float64) / 32768
    tone = NonCommandSound(np.sin(np.arange(1600) * 0.05), RATE, "hum")
    y = non_command_audio(x, tone, RATE, np.random.default_rng(0))
    assert y.shape == x.shape
    a, b = find_cue_segment(x, RATE)
    cue_rms = np.sqrt(np.mean(x[a:b] ** 2))
    assert np.array_equal(y, non_command_audio(x, tone, RATE, np.random.default_rng(0)))
    # the whole clip's energy is the background plus one sound at about the cue's level (+-6 dB), and
    # the cue's own waveform is gone
    extra = np.sum(y ** 2) - np.sum(np.concatenate([x[:a], x[b:]]) ** 2) * len(x) / (len(x) - (b - a))
    assert 0.2 * cue_rms ** 2 * 1600 < extra < 5 * cue_rms ** 2 * 1600
    assert abs(np.corrcoef(y[a:b], x[a:b])[0, 1]) < 0.5


def test_a_negative_row_holds_still_says_no_cue_and_keeps_padding():
    long, short = _episode(0), _episode(1)
    short = Episode(**{**short.__dict__, **{k: getattr(short, k)[:45] for k in
                                            ("stamps_s", "action", "label_mask", "camera", "audio", "joints",
                                             "imu")}})
    batch = collate([long, short], cue_ids={"say:sit": 1}, onset_weight=4.0, onset_window_ticks=10)
    before = {k: v.copy() for k, v in batch.items()}
    assert make_negative_row(batch, 1, synthetic_sounds(0, RATE)[0], RATE, np.random.default_rng(0))
    for stream in ("joints", "imu", "camera"):
        assert (batch[stream][1, :45] == before[stream][1, 0]).all()
        assert (batch[stream][1, 45:] == before[stream][1, 45:]).all()  # padding untouched
        assert (batch[stream][0] == before[stream][0]).all()  # the other row untouched
    assert (batch["action"][1, :45] == 0.0).all()  # the hold (the first labelled action)
    assert (batch["cue_target"][1, :45] == NO_CUE_CLASS).all() and (batch["cue_target"][1, 45:] == -1).all()
    assert (batch["weight"][1] == 1.0).all() and batch["weight"][0].max() == 4.0
    assert not np.array_equal(batch["audio"][1], before["audio"][1])


def test_negative_rows_follow_the_probability_and_need_sounds():
    sounds, rng = synthetic_sounds(0, RATE), np.random.default_rng(0)
    batch = collate([_episode(i) for i in range(4)], cue_ids={"say:sit": 1})
    assert negative_rows(batch, 1.0, sounds, RATE, rng) == [0, 1, 2, 3]
    batch = collate([_episode(i) for i in range(4)], cue_ids={"say:sit": 1})
    assert negative_rows(batch, 0.0, sounds, RATE, rng) == []
    with pytest.raises(ValueError, match="no non-command sounds"):
        negative_rows(batch, 0.5, [], RATE, np.random.default_rng(0))
    with pytest.raises(ValueError, match="negative_prob"):
        LearnerConfig(negative_prob=1.5)


def test_the_learner_trains_on_negative_copies_at_negative_prob():
    def learner(prob):
        torch_policy = make_policy("yan", tiny_config())
        ol = OnlineLearner(torch_policy, LearnerConfig(batch_episodes=4, negative_prob=prob, seed=0))
        for i in range(2):
            ol.add_episode(_episode(i))
        return ol

    on, off = learner(1.0), learner(0.0)
    on.set_non_command_sounds([NonCommandSound(np.sin(np.arange(800) * 0.1), RATE, "word:hello")])
    assert on.non_command_sounds(RATE)[-1].label == "word:hello"
    assert on.train_step()["negatives"] == 4 and off.train_step()["negatives"] == 0
    assert np.isfinite(on.history[-1]["action_loss"])
