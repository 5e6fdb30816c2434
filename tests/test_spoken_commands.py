"""Spoken commands: one definition of their learner settings (`yan_dog.spoken_commands`), used by
`yan-dog teach --say / --cue-wav` and bench/voice.py (not the demo: its whistle and clap skills were not
measured with them); the brain's non-command
sounds from a folder of WAV files, read without the simulator."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

import sim
from sim.cues import unregister_cue
from yan_dog.brain import BrainConfig, BrainCore
from yan_dog.spoken_commands import (
    MAX_NON_COMMAND_WAV_S,
    SPOKEN_CUE_LEARNER,
    load_non_command_wavs,
    spoken_cue_learner,
)
from yan_dog.teach_setup import SessionConfig
from yan_policy.training.learner import LearnerConfig
from yan_policy.training.learner_process import ProcessLearner

RATE_HZ = 16_000
SMALL_POLICY = {"d_model": 32, "n_layers": 1}


def write_wav(path: Path, samples: np.ndarray, rate: int = RATE_HZ, width: int = 2) -> Path:
    """Int samples (frames, channels) as `width`-byte integer PCM (8-bit: unsigned)."""
    frames = np.asarray(samples)
    if width == 1:
        data = frames.astype(np.uint8).tobytes()
    elif width == 3:
        data = b"".join(int(v).to_bytes(3, "little", signed=True) for v in frames.reshape(-1))
    else:
        data = frames.astype("<i2" if width == 2 else "<i4").tobytes()
    with wave.open(str(path), "wb") as w:
        w.setnchannels(frames.shape[1])
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(data)
    return path


def tone(n: int = 800, amplitude: int = 16_384) -> np.ndarray:
    """(n, 1) a 16-bit 440 Hz tone."""
    return (amplitude * np.sin(2 * np.pi * 440.0 * np.arange(n) / RATE_HZ)).astype(np.int64)[:, None]


@pytest.fixture
def wav_dir(tmp_path) -> Path:
    d = tmp_path / "home_sounds"
    d.mkdir()
    write_wav(d / "tv.wav", tone())
    write_wav(d / "B_stereo.WAV", np.stack([np.full(400, 192), np.full(400, 128)], axis=1), 8000, width=1)
    write_wav(d / "c24.wav", tone(200, 1 << 22), width=3)
    (d / "notes.txt").write_text("not a sound")
    return d


def test_the_spoken_cue_settings_are_defined_once_and_turn_the_non_command_copies_on():
    from bench.voice import VOICE_LEARNER

    assert VOICE_LEARNER is SPOKEN_CUE_LEARNER
    base = LearnerConfig(batch_episodes=3)
    c = spoken_cue_learner(base)
    assert c.negative_prob == SPOKEN_CUE_LEARNER["negative_prob"] > 0 and c.cue_audio_augment
    assert c.batch_episodes == 3 and base.negative_prob == 0.0  # the rest kept, the base untouched


def test_every_wav_file_of_a_folder_is_a_non_command_sound_at_its_own_rate(wav_dir):
    sounds = load_non_command_wavs(wav_dir)
    assert [s.label for s in sounds] == ["wav:B_stereo.WAV", "wav:c24.wav", "wav:tv.wav"]  # sorted, no .txt
    stereo, c24, tv = sounds
    assert stereo.rate_hz == 8000 and stereo.samples.shape == (400,)
    np.testing.assert_allclose(stereo.samples, 0.25)  # ((192 - 128) + (128 - 128)) / 2 / 128: mixed down
    assert tv.rate_hz == RATE_HZ and tv.samples.shape == (800,)
    np.testing.assert_allclose(tv.samples, tone()[:, 0] / 32768.0)
    np.testing.assert_allclose(c24.samples, tone(200, 1 << 22)[:, 0] / 2.0**23)


def test_bad_folders_and_files_are_one_line_errors_naming_them(wav_dir, tmp_path):
    (tmp_path / "empty").mkdir()
    long_s = MAX_NON_COMMAND_WAV_S + 1
    bad_files = {  # file name -> (its content, what the error says)
        "broken.wav": (b"RIFF\x00\x00\x00\x00WAVEnot really", "broken.wav: not a supported WAV file"),
        "quiet.wav": (np.stack([np.full(400, 192), np.full(400, 64)], axis=1), "quiet.wav: silent"),
        "long.wav": (tone(int(long_s * 1000)), f"long.wav: {long_s:.1f} s long, at most"),
    }
    for name, (content, message) in bad_files.items():
        if isinstance(content, bytes):
            (wav_dir / name).write_bytes(content)
        elif name == "quiet.wav":  # 8-bit channels that cancel: silent after the mix-down
            write_wav(wav_dir / name, content, width=1)
        else:
            write_wav(wav_dir / name, content, rate=1000)
        with pytest.raises(ValueError, match=message) as e:
            load_non_command_wavs(wav_dir)
        assert "\n" not in str(e.value)
        (wav_dir / name).unlink()
    with pytest.raises(FileNotFoundError, match="no folder .*missing"):
        load_non_command_wavs(tmp_path / "missing")
    with pytest.raises(ValueError, match="empty holds no .wav files"):
        load_non_command_wavs(tmp_path / "empty")
    assert len(load_non_command_wavs(wav_dir)) == 3  # the good files alone load again


def small_session(negative_prob: float) -> SessionConfig:
    return SessionConfig(policy_overrides=SMALL_POLICY,
                         learner=LearnerConfig(batch_episodes=1, negative_prob=negative_prob))


def test_the_brain_hears_a_folder_of_wavs_in_either_kind_of_learner(wav_dir):
    (wav_dir / "B_stereo.WAV").unlink()
    wanted = ["wav:c24.wav", "wav:tv.wav"]
    core = BrainCore(BrainConfig(session=small_session(0.25), learning=False, learner_process=False,
                                 non_command_wavs=str(wav_dir)))
    try:
        assert [s.label for s in core.learner.non_command_sounds(RATE_HZ)][-2:] == wanted
    finally:
        core.close()
    core = BrainCore(BrainConfig(session=small_session(0.25), learning=False, non_command_wavs=str(wav_dir)))
    try:  # the learner process is not started (learning off): the sounds wait for its child, in order
        assert isinstance(core.learner, ProcessLearner)
        sent = [arg for command, arg in core.learner._pending if command == "sounds"]
        assert [[s.label for s in sounds] for sounds in sent] == [wanted]
    finally:
        core.close()
    with pytest.raises(ValueError, match="negative_prob > 0"):
        BrainConfig(session=small_session(0.0), non_command_wavs=str(wav_dir))
    assert BrainConfig(session=small_session(0.0), non_command_wavs="").non_command_wavs is None


class Built(Exception):
    """Raised by the stand-in TeachSession: the session config is all these tests look at."""


@pytest.fixture
def built_configs(monkeypatch) -> list:
    """The SessionConfigs (and the cue "sit" had then) a command built its TeachSession with."""
    import yan_dog.session

    seen = []

    def fake_session(config, library=None, **kw):
        seen.append((config, sim.skills.get("sit").cue))
        raise Built

    monkeypatch.setattr(yan_dog.session, "TeachSession", fake_session)
    return seen


def test_yan_dog_teach_by_a_word_trains_with_the_spoken_cue_settings(built_configs, tmp_path):
    from sim.speech import espeak_available
    from yan_dog.cli import build_parser

    wav = write_wav(tmp_path / "sitz.wav", tone(4000))
    cases = [([], False), (["--cue-wav", str(wav)], True)]
    if espeak_available():
        cases.append((["--say", "sit"], True))
    own_cue = sim.skills.get("sit").cue
    try:
        for extra, spoken in cases:
            args = build_parser().parse_args(["teach", "--skill", "sit", "--library", str(tmp_path / "lib"),
                                              *extra])
            with pytest.raises(Built):
                args.func(args)
            config, cue = built_configs[-1]
            want = spoken_cue_learner(LearnerConfig()) if spoken else LearnerConfig()
            assert config.learner == want, extra
            assert (cue != own_cue) is spoken
            assert sim.skills.get("sit").cue == own_cue  # restored after the command
    finally:
        if "wav:sitz" in sim.cue_names():
            unregister_cue("wav:sitz")

