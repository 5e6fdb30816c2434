"""The online learner in its own process, so training never competes with the control loop for the GIL.

`OnlineLearner` trains in a background *thread*. On a robot's 2 cores that thread shares the interpreter
lock with the control loop, and a niced thread that holds the GIL while it waits for a core is a priority
inversion that thread niceness cannot fix (docs/experiments.md, 2026-11-23: learner process).
`ProcessLearner` runs the same `OnlineLearner` in a child process instead:

- demonstrations go to the child over a queue (`add_episode`; pickled by the queue's feeder thread), and
  so do the sounds of its non-command copies (`set_non_command_sounds`) and a person's renames and
  deletions of skills (`rename_skill`, `forget_skill`), in the order they were given;
- the child publishes weights into **shared memory** (`SharedWeights`: one float32 array of every
  parameter and buffer, in `state_dict` order) every `publish_every` steps;
- the control loop copies new weights into its own policy between ticks (`weights_for_actor`, ~0.1 ms
  for 0.8 M parameters); it only *tries* the shared lock, so it never waits for the learner: a tick
  that finds the learner writing keeps its weights and picks the new ones up a tick later;
- the whole child process runs at a lower CPU priority (`nice`), so the OS runs the control loop first;
- the child exits when told to, when its parent dies (a watchdog thread polls its parent id, even in the
  middle of a step, so a `kill -9` of the brain does not leave an orphan learner eating a core or memory),
  or on an error, which `stop()` re-raises.

The interface is the part of `OnlineLearner` the robot's brain uses (`add_episode`,
`set_non_command_sounds`, `rename_skill`, `forget_skill`, `focus`, `steps`, `start`, `stop`, `running`,
`latest`, `buffer` counts, `policy`), plus `close()`.
"""

from __future__ import annotations

import copy
import ctypes
import multiprocessing as mp
import os
import pickle
import queue
import threading
import time
import traceback
import weakref
from collections import Counter
from collections.abc import Callable

import torch

from yan_policy.data.episode import Episode
from yan_policy.training.augment import MirrorSpec
from yan_policy.training.learner import (
    LearnerConfig,
    OnlineLearner,
    check_mirror,
    check_skill_given,
    register_cue,
)
from yan_policy.training.negatives import NonCommandSound

START_METHOD = "spawn"  # fork would copy the parent's DDS / executor threads' locks in whatever state
IDLE_POLL_S = 0.05  # how often an idle child looks at its queue and its parent (s)
PARENT_WATCH_S = 0.2  # how often the child's watchdog thread looks whether its parent still lives (s)
STOP_TIMEOUT_S = 30.0  # stop() waits this long for the child to finish its step and publish (s)
JOIN_TIMEOUT_S = 5.0  # close(): wait this long for the child to exit before killing it (s)
LOCK_POLL_S = 0.5  # a process waiting for the weights' lock checks this often that its peer still lives (s)
MAX_NICE = 19


class ReaderGone(RuntimeError):
    """The writer gave up waiting for the shared weights' lock: their reader's process is gone."""


class WriterGone(RuntimeError):
    """A reader gave up waiting for the shared weights' lock: their writer's process is gone."""


