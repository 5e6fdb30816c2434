"""Spoken cues (sim/speech.py): espeak-ng words in the cue registry, speaker splits, the env's microphone,
`yan-dog teach --say`. Fast (espeak-ng says a word in ~0.05 s; one tiny teach run)."""

from __future__ import annotations

import numpy as np
import pytest

import sim
from sim.cues import CUE_SPLITS, cue_names, draw_cue, get_cue, register_wav_cue, unregister_cue
from sim.microphone import Microphone, MicrophoneConfig
from sim.speech import (
    DEMO_SPEAKERS,
    EVAL_SPEAKERS,
    NOMINAL_VOICE,
    SPEAKERS,
    SPEECH_REF_RMS,
    Voice,
    espeak_available,
    random_voice,
    register_spoken_cue,
    speak,
    spoken_cue_name,
    spoken_text,
)
from tests.test_cues import write_wav

FS = 16000
needs_espeak = pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed (make install)")


@pytest.fixture(autouse=True)
def _forget_new_cues():
    """The cues a test registers leave the registry after it."""
    before = set(cue_names())
    yield
    for name in set(cue_names()) - before:
        unregister_cue(name)


def log_spectrum(x: np.ndarray, frame: int = 512) -> np.ndarray:
    """Mean log power spectrum over Hann frames (hop frame/2), in dB; shape (frame/2 + 1,)."""
    hops = range(0, len(x) - frame, frame // 2)
    frames = np.stack([x[i : i + frame] for i in hops]) * np.hanning(frame)
    return 10 * np.log10(np.mean(np.abs(np.fft.rfft(frames, axis=1)) ** 2, axis=0) + 1e-12)


def variant(voice_id: str) -> str:
    return voice_id.split("+")[1]


# ---- speaker sets --------------------------------------------------------------------------------
def test_demo_and_eval_speakers_are_disjoint_and_each_split_draws_only_its_own():
    assert tuple(SPEAKERS) == CUE_SPLITS
    d, e = DEMO_SPEAKERS, EVAL_SPEAKERS
    assert not set(d.voices) & set(e.voices)
    assert not {variant(v) for v in d.voices} & {variant(v) for v in e.voices}  # no speaker in both
    assert not set(d.rates_wpm()) & set(e.rates_wpm())
    assert not set(d.pitches()) & set(e.pitches())
    for split, s in SPEAKERS.items():
        rng = np.random.default_rng(7)
        voices = [random_voice(rng, split) for _ in range(300)]
        assert {v.name for v in voices} == set(s.voices)  # every voice used, no other
        assert {v.rate_wpm for v in voices} <= set(s.rates_wpm())
        assert {v.pitch for v in voices} <= set(s.pitches())
        assert all(s.gain_range_db[0] <= v.gain_db <= s.gain_range_db[1] for v in voices)
    a, b = np.random.default_rng(3), np.random.default_rng(3)
    assert [random_voice(a, "eval") for _ in range(5)] == [random_voice(b, "eval") for _ in range(5)]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"name": "-x"},
        {"name": "en-us; rm"},
        {"name": "en", "rate_wpm": 20},
        {"name": "en", "pitch": 100},
        {"name": "en", "rate_wpm": 170.0},
        {"name": "en", "gain_db": float("nan")},
    ],
)
def test_voice_validates_itself(kwargs):
    with pytest.raises(ValueError):
        Voice(**kwargs)


def test_bad_split_text_and_rng_are_rejected():
    with pytest.raises(ValueError, match="split"):
        random_voice(np.random.default_rng(0), "train")
    with pytest.raises(TypeError, match="Generator"):
        random_voice(0, "demo")
    with pytest.raises(ValueError, match="empty"):
        speak("  ", NOMINAL_VOICE)
    with pytest.raises(ValueError, match="printable"):
        speak("sit\x00", NOMINAL_VOICE)
    with pytest.raises(ValueError, match="split"):
        Microphone(MicrophoneConfig()).reset(np.random.default_rng(0), cue_split="test")
    assert spoken_cue_name("  Sit ") == "say:sit"
    assert spoken_cue_name("Lie  down") == "say:lie_down" and spoken_text("say:lie_down") == "lie down"
    assert spoken_text("whistle_double") is None and spoken_text("say:") is None


