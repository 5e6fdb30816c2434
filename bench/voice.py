"""The spoken-command part of `bench/few_shot.py` (`--parts voice`): five skills taught in turn, each cued
by its own spoken word, judged on voices no demonstration used, at two noise levels, and on audio that is
no command at all.

One job = one policy and one training seed (the split's), in one process:
1. the five skills of `VOICE_SKILLS` are each asked for by a word of `VOICE_WORDS`, said anew every episode
   by espeak-ng (`sim.speech.register_spoken_cue`): demonstrations by `DEMO_SPEAKERS`, evaluation tries by
   `EVAL_SPEAKERS` (other voices, rates and pitches);
2. they are taught in turn, K = 3 demonstrations and `learn_seconds` of learner CPU each, and each is tried
   right after it was taught (`eval_episodes` tries at `SNRS_DB[0]`);
3. once all are taught, every skill is tried `eval_episodes` times at each SNR of `SNRS_DB` (the
   microphone's cue-to-noise ratio, `sim.microphone`): success, cue accuracy (did it and no other known
   skill), wrong-skill rate (did another known skill); retention = success after all / right after;
4. false starts: the robot, at rest, hears `false_start_minutes` of non-command audio (`non_command_stream`:
   words and babble of `sim.non_command.EVAL_WORDS` said by evaluation voices, and numpy-made music,
   noise, hums and clicks of another seed than training's, over pink noise, at `STREAM_SNR_DB`), in
   listening windows of `LISTEN_WINDOW_S` (the recurrent state starts afresh in each, as every try does).
   A *start* is the robot leaving its hold (`StartDetector`): for `START_TICKS` ticks in a row some entry
   of its hybrid action differs from the hold by more than `START_DEVIATION` of that entry's scale
   (`yan_dog.recording.HYBRID_ACTION_SCALE`). The rest of a window after a start is skipped (the robot is
   doing something). The body streams are a recording of the robot standing at rest (open loop: up to
   its first start, a still robot's closed-loop streams are the same), its audio replaced by the stream.
   The native memory lives on across the windows, as on the robot; a policy that has one hears the stream
   a second time with every window starting from the same memory (`false_starts_memory_reset`): more
   starts with the memory carried than reset means the memory drifted.

Every policy gets the same demonstrations and the same learner settings: `VOICE_LEARNER` (yan_dog's
`SPOKEN_CUE_LEARNER`, what `yan-dog teach --say` trains with: the non-command copies of
`LearnerConfig.negative_prob` and the cue-audio augmentation on; `--set learner.KEY=VALUE`
overrides them, e.g. `learner.negative_prob=0` for the run without negatives).
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from yan_dog.spoken_commands import SPOKEN_CUE_LEARNER

VOICE_SKILLS = ("sit", "lie_down", "stand", "turn_left", "walk_forward")
VOICE_WORDS = {"sit": "sit", "lie_down": "down", "stand": "stand", "turn_left": "left",
               "walk_forward": "walk"}
SNRS_DB = (20.0, 10.0)  # cue-to-noise ratios of the final evaluation; the first one also right after
VOICE_LEARNER = SPOKEN_CUE_LEARNER  # learner defaults of this part: yan_dog's spoken-cue settings
K_DEMOS = 3
DEFAULT_FALSE_START_MINUTES = 10.0  # what the issue asks for
DEFAULT_EVAL_EPISODES = 10  # tries per skill and condition (20 dB right after, 20 dB and 10 dB at the end)
RIGHT_AFTER_OFFSET = 500  # sim seed offsets of the tries right after teaching and at the end (as "multi")
FINAL_OFFSET = 700

# False starts
LISTEN_WINDOW_S = 6.0  # s, the stream is heard in windows this long, each from a fresh recurrent state
START_DEVIATION = 0.4  # a start: some action entry this many of its HYBRID_ACTION_SCALE from the hold ...
START_TICKS = 10  # ... for this many ticks in a row (0.2 s at 50 Hz)
STREAM_NOISE_RMS = 0.01  # full-scale RMS of the stream's pink background noise (the env's is 0.005-0.02)
STREAM_SNR_DB = 20.0  # each non-command sound's RMS over the background's
EVENT_GAP_S = (0.5, 2.0)  # s of background alone before each sound
EVAL_SOUND_SEED = 7_919  # numpy-made sounds of the stream: this seed + the job's, never the learner's


def register_voice_cues(skills=VOICE_SKILLS) -> dict[str, str]:
    """In this process: each skill of `skills` is asked for by its word of `VOICE_WORDS` (a spoken cue);
    returns {skill: cue name}."""
    import sim
    from sim.speech import ensure_spoken_cue

    cues = {}
    for skill in skills:
        cues[skill] = ensure_spoken_cue(VOICE_WORDS[skill])
        sim.skills.register(dataclasses.replace(sim.skills.get(skill), cue=cues[skill]), overwrite=True)
    return cues


class StartDetector:
    """Whether the robot has left its hold: `update(action)` is True from the tick on which, for
    `ticks` ticks in a row, some entry of the action differed from `hold` by more than `deviation` times
    that entry's `scale`."""

    def __init__(self, hold: np.ndarray, scale: np.ndarray, deviation: float = START_DEVIATION,
                 ticks: int = START_TICKS):
        if deviation <= 0 or ticks < 1:
            raise ValueError(f"need deviation > 0 and ticks >= 1, got {deviation}, {ticks}")
        self.hold = np.asarray(hold, np.float64)
        self.scale = np.asarray(scale, np.float64)
        if self.hold.shape != self.scale.shape or (self.scale <= 0).any():
            raise ValueError(f"hold and scale must have one shape and scale > 0, got {self.hold.shape}, "
                             f"{self.scale.shape}")
        self.deviation, self.ticks, self.run = deviation, ticks, 0

    def update(self, action: np.ndarray) -> bool:
        away = float(np.max(np.abs(np.asarray(action, np.float64) - self.hold) / self.scale)) > self.deviation
        self.run = self.run + 1 if away else 0
        return self.run >= self.ticks


