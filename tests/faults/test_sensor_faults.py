"""Sensor faults injected into a running brain (the real composed nodes, see rig.py).

For every fault that makes a stream unusable the outcome is the same: one log line naming the fault, the
bad messages dropped, no exception escaping a callback (the executor would raise it), the control loop
keeps its rate, /joint_commands is the stand hold while the input stays bad, and the brain follows the
teacher again once the input is good. Faults a robot must tolerate (joint names in another order, a short
audio gap, an audio burst, clipped audio) change nothing: no hold, nothing dropped.
"""

from __future__ import annotations

import gc
import re
import threading
import time
from dataclasses import dataclass

import numpy as np
import pytest
from std_msgs.msg import Int16MultiArray
from yan_dog_ros import msgs

from sim.robot import MOTOR_NAMES
from tests.faults import rig as rg
from yan_dog.streams import AUDIO_QUEUE_TICKS
from yan_dog.tick_timing import LATE_TICK_MARK, LateTickSummary

pytestmark = pytest.mark.ros

BAD_S = 0.5  # how long a fault lasts
# the stream's stale limit (period + 3 control periods, <= 0.16 s), the tick acting on it and the
# scheduling of this busy process: after this long every command must be the hold
HOLD_AFTER_S = 0.3
MIN_RATE = 0.75  # the control loop keeps >= 75% of its ticks over the fault (2 shared cores, CI load)
FOLLOW_TIMEOUT_S = 10.0


@pytest.fixture(scope="module")
def rig():
    with rg.Rig(seed=0) as r:
        assert r.spin_until(lambda: r.following(r.taught, 0.0), 30.0), r.log
        yield r


@pytest.fixture(autouse=True)
def gc_pauses(request):
    """Record the cyclic garbage collector's pauses during a test (this process also holds pytest and
    every imported test module, so a full collection can stall the shared executor for ~0.2 s)."""
    pauses, started = [], []

    def timer(phase, info):
        if phase == "start":
            started.append(time.monotonic())
        elif started:
            pauses.append((info["generation"], round(time.monotonic() - started.pop(), 3)))

    gc.callbacks.append(timer)
    yield pauses
    gc.callbacks.remove(timer)


@dataclass
class Fault:
    """One fault: `stream` gets messages from `make(rig, now_s, i)` (i: fault tick) for BAD_S."""

    name: str
    stream: str
    make: object
    log: str | None  # a fragment of the log line that must name the fault (None: nothing to log)
    holds: bool = True


def _image(r, now_s, **change):
    msg = r.image(now_s)
    for k, v in change.items():
        setattr(msg, k, v)
    return [msg]


def _camera(**change):
    return lambda r, now_s, i: _image(r, now_s, **change) if i % rg.CAMERA_EVERY == 0 else []


