"""Train-time cue audio augmentation: the cue found, said anew (speed, pitch, level), seeded, in batches."""

import numpy as np
import pytest

from yan_policy.training.audio_augment import (
    CueAudioAugment,
    audio_lengths,
    augment_batch_audio,
    augment_cue_audio,
    coloured_noise,
    find_cue_segment,
    noise_floor,
    resample,
    stretch,
)

RATE = 16000


def _word(n=7000, f0=150.0):
    """A word-like harmonic burst with a rising pitch, (n,) float."""
    f = f0 + 60 * np.linspace(0, 1, n)
    phase = 2 * np.pi * np.cumsum(f) / RATE
    return sum(np.sin(k * phase) / k for k in range(1, 8)) * np.hanning(n) * 0.2


def _episode(seed=0, at=8000):
    x = 0.01 * coloured_noise(3 * RATE, np.random.default_rng(seed), pink=True)
    x[at:at + 7000] += _word()
    return x


def _pitch_hz(x):
    """Strongest frequency of x (Hz)."""
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return np.fft.rfftfreq(len(x), 1 / RATE)[np.argmax(spec)]


def test_the_cue_segment_is_found_and_noise_alone_has_none():
    a, b = find_cue_segment(_episode(), RATE)
    assert 7000 <= a <= 8800 and 13800 <= b <= 15600
    noise = 0.01 * coloured_noise(RATE, np.random.default_rng(1), pink=True)
    assert find_cue_segment(noise, RATE) is None
    assert noise_floor(noise, RATE) == pytest.approx(0.0085, rel=0.3)


def test_stretch_changes_the_duration_not_the_pitch_and_resample_both():
    tone = np.sin(2 * np.pi * 440 * np.arange(RATE) / RATE)
    fast = stretch(tone, 1.25, RATE)
    assert len(fast) == 12800 and _pitch_hz(fast) == pytest.approx(440, abs=5)
    high = resample(tone, 2 ** (3 / 12))  # three semitones up, and shorter
    assert _pitch_hz(high) == pytest.approx(440 * 2 ** (3 / 12), abs=5) and len(high) < len(tone)


def test_augmentation_is_seeded_keeps_the_length_and_varies_the_cue():
    x = _episode()
    a = augment_cue_audio(x, RATE, np.random.default_rng(3))
    b = augment_cue_audio(x, RATE, np.random.default_rng(3))
    c = augment_cue_audio(x, RATE, np.random.default_rng(4))
    np.testing.assert_array_equal(a, b)
    assert a.shape == x.shape and np.isfinite(a).all() and not np.allclose(a, c)
    lengths, levels = set(), []
    for seed in range(12):
        dry = CueAudioAugment(reverb_prob=0.0, noise_ratio=0.0)
        y = augment_cue_audio(x, RATE, np.random.default_rng(seed), dry)
        s, e = find_cue_segment(y, RATE)
        lengths.add((e - s) // 800)
        levels.append(np.sqrt(np.mean(np.square(y[s:e]))))
        assert abs(e - 14800) < 0.06 * RATE + 800  # the end stays (time shift <= 50 ms + the detector)
    assert len(lengths) >= 3 and max(levels) / min(levels) > 1.5  # speed and gain vary


def test_noise_and_nothing_else_without_a_cue():
    x = np.zeros(RATE)
    y = augment_cue_audio(x, RATE, np.random.default_rng(0), CueAudioAugment(noise_ratio=0.0))
    np.testing.assert_array_equal(y, x)


def test_bad_ranges_are_rejected():
    for kw, match in [({"speed": (1.2, 0.9)}, "speed"), ({"reverb_prob": 2.0}, "reverb_prob"),
                      ({"gain_db": -1.0}, "gain_db"), ({"wet": (0.5, 1.5)}, "wet")]:
        with pytest.raises(ValueError, match=match):
            CueAudioAugment(**kw)


def test_batch_rows_are_augmented_in_place_up_to_their_length():
    audio = np.zeros((2, 150, 320), np.int16)
    audio[0] = np.clip(_episode(0)[:48000] * 32768, -32768, 32767).astype(np.int16).reshape(150, 320)
    audio[1, :100] = audio[0, :100]
    present = np.zeros((2, 150), bool)
    present[0] = True
    present[1, :100] = True
    batch = {"audio": audio.copy(), "audio_present": present}
    assert audio_lengths(batch) == [150, 100]
    augment_batch_audio(batch["audio"], audio_lengths(batch), RATE, np.random.default_rng(0))
    assert batch["audio"].dtype == np.int16
    assert not np.array_equal(batch["audio"][0], audio[0])
    assert not np.array_equal(batch["audio"][1, :100], audio[1, :100])
    assert not batch["audio"][1, 100:].any()  # padding stays silent


def test_the_learner_augments_the_cue_audio_only_when_switched_on():
    from tests.test_teach_data import fake_episode, small_policy
    from yan_policy.training.learner import LearnerConfig, OnlineLearner

    seen = {}
    for on in (False, True):
        learner = OnlineLearner(small_policy(), LearnerConfig(cue_audio_augment=on, batch_episodes=1))
        episode = fake_episode(t=8)
        learner.add_episode(episode)
        batches = []
        forward = learner.policy.forward
        learner.policy.forward = lambda batch, f=forward, seen_batches=batches: (seen_batches.append(batch),
                                                                                 f(batch))[1]
        learner.train_step()
        seen[on] = (episode.audio, batches[0]["audio"][0, :len(episode)])
    np.testing.assert_array_equal(*seen[False])
    assert not np.array_equal(*seen[True])
