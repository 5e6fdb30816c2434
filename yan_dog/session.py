"""A teach session in simulation: demonstrate a skill K times, learn (during and after), try, evaluate.

One policy holds every skill, selected by the cue it hears. All skills are taught and performed in the
env's "hybrid" action space (gait command + joint offsets), so posture and locomotion skills share one
output. The learner keeps rehearsing every stored skill while it learns a new one (retention).

Seeds: demonstrations use `DEMO_SEED_BASE + i`, evaluations `EVAL_SEED_BASE + i`, so evaluation is
always on held-out randomisations (start pose, heading, ball, friction, light, noise, cue time).
"""

from __future__ import annotations

import multiprocessing
import time
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np
import torch

import sim
from yan_dog.recording import (
    DEFAULT_DEMO_GAIT_GAIN_RANGE,
    HYBRID_ACTION_NORM_STD,
    EpisodeResult,
    check_demo_gait_gain_range,
    draw_demo_gait_gain,
    run_episode,
)
from yan_dog.runtime import Actor
from yan_policy.data.library import SkillLibrary
from yan_policy.policies.config import PolicyConfig
from yan_policy.policies.registry import load_policy, make_policy
from yan_policy.training.augment import MirrorSpec
from yan_policy.training.learner import LearnerConfig, OnlineLearner

HYBRID_ACTION_DIM = 15
TEACH_D_MODEL = 128
DEMO_SEED_BASE = 100_000
TRY_SEED_BASE = 150_000
EVAL_SEED_BASE = 200_000


@dataclass
class SessionConfig:
    """Teach-session settings.

    Args:
        policy: registry name of the policy to teach ("yan", "transformer", "gru", "mlp").
        learn_seconds: CPU seconds of learning per taught skill (during and after the demos).
        learn_steps: optional cap on optimizer steps per taught skill (None: only the CPU budget counts).
            A step budget makes a session deterministic on any machine (tests use it).
        learn_during_demos: train in a background thread while the demonstrations run.
        corrected_tries: tries after learning in which the teacher may intervene (HG-DAgger).
        camera_size: head-camera (H, W).
        seed: seeds the policy initialisation and the learner's batch sampling.
        execute_chunk: actions of each predicted chunk executed before re-planning (see `Actor`). Measured
            on sit / lie_down / walk_forward (3 demos, 8 held-out seeds): re-planning every tick left the
            robot hesitating at the onset of a motion (0.38 / 0.63 / 0.88 success), executing the whole
            8-tick chunk did not (1.0 / 1.0 / 1.0).
        policy_overrides: PolicyConfig fields to override. The default width 128 (about 0.8 M
            parameters for Yan) trains about twice as many steps per CPU second as the library's
            default 256, which matters with a 60 s learning budget.
        demo_gait_gain_range: each scripted demonstration executes the teacher's gait command times a
            gain drawn uniformly from this range (seeded by the demo's seed), labelled with the
            teacher's own command: see `yan_dog.recording`. (1, 1) turns it off. Not below 0.8: a turn
            slowed to 0.6x reaches the teacher's angle only at the episode's end and so shows no stop
            (`bench/few_shot.py`, K = 3, seeds 0, 1, the stopping turn check: turn_left 0.50 with 0.6-1.0,
            0.90 with 0.8-1.0; turn_right 0.15 and 0.80).
        learner: LearnerConfig (its seed is replaced by `seed`).
        eval_workers: processes that run `evaluate`'s episodes side by side (1: in this process). The
            same tries with the same weights, so the same results, in about 1 / eval_workers of the
            time on as many idle cores. Only where this process can fork (Linux), while no learner
            thread runs; otherwise the episodes run here.
    """

    policy: str = "yan"
    learn_seconds: float = 60.0
    learn_steps: int | None = None
    learn_during_demos: bool = True
    corrected_tries: int = 0
    camera_size: tuple[int, int] = (96, 96)
    seed: int = 0
    execute_chunk: int = 8
    policy_overrides: dict = field(default_factory=lambda: {"d_model": TEACH_D_MODEL})
    demo_gait_gain_range: tuple[float, float] = DEFAULT_DEMO_GAIT_GAIN_RANGE
    learner: LearnerConfig = field(default_factory=LearnerConfig)
    eval_workers: int = 1

    def __post_init__(self):
        self.demo_gait_gain_range = check_demo_gait_gain_range(self.demo_gait_gain_range)
        if self.learn_seconds <= 0:
            raise ValueError(f"learn_seconds must be > 0, got {self.learn_seconds}")
        if self.execute_chunk < 1:
            raise ValueError(f"execute_chunk must be >= 1, got {self.execute_chunk}")
        if self.learn_steps is not None and self.learn_steps < 1:
            raise ValueError(f"learn_steps must be >= 1 or None, got {self.learn_steps}")
        if self.corrected_tries < 0:
            raise ValueError(f"corrected_tries must be >= 0, got {self.corrected_tries}")
        if self.eval_workers < 1:
            raise ValueError(f"eval_workers must be >= 1, got {self.eval_workers}")