class SharedWeights:
    """A module's float32 tensors (parameters and buffers, `state_dict` order) in shared memory.

    One writer (the learner process) and any number of readers. `write` holds the lock while it copies;
    `read_into(block=False)` only tries the lock, so a reader never waits for the writer. `version` counts
    the writes; reading it needs no lock (an aligned 64-bit value).

    Args:
        template: a module whose `state_dict` has the layout to share (its values are written as
            version 0).
        ctx: the multiprocessing context the reading and writing processes come from.
    """

    def __init__(self, template: torch.nn.Module, ctx):
        tensors = template.state_dict()
        wrong = {k: v.dtype for k, v in tensors.items() if v.dtype != torch.float32}
        if wrong:
            raise ValueError(f"only float32 weights can be shared, got {wrong}")
        self.numel = sum(v.numel() for v in tensors.values())
        self._array = ctx.RawArray(ctypes.c_float, self.numel)  # (N,) in shared memory
        self._version = ctx.RawValue(ctypes.c_int64, 0)
        self._lock = ctx.Lock()
        self._copy(template, into_shared=True)

    @property
    def version(self) -> int:
        return int(self._version.value)

    def _copy(self, module: torch.nn.Module, into_shared: bool) -> None:
        flat = torch.frombuffer(self._array, dtype=torch.float32)  # (N,) a view, no copy
        offset = 0
        with torch.no_grad():
            for tensor in module.state_dict().values():  # detached views of the module's own storage
                part = flat[offset: offset + tensor.numel()].view_as(tensor)
                if into_shared:
                    part.copy_(tensor)
                else:
                    tensor.copy_(part)
                offset += tensor.numel()
        if offset != self.numel:
            raise ValueError(f"the module has {offset} weights, the shared array {self.numel}")

    def _acquire(self, peer_alive: Callable[[], bool] | None, gone: type[RuntimeError], why: str) -> None:
        """Take the lock, waiting in `LOCK_POLL_S` slices; raise `gone(why)` once `peer_alive()` says the
        other process is dead (it may have died holding the lock, which is then never released)."""
        while not self._lock.acquire(timeout=LOCK_POLL_S):
            if peer_alive is not None and not peer_alive():
                raise gone(why)

    def write(self, module: torch.nn.Module, reader_alive: Callable[[], bool] | None = None) -> int:
        """Publish `module`'s weights; returns the new version.

        A reader killed while it copied (SIGKILL of the brain in the middle of a refresh) leaves the lock
        held for good: a process-shared lock is not released by its holder's death. With `reader_alive`,
        the wait for the lock asks it every `LOCK_POLL_S` and raises `ReaderGone` once it answers False,
        instead of waiting forever (seen: a learner child outlived its killed parent by half an hour).
        """
        self._acquire(reader_alive, ReaderGone,
                      "the process reading the shared weights is gone (it may hold their lock)")
        try:
            self._copy(module, into_shared=True)
            self._version.value += 1
            return int(self._version.value)
        finally:
            self._lock.release()

    def read_into(self, module: torch.nn.Module, block: bool = False,
                  writer_alive: Callable[[], bool] | None = None) -> int | None:
        """Copy the shared weights into `module` (in place); returns their version, or None when `block`
        is False and the writer holds the lock (nothing copied). A blocking read with `writer_alive`
        raises `WriterGone` rather than wait forever for a lock its dead writer held (half-written
        weights are not worth reading)."""
        if block:
            self._acquire(writer_alive, WriterGone,
                          "the learner process died while it published weights; the shared copy may be "
                          "half-written")
        elif not self._lock.acquire(block=False):
            return None
        try:
            self._copy(module, into_shared=False)
            return int(self._version.value)
        finally:
            self._lock.release()


class _SymmetryTable:
    """In the child: the answers of the parent's `symmetric(skill)`, sent with each episode. The parent asks
    its own predicate, so skills registered only in the parent (a user's plug-in imported by the brain)
    are mirrored too: a spawned child imports none of them."""

    def __init__(self) -> None:
        self.table: dict[str, bool] = {}

    def __call__(self, skill: str) -> bool:
        return self.table.get(skill, False)


class _SharedWeightsLearner(OnlineLearner):
    """OnlineLearner whose `publish` writes into shared memory instead of making a frozen copy."""

    def __init__(self, policy: torch.nn.Module, config: LearnerConfig, shared: SharedWeights,
                 mirror: MirrorSpec | None = None, symmetric: Callable[[str], bool] | None = None,
                 reader_alive: Callable[[], bool] | None = None):
        self._shared = shared
        self._reader_alive = reader_alive
        super().__init__(policy, config, mirror, symmetric)

    def _frozen_copy(self) -> torch.nn.Module:
        return self.policy  # the other process reads the shared array, not this object

    def publish(self) -> int:
        return self._shared.write(self.policy, self._reader_alive)


