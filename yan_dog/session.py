"""A teach session in simulation: demonstrate a skill K times, learn (during and after), try, evaluate.

One policy holds every skill, selected by the cue it hears. All skills are taught and performed in the
env's "hybrid" action space (gait command + joint offsets), so posture and locomotion skills share one
output. The learner keeps rehearsing every stored skill while it learns a new one (retention).

Seeds: demonstrations use `DEMO_SEED_BASE + i`, evaluations `EVAL_SEED_BASE + i`, so evaluation is
always on held-out randomisations (start pose, heading, ball, friction, light, noise, cue time).

Demonstrations are checked: one that fails its skill's check is reported (one line, `logging`) and, by
default, discarded and repeated on a new seed (`+ DEMO_RETRY_SEED_STEP` per attempt, at most
`DEMO_ATTEMPTS` attempts, then `DemonstrationsFailed`); `keep_failed=True` keeps it (still reported).
"""

from __future__ import annotations

import logging
import multiprocessing
import time
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch

import sim
from yan_dog.recording import EpisodeResult, run_episode
from yan_dog.runtime import Actor
from yan_dog.teach_setup import SessionConfig, build_learner, draw_demo_gait_gain
from yan_policy.data.library import SkillLibrary

DEMO_SEED_BASE = 100_000
TRY_SEED_BASE = 150_000
EVAL_SEED_BASE = 200_000
DEMO_ATTEMPTS = 5  # attempts at each demonstration: failed ones are repeated up to this many, then an error
# a repeat of demonstration i runs on its seed + this * attempt: within a bench seed's 1000 sim seeds
# (bench/splits.py), clear of the K < 100 first attempts
DEMO_RETRY_SEED_STEP = 100
DEMO_SOURCES = ("scripted", "teleop")  # who demonstrates in sim: the scripted teacher, a human-like person
log = logging.getLogger(__name__)


class DemonstrationsFailed(RuntimeError):
    """Every attempt at a demonstration failed its skill's check."""


@dataclass
class TeachReport:
    skill: str
    demos: int
    demo_success: float
    learn_seconds: float
    steps: int
    curve: list[dict]
    interventions: int = 0
    demos_discarded: int = 0  # demonstrations that failed their check and were repeated


