"""Helpers for tests that talk to spawned yan-dog nodes: spawn a console script, a private rclpy context,
spin until a condition holds, call a service, set another node's parameters."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import rclpy
from rcl_interfaces.srv import SetParameters
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from yan_dog_ros import recorder_node
from yan_dog_ros.msgs import parameter_msg

from yan_dog import bag

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = REPO / ".venv" / "bin"
CONFIG_DIR = REPO / "ros_ws" / "src" / "yan_dog_ros" / "config"
STOP_TIMEOUT_S = 10.0  # SIGINT, then SIGKILL after this long
SPIN_STEP_S = 0.02


class Spawned:
    """A node process started from a console script; its merged stdout/stderr go to `log_path`."""

    def __init__(self, proc: subprocess.Popen, log_path: Path):
        self.proc = proc
        self.log_path = log_path

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextlib.contextmanager
def spawn(console_script: str, *ros_args: str, params_file: str | None = None):
    """Run `.venv/bin/<console_script> --ros-args [--params-file F] ros_args...`; stopped in the end."""
    args = [str(VENV_BIN / console_script), "--ros-args"]
    if params_file:
        args += ["--params-file", str(CONFIG_DIR / params_file)]
    args += list(ros_args)
    fd, log_name = tempfile.mkstemp(prefix=f"{console_script}_", suffix=".log")
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "RCUTILS_LOGGING_BUFFERED_STREAM": "0"}
    with os.fdopen(fd, "w") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=REPO, env=env)
    spawned = Spawned(proc, Path(log_name))
    try:
        yield spawned
    finally:
        stop_process(proc, signal.SIGINT, STOP_TIMEOUT_S)
        os.unlink(log_name)


@contextlib.contextmanager
def ros_node(name: str, make=None):
    """An in-process node in a private rclpy context, with its executor: yields (node, executor).
    `make(context)` builds a node of another class (default: a plain Node called `name`)."""
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    node = executor = None
    try:
        node = make(ctx) if make is not None else Node(name, context=ctx)
        executor = SingleThreadedExecutor(context=ctx)
        executor.add_node(node)
        yield node, executor
    finally:
        if executor is not None:
            executor.shutdown()
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown(context=ctx)


def stop_process(proc: subprocess.Popen, sig: int, timeout_s: float) -> None:
    """Send `sig` to a child that still runs, wait `timeout_s`, then kill it."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def spin_until(executor, predicate, timeout_s: float) -> bool:
    """Spin until `predicate()` is true (returns True) or `timeout_s` passes (returns False)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        executor.spin_once(timeout_sec=SPIN_STEP_S)
    return predicate()


def spin_for(executor, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        executor.spin_once(timeout_sec=SPIN_STEP_S)


def call(node: Node, executor, srv_type, name: str, request, timeout_s: float = 10.0):
    """Call a service (waiting for it to appear); returns the response or raises TimeoutError."""
    client = node.create_client(srv_type, name)
    try:
        return call_client(client, executor, request, timeout_s)
    finally:
        node.destroy_client(client)


def call_client(client, executor, request, timeout_s: float = 10.0, answer_s: float | None = None):
    """`call` with a client made beforehand (so a server started later discovers it with the rest of its
    node). With `answer_s`, an answer that has not come within that long gives None (the request is
    abandoned) instead of a TimeoutError: for callers that can check by other means whether it arrived."""
    name = client.srv_name
    if not spin_until(executor, client.service_is_ready, timeout_s):
        raise TimeoutError(f"service {name} did not appear within {timeout_s} s")
    future = client.call_async(request)
    if not spin_until(executor, future.done, timeout_s if answer_s is None else answer_s):
        if answer_s is not None:
            client.remove_pending_request(future)
            return None
        raise TimeoutError(f"service {name} did not answer within {timeout_s} s")
    return future.result()


def set_parameters(node: Node, executor, target_node: str, **values) -> None:
    """Set parameters of another node through its `set_parameters` service; raises if any is refused."""
    request = SetParameters.Request(parameters=[parameter_msg(k, v) for k, v in values.items()])
    response = call(node, executor, SetParameters, f"/{target_node}/set_parameters", request)
    refused = [(k, r.reason) for k, r in zip(values, response.results, strict=True) if not r.successful]
    if refused:
        raise ValueError(f"{target_node} refused parameters: {refused}")


def recorder_listens(node: Node, topics=None) -> bool:
    """Whether the session recorder has joined the graph as a subscriber of every one of `topics` (default:
    all it records). A recorder that subscribes after a demonstration has started misses its `demo_start`
    event (volatile QoS), and that demonstration is then not in the bag."""
    def subscribed(topic: str) -> bool:
        infos = node.get_subscriptions_info_by_topic(topic)
        return any(info.node_name == recorder_node.NODE_NAME for info in infos)

    return all(subscribed(t) for t in (topics or bag.RECORDED_TOPICS))
