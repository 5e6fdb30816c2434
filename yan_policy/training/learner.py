"""The train–inference loop: a learner that trains in the background while the control loop acts.

Two threads, one policy lineage:
- the **learner** owns the training copy of the policy and an optimizer; it trains on batches of
  demonstration episodes from its `DemoBuffer`, and every `publish_every` steps it publishes a frozen
  copy of the weights (a new object; the copy is made in the learner's thread);
- the **actor** (the control loop) steps its own policy object once per tick. Between ticks it calls
  `learner.latest()`, which only reads a reference under a lock that is never held during training, so
  picking up new weights costs a pointer swap and learning can never delay a control tick.

The recurrent state belongs to the actor and survives a weight swap (its shape does not change).

Retention: the buffer keeps every skill's demonstrations; a batch mixes the skill being taught with
earlier ones (`rehearsal_fraction`), so teaching skill B keeps rehearsing A, until the person deletes A
(`forget_skill`; `rename_skill` for a rename).
"""

from __future__ import annotations

import copy
import math
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

from yan_policy.data.episode import Episode
from yan_policy.modules.tokenizers import episode_at_image_size
from yan_policy.training.audio_augment import audio_lengths, augment_batch_audio
from yan_policy.training.augment import MirrorSpec, mirror_episode
from yan_policy.training.batching import (
    POSTURE_TEACHER_MODE,
    TEACHER_MODE_KEY,
    DemoBuffer,
    collate,
    delay_body_streams,
)
from yan_policy.training.negatives import NonCommandSound, negative_rows, synthetic_sounds

HISTORY_STEPS = 2000  # training logs kept (the newest); unbounded, they grew a long run's memory
# (docs/experiments.md, 2026-11-23: bounded training log)
VELOCITY_NOISE_PER_RAD = 10.0  # joint-velocity noise (rad/s) per rad of joint-position noise
SKIP_WARN_EVERY = 100  # after the first, warn of every this many skipped (non-finite) steps