class TeachSession:
    """Teach skills to one simulated dog, keeping them in a skill library.

    Args:
        config: SessionConfig.
        library: where skills persist (None: in memory only). An existing library is loaded: its
            policy continues learning, its demonstrations are rehearsed and its native memory is restored.
        demonstrator: who demonstrates: None, the scripted teacher; a `sim.humans.HumanDemonstrator`, a
            simulated person through a joystick and the pose editor.
        keep_failed: keep demonstrations that fail their skill's check (reported either way) instead of
            discarding and repeating them. `demo_attempts`, `demos_discarded` and `demos_failed_kept`
            count them over the session.

    The native memory (`memory`: the lifetime part of the recurrent state, `PolicyBase.lifetime_keys`) is
    the robot's: restored from the library, carried from try to try by the tries that are part of the
    robot's life (`try_skill(carry_memory=True)`: `teach`'s corrected tries), and committed by `save`.
    Evaluations (`evaluate`, and `try_skill` by default) start every try from that same memory and leave
    it unchanged, so held-out results do not depend on the order of the tries and are the same in forked
    workers. `forget_memory` resets it, and nothing else does.
    """

    def __init__(self, config: SessionConfig | None = None, library: SkillLibrary | None = None,
                 demonstrator=None, keep_failed: bool = False):
        self.config = config = config or SessionConfig()
        self.library = library
        self.demonstrator = demonstrator
        self.keep_failed = keep_failed
        self.demo_attempts = self.demos_discarded = self.demos_failed_kept = 0
        self.learner = build_learner(config, library)
        # None: a fresh memory (the policy's learned initial value); set from the library's loaded version
        self.memory: dict[str, torch.Tensor] | None = library.memory if library is not None else None
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
        """Run k demonstrations of `skill` (the session's demonstrator), each checked (see the module
        docstring); each kept one becomes training data at once."""
        sim.skills.get(skill)
        self._hear_non_commands(skill)
        results = []
        for i in range(k):
            res = self._checked_demo(skill, i, k, DEMO_SEED_BASE + seed_offset + i)
            res.episode.extra["skills_satisfied"] = res.skills_satisfied
            self.learner.add_episode(res.episode)
            if self.library is not None:
                self.library.add_demo(res.episode)
            results.append(res)
            if on_episode:
                on_episode(res)
        return results

    def _checked_demo(self, skill: str, i: int, k: int, seed: int) -> EpisodeResult:
        """Demonstration i of k on `seed`, repeated on new seeds while it fails its check (unless
        `keep_failed`); each failure is reported in one line."""
        who = "scripted" if self.demonstrator is None else "human-like"
        for attempt in range(DEMO_ATTEMPTS):
            seed_now = seed + DEMO_RETRY_SEED_STEP * attempt
            gain = draw_demo_gait_gain(seed_now, self.config.demo_gait_gain_range)
            res = run_episode(self.env, None, "demo", seed_now, skill=skill, track_skills=sim.skills.names(),
                              demo_gait_gain=gain, demonstrator=self.demonstrator)
            self.demo_attempts += 1
            if res.success:
                return res
            what = f"{skill}: {who} demonstration {i + 1}/{k} (seed {seed_now}) failed its check"
            if self.keep_failed:
                self.demos_failed_kept += 1
                log.warning("%s; kept (keep_failed)", what)
                return res
            self.demos_discarded += 1
            log.warning("%s; discarded%s", what,
                        ", repeating" if attempt + 1 < DEMO_ATTEMPTS else "")
        raise DemonstrationsFailed(f"{skill}: all {DEMO_ATTEMPTS} attempts at {who} demonstration {i + 1} "
                                   f"failed its check (seeds {seed} + {DEMO_RETRY_SEED_STEP} * attempt); "
                                   f"keep_failed=True (yan-dog teach --keep-failed) keeps failed ones")

    def _hear_non_commands(self, skill: str) -> None:
        """With `LearnerConfig.negative_prob`, the learner's non-command copies also hear other words and
        babble said by the demonstration voices (`sim.non_command`), never a word this robot is taught."""
        if self.config.learner.negative_prob <= 0:
            return
        from sim.non_command import spoken_non_commands
        from sim.speech import spoken_text
        from yan_policy.training.negatives import NonCommandSound

        taught = {spoken_text(sim.skills.get(s).cue) for s in {*self.known_skills(), skill}} - {None}
        rate = self.env.unwrapped.audio_rate_hz
        try:
            sounds = spoken_non_commands(self.config.seed, "demo", taught, rate)
        except RuntimeError as e:  # no espeak-ng: the numpy-made sounds only
            warnings.warn(f"non-command copies without other words: {e}", stacklevel=2)
            return
        self.learner.set_non_command_sounds([NonCommandSound(x, rate, label) for label, x in sounds])

    def teach(
        self, skill: str, demos: int = 3, seed_offset: int = 0, progress: Callable[[dict], None] | None = None
    ) -> TeachReport:
        """Demonstrate `skill` `demos` times, learning during and after, then (optionally) corrected tries."""
        c = self.config
        learner = self.learner
        learner.focus = skill
        start_seconds, start_steps = learner.train_seconds, learner.steps
        discarded_before = self.demos_discarded
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
            res = self.try_skill(skill, TRY_SEED_BASE + seed_offset + j, corrected=True, carry_memory=True)
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
            self.demos_discarded - discarded_before,
        )

    # --- trying / evaluating -----------------------------------------------------------------------------
    def try_skill(
        self,
        skill: str,
        seed: int,
        corrected: bool = False,
        render_every: int = 0,
        track: bool = False,
        carry_memory: bool = False,
    ) -> EpisodeResult:
        """The robot performs `skill` on its cue with the latest weights, from the session's native memory
        (`memory`); with `carry_memory` the session keeps what the try wrote into it."""
        actor = Actor(self.learner, execute_chunk=self.config.execute_chunk, memory=self.memory)
        result = run_episode(
            self.env,
            actor.act,
            "corrected" if corrected else "try",
            seed,
            skill=skill,
            track_skills=self.known_skills() if track else None,
            render_every=render_every,
        )
        if carry_memory:
            self.memory = actor.memory()
        return result

    def forget_memory(self) -> None:
        """Reset the native memory to the policy's learned initial value (only when the user asks)."""
        self.memory = None

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
            if ep.skill == skill and ep.source in DEMO_SOURCES:
                allowed |= set(ep.extra.get("skills_satisfied", []))
        return allowed

    # --- persistence -------------------------------------------------------------------------------------
    def save(self) -> str | None:
        """Commit the current policy, its native memory and the skills to the library (atomic); returns the
        version name."""
        if self.library is None:
            return None
        policy = self.policy
        memory = policy.lifetime_state() if self.memory is None else self.memory
        return self.library.commit(policy, memory)

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
