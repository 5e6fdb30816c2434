"""Training batches from demonstration episodes: `collate` (episodes -> a padded (B, T) batch with cue
labels and onset weights), the `DemoBuffer` every demonstration is kept in, and the body-stream delay
augmentation. Shared by the in-thread and the process learner."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np

from yan_policy.data.episode import STREAMS, Episode

TEACHER_MODE_KEY = "teacher_action_mode"  # Episode.extra key: the teacher's native action mode
POSTURE_TEACHER_MODE = "joint"  # its value for a teacher that commands joint targets
NO_CUE_CLASS = 0  # the cue head's label before the teacher starts acting
ONSET_ACTION_TOL = 0.02  # an action entry this far (rad, m/s or rad/s) from the first one is motion
# an action entry that jumps this far (rad, m/s or rad/s) from one tick to the next is a decision (a turn
# stopping, a walk starting); posture teachers ramp their joints by ~0.02 rad per tick and never do this
ACTION_STEP_TOL = 0.2




def motion_onset(episode: Episode, tol: float = ONSET_ACTION_TOL) -> int | None:
    """First labelled tick whose action differs from the first labelled action by more than `tol`
    (robot units) in any entry: when the teacher started acting on the cue. None: no motion."""
    labelled = np.flatnonzero(episode.label_mask)
    if labelled.size == 0:
        return None
    a = episode.action[labelled]  # (L, A)
    moved = np.flatnonzero(np.abs(a - a[0]).max(axis=1) > tol)
    return int(labelled[moved[0]]) if moved.size else None


def action_steps(episode: Episode, tol: float = ACTION_STEP_TOL) -> np.ndarray:
    """Ticks t (int array) where a labelled action differs from the labelled one at t - 1 by more than
    `tol` (robot units) in some entry: the teacher decided something there."""
    a, labelled = episode.action, episode.label_mask  # (T, A), (T,)
    jump = np.abs(np.diff(a, axis=0)).max(axis=1) > tol  # (T - 1,)
    return np.flatnonzero(jump & labelled[1:] & labelled[:-1]) + 1


def collate(
    episodes: Sequence[Episode],
    window_ticks: int = 0,
    cue_ids: Mapping[str, int] | None = None,
    onset_weight: float = 1.0,
    onset_lead_ticks: int = 0,
    onset_window_ticks: int = 0,
    cue_lead_ticks: int = 0,
    change_weight: float = 1.0,
) -> dict[str, np.ndarray]:
    """Stack episodes into a (B, T) batch, zero-padded at the end. `mask` marks ticks whose action is a
    teacher label (the loss covers only those); `<stream>_present` marks ticks where a stream exists.
    Unlabelled ticks still run through the recurrence, so they remain context for later ticks.

    With `cue_ids` (cue name -> class >= 1), the batch also holds `cue_target` (B, T): 0 ("no cue heard
    yet") until `cue_lead_ticks` before each episode's motion onset, its cue's class from then on, and -1
    (no label) in episodes without a numbered cue or without an onset, at unlabelled ticks and in padding.
    With `onset_weight` > 1, `weight` (B, T) is `onset_weight` from `onset_lead_ticks` before the onset for
    `onset_window_ticks` after it, and 1 elsewhere; with `change_weight` > 1, the same window around each of
    the episode's `action_steps` weighs at least `change_weight`.

    The learner sets `cue_lead_ticks` to the action chunk: the chunk predicted `chunk` ticks before the
    onset already holds the onset's first action, so the cue head (whose output conditions the action
    head) must name the cue there; labelled only from the onset, the policy hardly started a motion on
    its own (docs/experiments.md, 2026-11-23: cue label a chunk before the onset)."""
    t_max = max(len(e) for e in episodes)
    if window_ticks:
        t_max = min(t_max, window_ticks)
    b = len(episodes)
    out: dict[str, np.ndarray] = {}
    ref = episodes[0]
    out["action"] = np.zeros((b, t_max, ref.action.shape[1]), np.float32)
    out["mask"] = np.zeros((b, t_max), bool)
    for stream in STREAMS:
        shapes = {getattr(e, stream).shape[1:] for e in episodes if getattr(e, stream) is not None}
        if not shapes:
            continue
        if len(shapes) > 1:
            raise ValueError(f"episodes disagree on the {stream} shape: {sorted(shapes)}")
        dtype = next(getattr(e, stream) for e in episodes if getattr(e, stream) is not None).dtype
        out[stream] = np.zeros((b, t_max, *shapes.pop()), dtype)
        out[f"{stream}_present"] = np.zeros((b, t_max), bool)
    for i, e in enumerate(episodes):
        n = min(len(e), t_max)
        out["action"][i, :n] = e.action[:n]
        out["mask"][i, :n] = e.label_mask[:n]
        for stream in STREAMS:
            value = getattr(e, stream)
            if value is not None and stream in out:
                out[stream][i, :n] = value[:n]
                out[f"{stream}_present"][i, :n] = True
    if cue_ids is None and onset_weight == 1.0 and change_weight == 1.0:
        return out
    onsets = [motion_onset(e) for e in episodes]
    if cue_ids is not None:
        out["cue_target"] = np.full((b, t_max), -1, np.int64)
        for i, (onset, e) in enumerate(zip(onsets, episodes, strict=True)):
            cue = cue_ids.get(e.cue, -1) if e.cue else -1
            if onset is not None and cue >= 1:
                n = min(len(e), t_max)
                out["cue_target"][i, :n] = np.where(np.arange(n) < onset - cue_lead_ticks, NO_CUE_CLASS, cue)
                out["cue_target"][i, :n][~e.label_mask[:n]] = -1
    if onset_weight != 1.0 or change_weight != 1.0:
        out["weight"] = np.ones((b, t_max), np.float32)
        for i, (onset, e) in enumerate(zip(onsets, episodes, strict=True)):
            w = out["weight"][i]  # (T,) a view
            if onset is not None:
                w[max(0, onset - onset_lead_ticks): onset + onset_window_ticks] = onset_weight
            if change_weight != 1.0:
                for t in action_steps(e):
                    window = w[max(0, t - onset_lead_ticks): t + onset_window_ticks]
                    np.maximum(window, change_weight, out=window)
    return out


class DemoBuffer:
    """Every demonstration the robot has seen, grouped by skill (thread-safe)."""

    def __init__(self):
        self._by_skill: dict[str, list[Episode]] = {}
        self._lock = threading.Lock()

    def add(self, episode: Episode) -> None:
        with self._lock:
            self._by_skill.setdefault(episode.skill, []).append(episode)

    def skills(self) -> list[str]:
        with self._lock:
            return list(self._by_skill)

    def __len__(self) -> int:
        with self._lock:
            return sum(len(v) for v in self._by_skill.values())

    def all(self) -> list[Episode]:
        with self._lock:
            return [e for v in self._by_skill.values() for e in v]

    def rename(self, old: str, new: str) -> int:
        """File `old`'s episodes under skill `new`, each a copy that carries the new name (after `new`'s
        own, if it has some; in `old`'s place among the skills otherwise); returns how many moved."""
        with self._lock:
            if old == new or old not in self._by_skill:
                return 0
            moved = [replace(e, skill=new) for e in self._by_skill[old]]
            if new in self._by_skill:
                self._by_skill[new].extend(moved)
                del self._by_skill[old]
            else:  # same position: a listing of the skills keeps its order
                self._by_skill = {(new if k == old else k): (moved if k == old else v)
                                  for k, v in self._by_skill.items()}
            return len(moved)

    def remove(self, skill: str) -> int:
        """Drop every episode of `skill` (none: nothing happens); returns how many."""
        with self._lock:
            return len(self._by_skill.pop(skill, []))

    def sample(self, n: int, rng: np.random.Generator, focus: str | None, rehearsal: float) -> list[Episode]:
        """n episodes: from `focus` (if given and known) and, with share `rehearsal`, from other skills;
        without a focus, uniformly over skills."""
        with self._lock:
            groups = {k: list(v) for k, v in self._by_skill.items()}
        if not groups:
            raise ValueError("the demo buffer is empty: add demonstrations first")
        others = [k for k in groups if k != focus]
        picks = []
        for _ in range(n):
            if focus in groups and (not others or rng.random() >= rehearsal):
                skill = focus
            else:
                pool = others if focus in groups else list(groups)
                skill = pool[rng.integers(len(pool))]
            eps = groups[skill]
            picks.append(eps[rng.integers(len(eps))])
        return picks


BODY_STREAMS = ("joints", "imu", "camera")  # what the robot senses of its own motion (not the cue's audio)


def delay_body_streams(batch: dict[str, np.ndarray], episodes: Sequence[Episode], max_lag_s: float,
                       rng: np.random.Generator) -> None:
    """In place: each posture episode's body streams in `batch` (B, T, ...) delayed by a random whole
    number of ticks in [0, max_lag_s * control_hz], the first tick repeated in front (the robot stands
    still before the cue). Labels, masks and the audio keep their time."""
    for i, e in enumerate(episodes):
        if e.extra.get(TEACHER_MODE_KEY) != POSTURE_TEACHER_MODE:
            continue
        lag = int(rng.integers(0, round(max_lag_s * e.control_hz) + 1))  # ticks
        n = min(len(e), batch["mask"].shape[1])
        if lag == 0 or n <= 1:
            continue
        lag = min(lag, n - 1)
        for stream in BODY_STREAMS:
            if stream in batch and batch[f"{stream}_present"][i, :n].all():
                x = batch[stream][i]  # (T, ...) a view
                x[lag:n] = x[: n - lag].copy()
                x[:lag] = x[0]