A1_MIRROR = MirrorSpec(sim.robot.MIRROR_MOTOR_PERMUTATION, sim.robot.MIRROR_MOTOR_SIGN)


def _merged(base: dict, overrides: dict) -> dict:
    """base with overrides applied; a dict given for a section (e.g. "tokenizer") overrides only its keys."""
    out = dict(base)
    for key, value in overrides.items():
        nested = isinstance(value, dict) and isinstance(base.get(key), dict)
        out[key] = _merged(base[key], value) if nested else value
    return out


def build_policy(config: SessionConfig, library: SkillLibrary | None = None) -> torch.nn.Module:
    """The policy a session teaches: the library's, or a new `config.policy` in the hybrid action space
    (seeded with `config.seed`)."""
    torch.manual_seed(config.seed)
    policy = library.load(load_policy) if library is not None else None
    if policy is None:
        pcfg = PolicyConfig.from_dict(
            _merged(PolicyConfig().to_dict(), {**config.policy_overrides, "action_dim": HYBRID_ACTION_DIM})
        )
        policy = make_policy(config.policy, pcfg)
        policy.set_action_normalization(np.zeros(HYBRID_ACTION_DIM), HYBRID_ACTION_NORM_STD)
    return policy


def learner_config(config: SessionConfig) -> LearnerConfig:
    """The session's learner settings, seeded with the session's seed."""
    return LearnerConfig(**{**config.learner.__dict__, "seed": config.seed})


def build_learner(
    config: SessionConfig, library: SkillLibrary | None = None, load_demos: bool = True
) -> OnlineLearner:
    """The online learner of a teach session (in sim or on the ROS brain): `build_policy`'s policy and
    `learner_config`, and (with `load_demos`) every demonstration the library holds. Demonstrations of
    mirror-symmetric skills (`sim.skills.is_mirror_symmetric`) also train as their mirror images (the A1's
    `A1_MIRROR`; `LearnerConfig.mirror_prob` = 0 turns it off)."""
    learner = OnlineLearner(
        build_policy(config, library), learner_config(config), A1_MIRROR, sim.skills.is_mirror_symmetric
    )
    if library is not None and load_demos:
        for ep in library.demos() if library.skills else []:
            learner.add_episode(ep)
    return learner


@dataclass
class TeachReport:
    skill: str
    demos: int
    demo_success: float
    learn_seconds: float
    steps: int
    curve: list[dict]
    interventions: int = 0