@dataclass
class LearnerConfig:
    """Online learner settings.

    Args:
        lr: AdamW learning rate.
        weight_decay: AdamW weight decay.
        batch_episodes: episodes per minibatch (sampled with replacement when fewer are stored).
        window_ticks: train on random windows of this many ticks (0 = whole episodes). Windows start at
            the episode start, so the cue that opens an episode is always inside its window.
        rehearsal_fraction: share of each batch drawn from skills other than the focus skill.
        max_grad_norm: gradient clipping (L2 norm).
        publish_every: publish new weights to the actor every this many steps.
        threads: torch intra-op threads of the learner (1 leaves the other core to the control loop).
        joint_noise_rad: std of Gaussian noise added to joint positions in training batches (rad);
            velocities get `joint_noise_rad * VELOCITY_NOISE_PER_RAD`. Against copycat learning: a
            policy that only continues the motion it feels in its joints never learns to *start*
            on the cue; noisy proprioception makes the cue the reliable signal.
        posture_joint_noise_rad: the same std for episodes whose teacher commands joint targets
            (`extra["teacher_action_mode"] == "joint"`: sit, lie_down, shake_paw). There the commanded
            targets lead the felt joints by a tracking lag, so copying the joints fits a demo almost as
            well as hearing the cue; the gait skills lose at this level, hence two (docs/experiments.md,
            2026-11-24: posture joint noise).
        posture_lag_max_s: for the same posture episodes, the body's streams (joints, IMU, camera) are
            trained on delayed by a random lag of up to this long (s), one lag per sampled episode, while
            the cue's audio and the action labels keep their time, so "target = where the joints are + a
            little" no longer fits and a robot that falls behind does not creep (docs/experiments.md,
            2026-11-25: posture lag). Not for the gait skills: a turn must stop at an angle, not at a
            time. 0 disables it.
        onset_weight: loss weight of the ticks around the onset of the demonstrated motion (from
            `chunk` ticks before the first tick whose action differs from the first one, for
            `onset_window_s`); every other tick weighs 1. The onset is where the cue decides which
            skill to do: a few ticks of a long episode, so without extra weight the policy learns to
            continue motions long before it learns to start the right one. 1 disables it.
        onset_window_s: length of the weighted window after the onset (s).
        change_weight: the same extra weight, over the same window, around every tick where the
            teacher's action jumps (`action_steps`): where a turn stops at its angle, or a walk stops at
            the ball. Those few ticks are the only ones where the progress of the motion (the yaw turned,
            the ball's size) decides the action; elsewhere the robot's own motion predicts it, and
            without extra weight a policy learned to keep turning (docs/experiments.md, 2026-11-24:
            action-jump weight). 1 disables it.
        lr_anneal_steps: after the newest demonstration arrives, the learning rate follows a half cosine
            from `lr` down to `lr * lr_min_fraction` over this many steps, then stays there; a new
            demonstration restarts it at `lr`. 0 keeps `lr` constant.
        lr_min_fraction: where the anneal ends, as a fraction of `lr`.
        reset_optimizer_on_new_skill: when the first demonstration of a skill the buffer does not hold yet
            arrives (and the learner has trained before), clear AdamW's moment estimates, so the new skill
            is learned with fresh, bias-corrected moments, as the first skill was. Kept moments carry the
            gradient scale of the skills already learned for ~1/(1 - beta2) = 1000 steps, longer than
            one skill's teaching (docs/experiments.md, 2026-11-25: fresh optimizer moments). A learner's
            first skill is unaffected (nothing to clear).
        mirror_prob: each sampled episode of a left-right symmetric skill (see `OnlineLearner`'s
            `mirror`) is trained on as its mirror image with this probability (`yan_policy.training.augment`).
        cue_audio_augment: each sampled episode's audio is trained on with its cue said anew (speed,
            pitch, gain, reverberation, time shift, noise: `yan_policy.training.audio_augment`), from a
            generator of its own (seeded by `seed`), so three utterances cover an owner's variation.
        negative_prob: each sampled episode is trained on, with this probability, as its non-command copy:
            the robot at rest, the cue replaced by another sound (a word that is no command, talk, music,
            noise), the teacher's hold as the label and "no cue" for the cue head
            (`yan_policy.training.negatives`), so a policy learns not to start on just any sound. The
            sounds: numpy-made ones, plus those `set_non_command_sounds` adds. 0 (the default) turns it off
            until its closed-loop effect on every skill is measured (docs/experiments.md, 2026-12-07: spoken
            commands, non-command copies, false starts); skills asked for by spoken words train with it
            (`yan_dog.spoken_commands.SPOKEN_CUE_LEARNER`).
        seed: seeds batch sampling.
    """

    lr: float = 2e-3
    weight_decay: float = 1e-4
    # 2: come_to_ball needs ~250 steps to learn where the ball is, and smaller batches fit more steps in
    # the budget (docs/experiments.md, 2026-11-24: come_to_ball camera, mirror images and batches of 2)
    batch_episodes: int = 2
    window_ticks: int = 0
    rehearsal_fraction: float = 0.5
    max_grad_norm: float = 1.0
    publish_every: int = 10
    threads: int = 1
    joint_noise_rad: float = 0.05
    posture_joint_noise_rad: float = 0.1
    posture_lag_max_s: float = 0.3
    onset_weight: float = 4.0
    onset_window_s: float = 0.5
    change_weight: float = 4.0
    # ~100 CPU s of steps, longer than the 60 s budget: a shorter anneal stalled the fit of a turn's stop,
    # a constant lr made success swing (docs/experiments.md, 2026-11-24: lr anneal)
    lr_anneal_steps: int = 400
    lr_min_fraction: float = 0.1
    reset_optimizer_on_new_skill: bool = True
    mirror_prob: float = 0.5
    cue_audio_augment: bool = False  # off until a closed-loop run (docs/experiments.md, 2026-12-07)
    negative_prob: float = 0.0
    seed: int = 0

    def __post_init__(self):
        if self.lr <= 0 or self.weight_decay < 0:
            raise ValueError(f"need lr > 0 and weight_decay >= 0, got {self.lr}, {self.weight_decay}")
        if self.batch_episodes < 1 or self.window_ticks < 0 or self.publish_every < 1 or self.threads < 1:
            raise ValueError("batch_episodes, publish_every and threads must be >= 1, window_ticks >= 0")
        if not 0.0 <= self.rehearsal_fraction <= 1.0:
            raise ValueError(f"rehearsal_fraction must be in [0, 1], got {self.rehearsal_fraction}")
        if self.joint_noise_rad < 0 or self.posture_joint_noise_rad < 0:
            raise ValueError(f"joint_noise_rad and posture_joint_noise_rad must be >= 0, got "
                             f"{self.joint_noise_rad}, {self.posture_joint_noise_rad}")
        if self.max_grad_norm <= 0:
            raise ValueError(f"max_grad_norm must be > 0, got {self.max_grad_norm}")
        if self.onset_weight < 1 or self.onset_window_s < 0 or self.change_weight < 1:
            raise ValueError(f"need onset_weight >= 1, change_weight >= 1 and onset_window_s >= 0, got "
                             f"{self.onset_weight}, {self.change_weight}, {self.onset_window_s}")
        if not 0.0 <= self.mirror_prob <= 1.0:
            raise ValueError(f"mirror_prob must be in [0, 1], got {self.mirror_prob}")
        if not 0.0 <= self.negative_prob <= 1.0:
            raise ValueError(f"negative_prob must be in [0, 1], got {self.negative_prob}")
        if self.posture_lag_max_s < 0:
            raise ValueError(f"need posture_lag_max_s >= 0, got {self.posture_lag_max_s}")
        if self.lr_anneal_steps < 0 or not 0.0 < self.lr_min_fraction <= 1.0:
            raise ValueError(f"need lr_anneal_steps >= 0 and lr_min_fraction in (0, 1], got "
                             f"{self.lr_anneal_steps}, {self.lr_min_fraction}")

    def lr_at(self, steps_since_data: int) -> float:
        """The learning rate `steps_since_data` optimizer steps after the newest demonstration arrived."""
        if not self.lr_anneal_steps:
            return self.lr
        progress = min(1.0, steps_since_data / self.lr_anneal_steps)
        floor = self.lr * self.lr_min_fraction
        return floor + (self.lr - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def register_cue(cue_ids: dict[str, int], cue: str | None, cue_classes: int) -> bool:
    """Give a new `cue` the next class of the cue head (classes >= 1 in the order cues are seen; class 0
    is NO_CUE_CLASS) in `cue_ids`; False when it is new and the head has no class left."""
    if not cue or cue in cue_ids:
        return True
    if len(cue_ids) + 1 < cue_classes:
        cue_ids[cue] = len(cue_ids) + 1
        return True
    return False


def check_skill_given(name) -> str:
    """`name` if it can name an episode's skill (a non-empty string), else ValueError: checked before a
    rename, which would otherwise fail half-way (in a learner process: kill it)."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"a skill name must be a non-empty string, got {name!r}")
    return name


def check_mirror(policy: torch.nn.Module, mirror: MirrorSpec | None,
                 symmetric: Callable[[str], bool] | None) -> None:
    """Raise a ValueError unless (mirror, symmetric) are both given or both None, and the mirror has the
    policy's joints (shared by the learner kinds, so a learner process refuses them in its caller)."""
    if (mirror is None) != (symmetric is None):
        raise ValueError("give both `mirror` and `symmetric`, or neither")
    if mirror is not None and mirror.n_joints != policy.config.tokenizer.n_joints:
        raise ValueError(f"mirror spec has {mirror.n_joints} joints, the policy "
                         f"{policy.config.tokenizer.n_joints}")


@contextmanager
def _torch_threads(n: int):
    """Run a block with n torch intra-op threads, then restore the caller's setting."""
    prev = torch.get_num_threads()
    if prev != n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if torch.get_num_threads() != prev:
            torch.set_num_threads(prev)


class OnlineLearner:
    """Trains a policy on demonstrations, in the caller's thread or in a background thread.

    Args:
        policy: the policy to train (owned by the learner from now on).
        config: LearnerConfig.
        mirror: how the robot's joints mirror (`yan_policy.training.augment.MirrorSpec`); with `symmetric`,
            the episodes of symmetric skills are also trained on as their mirror images (`mirror_prob`).
        symmetric: skill name -> whether the skill is its own left-right mirror image (asked at every
            sampled episode, so skills registered later count too).
    """

    def __init__(
        self,
        policy: torch.nn.Module,
        config: LearnerConfig | None = None,
        mirror: MirrorSpec | None = None,
        symmetric: Callable[[str], bool] | None = None,
    ):
        check_mirror(policy, mirror, symmetric)
        self.mirror, self.symmetric = mirror, symmetric
        # id of a stored episode -> (that episode, its mirror image); the episode is kept to tell it from
        # a later one that got the id of a forgotten one (`forget_skill`, `rename_skill`)
        self._mirrors: dict[int, tuple[Episode, Episode]] = {}
        self.config = config or LearnerConfig()
        self.policy = policy
        self.buffer = DemoBuffer()
        self.focus: str | None = None
        self.steps = 0
        self._data_step = 0  # `steps` when the newest demonstration arrived (the anneal counts from it)
        self.train_seconds = 0.0  # CPU-thread time spent in training steps
        self.skipped_steps = 0  # steps whose loss or gradient was not finite (not applied)
        self.history: deque[dict] = deque(maxlen=HISTORY_STEPS)  # the newest steps' logs
        self.cue_ids: dict[str, int] = {}  # cue name -> class (>= 1) of the policy's cue head, in order seen
        self._cue_overflow_warned = False
        self._rng = np.random.default_rng(self.config.seed)
        self._audio_rng = np.random.default_rng([self.config.seed, 1])  # cue audio augmentation only
        self._negative_rng = np.random.default_rng([self.config.seed, 2])  # non-command copies only
        self._extra_sounds: list[NonCommandSound] = []  # set_non_command_sounds
        self._synthetic_sounds: dict[int, list[NonCommandSound]] = {}  # audio rate -> numpy-made sounds
        self._optim = torch.optim.AdamW(
            policy.parameters(), lr=self.config.lr, weight_decay=self.config.weight_decay
        )
        self._train_lock = threading.Lock()  # serialises training steps (never taken by the actor)
        self._pub_lock = threading.Lock()  # guards the published reference only
        self._published = self._frozen_copy()
        self._version = 0
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._error: BaseException | None = None

    # --- data --------------------------------------------------------------------------------------------
    def add_episode(self, episode: Episode) -> None:
        if episode.action.shape[1] != self.policy.config.action_dim:
            raise ValueError(
                f"episode actions have {episode.action.shape[1]} dims, the policy outputs "
                f"{self.policy.config.action_dim}"
            )
        full = not register_cue(self.cue_ids, episode.cue, self.policy.config.cue_classes)
        if full and not self._cue_overflow_warned:  # the skill still trains, without the cue loss
            self._cue_overflow_warned = True
            warnings.warn(f"more cues than cue_classes={self.policy.config.cue_classes}: cue "
                          f"{episode.cue!r} gets no auxiliary cue loss", stacklevel=2)
        new_skill = episode.skill not in self.buffer.skills()
        if new_skill and self.config.reset_optimizer_on_new_skill and self.steps:
            with self._train_lock:  # never mid-step of the learner thread
                self._optim.state.clear()  # AdamW's moments and step counts restart lazily
        # stored at the policy's camera size: resized once here, not at every training step
        self.buffer.add(episode_at_image_size(episode, self.policy.config.tokenizer.image_size))
        self._data_step = self.steps

    def _mirrored(self, episode: Episode) -> Episode:
        """The stored episode's mirror image, made once (the learner thread is its only user)."""
        key = id(episode)
        entry = self._mirrors.get(key)
        if entry is None or entry[0] is not episode:  # new, or an id reused after a forgotten episode
            entry = self._mirrors[key] = (episode, mirror_episode(episode, self.mirror))
        return entry[1]

    def rename_skill(self, old: str, new: str) -> int:
        """File the demonstrations of skill `old` under `new` (after `new`'s own, if it has some), and move
        the focus with them; returns how many moved (0: `old` unknown). The next demonstration of `new` is
        then no new skill (the optimizer keeps its moments), and whether it is mirrored is asked by the
        new name, as after a restart from a renamed library. Cue classes belong to cues: unchanged."""
        check_skill_given(new)
        moved = self.buffer.rename(old, new)
        if self.focus == old:
            self.focus = new
        self._drop_stale_mirrors()
        return moved

    def forget_skill(self, name: str) -> int:
        """Drop every demonstration of skill `name` (training goes on with the others; the weights lose it
        only as they are trained without it); returns how many. Its cue keeps its class of the cue head:
        given to another cue, that class would start on weights trained for this one."""
        dropped = self.buffer.remove(name)
        if self.focus == name:
            self.focus = None
        self._drop_stale_mirrors()
        return dropped

    def _drop_stale_mirrors(self) -> None:
        """Forget the mirror images of episodes the buffer no longer holds (their memory). A copy is
        filtered and swapped in: the learner thread may be adding one meanwhile (lost, made again)."""
        kept = {id(e): e for e in self.buffer.all()}
        self._mirrors = {k: v for k, v in self._mirrors.copy().items() if kept.get(k) is v[0]}

    def set_non_command_sounds(self, sounds: list[NonCommandSound]) -> None:
        """The sounds non-command copies hear besides the numpy-made ones (`LearnerConfig.negative_prob`),
        e.g. other words said by demonstration voices; replaces the previous ones."""
        self._extra_sounds = list(sounds)

    def non_command_sounds(self, rate_hz: int) -> list[NonCommandSound]:
        """Every sound a non-command copy may hear at audio rate `rate_hz`."""
        if rate_hz not in self._synthetic_sounds:
            self._synthetic_sounds[rate_hz] = synthetic_sounds(self.config.seed, rate_hz)
        return self._synthetic_sounds[rate_hz] + self._extra_sounds

    # --- training ----------------------------------------------------------------------------------------
    def train_step(self) -> dict:
        """One optimizer step on a sampled batch; returns its logs."""
        c = self.config
        episodes = self.buffer.sample(c.batch_episodes, self._rng, self.focus, c.rehearsal_fraction)
        if self.mirror is not None:
            episodes = [
                self._mirrored(e) if self.symmetric(e.skill) and self._rng.random() < c.mirror_prob else e
                for e in episodes
            ]
        hz = episodes[0].control_hz
        batch = collate(
            episodes,
            c.window_ticks,
            cue_ids=self.cue_ids if self.policy.config.cue_classes else None,
            onset_weight=c.onset_weight,
            change_weight=c.change_weight,
            onset_lead_ticks=self.policy.config.chunk,
            onset_window_ticks=round(c.onset_window_s * hz),
            cue_lead_ticks=self.policy.config.chunk,
        )
        negatives = []
        if c.negative_prob > 0 and "audio" in batch:
            rate = round(hz * batch["audio"].shape[2])
            negatives = negative_rows(batch, c.negative_prob, self.non_command_sounds(rate), rate,
                                      self._negative_rng)
        if c.posture_lag_max_s > 0:
            delay_body_streams(batch, episodes, c.posture_lag_max_s, self._rng)
        if c.cue_audio_augment and "audio" in batch:
            augment_batch_audio(batch["audio"], audio_lengths(batch), round(hz * batch["audio"].shape[2]),
                                self._audio_rng)
        std = np.array([joint_noise_std(e, c) for e in episodes])  # (B,) rad
        if std.any() and "joints" in batch:
            noise = self._rng.normal(0.0, 1.0, batch["joints"][:, :, :2].shape)  # (B, T, 2, 12)
            noise *= std[:, None, None, None]
            noise[:, :, 1] *= VELOCITY_NOISE_PER_RAD
            batch["joints"][:, :, :2] += noise.astype(np.float32)
        with self._train_lock:
            t0 = time.thread_time()
            self.policy.train()
            loss, logs = self.policy(batch)
            self._optim.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(self.policy.parameters(), c.max_grad_norm)
            lr = c.lr_at(self.steps - self._data_step)
            # A NaN / inf loss or gradient (one bad batch) would, through AdamW's moments, turn every
            # weight non-finite for good, and the next publish would hand them to the actor: skip it.
            finite = bool(torch.isfinite(grad_norm)) and bool(torch.isfinite(loss))
            if finite:
                for group in self._optim.param_groups:
                    group["lr"] = lr
                self._optim.step()
            else:  # the gradients are dropped by the next step's zero_grad
                self.skipped_steps += 1
                if self.skipped_steps == 1 or self.skipped_steps % SKIP_WARN_EVERY == 0:
                    warnings.warn(f"learner: non-finite loss or gradient at step {self.steps + 1}, step "
                                  f"skipped ({self.skipped_steps} so far); the weights are unchanged",
                                  stacklevel=2)
            self.steps += 1
            dt = time.thread_time() - t0
            self.train_seconds += dt
            logs = {
                **logs,
                "step": self.steps,
                "grad_norm": float(grad_norm),
                "lr": lr,
                "skipped": not finite,
                "train_seconds": self.train_seconds,
                "negatives": len(negatives),
            }
            self.history.append(logs)
            if self.steps % c.publish_every == 0:
                self.publish()
        return logs

    def train_for(
        self, seconds: float, max_steps: int | None = None, callback: Callable[[dict], None] | None = None
    ) -> list[dict]:
        """Train in this thread for at most `seconds` of training CPU time (or `max_steps`); returns the logs.

        A step is not started when it would end past the budget, judged by how long the step before it
        took (a budget of 60 s used to end at 60.1 s, the last step's overshoot); the first step always
        runs when `seconds` > 0."""
        logs, start, step_s = [], self.train_seconds, 0.0
        with _torch_threads(self.config.threads):
            while (
                self.train_seconds - start < seconds
                and self.train_seconds - start + step_s <= seconds
                and (max_steps is None or len(logs) < max_steps)
            ):
                before = self.train_seconds
                logs.append(self.train_step())
                step_s = self.train_seconds - before
                if callback:
                    callback(logs[-1])
        self.publish()
        return logs

    # --- publishing to the actor -------------------------------------------------------------------------
    def _frozen_copy(self) -> torch.nn.Module:
        snapshot = copy.deepcopy(self.policy).eval()
        for p in snapshot.parameters():
            p.requires_grad_(False)
        return snapshot

    def publish(self) -> int:
        """Make the current weights available to the actor; returns the new version number."""
        snapshot = self._frozen_copy()  # made outside the publish lock
        with self._pub_lock:
            self._published = snapshot
            self._version += 1
            return self._version

    @property
    def last_loss(self) -> tuple[int, float] | None:
        """(step, action loss) of the newest training step, or None before the first."""
        logs = self.history[-1] if self.history else None
        return None if logs is None else (logs["step"], logs["action_loss"])

    @property
    def published_version(self) -> int:
        """The newest published version number, without touching the weights (cheap: for status)."""
        return self._version

    def latest(self) -> tuple[int, torch.nn.Module]:
        """(version, policy) most recently published; never waits for training."""
        with self._pub_lock:
            return self._version, self._published

    def actor_policy(self) -> tuple[int, torch.nn.Module]:
        """(version, policy) for a new actor: the published frozen copy (actors never modify it)."""
        return self.latest()

    def weights_for_actor(self, policy: torch.nn.Module, version: int) -> tuple[int, torch.nn.Module]:
        """Between control ticks: the newest published (version, policy), a pointer swap (the actor's
        own `policy` and `version` are what it holds now; a thread learner does not need them)."""
        return self.latest()

    # --- background thread -------------------------------------------------------------------------------
    def start(self) -> None:
        """Train continuously in a background thread (while there is data) until `stop()`."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="yan-learner", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        # once, in this thread: setting it per step (as before) re-sized torch's thread pools every step
        # and starved the learner while a paced control loop ran beside it
        torch.set_num_threads(self.config.threads)
        try:
            while not self._stop.is_set():
                if len(self.buffer) == 0:
                    self._stop.wait(0.01)
                    continue
                self.train_step()
        except BaseException as e:  # surfaced by stop(); the control loop keeps running meanwhile
            self._error = e

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.publish()
        if self._error is not None:
            err, self._error = self._error, None
            raise RuntimeError("the background learner failed") from err

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()


def joint_noise_std(episode: Episode, config: LearnerConfig) -> float:
    """Std (rad) of the joint-position noise `episode` is trained with (see `LearnerConfig`)."""
    if episode.extra.get(TEACHER_MODE_KEY) == POSTURE_TEACHER_MODE:
        return config.posture_joint_noise_rad
    return config.joint_noise_rad