def count_starts(act, reset, ticks: int, window: int, hold: np.ndarray, scale: np.ndarray) -> list[int]:
    """Ticks at which the robot started (`StartDetector`) over a stream of `ticks` ticks heard in windows of
    `window` ticks: `reset()` at each window's first tick (a fresh try), `act(t)` -> the action (A,) at
    tick t; after a start, the rest of its window is skipped (`act` is not called there)."""
    if ticks < 0 or window < 1:
        raise ValueError(f"need ticks >= 0 and window >= 1, got {ticks}, {window}")
    starts = []
    for t0 in range(0, ticks, window):
        reset()
        det = StartDetector(hold, scale)
        for t in range(t0, min(t0 + window, ticks)):
            if det.update(act(t)):
                starts.append(t)
                break
    return starts


def non_command_stream(seed: int, seconds: float, taught_words, tick_samples: int, rate_hz: int):
    """The false-start stream: int16 audio (T, tick_samples) of `seconds`, and a list of (start tick,
    label) of its sounds. Sounds: `sim.non_command.spoken_non_commands(seed, "eval", taught_words)` and
    `synthetic_sounds(EVAL_SOUND_SEED + seed)`, drawn in turn from a shuffled order, each after
    `EVENT_GAP_S` of background, at `STREAM_SNR_DB` over pink noise of `STREAM_NOISE_RMS`. A pure function
    of its arguments."""
    from sim.non_command import spoken_non_commands
    from yan_policy.training.audio_augment import coloured_noise
    from yan_policy.training.negatives import synthetic_sounds

    rng = np.random.default_rng([seed, 4242])
    sounds = spoken_non_commands(seed, "eval", taught_words, rate_hz)
    sounds += [(s.label, s.samples) for s in synthetic_sounds(EVAL_SOUND_SEED + seed, rate_hz)]
    ticks = round(seconds * rate_hz / tick_samples)
    n = ticks * tick_samples
    x = STREAM_NOISE_RMS * coloured_noise(n, rng, pink=True)
    events, pos, order = [], 0, []
    while True:
        if not order:
            order = list(rng.permutation(len(sounds)))
        label, s = sounds[order.pop()]
        pos += round(rng.uniform(*EVENT_GAP_S) * rate_hz)
        if pos + len(s) > n:
            break
        s = s * STREAM_NOISE_RMS * 10 ** (STREAM_SNR_DB / 20) / np.sqrt(np.mean(np.square(s)))
        x[pos:pos + len(s)] += s
        events.append((pos // tick_samples, label))
        pos += len(s)
    audio = np.clip(np.rint(x * 32768.0), -32768, 32767).astype(np.int16).reshape(ticks, tick_samples)
    return audio, events


def standing_body(session, seed: int) -> tuple[list[dict], np.ndarray]:
    """One episode of the robot held at rest (sim seed `seed`, skill "sit": a standing start): its
    observations, and the teacher's hold action at its first tick (before any cue, the hold)."""
    from robots.actions import HOLD_ACTION

    env = session.env
    obs, _ = env.reset(seed=seed, options={"skill": "sit", "cue_split": "eval"})
    hold = np.asarray(env.unwrapped.teacher_action(), np.float64)
    frames, done = [], False
    while not done:
        frames.append({k: np.array(v, copy=True) for k, v in obs.items()})
        obs, _, terminated, truncated, _ = env.step(HOLD_ACTION)
        done = terminated or truncated
    return frames, hold


def false_starts(session, seed: int, minutes: float, taught_words, memory_modes=(True,)) -> list[dict]:
    """The robot (the session's newest weights and native memory) hears `minutes` of `non_command_stream`
    at rest, once per entry of `memory_modes` (the stream and the body made once); for each: starts per
    minute, what it heard last before each start, and the native memory's norm at each window's start
    (None entries: a policy without one). A mode True: the memory lives on from window to window, as on
    the robot; False: each window starts from the session's memory again (the diagnostic that tells a
    drifting memory from a policy that starts on some sounds)."""
    from yan_dog.recording import HYBRID_ACTION_SCALE
    from yan_dog.runtime import Actor

    u = session.env.unwrapped
    tick_samples = round(u.audio_rate_hz / u.control_hz)
    audio, events = non_command_stream(seed, minutes * 60.0, taught_words, tick_samples, u.audio_rate_hz)
    body, hold = standing_body(session, seed)
    window = round(LISTEN_WINDOW_S * u.control_hz)
    heard_minutes = len(audio) / u.control_hz / 60.0

    def listen(keep_memory: bool) -> dict:
        actor = Actor(session.learner, execute_chunk=session.config.execute_chunk, memory=session.memory)
        start_memory = None if keep_memory else actor.memory()
        norms = []

        def act(t: int) -> np.ndarray:
            return actor.act({**body[(t % window) % len(body)], "audio": audio[t]})

        def reset() -> None:
            actor.reset(memory=start_memory)  # reset per window: from the session's memory, not the last's
            norms.append(actor.memory_norm())

        starts = count_starts(act, reset, len(audio), window, hold, HYBRID_ACTION_SCALE)
        heard = [next((lab for e, lab in reversed(events) if e <= t), "nothing") for t in starts]
        return {"minutes": heard_minutes, "starts": len(starts), "per_minute": len(starts) / heard_minutes,
                "start_ticks": starts, "heard_before_start": heard, "sounds": len(events),
                "windows": -(-len(audio) // window), "keep_memory": keep_memory,
                "memory_norm_by_window": norms}

    return [listen(keep_memory) for keep_memory in memory_modes]


def voice_job(job: dict) -> dict:
    """Teach the voice skills in turn to one robot; evaluate on unseen voices at each SNR; false starts."""
    from bench.few_shot import _job_overrides, _session, demonstrator_for
    from bench.splits import episode_offset

    overrides = _job_overrides(job)
    overrides["learner"] = {**VOICE_LEARNER, **overrides.get("learner", {})}
    cues = register_voice_cues(job["skills"])
    session = _session(job["policy"], job["seed"], job["learn_seconds"], overrides, job.get("demo_gait_gain"))
    session.demonstrator = demonstrator_for(job)  # --demos: the scripted teacher or a person
    offset = episode_offset(job["seed"])
    t0 = time.perf_counter()
    try:
        right_after, learn_s = {}, {}
        for skill in job["skills"]:
            report = session.teach(skill, job.get("k", K_DEMOS), seed_offset=offset)
            learn_s[skill] = report.learn_seconds
            right_after[skill] = session.evaluate(skill, job["eval_episodes"],
                                                  seed_offset=offset + RIGHT_AFTER_OFFSET)["success_rate"]
        by_snr = {}
        for snr in job["snrs"]:
            session.env.unwrapped.snr_db = float(snr)  # read at every reset (sim.env)
            by_snr[str(snr)] = {s: session.evaluate(s, job["eval_episodes"],
                                                    seed_offset=offset + FINAL_OFFSET) for s in job["skills"]}
        session.env.unwrapped.snr_db = float(job["snrs"][0])
        # a policy with a native memory hears the stream again, each window from the same memory
        modes = (True, False) if session.policy.lifetime_keys() else (True,)
        fs, *rest = false_starts(session, job["seed"], job["false_start_minutes"],
                                 [VOICE_WORDS[s] for s in job["skills"]], modes)
        fs_reset = rest[0] if rest else None
        conditions = {}
        for snr, evs in by_snr.items():
            conditions[snr] = {
                "success": {s: e["success_rate"] for s, e in evs.items()},
                "cue_correct": {s: e["cue_correct_rate"] for s, e in evs.items()},
                "wrong_skill": {s: e["wrong_skill_rate"] for s, e in evs.items()},
            }
        first = conditions[str(job["snrs"][0])]["success"]
        earlier = job["skills"][:-1]
        kept = [min(first[s] / right_after[s], 1.0) for s in earlier if right_after[s] > 0]
        return {**job, "cues": cues, "right_after": right_after, "conditions": conditions, "learn_s": learn_s,
                "retention": float(np.mean(kept)) if kept else None, "false_starts": fs,
                "false_starts_memory_reset": fs_reset,
                "steps": session.learner.steps, "wall_s": time.perf_counter() - t0}
    finally:
        session.close()


def voice_jobs(cfg: dict, policies: list[str], ablation: dict, widths: dict) -> list[tuple]:
    """(voice_job, job) for every policy and seed of `cfg` (cfg["voice"] holds the part's settings)."""
    v = cfg["voice"]
    return [(voice_job, {"kind": "voice", "policy": policy, "seed": seed, "skills": list(v["skills"]),
                         "learn_seconds": v["learn_seconds"], "eval_episodes": v["eval_episodes"],
                         "snrs": list(v["snrs"]), "false_start_minutes": v["false_start_minutes"],
                         **ablation, "width": widths.get(policy, {})})
            for seed in cfg["seeds"] for policy in policies]  # by seed: a run cut short has every policy


METRICS = ("success", "cue_correct", "wrong_skill")


def summarize_voice(results: list[dict], policies: list[str], rng_factory) -> dict:
    """{policy: {"<snr>": {metric: [mean, lo, hi]}, "retention": [...], "false_starts_per_min": [...],
    ...}}: nested bootstrap intervals over seeds, then episodes (`bench/stats.py`); false starts per
    minute over seeds (each seed's rate one value)."""
    from bench.stats import bootstrap_ci, episode_outcomes

    voice = [r for r in results if r["kind"] == "voice"]
    out = {}
    for policy in policies:
        mine = [r for r in voice if r["policy"] == policy]
        if not mine:
            continue
        s = {"seeds": sorted(r["seed"] for r in mine)}
        for snr in mine[0]["conditions"]:
            s[snr] = {}
            for m in METRICS:
                per_seed = [[o for v in r["conditions"][snr][m].values()
                             for o in episode_outcomes(v, r["eval_episodes"])] for r in mine]
                s[snr][m] = list(bootstrap_ci(per_seed, rng=rng_factory()))
        rets = [[r["retention"]] for r in mine if r["retention"] is not None]
        s["retention"] = list(bootstrap_ci(rets, rng=rng_factory())) if rets else None
        s["false_starts_per_min"] = list(bootstrap_ci([[r["false_starts"]["per_minute"]] for r in mine],
                                                      rng=rng_factory()))
        s["false_start_minutes"] = float(sum(r["false_starts"]["minutes"] for r in mine))
        reset = [[r["false_starts_memory_reset"]["per_minute"]] for r in mine
                 if r.get("false_starts_memory_reset")]
        s["false_starts_memory_reset_per_min"] = (list(bootstrap_ci(reset, rng=rng_factory())) if reset
                                                  else None)  # no native memory (or a run before it)
        s["learn_seconds"] = float(np.mean([v for r in mine for v in r["learn_s"].values()]))
        out[policy] = s
    return out


TARGET_CUE_20 = 0.95
TARGET_SUCCESS_20 = 0.9
TARGET_10 = 0.85  # cue accuracy and success at 10 dB
TARGET_FALSE_PER_MIN = 0.1


def report_voice(voice: dict, policies: list[str], label) -> None:
    """Print the voice part's table and which of the issue's targets Yan met."""
    from bench._common import format_table
    from bench.stats import ahead, fmt_ci

    if not voice:
        return
    snrs = [k for k in next(iter(voice.values())) if k.replace(".", "").isdigit()]
    rows = []
    for p in policies:
        if p not in voice:
            continue
        v = voice[p]
        rows.append([label(p), *[fmt_ci(v[snr][m]) for snr in snrs for m in METRICS],
                     fmt_ci(v["retention"]), fmt_ci(v["false_starts_per_min"]),
                     fmt_ci(v.get("false_starts_memory_reset_per_min"))])
    heads = [f"{m.replace('_', ' ')} {float(snr):.0f} dB" for snr in snrs for m in METRICS]
    print(format_table(["policy (voice part)", *heads, "retention", "false starts/min",
                        "same, memory reset per window"], rows))
    if "yan" not in voice:
        return
    y, lines = voice["yan"], []
    checks = [(snrs[0], "cue_correct", TARGET_CUE_20, ">="), (snrs[0], "success", TARGET_SUCCESS_20, ">=")]
    checks += [(snrs[-1], m, TARGET_10, ">=") for m in ("cue_correct", "success")] if len(snrs) > 1 else []
    for snr, m, target, _ in checks:
        got = y[snr][m][0]
        lines.append(f"{m} at {float(snr):.0f} dB {got:.2f} (target >= {target}) -> "
                     f"{'met' if got >= target - 1e-9 else 'MISSED'}")
    fs = y["false_starts_per_min"][0]
    lines.append(f"false starts {fs:.2f}/min over {y['false_start_minutes']:.1f} min (target <= "
                 f"{TARGET_FALSE_PER_MIN}) -> {'met' if fs <= TARGET_FALSE_PER_MIN else 'MISSED'}")
    for p in policies:
        if p == "yan" or p not in voice:
            continue
        o = voice[p]
        for snr in snrs:
            behind = [m for m in ("cue_correct", "success") if ahead(o[snr][m], y[snr][m])]
            lines.append(f"vs {p} at {float(snr):.0f} dB: " + (f"behind on {', '.join(behind)} (intervals "
                         f"do not overlap)" if behind else "not behind (at least as good, or overlapping)"))
        if ahead(y["false_starts_per_min"], o["false_starts_per_min"]):
            lines.append(f"vs {p}: more false starts (intervals do not overlap)")
    print("Voice targets (Yan):\n  " + "\n  ".join(lines))
