"""Run the simulated robot in real time at the control rate while the learner trains in the background.

This is the train–inference loop as it runs on a robot: a `ControlLoop` paced by the wall clock steps
the actor (newest published weights) and the robot once per period; the `OnlineLearner` trains in its
own thread on the demonstrations it has; weights are swapped between ticks. The returned timing says
whether learning ever delayed a control tick.
"""

from __future__ import annotations

import time

import gymnasium as gym
import numpy as np

import sim
from yan_dog.runtime import Actor, ControlLoop, LoopStats


def run_realtime(
    session, skill: str, seconds: float, learn: bool = True, seed: int = 0, learner=None
) -> tuple[LoopStats, dict]:
    """Run one `seconds`-long episode of `skill` in real time; returns loop timing and counts
    (weight swaps, learner steps, and per-tick time of the policy (`act_ms_*`) and of the simulated
    robot (`sim_ms_*`: physics and, every camera period, a ~20 ms render), which on a robot is not in
    the loop).

    One long episode, because a simulator reset rebuilds the world (~60 ms) and a real robot has no
    resets: the timing then measures the control loop and the learner, nothing else. If the robot falls
    (an untrained policy may), the world is reset and the run goes on for the full `seconds`
    (`counts["resets"]`). `learner`: the learner that trains beside the loop and feeds the actor (default:
    the session's own, a thread; `yan_dog.brain` runs a `ProcessLearner`)."""
    learner = session.learner if learner is None else learner
    env = gym.make(
        sim.ENV_ID,
        skill=skill,
        action_mode="hybrid",
        camera_size=session.config.camera_size,
        episode_s=seconds + 1.0,
    )
    u = env.unwrapped
    actor = Actor(learner, execute_chunk=session.config.execute_chunk)
    obs, _ = env.reset(seed=seed)
    counts = {"weight_swaps": 0, "resets": 0, "learner_steps_before": learner.steps}

    act_s, sim_s = [], []  # per tick: the policy (weight swap + act) and the simulated robot

    def tick(k: int) -> bool:
        nonlocal obs
        t0 = time.perf_counter()
        if actor.refresh():
            counts["weight_swaps"] += 1
        action = np.asarray(actor.act(obs), np.float32)
        t1 = time.perf_counter()
        obs, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:  # a fall: the run goes on (the timing is what is measured)
            counts["resets"] += 1
            obs, _ = env.reset(seed=seed + counts["resets"])
            actor.reset()
        act_s.append(t1 - t0)
        sim_s.append(time.perf_counter() - t1)
        return True

    if learn:
        learner.start()
    try:
        stats = ControlLoop(u.control_dt_s).run(tick, max_ticks=int(seconds * u.control_hz))
    finally:
        if learn:
            learner.stop()
        env.close()
    counts["learner_steps"] = learner.steps - counts.pop("learner_steps_before")
    for name, xs in (("act", act_s), ("sim", sim_s)):
        ms = np.asarray(xs) * 1e3
        counts[f"{name}_ms_median"] = float(np.median(ms))
        counts[f"{name}_ms_p99"] = float(np.percentile(ms, 99))
    return stats, counts