class TeachSession:
    """Teach skills to one simulated dog, keeping them in a skill library.

    Args:
        config: SessionConfig.
        library: where skills persist (None: in memory only). An existing library is loaded: its
            policy continues learning and its demonstrations are rehearsed.
    """

    def __init__(self, config: SessionConfig | None = None, library: SkillLibrary | None = None):
        self.config = config = config or SessionConfig()
        self.library = library
        self.learner = build_learner(config, library)
        self.env = self._make_env()

    def _make_env(self) -> gym.Env:
        return gym.make(
            sim.ENV_ID,
            skill=sim.skills.names()[0],
            action_mode="hybrid",
            camera_size=self.config.camera_size,
            render_mode="rgb_array",
        )

    @property
    def policy(self):
        return self.learner.latest()[1]

    def known_skills(self) -> list[str]:
        return self.learner.buffer.skills()

    # --- teaching ----------------------------------------------------------------------------------------
    def demonstrate(
        self,
        skill: str,
        k: int,
        seed_offset: int = 0,
        on_episode: Callable[[EpisodeResult], None] | None = None,
    ) -> list[EpisodeResult]:
        """Run k scripted demonstrations of `skill`; each becomes training data at once."""
        sim.skills.get(skill)
        results = []
        for i in range(k):
            seed = DEMO_SEED_BASE + seed_offset + i
            gain = draw_demo_gait_gain(seed, self.config.demo_gait_gain_range)
            res = run_episode(
                self.env,
                None,
                "demo",
                seed,
                skill=skill,
                track_skills=sim.skills.names(),
                demo_gait_gain=gain,
            )
            res.episode.extra["skills_satisfied"] = res.skills_satisfied
            self.learner.add_episode(res.episode)
            if self.library is not None:
                self.library.add_demo(res.episode)
            results.append(res)
            if on_episode:
                on_episode(res)
        return results

    def teach(
        self, skill: str, demos: int = 3, seed_offset: int = 0, progress: Callable[[dict], None] | None = None
    ) -> TeachReport:
        """Demonstrate `skill` `demos` times, learning during and after, then (optionally) corrected tries."""
        c = self.config
        learner = self.learner
        learner.focus = skill
        start_seconds, start_steps = learner.train_seconds, learner.steps
        if c.learn_during_demos:  # the thread trains as soon as the buffer holds an episode
            learner.start()
        results = self.demonstrate(skill, demos, seed_offset)
        if learner.running:
            learner.stop()
        remaining = c.learn_seconds - (learner.train_seconds - start_seconds)
        steps_left = None if c.learn_steps is None else c.learn_steps - (learner.steps - start_steps)
        if remaining > 0 and (steps_left is None or steps_left > 0):
            learner.train_for(remaining, max_steps=steps_left, callback=progress)
        interventions = 0
        for j in range(c.corrected_tries):
            res = self.try_skill(skill, TRY_SEED_BASE + seed_offset + j, corrected=True)
            if res.intervened_at is not None:
                interventions += 1
                learner.add_episode(res.episode)
                if self.library is not None:
                    self.library.add_demo(res.episode)
                learner.train_for(c.learn_seconds / max(4, c.corrected_tries * 2), callback=progress)
        learner.focus = None
        spent = learner.train_seconds - start_seconds
        if self.library is not None:
            rec = self.library.skills[skill]
            rec.learn_seconds += spent
            rec.taught_at = time.time()
        curve = [h for h in learner.history if h["step"] > start_steps]  # the newest HISTORY_STEPS at most
        return TeachReport(
            skill,
            demos,
            float(np.mean([r.success for r in results])),
            spent,
            learner.steps - start_steps,
            curve,
            interventions,
        )

    # --- trying / evaluating -----------------------------------------------------------------------------
    def try_skill(
        self, skill: str, seed: int, corrected: bool = False, render_every: int = 0, track: bool = False
    ) -> EpisodeResult:
        """The robot performs `skill` on its cue with the latest weights."""
        actor = Actor(self.learner, execute_chunk=self.config.execute_chunk)
        return run_episode(
            self.env,
            actor.act,
            "corrected" if corrected else "try",
            seed,
            skill=skill,
            track_skills=self.known_skills() if track else None,
            render_every=render_every,
        )

    def evaluate(
        self,
        skill: str,
        episodes: int,
        seed_offset: int = 0,
        on_episode: Callable[[EpisodeResult], None] | None = None,
    ) -> dict:
        """Success rate of `skill` over held-out seeds, how often the cue selected the right skill (did it,
        and no other known skill), and how often the robot did another known skill (a wrong selection,
        as opposed to a right one left unfinished)."""
        results = []
        for res in self._tries(skill, [EVAL_SEED_BASE + seed_offset + i for i in range(episodes)]):
            results.append(res)
            if on_episode:
                on_episode(res)
        bad = sum(r.nonfinite_actions > 0 for r in results)
        if bad:
            warnings.warn(f"{skill}: the policy gave a non-finite action in {bad} of {episodes} tries (the "
                          f"robot held the stand pose there); its weights or recurrent state diverged",
                          stacklevel=2)
        allowed = self.compatible_skills(skill)
        only_allowed = [set(r.skills_satisfied) <= allowed for r in results]
        correct = [skill in r.skills_satisfied and ok for r, ok in zip(results, only_allowed, strict=True)]
        wrong = [not ok for ok in only_allowed]
        return {
            "skill": skill,
            "episodes": episodes,
            "success_rate": float(np.mean([r.success for r in results])),
            "cue_correct_rate": float(np.mean(correct)),
            "wrong_skill_rate": float(np.mean(wrong)),  # did another known skill's motion instead / too
            "skills_satisfied": [r.skills_satisfied for r in results],
            # tries where the policy gave a NaN / inf action on some tick (the robot held there)
            "nonfinite_action_episodes": bad,
        }

    def _tries(self, skill: str, seeds: list[int]) -> Iterator[EpisodeResult]:
        """`try_skill(skill, seed, track=True)` for each seed, in order: here, or in `eval_workers`
        forked processes. A fork holds a copy of this process as it is (the newest weights, every
        registered skill and cue) and builds its own env; nothing it does comes back but its results."""
        workers = min(self.config.eval_workers, len(seeds))
        if workers <= 1 or self.learner.running or "fork" not in multiprocessing.get_all_start_methods():
            for seed in seeds:
                yield self.try_skill(skill, seed, track=True)
            return
        global _FORK_SESSION
        _FORK_SESSION = self
        try:
            with ProcessPoolExecutor(workers, multiprocessing.get_context("fork"), _fork_worker_init) as pool:
                yield from pool.map(_fork_worker_try, [(skill, seed) for seed in seeds])  # in seed order
        finally:
            _FORK_SESSION = None

    def compatible_skills(self, skill: str) -> set[str]:
        """Skills whose checks the teacher's own demonstrations of `skill` also satisfy (shake_paw sits
        first, so it satisfies `sit`; any standing skill satisfies `stand`). Performing one of these
        alongside `skill` is not a wrong selection; performing any other known skill is."""
        allowed = {skill}
        for ep in self.learner.buffer.all():
            if ep.skill == skill and ep.source == "scripted":
                allowed |= set(ep.extra.get("skills_satisfied", []))
        return allowed

    # --- persistence -------------------------------------------------------------------------------------
    def save(self) -> str | None:
        """Commit the current policy and skills to the library (atomic); returns the version name."""
        if self.library is None:
            return None
        return self.library.commit(self.policy)

    def close(self) -> None:
        if self.learner.running:
            self.learner.stop()
        self.env.close()


# --- evaluation in forked worker processes (see `TeachSession._tries`) -----------------------------------
_FORK_SESSION: TeachSession | None = None  # the session being evaluated, inherited by each fork


def _fork_worker_init() -> None:
    """In a forked worker: one torch thread (the parent's thread pool does not survive a fork) and an env
    of its own (the parent's simulator client stays the parent's)."""
    torch.set_num_threads(1)
    _FORK_SESSION.env = _FORK_SESSION._make_env()


def _fork_worker_try(job: tuple[str, int]) -> EpisodeResult:
    skill, seed = job
    return _FORK_SESSION.try_skill(skill, seed, track=True)