# ---- speech --------------------------------------------------------------------------------------
@needs_espeak
def test_speak_is_trimmed_levelled_cached_and_deterministic():
    a = speak("sit", NOMINAL_VOICE)
    assert a.dtype == np.float32 and a.ndim == 1 and np.abs(a).max() <= 1.0
    assert 0.15 < len(a) / FS < 1.0  # one short word, the silence around it trimmed
    edge = int(0.05 * FS)
    assert np.sqrt(np.mean(a[:edge] ** 2)) > 0.01 * SPEECH_REF_RMS  # sound right at the start
    assert np.sqrt(np.mean(a**2)) == pytest.approx(SPEECH_REF_RMS, rel=1e-3)
    np.testing.assert_array_equal(a, speak("sit", NOMINAL_VOICE))  # cached, the same samples
    louder = speak("sit", Voice(NOMINAL_VOICE.name, NOMINAL_VOICE.rate_wpm, NOMINAL_VOICE.pitch, 6.0))
    assert np.sqrt(np.mean(louder.astype(np.float64) ** 2)) == pytest.approx(2 * SPEECH_REF_RMS, rel=0.01)
    at_8k = speak("sit", NOMINAL_VOICE, sample_rate_hz=8000)
    assert len(at_8k) == pytest.approx(len(a) / 2, abs=0.05 * len(a))


@needs_espeak
def test_spoken_words_differ_across_voices_rates_and_words():
    male, female = Voice("en-us+m1", 170, 50), Voice("en-us+f1", 170, 50)
    base = log_spectrum(speak("come here", male))
    assert np.abs(log_spectrum(speak("come here", male)) - base).max() == 0.0
    assert np.mean(np.abs(log_spectrum(speak("come here", female)) - base)) > 3.0  # dB, another speaker
    slow = speak("come here", Voice("en-us+m1", 120, 50))
    assert len(slow) > 1.2 * len(speak("come here", male))
    other_word = log_spectrum(speak("lie down", male))
    assert np.mean(np.abs(other_word - base)) > 1.0


@needs_espeak
def test_espeak_failure_is_one_line():
    with pytest.raises(RuntimeError, match="failed for voice 'zz'") as e:
        speak("sit", Voice("zz"))
    assert "\n" not in str(e.value)