def _parent_alive(parent_pid: int) -> bool:
    return os.getppid() == parent_pid


def _lower_priority(nice: int, sched_idle: bool) -> None:
    """This process's CPU priority: `nice`, and with `sched_idle` Linux's SCHED_IDLE policy (it runs only
    on a core nothing else wants; no privileges needed)."""
    if nice and hasattr(os, "nice"):
        os.nice(nice)
    if sched_idle and hasattr(os, "SCHED_IDLE"):
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))


def _exit_with_parent(parent_pid: int) -> None:
    """Watchdog thread of the child: end the process at once when the parent is gone. Why: the main
    loop looks at its parent only between training steps, and a SCHED_IDLE child on busy cores took
    minutes to finish one; 50 brains killed in a row left a dozen orphaned learners holding memory.
    torch releases the interpreter lock in its kernels, so this thread runs even mid-step."""
    while _parent_alive(parent_pid):
        time.sleep(PARENT_WATCH_S)
    os._exit(0)  # nothing to save: the weights live in shared memory the parent owned


def _child_main(config: LearnerConfig, shared: SharedWeights, commands, events, counters, nice: int,
                sched_idle: bool, parent_pid: int, mirror: MirrorSpec | None = None) -> None:
    """The learner process: train while running and there are demonstrations; obey the commands. The
    first command is ("policy", pickled module): sent over the queue, not as an argument, so that the parent's
    `Process.start()` does not block writing megabytes into the pipe while the child imports torch. With a
    `mirror`, which skills are symmetric comes with each episode (`_SymmetryTable`)."""
    threading.Thread(target=_exit_with_parent, args=(parent_pid,), name="yan-learner-watchdog",
                     daemon=True).start()
    try:
        _lower_priority(nice, sched_idle)
        torch.set_num_threads(config.threads)
        policy = None
        while policy is None and _parent_alive(parent_pid):
            try:
                command, data = commands.get(timeout=IDLE_POLL_S)
            except queue.Empty:
                continue
            if command != "policy":
                raise RuntimeError(f"the learner process expected its policy first, got {command!r}")
            policy = pickle.loads(data)  # from our own parent: trusted
        if policy is None:
            return
        symmetric = None if mirror is None else _SymmetryTable()
        learner = _SharedWeightsLearner(policy, config, shared, mirror, symmetric,
                                        reader_alive=lambda: _parent_alive(parent_pid))
        running = False
        while _parent_alive(parent_pid):
            idle = not running or len(learner.buffer) == 0
            try:
                command, arg = commands.get(timeout=IDLE_POLL_S) if idle else commands.get_nowait()
            except queue.Empty:
                command, arg = None, None
            if command == "episode":  # arg: (episode, whether its skill is symmetric, or None: no mirror)
                episode, symmetric_skill = arg
                if symmetric_skill is not None:
                    learner.symmetric.table[episode.skill] = symmetric_skill
                learner.add_episode(episode)
            elif command == "rename":  # arg: (old, new, whether new is symmetric, or None: no mirror)
                old, new, symmetric_skill = arg
                if symmetric_skill is not None:
                    learner.symmetric.table[new] = symmetric_skill
                learner.rename_skill(old, new)
            elif command == "forget":  # arg: a skill name
                learner.forget_skill(arg)
            elif command == "focus":
                learner.focus = arg
            elif command == "sounds":  # arg: a list of NonCommandSound
                learner.set_non_command_sounds(arg)
            elif command == "run":
                running = True
            elif command == "pause":  # arg: a token the parent waits for, after the last publish
                running = False
                learner.publish()
                events.put(("paused", arg))
            elif command == "exit":
                return
            elif running and len(learner.buffer):
                logs = learner.train_step()
                counters["action_loss"].value = logs["action_loss"]
                counters["steps"].value = learner.steps
                counters["train_seconds"].value = learner.train_seconds
    except ReaderGone:  # the parent died, perhaps holding the weights' lock: nobody to tell
        return
    except BaseException:  # the parent re-raises it from stop()
        events.put(("error", traceback.format_exc()))


