"""The learner in its own process: weights through shared memory, commands in order, errors surfaced, and
no orphan learner after its parent is killed."""

import contextlib
import gc
import multiprocessing as mp
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import sim.skills
from tests.test_teach_data import fake_episode, small_policy
from yan_dog.runtime import Actor
from yan_dog.teach_setup import MOTOR_MIRROR as A1_MIRROR
from yan_policy.training.learner import LearnerConfig
from yan_policy.training.learner_process import (
    LOCK_POLL_S,
    START_METHOD,
    ProcessLearner,
    ReaderGone,
    SharedWeights,
    WriterGone,
)
from yan_policy.training.negatives import NonCommandSound

ROOT = Path(__file__).resolve().parents[1]
CHILD_WAIT_S = 60.0  # a spawned child imports torch first: seconds on a busy 2-core machine


def weights(module):
    return torch.cat([t.reshape(-1) for t in module.state_dict().values()])  # (N,)


def wait_for(predicate, timeout_s=CHILD_WAIT_S, poll_s=0.05):
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(poll_s)
    return True


@contextlib.contextmanager
def child_loop_in_thread(config, learner, policy, last_command, mirror=None):
    """The learner child's loop (`_child_main`) in a thread of this process, over plain queues, so a test
    can look at what its learner was given. It gets the policy, everything `learner` queued before start
    (each a pickled copy, as the real queue delivers it) and `last_command`; yields (events, counters) and
    tells it to exit on the way out."""
    import queue
    import types

    from yan_policy.training import learner_process

    commands, events = queue.Queue(), queue.Queue()
    for command in [("policy", pickle.dumps(policy)), *learner._pending, last_command]:
        commands.put(pickle.loads(pickle.dumps(command)))
    counters = {"steps": types.SimpleNamespace(value=0), "train_seconds": types.SimpleNamespace(value=0.0),
                "action_loss": types.SimpleNamespace(value=0.0)}
    args = (config, learner._shared, commands, events, counters, 0, False, os.getppid())
    child = threading.Thread(target=learner_process._child_main, args=(*args, mirror) if mirror else args)
    child.start()
    try:
        yield events, counters
    finally:
        commands.put(("exit", None))
        child.join()


def test_shared_weights_copy_both_ways_and_a_reader_never_waits_for_the_writer():
    a, b = small_policy(seed=0), small_policy(seed=1)
    shared = SharedWeights(a, mp.get_context(START_METHOD))
    assert shared.version == 0 and shared.numel == weights(a).numel()
    assert shared.read_into(b) == 0
    torch.testing.assert_close(weights(b), weights(a))
    with torch.no_grad():
        next(a.parameters()).add_(1.0)
    assert shared.write(a) == 1 and shared.version == 1
    held, release = threading.Event(), threading.Event()

    def writer_busy():  # stands in for the learner process in the middle of a write
        with shared._lock:
            held.set()
            release.wait(10)

    t = threading.Thread(target=writer_busy)
    t.start()
    held.wait(10)
    t0 = time.perf_counter()
    assert shared.read_into(b, block=False) is None  # the control loop keeps its weights this tick
    assert time.perf_counter() - t0 < 0.01
    release.set()
    t.join()
    assert shared.read_into(b, block=False) == 1
    torch.testing.assert_close(weights(b), weights(a))


def test_shared_weights_refuse_a_module_of_another_shape_or_dtype():
    shared = SharedWeights(small_policy(), mp.get_context(START_METHOD))
    with pytest.raises(ValueError, match="weights"):
        shared.read_into(torch.nn.Linear(3, 2))
    with pytest.raises(ValueError, match="float32"):
        SharedWeights(torch.nn.Linear(3, 2).double(), mp.get_context(START_METHOD))


def test_a_lock_left_held_by_a_dead_process_is_given_up_on_not_waited_for_forever():
    """A process killed while it copied the shared weights never releases their lock. The other side,
    told how to see that its peer is gone, raises instead of hanging (and waits while the peer lives)."""
    policy = small_policy()
    shared = SharedWeights(policy, mp.get_context(START_METHOD))
    shared._lock.acquire()  # as if the peer had died in the middle of a copy
    peer = {"alive": True}
    threading.Timer(3 * LOCK_POLL_S, lambda: peer.update(alive=False)).start()
    t0 = time.monotonic()
    with pytest.raises(ReaderGone):
        shared.write(policy, reader_alive=lambda: peer["alive"])
    assert 3 * LOCK_POLL_S <= time.monotonic() - t0 < 3 * LOCK_POLL_S + 5.0
    with pytest.raises(WriterGone):
        shared.read_into(policy, block=True, writer_alive=lambda: False)
    assert shared.read_into(policy, block=False) is None  # a non-blocking read still just skips
    shared._lock.release()
    assert shared.write(policy, reader_alive=lambda: False) == 1  # a free lock: the peer is not asked