def test_missing_espeak_gives_one_line_error_naming_the_install(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no espeak-ng
    assert not espeak_available()
    for call in (
        lambda: speak("a word never said before in this process", NOMINAL_VOICE),
        lambda: register_spoken_cue("say:never", "never said"),
    ):
        with pytest.raises(RuntimeError) as e:
            call()
        msg = str(e.value)
        assert "\n" not in msg and "apt-get install espeak-ng" in msg and "make install" in msg
    assert "say:never" not in cue_names()
    from yan_dog.cli import main as cli_main

    with pytest.raises(SystemExit) as e:
        cli_main(["teach", "--skill", "sit", "--say", "heel now", "--library", str(tmp_path / "lib")])
    assert str(e.value).startswith("yan-dog: ") and "apt-get install espeak-ng" in str(e.value)
    assert "\n" not in str(e.value)


# ---- spoken cues in the registry and on the microphone -------------------------------------------
def heard(cue: str, seed: int, split: str) -> tuple[str, np.ndarray]:
    """(take label, 1 s of int16 audio) of `cue` played at 0.1 s on a microphone reset from `seed`."""
    mic = Microphone(MicrophoneConfig(snr_db=20.0))
    mic.reset(np.random.default_rng(seed), cue_split=split)
    sc = mic.play(cue, 0.1)
    return sc.take, mic.read(FS)


@needs_espeak
def test_spoken_cue_is_deterministic_per_seed_and_varies_by_seed_and_split():
    register_spoken_cue("say:sit", "sit")
    np.testing.assert_array_equal(get_cue("say:sit"), speak("sit", NOMINAL_VOICE))  # the nominal take
    label, audio = heard("say:sit", 11, "demo")
    label2, audio2 = heard("say:sit", 11, "demo")
    assert label == label2 and label.split()[0] in DEMO_SPEAKERS.voices
    np.testing.assert_array_equal(audio, audio2)
    demo = {heard("say:sit", s, "demo")[0] for s in range(12)}
    evals = {heard("say:sit", s, "eval")[0] for s in range(12)}
    assert len(demo) > 6 and len(evals) > 6  # a new speaker nearly every episode
    assert {t.split()[0] for t in demo} <= set(DEMO_SPEAKERS.voices)
    assert {t.split()[0] for t in evals} <= set(EVAL_SPEAKERS.voices)
    # a take is a pure function of the generator and the split
    a = draw_cue("say:sit", FS, np.random.default_rng(5), "eval")
    b = draw_cue("say:sit", FS, np.random.default_rng(5), "eval")
    np.testing.assert_array_equal(a.waveform, b.waveform)
    assert a.label == b.label and a.gain_db == b.gain_db
    # fixed cues draw nothing: the same stream whatever the split
    np.testing.assert_array_equal(heard("clap", 4, "demo")[1], heard("clap", 4, "eval")[1])


@needs_espeak
def test_spoken_cue_reaches_the_env_audio_stream_in_the_episodes_split():
    register_spoken_cue("say:down", "down")
    env = sim.YanDogEnv(skill="sit", cue="say:down", camera_size=(16, 16), randomize=False, episode_s=1.0)
    try:

        def episode(seed: int, split: str) -> tuple[np.ndarray, dict, str]:
            _, info = env.reset(seed=seed, options={"cue_split": split})
            chunks = [env.step(np.zeros(env.action_space.shape, np.float32))[0]["audio"] for _ in range(25)]
            return np.concatenate(chunks).astype(np.float64) / 32767, info, env.mic.schedule[0].take

        audio, info, take = episode(1, "demo")
        assert info["cue"] == "say:down" and take.split()[0] in DEMO_SPEAKERS.voices
        start = int(round(info["cue_time_s"] * FS))
        rms = lambda x: float(np.sqrt(np.mean(x**2)))  # noqa: E731
        assert rms(audio[start : start + FS // 4]) > 3 * rms(audio[: start - FS // 50])  # the word is heard
        again, _, take_again = episode(1, "demo")
        np.testing.assert_array_equal(audio, again)
        assert take_again == take
        held_out, _, eval_take = episode(1, "eval")
        assert eval_take.split()[0] in EVAL_SPEAKERS.voices
        assert not np.array_equal(audio, held_out)
    finally:
        env.close()


def test_a_folder_of_wav_takes_is_one_cue_with_a_take_per_episode(tmp_path):
    folder = tmp_path / "my_sit"
    folder.mkdir()
    t = np.arange(int(0.3 * FS)) / FS
    for name, hz in (("take1.wav", 500.0), ("take2.wav", 900.0)):
        write_wav(folder / name, np.rint(1e4 * np.sin(2 * np.pi * hz * t))[:, None], FS, 2)
    register_wav_cue("wav:my_sit", folder)
    assert len(get_cue("wav:my_sit")) == int(0.3 * FS)  # the first take is the nominal one
    takes = {heard("wav:my_sit", s, "demo")[0] for s in range(10)}
    assert takes == {"take1.wav", "take2.wav"}
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no .wav files"):
        register_wav_cue("wav:empty", empty)


# ---- the command line ----------------------------------------------------------------------------
def test_teach_rejects_bad_cue_options_in_one_line(tmp_path):
    from yan_dog.cli import main as cli_main

    lib = ["--library", str(tmp_path / "lib")]
    own_cue = sim.skills.get("sit").cue
    for argv, match in [
        (["--say", "sit", "--cue-wav", str(tmp_path / "x.wav")], "not both"),
        (["--cue-wav", str(tmp_path / "missing.wav")], "WAV file not found"),
        (["--say", "\x07"], "printable"),
    ]:
        with pytest.raises(SystemExit) as e:
            cli_main(["teach", "--skill", "sit", *argv, *lib])
        assert match in str(e.value) and "\n" not in str(e.value)
    assert sim.skills.get("sit").cue == own_cue  # nothing changed


@needs_espeak
def test_teach_say_end_to_end_records_the_spoken_cue(tmp_path):
    from yan_dog.cli import main as cli_main
    from yan_policy.data.library import SkillLibrary
    from yan_policy.policies.registry import load_policy

    lib = tmp_path / "lib"
    own_cue = sim.skills.get("sit").cue
    argv = ["teach", "--skill", "sit", "--say", "Sit down", "--demos", "1", "--learn-seconds", "0.5"]
    assert cli_main([*argv, "--library", str(lib)]) == 0
    assert sim.skills.get("sit").cue == own_cue  # the word cued the skill only for that command
    library = SkillLibrary(lib)
    library.load(load_policy)
    assert library.skills["sit"].cue == "say:sit_down"
    (demo,) = library.demos()
    assert demo.cue == "say:sit_down"
