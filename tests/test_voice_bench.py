"""bench/voice.py, the spoken-command part of bench/few_shot.py: the false-start counter on synthetic
streams, the non-command stream, the part's jobs, summary and table, and one real job on a tiny budget."""

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.few_shot import _rng, build_jobs, report  # noqa: E402
from bench.voice import (  # noqa: E402
    START_DEVIATION,
    START_TICKS,
    VOICE_WORDS,
    StartDetector,
    count_starts,
    non_command_stream,
    summarize_voice,
    voice_job,
)
from sim.non_command import EVAL_WORDS, TRAIN_WORDS  # noqa: E402
from sim.speech import espeak_available  # noqa: E402

needs_espeak = pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed (make install)")
HOLD, SCALE = np.zeros(3), np.array([0.5, 0.5, 1.0])


def test_the_voice_words_are_no_non_command_word():
    assert not set(VOICE_WORDS.values()) & (set(TRAIN_WORDS) | set(EVAL_WORDS))
    assert len(set(VOICE_WORDS.values())) == len(VOICE_WORDS)


def test_a_start_is_a_departure_from_the_hold_held_long_enough():
    det = StartDetector(HOLD, SCALE)
    away = HOLD + np.array([0.0, 0.0, 1.0 * (START_DEVIATION + 0.01)])  # just beyond, in the yaw entry
    assert not any(det.update(HOLD + 0.9 * START_DEVIATION * SCALE) for _ in range(50))  # jitter: no start
    assert [det.update(away) for _ in range(START_TICKS)] == [False] * (START_TICKS - 1) + [True]
    with pytest.raises(ValueError, match="scale"):
        StartDetector(HOLD, np.zeros(3))


def test_false_starts_are_counted_once_per_window_on_a_synthetic_stream():
    actions = np.zeros((400, 3))  # 4 windows of 100 ticks
    actions[20:20 + START_TICKS] = [1.0, 0, 0]  # window 0: a start, detected at its last tick
    actions[60:100] = [1.0, 0, 0]  # window 0 again: skipped (the robot is already doing something)
    actions[150:150 + START_TICKS - 1] = [0, 1.0, 0]  # window 1: one tick too short
    actions[295:305] = [0, 0, 2.0]  # across windows 2 and 3: cut by the reset, neither counts
    actions[350:380] = [0, 0, -2.0]  # window 3: a start
    resets, asked = [], []

    def act(t):
        asked.append(t)
        return actions[t]

    starts = count_starts(act, lambda: resets.append(len(asked)), 400, 100, HOLD, SCALE)
    assert starts == [20 + START_TICKS - 1, 350 + START_TICKS - 1]
    assert resets == [0, 20 + START_TICKS, 120 + START_TICKS, 220 + START_TICKS]  # one per window
    assert 60 not in asked  # nothing asked after a window's start


@needs_espeak
def test_the_non_command_stream_is_seeded_and_never_says_a_taught_word():
    taught = ["sit", "breakfast", "seven"]
    audio, events = non_command_stream(3, 20.0, taught, 320, 16000)
    again, same = non_command_stream(3, 20.0, taught, 320, 16000)
    assert audio.shape == (1000, 320) and audio.dtype == np.int16
    assert np.array_equal(audio, again) and events == same
    said = {w for _, lab in events if ":" in lab for w in lab.split(":", 1)[1].split("+")}
    assert said and not said & set(taught) and said <= set(EVAL_WORDS)
    ticks = [t for t, _ in events]
    assert ticks == sorted(ticks) and len(events) >= 5