def test_the_child_trains_on_episodes_given_before_start_and_the_actor_picks_up_its_weights():
    policy = small_policy()
    initial = weights(policy).clone()
    config = LearnerConfig(batch_episodes=2, publish_every=2, negative_prob=0.5)
    # with the mirror images of symmetric skills ("sit"): the spec and the predicate reach the child
    learner = ProcessLearner(policy, config, nice=5, sched_idle=True, mirror=A1_MIRROR,
                             symmetric=sim.skills.is_mirror_symmetric)
    try:
        for seed in range(3):  # before the child exists: they wait, behind the policy
            learner.add_episode(fake_episode(seed=seed))
        learner.focus = "sit"
        actor = Actor(learner)
        assert actor.version == 0 and len(learner.buffer) == 3 and learner.buffer.skills() == ["sit"]
        learner.start()
        assert learner.running
        # through the live queue to the running child (pickled there: numpy arrays, not shared memory)
        hum = NonCommandSound(np.sin(np.arange(1600) * 0.2), 16_000, "wav:hum.wav")
        learner.set_non_command_sounds([hum])
        assert wait_for(lambda: learner.steps >= 6), "the learner process made no progress"
        assert wait_for(lambda: actor.refresh()), "the actor never saw new weights"
        assert actor.version >= 1 and not torch.equal(weights(actor.policy), initial)
        assert os.getpriority(os.PRIO_PROCESS, learner.pid) - os.getpriority(os.PRIO_PROCESS, 0) == 5
        assert os.sched_getscheduler(learner.pid) == os.SCHED_IDLE
        learner.stop()  # returns after the child's last publish
        assert not learner.running
        steps, (version, snapshot) = learner.steps, learner.latest()
        time.sleep(0.3)
        assert learner.steps == steps  # paused
        actor.refresh()
        assert actor.version == version
        torch.testing.assert_close(weights(actor.policy), weights(snapshot))
        assert not any(p.requires_grad for p in snapshot.parameters())
        torch.testing.assert_close(weights(learner.policy), initial)  # the template is never trained
        learner.start()  # resumes where it stopped
        assert wait_for(lambda: learner.steps > steps)
        learner.stop()
    finally:
        learner.close()
    assert learner.pid is None


def test_a_learner_dropped_without_close_ends_its_child():
    """A learner garbage-collected while its child trains (a caller that failed before close()) must not
    leave the child writing into shared memory this process frees and hands out again."""

    def train_then_drop():
        learner = ProcessLearner(small_policy(), LearnerConfig(batch_episodes=1, publish_every=1))
        learner.add_episode(fake_episode(seed=0))
        learner.start()
        assert wait_for(lambda: learner.steps >= 2), "the learner process made no progress"
        return learner._process  # the learner itself is dropped here, still training

    child = train_then_drop()
    gc.collect()
    assert not child.is_alive() and child.exitcode == -signal.SIGKILL


def test_a_failure_in_the_child_is_raised_by_stop_with_its_traceback():
    learner = ProcessLearner(small_policy(), LearnerConfig(batch_episodes=4))
    try:
        learner.add_episode(fake_episode(seed=0))
        other = fake_episode(seed=1)
        other.audio = np.zeros((len(other), 160), np.int16)  # an audio block size the first one lacks
        learner.add_episode(other)
        learner.start()
        assert wait_for(lambda: not learner.running), "training on mismatched episodes did not fail"
        with pytest.raises(RuntimeError, match="disagree on the audio shape"):
            learner.stop()
        with pytest.raises(RuntimeError, match="exited"):
            learner.start()  # its demonstrations died with it: say so instead of silently starting over
    finally:
        learner.close()


def test_episodes_of_the_wrong_action_size_are_refused_in_the_caller():
    learner = ProcessLearner(small_policy())
    bad = fake_episode()
    bad.action = bad.action[:, :12]
    with pytest.raises(ValueError, match="12 dims"):
        learner.add_episode(bad)
    assert len(learner.buffer) == 0