class _EpisodeCounts:
    """What the parent knows of the child's demo buffer: how many episodes of which skills."""

    def __init__(self):
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def add(self, episode: Episode) -> None:
        with self._lock:
            self._counts[episode.skill] += 1

    def rename(self, old: str, new: str) -> int:
        """As `DemoBuffer.rename`: `old`'s count joins `new`'s (in `old`'s place if `new` has none)."""
        with self._lock:
            if old == new or old not in self._counts:
                return 0
            moved = self._counts[old]
            if new in self._counts:
                self._counts[new] += moved
                del self._counts[old]
            else:
                self._counts = Counter({(new if k == old else k): n for k, n in self._counts.items()})
            return moved

    def remove(self, skill: str) -> int:
        with self._lock:
            return self._counts.pop(skill, 0)

    def skills(self) -> list[str]:
        with self._lock:
            return list(self._counts)

    def __len__(self) -> int:
        with self._lock:
            return sum(self._counts.values())


def _end_child(process: mp.process.BaseProcess, keep_alive: tuple) -> None:
    """Finalizer of a ProcessLearner dropped without `close()`: kill its child. `keep_alive` (the shared
    weights and counters the child writes into) is held by the finalizer until then, so that memory cannot
    return to this process's multiprocessing heap, and be handed to a new shared object, while the child
    still writes into it (docs/experiments.md, 2026-11-24: unclosed learner process)."""
    if process.is_alive():
        process.kill()
        process.join(JOIN_TIMEOUT_S)