def _fake_voice_results(policies, seeds):
    jobs = build_jobs({"seeds": seeds, "voice": {"skills": ["sit", "lie_down"], "learn_seconds": 60,
                                                  "eval_episodes": 4, "snrs": [20.0, 10.0],
                                                  "false_start_minutes": 1.0}}, policies, ["voice"])
    out = []
    for _, job in jobs:
        good = 1.0 if job["policy"] == "yan" else 0.5
        cond = {m: {"sit": good, "lie_down": good} for m in ("success", "cue_correct")}
        cond["wrong_skill"] = {"sit": 0.0, "lie_down": 1 - good}
        out.append({**job, "conditions": {"20.0": cond, "10.0": cond}, "retention": good,
                    "learn_s": {"sit": 60.0, "lie_down": 60.0},
                    "false_starts": {"per_minute": 0.0 if good == 1 else 2.0, "minutes": 1.0}})
    return out


def test_the_voice_part_runs_every_policy_and_seed_and_summarizes_them(capsys):
    results = _fake_voice_results(["yan", "transformer"], [10, 11, 12])
    assert sorted((r["policy"], r["seed"]) for r in results) == sorted(
        (p, s) for p in ("yan", "transformer") for s in (10, 11, 12))
    voice = summarize_voice(results, ["yan", "transformer"], _rng)
    assert voice["yan"]["20.0"]["cue_correct"] == [1.0, 1.0, 1.0]
    assert voice["transformer"]["10.0"]["success"][0] == 0.5
    assert voice["transformer"]["false_starts_per_min"][0] == 2.0
    assert voice["yan"]["false_start_minutes"] == 3.0
    report({"skills": {}, "cue_accuracy": {}, "loop": None, "voice": voice}, ["yan", "transformer"])
    printed = capsys.readouterr().out
    assert "cue correct 10 dB" in printed and "false starts/min" in printed
    assert "cue_correct at 20 dB 1.00 (target >= 0.95) -> met" in printed


@pytest.mark.slow  # ~10 CPU s: three sim episodes, a learner step, a few seconds of listening
@needs_espeak
def test_a_voice_job_on_a_tiny_budget_teaches_evaluates_and_listens():
    job = {"kind": "voice", "policy": "mlp", "seed": 10, "skills": ["sit"], "k": 1, "learn_seconds": 0.3,
           "eval_episodes": 1, "snrs": [20.0, 10.0], "false_start_minutes": 0.05, "overrides": {},
           "demo_gait_gain": None, "split": "dev", "width": {}}
    r = voice_job(job)
    assert r["cues"] == {"sit": "say:sit"} and set(r["conditions"]) == {"20.0", "10.0"}
    assert set(r["conditions"]["10.0"]) == {"success", "cue_correct", "wrong_skill"}
    fs = r["false_starts"]
    assert fs["minutes"] == pytest.approx(0.05) and fs["per_minute"] == fs["starts"] / fs["minutes"]
    assert len(fs["heard_before_start"]) == fs["starts"] and fs["windows"] == 1
    assert r["steps"] >= 1 and r["retention"] is None  # one skill: nothing taught after it
    assert r["false_starts_memory_reset"] is None and fs["memory_norm_by_window"] == [None]  # no memory


@pytest.mark.slow  # ~20 CPU s: as above, with Yan, and the stream heard twice
@needs_espeak
def test_yan_hears_the_stream_with_its_memory_carried_and_again_reset_per_window():
    job = {"kind": "voice", "policy": "yan", "seed": 10, "skills": ["sit"], "k": 1, "learn_seconds": 0.3,
           "eval_episodes": 1, "snrs": [20.0], "false_start_minutes": 0.3, "overrides": {},
           "demo_gait_gain": None, "split": "dev", "width": {}}
    r = voice_job(job)
    carried, reset = r["false_starts"], r["false_starts_memory_reset"]
    assert carried["keep_memory"] and not reset["keep_memory"]
    assert carried["windows"] == reset["windows"] == 3
    for fs in (carried, reset):
        assert len(fs["memory_norm_by_window"]) == 3 and all(np.isfinite(fs["memory_norm_by_window"]))
    # reset: every window starts from the session's memory; carried: the first does, then it was written
    assert reset["memory_norm_by_window"] == [carried["memory_norm_by_window"][0]] * 3
    assert carried["memory_norm_by_window"][1] != carried["memory_norm_by_window"][0]
