"""`yan-dog up <graph>`: run a yan-dog ROS 2 graph without the ROS 2 CLI (no `ros2 launch` needed).

The graph comes from `yan_dog_ros.graph`, the declarations the launch files are built from, with the same
arguments (`name:=value`) and the same parameter files. Two ways to run it:

- `--processes` (the CLI's default): one OS process per `graph.processes()` entry, each started with the
  exact `--ros-args` a launch file gives it (the console scripts in this Python's bin folder); the brain's
  control thread runs under SCHED_FIFO in its own interpreter;
- `--no-processes`: every node in this process on one `MultiThreadedExecutor`; the brain's four nodes
  wired as `brain_composed` wires them (`yan_dog_ros.composed.compose`) when `composed:=true`. Simpler to
  debug, but the simulator's physics and rendering and the brain share one interpreter lock: measured at
  1,613 missed ticks of 2,736 idle where separate processes missed 0 (docs/experiments.md, 2026-12-07).

Either way the nodes that look skills up (sim_node, yan_brain, teacher) load the user's skill plug-ins of
$YAN_DOG_PLUGINS (`yan-dog --skills FILE up ...` sets it; child processes inherit it) and of installed
packages (yan_dog/plugins.py).

Ctrl-C (or `duration_s`) stops it cleanly: nodes are closed (the recorder finishes its bag) and
destroyed; child processes get SIGINT, then SIGKILL after `STOP_TIMEOUT_S`. A process that exits by
itself with code 0 (the teacher, after its demonstrations) leaves the rest running; a failing one
stops the graph. A one-process shutdown that takes longer than `SHUTDOWN_LIMIT_S` (something wedged)
prints every thread's stack and exits with code 1; `kill -USR1 <pid>` prints them at any time.

Network: a graph with the simulator in it keeps DDS discovery on this host
(ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST, unless the environment already sets a range), for this process
and its children; the robot graph leaves it to the robot's environment (launch/README.md).
"""

from __future__ import annotations

import ctypes
import faulthandler
import importlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from yan_dog_ros.graph import (
    COMPOSED_EXECUTABLE,
    Process,
    get_graph,
    processes,
    resolve_args,
)

STOP_TIMEOUT_S = 10.0  # s a child process gets to exit after SIGINT before it is killed
SHUTDOWN_LIMIT_S = 60.0  # s the one-process graph gets to close its nodes before it dumps stacks and exits
STACKS_SIGNAL = signal.SIGUSR1  # prints every thread's stack to stderr (a stuck graph, seen from outside)
POLL_S = 0.2  # s between checks of the children / the deadline
MIN_EXECUTOR_THREADS = 4
EXIT_NODE_FAILED = 2  # exit status of `yan-dog up` (one process) when a node cannot be built
DISCOVERY_RANGE_VAR = "ROS_AUTOMATIC_DISCOVERY_RANGE"


def parse_overrides(items: list[str]) -> dict[str, str]:
    """['composed:=false', ...] -> {'composed': 'false'}; ValueError on a malformed item."""
    out = {}
    for item in items:
        name, sep, value = item.partition(":=")
        if not sep or not name:
            raise ValueError(f"launch arguments are name:=value, got {item!r}")
        out[name] = value
    return out


def executable_path(name: str) -> str:
    """A console script of this environment (next to this Python), else from PATH."""
    here = Path(sys.executable).parent / name
    if here.is_file():
        return str(here)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"executable {name!r} not found next to {sys.executable} nor on PATH")
    return found


def commands(graph_name: str, overrides: dict[str, str] | None = None) -> list[list[str]]:
    """The command lines `--processes` runs (and `ros2 launch` would run) for a graph."""
    graph = get_graph(graph_name)
    procs = processes(graph, resolve_args(graph, overrides))
    return [[executable_path(p.executable), *p.ros_args] for p in procs]


def keep_sim_on_localhost(procs: list[Process], environ=os.environ) -> bool:
    """Set ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST (if unset) when the graph runs the simulator; returns
    whether DDS discovery is now limited to this host."""
    if any(node.clock_source for p in procs for node in p.nodes):
        environ.setdefault(DISCOVERY_RANGE_VAR, "LOCALHOST")
    return environ.get(DISCOVERY_RANGE_VAR) == "LOCALHOST"


def run(
    graph_name: str = "sim",
    overrides: dict[str, str] | None = None,
    separate_processes: bool = False,
    duration_s: float | None = None,
    log=print,
) -> int:
    """Run a graph until Ctrl-C or `duration_s`; returns 0, or 1 if a part of it died on its own."""
    graph = get_graph(graph_name)
    values = resolve_args(graph, overrides)
    procs = processes(graph, values)
    log(f"yan-dog up {graph_name}: " + ", ".join(f"{p.executable}[{', '.join(n.name for n in p.nodes)}]"
                                               for p in procs))  # fmt: skip
    keep_sim_on_localhost(procs)
    _honour_ctrl_c()
    faulthandler.register(STACKS_SIGNAL, all_threads=True)
    if separate_processes:
        return _run_processes(procs, duration_s, log)
    return _run_in_process(procs, duration_s, log)


# --- separate processes ---------------------------------------------------------------------------------
_PR_SET_PDEATHSIG = 1  # prctl option (linux/prctl.h): signal this process when its parent dies


_STOP = threading.Event()  # set by the first Ctrl-C; the runner's main loops poll it


