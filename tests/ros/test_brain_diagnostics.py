"""`yan_brain`'s /diagnostics (diagnostic_msgs/DiagnosticArray) and its ~/reset_memory service over a real
rclpy graph: the brain node and a probe node (it publishes /obs/* at the sensors' rates, listens to
/diagnostics and calls the service) on one executor. The diagnostics arrive with the expected statuses and
keys, a stopped stream turns its status to WARN, and a reset brings the native memory back to its
initial value."""

import math
import time

import numpy as np
import pytest
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from sensor_msgs.msg import Image
from std_srvs.srv import Trigger
from yan_dog_ros import msgs
from yan_dog_ros.brain_node import DIAGNOSTICS_TOPIC, BrainNode

from robots.gait import TrotController
from tests.ros.sim_graph import call, spin_until
from yan_dog import streams

CONTROL_HZ = 50.0
RATES_HZ = {"camera": 10.0, "audio": 50.0, "proprio": 50.0}
DIAGNOSTICS_HZ = 4.0  # quicker than the default 1 Hz: the test waits for fewer reports
TIMEOUT_S = 15.0
ACT_S = 1.5  # the policy acts (and writes its native memory) this long before the checks
# small; trying on so the policy steps and writes its memory every tick; learning off
BRAIN_ARGS = ["--ros-args", "-p", "d_model:=32", "-p", "n_layers:=1", "-p", "learning:=false",
              "-p", "trying:=true", "-p", "control_rt_priority:=0", "-p", f"diagnostics_hz:={DIAGNOSTICS_HZ}"]
STATUSES = ("control loop", "input camera", "input audio", "input proprio", "learner", "native memory",
            "mode")
LOOP_KEYS = {"rate_hz", "target_hz", "ticks", "missed_ticks", "ticks_total", "missed_ticks_total",
             "latency_ms_p50", "latency_ms_p99", "compute_ms_p50", "compute_ms_p99", "period_ms_p99",
             "control_rt_priority"}
LEARNER_KEYS = {"wanted", "running", "steps", "loss", "weights_version", "swap_age_s", "skipped_steps"}


def _by_name(msg: DiagnosticArray) -> dict[str, DiagnosticStatus]:
    return {s.name.removeprefix("yan_brain: "): s for s in msg.status}


def _values(status: DiagnosticStatus) -> dict[str, str]:
    return {kv.key: kv.value for kv in status.values}


@pytest.fixture()
def graph():
    ctx = rclpy.Context()
    rclpy.init(context=ctx, args=BRAIN_ARGS)
    brain = probe = executor = None
    try:
        brain = BrainNode(context=ctx)
        probe = Node("diagnostics_probe", context=ctx)
        executor = SingleThreadedExecutor(context=ctx)
        for node in (brain, probe):
            executor.add_node(node)
        yield brain, probe, executor
    finally:
        if executor is not None:
            executor.shutdown()
        for node in (probe, brain):
            if node is not None:
                if hasattr(node, "close"):
                    node.close()
                node.destroy_node()
        rclpy.try_shutdown(context=ctx)


def test_diagnostics_report_the_loop_inputs_learner_and_memory_and_reset_memory_works(graph):
    brain, probe, executor = graph
    spec = brain.core.spec
    rng = np.random.default_rng(0)
    stand = TrotController().stand_targets()
    matrices = streams.matrices_from_obs({
        "camera": rng.integers(0, 256, (32, 32, 3), dtype=np.uint8),
        "audio": rng.integers(-500, 500, spec.samples_per_tick).astype(np.int16),
        "joints": np.stack([stand, np.zeros(12), np.zeros(12)]).astype(np.float32),
        "imu": np.array([0, 0, 0, 1, 0, 0, 0, 0, 0, 9.81], np.float32)}, spec)
    topics = {"camera": msgs.CAMERA_OBS_TOPIC, "audio": msgs.AUDIO_OBS_TOPIC,
              "proprio": msgs.PROPRIO_OBS_TOPIC}
    pubs = {s: probe.create_publisher(Image, t, msgs.OBS_QOS) for s, t in topics.items()}
    running = dict.fromkeys(topics, True)
    ticks = [0]

    def pump():
        for stream, hz in RATES_HZ.items():
            if running[stream] and ticks[0] % round(CONTROL_HZ / hz) == 0:
                pubs[stream].publish(msgs.obs_image(matrices[stream], time.time(), stream))
        ticks[0] += 1

    reports: list[dict[str, DiagnosticStatus]] = []
    probe.create_subscription(DiagnosticArray, DIAGNOSTICS_TOPIC, lambda m: reports.append(_by_name(m)),
                              msgs.STATUS_QOS)
    initial_norm = brain.core.actor.memory_norm()
    assert initial_norm is not None and math.isfinite(initial_norm), "the yan policy has a native memory"
    probe.create_timer(1.0 / CONTROL_HZ, pump)

    # all streams flowing: every status is there with its keys, the inputs are OK, the policy acts
    def healthy() -> bool:
        return bool(reports) and all(reports[-1][f"input {s}"].level == DiagnosticStatus.OK for s in topics)

    assert spin_until(executor, healthy, TIMEOUT_S), [(n, s.level, s.message) for n, s in reports[-1].items()]
    start = time.monotonic()
    assert spin_until(executor, lambda: time.monotonic() - start > ACT_S and brain.core.counts["policy_ticks"]
                      > 0 and len(reports) >= 2, TIMEOUT_S)
    last = reports[-1]
    assert set(last) == set(STATUSES)
    assert LOOP_KEYS <= set(_values(last["control loop"])), _values(last["control loop"])
    assert LEARNER_KEYS <= set(_values(last["learner"])), _values(last["learner"])
    loop = _values(last["control loop"])
    assert float(loop["target_hz"]) == CONTROL_HZ and int(loop["ticks"]) > 0
    assert last["learner"].level == DiagnosticStatus.OK and _values(last["learner"])["wanted"] == "False"
    assert {"age_ms", "stale_limit_ms"} <= set(_values(last["input camera"]))
    acted_norm = float(_values(last["native memory"])["norm"])
    assert last["native memory"].level == DiagnosticStatus.OK
    assert not math.isclose(acted_norm, initial_norm, rel_tol=1e-6), "the policy never wrote its memory"

    # the camera stops: its status turns WARN (the robot holds, so the memory is no longer written)
    running["camera"] = False

    def camera_alone_stale() -> bool:  # (on a loaded machine a report may also catch audio a tick late)
        last = reports[-1]
        return (last["input camera"].level == DiagnosticStatus.WARN
                and last["input audio"].level == DiagnosticStatus.OK)

    assert spin_until(executor, camera_alone_stale, TIMEOUT_S)
    assert reports[-1]["input camera"].message.startswith("stale")

    # ~/reset_memory: answered, and the memory is back at its initial value
    answer = call(probe, executor, Trigger, "/yan_brain/reset_memory", Trigger.Request())
    assert answer.success and answer.message == "native memory reset"
    assert brain.core.actor.memory_norm() == pytest.approx(initial_norm, rel=1e-9)
    n = len(reports)
    assert spin_until(executor, lambda: len(reports) > n, TIMEOUT_S)
    assert float(_values(reports[-1]["native memory"])["norm"]) == pytest.approx(initial_norm, rel=1e-3)