def _truncated(r, now_s, i):
    msg = r.image(now_s)
    msg.data = bytes(msg.data)[: len(msg.data) // 2]
    return [msg] if i % rg.CAMERA_EVERY == 0 else []


def _position(values):
    return lambda r, now_s, i: [r.joints(now_s, position=np.asarray(values, float))]


def _velocity_inf(r, now_s, i):
    msg = r.joints(now_s)
    msg.velocity = [0.0] * 11 + [float("inf")]
    return [msg]


REORDERED = list(reversed(MOTOR_NAMES))
FAULTS = [
    # camera
    Fault("image encoding mono8", "camera", _camera(encoding="mono8"), "camera: encoding 'mono8'"),
    Fault("image encoding 16UC3", "camera", _camera(encoding="16UC3"), "camera: encoding '16UC3'"),
    Fault("image step too small", "camera", _camera(step=10), "camera: step 10 is smaller"),
    Fault("image size not its data", "camera", _camera(height=49), "expected step * height"),
    Fault("image truncated data", "camera", _truncated, "camera: data has"),
    Fault("image empty", "camera", _camera(height=0, data=b""), "height and width must be > 0"),
    # joints
    Fault("joint NaN position", "joints", _position([np.nan] + [0.9] * 11),
          "non-finite position for ['FR_hip_joint']"),
    Fault("joint inf velocity", "joints", _velocity_inf, "non-finite velocity for ['RL_lower_joint']"),
    Fault("joint missing", "joints", lambda r, now_s, i: [r.joints(now_s, MOTOR_NAMES[:11])],
          "missing joints ['RL_lower_joint']"),
    Fault("joint duplicated name", "joints",
          lambda r, now_s, i: [r.joints(now_s, list(MOTOR_NAMES[:11]) + ["FR_hip_joint"])],
          "duplicated joint names"),
    Fault("joint names reordered", "joints",
          lambda r, now_s, i: [r.joints(now_s, REORDERED, r.positions[::-1])], None, holds=False),
    Fault("imu NaN", "imu", lambda r, now_s, i: [msgs.imu_msg(np.r_[rg.IMU[:9], np.nan], now_s)],
          "imu: non-finite fields ['az']"),
    # audio
    Fault("audio stops", "audio", lambda r, now_s, i: [], "stale inputs ['audio']"),
    Fault("audio empty chunks", "audio", lambda r, now_s, i: [Int16MultiArray()],
          "audio: expected a non-empty"),
    Fault("audio short gap", "audio", lambda r, now_s, i: [] if i == 10 else [r.chunk()], None,
          holds=False),
    Fault("audio burst", "audio", lambda r, now_s, i: [r.chunk()] * (12 if i == 10 else 1), None,
          holds=False),
    Fault("audio clipping", "audio",
          lambda r, now_s, i: [r.chunk(np.where(r.pcm >= 0, 32767, -32768).astype(np.int16))], None,
          holds=False),
    # stamps
    Fault("joint stamps out of order", "joints", lambda r, now_s, i: [r.joints(now_s - 0.3 - 0.02 * i)],
          "out of order"),
    Fault("joint stamps duplicated", "joints", lambda r, now_s, i: [r.joints(r.frozen_s)],
          "proprio matrix: duplicated stamp"),
    Fault("camera stamps duplicated", "camera",
          lambda r, now_s, i: [r.image(r.frozen_s)] if i % rg.CAMERA_EVERY == 0 else [],
          "camera matrix: duplicated stamp"),
    Fault("joint stamps stale", "joints", lambda r, now_s, i: [r.joints(now_s - 5.0)],
          "proprio matrix: stale stamp"),
]


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_a_sensor_fault_is_logged_dropped_and_held_through_then_the_brain_resumes(rig, fault, gc_pauses):
    """Fault -> named in the log, dropped, the loop keeps its rate, hold while bad (or no effect at all
    for a tolerable fault); good input again -> the brain follows the teacher again."""
    r = rig
    since = time.monotonic()
    assert r.spin_until(lambda: r.following(r.taught, since), FOLLOW_TIMEOUT_S), "not following before"
    log_from, ticks0 = len(r.log), r.brain.core.counts["ticks"]
    dropped0 = r.brain.dropped + sum(t.counts["dropped"] for t in r.preprocess)
    counts0 = dict(r.brain.aligner.counts)
    r.frozen_s = r.now_s()
    r.fault_ticks = 0
    r.makers[fault.stream] = lambda now_s, i: fault.make(r, now_s, i)
    t0 = time.monotonic()
    try:
        r.spin_for(BAD_S)
    finally:
        del r.makers[fault.stream]
    t1 = time.monotonic()

    ticks = r.brain.core.counts["ticks"] - ticks0
    gaps = np.diff([t for t in r.brain.stats.starts_s if t >= t0])
    assert ticks >= MIN_RATE * (t1 - t0) * rg.CONTROL_HZ, (ticks, t1 - t0, np.round(np.sort(gaps)[-5:], 3),
                                                           gc_pauses)
    new_log = "\n".join(r.log[log_from:])
    dropped = r.brain.dropped + sum(t.counts["dropped"] for t in r.preprocess) - dropped0
    if fault.holds:
        held = r.commands_between(t0 + HOLD_AFTER_S, t1)
        assert held and all(np.allclose(q, r.stand, atol=1e-6) for q in held), fault.name
        assert fault.log in new_log, new_log
        if fault.name != "audio stops":  # a stream that stops sends nothing to drop
            assert dropped > 0, fault.name
    else:
        during = r.commands_between(t0, t1)
        assert all(np.allclose(q, r.taught, atol=1e-6) for q in during), fault.name
        assert dropped == 0 and "stale inputs" not in new_log, new_log
    assert r.brain.aligner.queued_audio <= AUDIO_QUEUE_TICKS  # the audio queue stays bounded
    if fault.name == "audio burst":
        assert r.brain.aligner.counts["audio_dropped"] > counts0["audio_dropped"]

    back = time.monotonic()
    assert r.spin_until(lambda: r.following(r.taught, back), FOLLOW_TIMEOUT_S), (fault.name, r.log[-5:])


STREAM_OF = {"camera": "camera", "audio": "audio", "joints": "proprio"}
LATE_GAP_S = 0.1  # s without a control tick: five periods late
TRANSPORT_SLACK_S = 0.05  # in-process DDS delivery and this busy process's scheduling


@pytest.mark.parametrize("stream", list(STREAM_OF))
def test_silence_holds_within_the_stale_limit_and_resumes(rig, stream):
    """Fault: a stream stops (silence). Outcome: the first hold command comes within the stream's stale
    limit (its period + 3 control periods) + the tick that acts on it, measured from the stream's last
    message; the hold lasts while it is silent; the brain resumes when it is back."""
    r = rig
    since = time.monotonic()
    assert r.spin_until(lambda: r.following(r.taught, since), FOLLOW_TIMEOUT_S)
    r.makers[stream] = lambda now_s, i: []
    try:
        r.spin_for(BAD_S)
    finally:
        del r.makers[stream]
    last = r.last_sent[stream]
    after = [(t, bool(np.allclose(q, r.stand, atol=1e-6))) for t, q in r.commands if t > last]
    # A load stall of this busy process can make every stream briefly stale (a hold, then a resume) before the
    # silenced one runs past its own limit; that is right. What must hold: the last resume comes before that
    # limit, and from then on every command holds.
    assert after and after[-1][1], stream  # silent for BAD_S, well past its limit: it ends holding
    last_follow = max((i for i, (_, hold) in enumerate(after) if not hold), default=-1)
    lasting_hold = after[last_follow + 1][0]  # every command from here on holds
    limit_s = r.brain.aligner.monitor.limit_s(STREAM_OF[stream])
    assert lasting_hold - last <= limit_s + rg.PERIOD_S + TRANSPORT_SLACK_S, (lasting_hold - last, limit_s)
    back = time.monotonic()
    assert r.spin_until(lambda: r.following(r.taught, back), FOLLOW_TIMEOUT_S), stream


def test_a_late_tick_on_another_executor_thread_claims_no_cpu_time(rig):
    """A shared thread-pool executor runs the control timer on whichever thread is free; per-thread CPU
    clocks of two threads cannot be subtracted (that gave "ran -450 ms of CPU meanwhile"). A late tick on
    a thread other than the previous tick's says nothing about CPU use; on the same thread it does. (The
    account of a late tick is logged in the interval's summary, `LateTickSummary`; a fresh summary before
    each late tick makes it that tick's.)"""
    r = rig

    def account_of_next_late_tick(tick) -> str:
        r.brain.late_ticks = LateTickSummary(rg.PERIOD_S)  # forgets earlier late ticks
        time.sleep(LATE_GAP_S)  # no spinning: the next tick is late
        tick()
        where = r.brain.late_ticks.worst_where
        assert LATE_TICK_MARK in where, where
        return where

    r.spin_for(0.2)

    def on_a_worker():
        worker = threading.Thread(target=r.brain.on_tick)
        worker.start()
        worker.join()

    assert "of CPU meanwhile" not in account_of_next_late_tick(on_a_worker)
    # the worker ran the previous tick: not comparable; then this thread ran the previous one too
    assert "of CPU meanwhile" not in account_of_next_late_tick(r.brain.on_tick)
    same_thread = account_of_next_late_tick(r.brain.on_tick)
    busy = re.search(r"ran (-?[\d.]+) ms of CPU meanwhile", same_thread)
    assert busy and float(busy.group(1)) >= 0.0, same_thread
    back = time.monotonic()
    assert r.spin_until(lambda: r.following(r.taught, back), FOLLOW_TIMEOUT_S), r.log[-5:]