@pytest.mark.parametrize("holding_lock", [False, True], ids=["training", "blocked_on_the_weights_lock"])
def test_the_learner_process_exits_when_its_parent_is_killed(tmp_path, holding_lock):
    """Also when the parent dies holding the shared weights' lock (killed in the middle of a refresh): the
    lock is never released then, and the child, waiting for it to publish, must still notice."""
    pid_file = tmp_path / "child.pid"
    script = textwrap.dedent(f"""
        import time
        from tests.test_teach_data import fake_episode, small_policy
        from yan_policy.training.learner_process import ProcessLearner
        if __name__ == "__main__":
            learner = ProcessLearner(small_policy())
            learner.add_episode(fake_episode())
            learner.start()
            while learner.steps < 2:
                time.sleep(0.05)
            if {holding_lock!r}:
                learner._shared._lock.acquire()
                steps = -1
                while learner.steps != steps:  # until the child waits for the lock to publish
                    steps = learner.steps
                    time.sleep(1.0)
            open({str(pid_file)!r}, "w").write(str(learner.pid))
            time.sleep(600)
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT)
    try:
        assert wait_for(lambda: pid_file.exists() and pid_file.read_text(), timeout_s=120), "no child pid"
        child = int(pid_file.read_text())
        os.kill(child, 0)  # alive, training
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)

        def gone():
            try:
                os.kill(child, 0)
            except ProcessLookupError:
                return True
            return False

        assert wait_for(gone, timeout_s=10), f"learner process {child} outlived its killed parent"
    finally:
        parent.kill()
        if pid_file.exists() and pid_file.read_text():  # a failed check leaves no orphan behind
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid_file.read_text()), signal.SIGKILL)


def test_the_parent_says_which_skills_are_symmetric_and_the_child_mirrors_them(monkeypatch):
    """A spawned child imports none of the parent's plug-in skills, so `symmetric` is asked in the parent
    (it need not even be picklable: a lambda here) and its answer travels with each episode; the child
    then trains on mirror images of exactly those skills. The child's loop runs in a thread here, over
    plain queues, to see which episodes it mirrors."""

    import yan_policy.training.learner

    policy = small_policy()
    config = LearnerConfig(batch_episodes=2, mirror_prob=1.0, threads=torch.get_num_threads())
    learner = ProcessLearner(policy, config, mirror=A1_MIRROR, symmetric=lambda skill: skill == "my_trick")
    learner.add_episode(fake_episode("my_trick", seed=0))  # before start(): held, with the answer
    learner.add_episode(fake_episode("turn_left", seed=1))
    sent = [arg for command, arg in learner._pending if command == "episode"]
    assert [(episode.skill, symmetric) for episode, symmetric in sent] == [("my_trick", True),
                                                                          ("turn_left", False)]

    mirrored: list[str] = []
    real_mirror = yan_policy.training.learner.mirror_episode
    monkeypatch.setattr(yan_policy.training.learner, "mirror_episode",
                        lambda episode, spec: mirrored.append(episode.skill) or real_mirror(episode, spec))
    with child_loop_in_thread(config, learner, policy, ("run", None), A1_MIRROR) as (events, counters):
        assert wait_for(lambda: counters["steps"].value >= 4, timeout_s=30.0)
    assert events.empty(), events.get()
    assert mirrored == ["my_trick"]  # its mirror image, made once and cached; turn_left's never


def test_non_command_sounds_reach_the_child_and_its_training_steps_hear_them(monkeypatch):
    """`set_non_command_sounds` is queued like an episode (in order, before the child exists) and the
    child's learner trains its non-command copies (negative_prob 1) on them besides its numpy-made ones.
    The child's loop runs in a thread here, over plain queues, to see what its steps were given."""

    import yan_policy.training.learner

    policy = small_policy()
    config = LearnerConfig(batch_episodes=1, negative_prob=1.0, threads=torch.get_num_threads())
    learner = ProcessLearner(policy, config)
    learner.add_episode(fake_episode(seed=0))
    hum = NonCommandSound(np.sin(np.arange(1600) * 0.2), 16_000, "wav:fridge.wav")
    learner.set_non_command_sounds([hum])
    with pytest.raises(TypeError, match="NonCommandSound, got ndarray"):
        learner.set_non_command_sounds([hum.samples])
    assert [command for command, _ in learner._pending] == ["episode", "sounds"]

    heard: list[tuple[list[str], int]] = []  # (every sound's label, rows made non-command) per step
    real_rows = yan_policy.training.learner.negative_rows

    def negative_rows(batch, prob, sounds, rate, rng):
        rows = real_rows(batch, prob, sounds, rate, rng)
        heard.append(([s.label for s in sounds], len(rows)))
        return rows

    monkeypatch.setattr(yan_policy.training.learner, "negative_rows", negative_rows)
    with child_loop_in_thread(config, learner, policy, ("run", None)) as (events, counters):
        assert wait_for(lambda: counters["steps"].value >= 2, timeout_s=30.0)
    assert events.empty(), events.get()
    assert heard and all(labels[-1] == "wav:fridge.wav" and rows == 1 for labels, rows in heard), heard