def _honour_ctrl_c() -> None:
    """Ctrl-C stops the graph, even if this process inherited SIGINT as ignored (a shell starts background
    jobs with SIGINT ignored, and Python then installs no handler); the runner forwards it to its children.

    The first Ctrl-C only sets `_STOP`, which the main loops poll. Raised as KeyboardInterrupt, it could
    land while the main thread held a lock inside the standard library (a `with lock:` is not signal-safe
    in CPython) and leave that lock held. In one process the executor's thread pool takes such a lock on
    every submit, and `yan-dog up` then wedged in shutdown: every pool thread waited forever in
    `Semaphore.release` (CI, test_up_sim_runs_the_graph_and_stops_on_ctrl_c). A second Ctrl-C raises
    KeyboardInterrupt, for a graph that does not stop."""
    _STOP.clear()

    def on_sigint(signum, frame):
        if _STOP.is_set():
            raise KeyboardInterrupt
        _STOP.set()

    signal.signal(signal.SIGINT, on_sigint)


def _die_with_parent() -> None:
    """In a child, before exec: default SIGINT handling (the runner forwards Ctrl-C as SIGINT) and
    SIGTERM when the runner dies, even by SIGKILL, so no node is left running without it (Linux; the
    latter is a no-op elsewhere)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def _stop(children: list[subprocess.Popen]) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGINT)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def _run_processes(procs: list[Process], duration_s: float | None, log) -> int:
    children: list[subprocess.Popen] = []
    rc = 0
    deadline = None if duration_s is None else time.monotonic() + duration_s
    try:
        for p in procs:
            children.append(
                subprocess.Popen([executable_path(p.executable), *p.ros_args], preexec_fn=_die_with_parent)
            )
        finished: set[int] = set()
        while (deadline is None or time.monotonic() < deadline) and not _STOP.is_set():
            for i, (p, child) in enumerate(zip(procs, children, strict=True)):
                if i in finished or child.poll() is None:
                    continue
                finished.add(i)
                if child.returncode != 0:  # a node that failed: the graph is incomplete
                    log(f"{p.executable} exited with code {child.returncode}; stopping the graph")
                    rc = 1
                    break
                log(f"{p.executable} finished")  # e.g. the teacher after its demonstrations
            if rc or len(finished) == len(children):
                break
            time.sleep(POLL_S)
        if _STOP.is_set():
            log("Ctrl-C: stopping the graph")
    except KeyboardInterrupt:
        log("Ctrl-C: stopping the graph")
    finally:
        _stop(children)
    return rc


# --- one process ----------------------------------------------------------------------------------------
def _factory(path: str):
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def _run_in_process(procs: list[Process], duration_s: float | None, log) -> int:
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor

    from yan_dog_ros.brain_node import configure_process
    from yan_dog_ros.spin import init, until_shutdown

    configure_process()  # one torch thread, short GIL switch interval: the control loop shares the CPU
    composed = [p for p in procs if p.executable == COMPOSED_EXECUTABLE]
    # compose() reads its parameters from the context's global arguments (like brain_composed's argv);
    # every other node gets its own --ros-args as node arguments, exactly as its own process would.
    # control_rt_priority 0: here the brain's timer shares a thread pool with the simulator's physics and
    # rendering, and the pool thread that ran its first tick would keep SCHED_FIFO for all of them; real-
    # time priority is for the brain in its own process (`--processes`, a launch file).
    global_args = [*(composed[0].ros_args if composed else ()), "--ros-args", "-p", "control_rt_priority:=0"]
    context = Context()
    init(global_args, context=context)
    nodes = []
    executor = None
    try:
        for p in procs:
            if p.executable == COMPOSED_EXECUTABLE:
                from yan_dog_ros.composed import compose

                brain, preprocess = compose(context=context)
                nodes += [brain, *preprocess]
                continue
            (spec,) = p.nodes  # every other process holds one node
            try:
                nodes.append(_factory(spec.factory)(context=context, cli_args=list(p.ros_args)))
            except Exception as err:  # e.g. a driver without its device or SDK: one line, not a traceback
                log(f"error: {spec.name} did not start: {err} (turn it off with its launch argument, "
                    f"e.g. {spec.when}:=false)" if spec.when else f"error: {spec.name} did not start: {err}")
                return EXIT_NODE_FAILED
        threads = max(MIN_EXECUTOR_THREADS, len(nodes) + 2)
        executor = MultiThreadedExecutor(num_threads=threads, context=context)
        for node in nodes:
            executor.add_node(node)
        log(f"running {len(nodes)} nodes in one process; Ctrl-C stops")
        deadline = None if duration_s is None else time.monotonic() + duration_s
        with until_shutdown(context):  # Ctrl-C can shut the context down between ok() and the wait set
            while context.ok() and not _STOP.is_set() and (deadline is None or time.monotonic() < deadline):
                executor.spin_once(timeout_sec=POLL_S)
        if _STOP.is_set():
            log("stopping the graph")
    except (KeyboardInterrupt, ExternalShutdownException):
        log("stopping the graph")
    finally:
        # Nothing below should block for long (callbacks finish, the learner stops, the recorder closes its
        # bag); if something does, say where rather than ignore Ctrl-C.
        faulthandler.dump_traceback_later(SHUTDOWN_LIMIT_S, exit=True)
        if executor is not None:
            # rclpy 7.1's MultiThreadedExecutor.shutdown does not wait for the callbacks still running in
            # its thread pool (they then hit destroyed handles); let them finish first.
            pool = getattr(executor, "_executor", None)
            if pool is not None:
                pool.shutdown(wait=True)
            executor.shutdown()
        for node in reversed(nodes):
            close = getattr(node, "close", None)
            if callable(close):
                close()
            node.destroy_node()
        rclpy.try_shutdown(context=context)
        faulthandler.cancel_dump_traceback_later()
    return 0