class ProcessLearner:
    """Trains a policy on demonstrations in a child process (see the module docstring).

    Args:
        policy: the policy to train; it is sent to the child, and this object keeps its initial weights
            as the template for the copies the parent makes (`latest`, `weights_for_actor`).
        config: LearnerConfig (its `threads` are the child's torch threads).
        nice: niceness of the child process (0 = unchanged).
        sched_idle: run the child under Linux's SCHED_IDLE policy: only on a core that nothing else
            wants (stronger than any niceness: a woken control thread preempts it at once).
        mirror, symmetric: as `OnlineLearner`'s; `symmetric` is asked here, in the parent, as each episode
            is added (the child knows no skill the parent registered at run time), and need not pickle.

    The child starts on the first `start()` (importing torch takes it a second or two); demonstrations
    added before that wait in the queue.
    """

    def __init__(self, policy: torch.nn.Module, config: LearnerConfig | None = None, nice: int = 0,
                 sched_idle: bool = False, mirror: MirrorSpec | None = None,
                 symmetric: Callable[[str], bool] | None = None):
        check_mirror(policy, mirror, symmetric)
        self.mirror, self.symmetric = mirror, symmetric  # asked here, in the parent, for each episode
        if not 0 <= nice <= MAX_NICE:
            raise ValueError(f"nice must be in [0, {MAX_NICE}], got {nice}")
        self.config = config or LearnerConfig()
        self.nice = nice
        self.sched_idle = sched_idle
        self.policy = policy.eval()
        self.buffer = _EpisodeCounts()
        self._ctx = mp.get_context(START_METHOD)
        self._shared = SharedWeights(policy, self._ctx)
        self._commands = self._ctx.Queue()
        self._events = self._ctx.Queue()
        self._counters = {"steps": self._ctx.RawValue(ctypes.c_int64, 0),
                          "train_seconds": self._ctx.RawValue(ctypes.c_double, 0.0),
                          "action_loss": self._ctx.RawValue(ctypes.c_double, 0.0)}
        # cue name -> class of the cue head, as the child's learner assigns them (same rule, same order)
        self.cue_ids: dict[str, int] = {}
        self._process: mp.process.BaseProcess | None = None
        self._running = False
        self._focus: str | None = None
        self._pause_token = 0
        self._error: str | None = None
        self._pending: list[tuple[str, object]] = []  # commands given before the child exists
        self._lock = threading.RLock()  # the child's lifetime and the order of commands
        self._finalizer: weakref.finalize | None = None  # ends the child if this object is dropped unclosed

    def _send(self, command: str, arg) -> None:
        """Queue a command for the child, or keep it until the child exists (its first command must be
        the policy, sent when it is made)."""
        with self._lock:
            if self._process is None:
                self._pending.append((command, arg))
            else:
                self._commands.put((command, arg))

    # --- data --------------------------------------------------------------------------------------------
    def add_episode(self, episode: Episode) -> None:
        if episode.action.shape[1] != self.policy.config.action_dim:
            raise ValueError(
                f"episode actions have {episode.action.shape[1]} dims, the policy outputs "
                f"{self.policy.config.action_dim}"
            )
        symmetric_skill = None if self.symmetric is None else bool(self.symmetric(episode.skill))
        register_cue(self.cue_ids, episode.cue, self.policy.config.cue_classes)
        with self._lock:  # counted in the order the child gets it (a rename may come from another thread)
            self._send("episode", (episode, symmetric_skill))
            self.buffer.add(episode)

    def set_non_command_sounds(self, sounds: list[NonCommandSound]) -> None:
        """As `OnlineLearner.set_non_command_sounds`, in the child (queued in order with the episodes);
        a TypeError here, in the caller, for anything but `NonCommandSound`s."""
        sounds = list(sounds)
        wrong = sorted({type(s).__name__ for s in sounds if not isinstance(s, NonCommandSound)})
        if wrong:
            raise TypeError(f"non-command sounds must be NonCommandSound, got {', '.join(wrong)}")
        self._send("sounds", sounds)

    def rename_skill(self, old: str, new: str) -> int:
        """As `OnlineLearner.rename_skill`, in the child (queued in order with the episodes); whether `new`
        is mirror-symmetric is asked here, as for an episode. Returns how many moved (by this side's
        counts, which the child's buffer matches)."""
        check_skill_given(new)
        symmetric_skill = None if self.symmetric is None else bool(self.symmetric(new))
        with self._lock:  # the counts change in the order the child gets the commands
            self._send("rename", (old, new, symmetric_skill))
            if self._focus == old:
                self._focus = new
            return self.buffer.rename(old, new)

    def forget_skill(self, name: str) -> int:
        """As `OnlineLearner.forget_skill`, in the child (queued in order with the episodes); returns how
        many demonstrations it drops."""
        with self._lock:
            self._send("forget", name)
            if self._focus == name:
                self._focus = None
            return self.buffer.remove(name)

    @property
    def focus(self) -> str | None:
        return self._focus

    @focus.setter
    def focus(self, skill: str | None) -> None:
        self._focus = skill
        self._send("focus", skill)

    @property
    def steps(self) -> int:
        return int(self._counters["steps"].value)

    @property
    def train_seconds(self) -> float:
        return float(self._counters["train_seconds"].value)

    @property
    def last_loss(self) -> tuple[int, float] | None:
        """(step, action loss) of the child's newest training step, or None before the first."""
        steps = self.steps
        return None if steps == 0 else (steps, float(self._counters["action_loss"].value))

    # --- weights -----------------------------------------------------------------------------------------
    @property
    def published_version(self) -> int:
        """The newest published version number, read from shared memory without copying the policy
        (`latest` deep-copies it: ~13 ms, too slow for the control thread's status)."""
        return self._shared.version

    def latest(self) -> tuple[int, torch.nn.Module]:
        """(version, a new frozen policy with the newest published weights); waits for a write in
        progress (milliseconds), so call it off the control thread (e.g. to save a skill). Raises
        `WriterGone` if the child died in the middle of a write."""
        snapshot = copy.deepcopy(self.policy).eval()
        for p in snapshot.parameters():
            p.requires_grad_(False)
        version = self._shared.read_into(snapshot, block=True, writer_alive=self._writer_alive)
        return version, snapshot

    def _writer_alive(self) -> bool:
        return self._process is not None and self._process.is_alive()

    def actor_policy(self) -> tuple[int, torch.nn.Module]:
        """A private policy for the control loop, with the newest weights (see `weights_for_actor`)."""
        return self.latest()

    def weights_for_actor(self, policy: torch.nn.Module, version: int) -> tuple[int, torch.nn.Module]:
        """Between control ticks: if newer weights were published than `version`, copy them into the
        actor's own `policy` (in place); never waits for the learner. Returns (version, policy)."""
        if self._shared.version == version:
            return version, policy
        got = self._shared.read_into(policy, block=False)
        return (version if got is None else got), policy

    # --- the child process -------------------------------------------------------------------------------
    def _ensure_process(self) -> None:
        if self._process is not None and self._process.is_alive():
            return
        self._drain_events()
        self._raise_if_failed()
        if self._process is not None:  # it exited without an error (e.g. killed): its data is gone
            raise RuntimeError(f"the learner process exited (code {self._process.exitcode}); "
                               "restart the brain to learn again")
        self._process = self._ctx.Process(
            target=_child_main, name="yan-learner", daemon=True,
            args=(self.config, self._shared, self._commands, self._events, self._counters, self.nice,
                  self.sched_idle, os.getpid(), self.mirror),
        )
        self._process.start()  # returns at once: the child imports torch on its own time
        self._finalizer = weakref.finalize(self, _end_child, self._process, (self._shared, self._counters))
        # As bytes: a tensor put on a multiprocessing queue as is moves its storage into shared memory
        # that both processes then use, so the child's training would rewrite the parent's template.
        self._commands.put(("policy", pickle.dumps(self.policy)))  # the child reads it first
        for command in self._pending:
            self._commands.put(command)
        self._pending.clear()

    def _wait_event(self, kind: str, token, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            try:
                event, arg = self._events.get(timeout=max(0.0, min(left, IDLE_POLL_S * 4)))
            except queue.Empty:
                if self._process is None or not self._process.is_alive():
                    self._drain_events()
                    self._raise_if_failed()
                    code = self._process.exitcode if self._process is not None else None
                    raise RuntimeError(
                        f"the learner process exited (code {code}) before answering {kind!r}") from None
                if left <= 0:
                    raise TimeoutError(
                        f"the learner process did not answer {kind!r} within {timeout_s} s") from None
                continue
            if event == "error":
                self._error = arg
                self._running = False
                self._raise_if_failed()
            if event == kind and arg == token:
                return

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            err, self._error = self._error, None
            raise RuntimeError(f"the learner process failed:\n{err}")

    def start(self) -> None:
        """Train continuously in the child process (while it has data) until `stop()`."""
        with self._lock:
            self._ensure_process()
            self._commands.put(("run", None))
            self._running = True

    def stop(self) -> None:
        """Pause training: returns once the child has finished its step and published its weights.
        Raises RuntimeError if the child failed."""
        with self._lock:
            self._running = False
            if self._process is None or not self._process.is_alive():
                self._drain_events()
                self._raise_if_failed()
                return
            self._pause_token += 1
            self._commands.put(("pause", self._pause_token))
            self._wait_event("paused", self._pause_token, STOP_TIMEOUT_S)

    def _drain_events(self) -> None:
        while True:
            try:
                event, arg = self._events.get_nowait()
            except queue.Empty:
                return
            if event == "error":
                self._error = arg

    @property
    def running(self) -> bool:
        return self._running and self._process is not None and self._process.is_alive()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def close(self) -> None:
        """End the child process (its demonstrations and optimizer state go with it)."""
        with self._lock:
            self._running = False
            if self._process is None:
                return
            if self._process.is_alive():
                self._commands.put(("exit", None))
                self._process.join(JOIN_TIMEOUT_S)
            if self._process.is_alive():
                self._process.kill()
                self._process.join(JOIN_TIMEOUT_S)
            if self._finalizer is not None and not self._process.is_alive():
                self._finalizer.detach()  # nothing writes into the shared memory any more
                self._finalizer = None
            self._process = None
            self._commands.cancel_join_thread()  # items nobody will read must not block our exit
