"""The graph people actually run, timed: `yan-dog up sim` (in one process, and with --processes), idle and
while learning; the brain counts its own missed control ticks (issue 31: "the graph people actually run
must hold its rate").

    nice -n 10 .venv/bin/python bench/up_loop.py --seconds 90 --json bench/results/2026-12-07_up_loop_X.json
    nice -n 10 .venv/bin/python bench/up_loop.py --seconds 60 --modes processes --phases idle --json u.json

Each mode starts the real sim graph (PyBullet A1 + preprocessing + yan_brain + recorder, YAML defaults) as a
child process, `yan-dog up sim [--processes]`, on a DDS domain of its own (DOMAIN_ID, localhost). This
process is a probe: it reads /brain/status and calls the brain's services. Phases, one after the other in
the same graph:
    idle      the brain holds the stand pose (trying off, learner idle: no demonstrations yet)
    learning  a DEMO_S demonstration (teach actions published by this probe) is recorded; the background
              learner then trains on it throughout the window, and the policy acts (trying on)
Each window is `--seconds` long, after SETTLE_S; ticks, missed ticks and learner steps are the differences
of the brain's own counters (/brain/status tick_stats) over the window. The graph's log is kept; its
late-tick summary lines (`yan_dog.tick_timing.LateTickSummary`: "missed N of M ticks ..., where: ...") are
copied into the JSON: why the worst late tick of each interval was late.

The machine is shared: the 1-minute load average is recorded at the start and the end of every window, and
only runs made in the same conditions may be compared.

JSON: {"runs": [{"mode", "phase", "seconds", "ticks", "missed_ticks", "rate_hz", "learner_steps",
       "load_start", "load_end", "late_summaries": [...]}, ...], "params", "targets", "machine"}
Target (issue 31): 0 missed ticks, both modes, idle and while learning.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import rclpy  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.node import Node  # noqa: E402
from std_msgs.msg import Float64MultiArray, String  # noqa: E402
from std_srvs.srv import SetBool, Trigger  # noqa: E402
from yan_dog_ros import msgs  # noqa: E402

from bench._common import format_table, machine_info, process_rss_mb, write_json  # noqa: E402
from yan_dog.tick_timing import LATE_TICK_MARK  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
YAN_DOG = REPO / ".venv" / "bin" / "yan-dog"
MODES = ("inproc", "processes")
PHASES = ("idle", "learning")
STARTUP_TIMEOUT_S = 120.0  # torch, rclpy and PyBullet imports on 2 shared cores
SETTLE_S = 5.0  # after start-up, and after the demonstration, before a window opens
DEMO_S = 4.0
SERVICE_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 20.0
TEACH_HZ = 50.0
TEACH_OFFSET_RAD = 0.15  # the demonstrated joint-offset wiggle (rad)
SPIN_S = 0.05
DOMAIN_ID = 101  # the graph's ROS_DOMAIN_ID: not the tests' (1..90), the fault rig's (91..100) nor 0
SUMMARY_MARK = LATE_TICK_MARK  # in the late-tick summaries (and the per-tick lines of older brains)
TARGETS = {"missed_ticks": 0}


class Probe(Node):
    """Reads /brain/status; publishes teach actions while `teaching`."""

    def __init__(self, context):
        super().__init__("up_loop_probe", context=context)
        self.status: dict | None = None
        self.teaching = False
        self.k = 0
        self.create_subscription(String, msgs.BRAIN_STATUS_TOPIC, self._on_status, msgs.STATUS_QOS)
        self.teach = self.create_publisher(Float64MultiArray, msgs.TEACH_ACTION_TOPIC, msgs.COMMAND_QOS)
        self.create_timer(1.0 / TEACH_HZ, self._tick)

    def _on_status(self, msg: String) -> None:
        self.status = json.loads(msg.data)

    def _tick(self) -> None:
        if self.teaching:
            action = np.r_[0.0, 0.0, 0.0, np.full(12, TEACH_OFFSET_RAD * np.sin(self.k / 25))]  # (15,)
            self.teach.publish(msgs.float_array(action))
        self.k += 1


def spin_until(executor, predicate, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        executor.spin_once(timeout_sec=SPIN_S)
    return predicate()


def call(node: Node, executor, srv_type, name: str, request):
    client = node.create_client(srv_type, name)
    try:
        if not spin_until(executor, client.service_is_ready, SERVICE_TIMEOUT_S):
            raise RuntimeError(f"service {name} did not appear")
        future = client.call_async(request)
        if not spin_until(executor, future.done, SERVICE_TIMEOUT_S):
            raise RuntimeError(f"service {name} did not answer")
        result = future.result()
        if not result.success:
            raise RuntimeError(f"{name}: {result.message}")
        return result
    finally:
        node.destroy_client(client)


def counters(status: dict) -> tuple[int, int, int]:
    """(ticks, missed ticks, learner steps) so far, from the brain's status."""
    return status["tick_stats"]["ticks"], status["tick_stats"]["missed_ticks"], status["learner_steps"]


def fresh_status(probe: Probe, executor) -> dict:
    """The brain's next status; RuntimeError if none comes within SERVICE_TIMEOUT_S (a stalled graph)."""
    probe.status = None
    if not spin_until(executor, lambda: probe.status is not None, SERVICE_TIMEOUT_S):
        raise RuntimeError(f"no /brain/status within {SERVICE_TIMEOUT_S} s")
    return probe.status


def rss_mb(pid: int | None) -> float | None:
    """Resident memory of process `pid` (MB, one decimal); None where it cannot be read (no pid, gone)."""
    try:
        return round(process_rss_mb(pid), 1)
    except (OSError, RuntimeError, ValueError):
        return None


def window(probe: Probe, executor, seconds: float) -> dict:
    """The brain's counters over `seconds` (after SETTLE_S), with the load and the brain process's resident
    memory at both ends (a leak would show there: the brain freezes its garbage collector's survivors)."""
    executor_wait(executor, SETTLE_S)
    status0 = fresh_status(probe, executor)
    t0, (ticks0, missed0, steps0) = time.monotonic(), counters(status0)
    load0, rss0 = os.getloadavg()[0], rss_mb(status0.get("pid"))
    executor_wait(executor, seconds)
    status1 = fresh_status(probe, executor)
    ticks1, missed1, steps1 = counters(status1)
    elapsed = time.monotonic() - t0
    return {"seconds": round(elapsed, 1), "ticks": ticks1 - ticks0, "missed_ticks": missed1 - missed0,
            "rate_hz": round((ticks1 - ticks0) / elapsed, 2), "learner_steps": steps1 - steps0,
            "load_start": round(load0, 2), "load_end": round(os.getloadavg()[0], 2),
            "brain_rss_mb_start": rss0, "brain_rss_mb_end": rss_mb(status1.get("pid"))}


def executor_wait(executor, seconds: float) -> None:
    spin_until(executor, lambda: False, seconds)


def run_mode(mode: str, phases: list[str], seconds: float, log_dir: Path) -> list[dict]:
    """One graph in `mode`; one window per phase, in order."""
    total_s = STARTUP_TIMEOUT_S + len(phases) * (seconds + 2 * SETTLE_S + DEMO_S + 30.0)
    cmd = [str(YAN_DOG), "up", "sim", "--duration", f"{total_s:.0f}"]
    cmd += ["--processes"] if mode == "processes" else ["--no-processes"]
    log_path = log_dir / f"up_{mode}.log"
    with open(log_path, "w") as log:
        graph = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
    context = rclpy.Context()
    rclpy.init(context=context)
    probe = Probe(context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(probe)
    runs = []
    try:
        up = spin_until(executor, lambda: graph.poll() is not None or (probe.status is not None
                                                                       and not probe.status["stale"]),
                        STARTUP_TIMEOUT_S)
        if not up or graph.poll() is not None:
            raise RuntimeError(f"the graph did not come up ({mode}); log: {log_path.read_text()[-2000:]}")
        for phase in phases:
            try:
                runs.append(run_phase(mode, phase, probe, executor, seconds, log_path))
            except RuntimeError as e:  # a stalled graph or a refused call: said in the results, not lost
                runs.append({"mode": mode, "phase": phase, "error": str(e), "load_end": os.getloadavg()[0]})
                print(f"  {mode} {phase}: {e}", flush=True)
    finally:
        if graph.poll() is None:
            graph.send_signal(signal.SIGINT)
            try:
                graph.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                graph.kill()
                graph.wait()
        executor.shutdown()
        probe.destroy_node()
        rclpy.try_shutdown(context=context)
    return runs


def run_phase(mode: str, phase: str, probe: Probe, executor, seconds: float, log_path: Path) -> dict:
    """One phase's window (for "learning", after a demonstration and with trying on)."""
    if phase == "learning":
        call(probe, executor, Trigger, "/yan_brain/start_demo", Trigger.Request())
        probe.teaching = True
        executor_wait(executor, DEMO_S)
        probe.teaching = False
        call(probe, executor, Trigger, "/yan_brain/stop_demo", Trigger.Request())
        call(probe, executor, SetBool, "/yan_brain/set_trying", SetBool.Request(data=True))
    lines_before = summary_lines(log_path)
    result = {"mode": mode, "phase": phase, **window(probe, executor, seconds)}
    result["late_summaries"] = summary_lines(log_path)[len(lines_before):]
    print(f"  {mode} {phase}: {result['missed_ticks']} missed of {result['ticks']} "
          f"(load {result['load_start']} -> {result['load_end']})", flush=True)
    return result


def summary_lines(log_path: Path) -> list[str]:
    lines = log_path.read_text(errors="replace").splitlines()
    return [line.strip() for line in lines if SUMMARY_MARK in line]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=90.0, help="measurement window per phase (s)")
    ap.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    ap.add_argument("--phases", nargs="+", choices=PHASES, default=list(PHASES))
    ap.add_argument("--json", type=Path, required=True)
    ap.add_argument("--keep-logs", type=Path, default=None, help="copy the graphs' logs into this folder")
    args = ap.parse_args(argv)
    if not args.seconds > 0:
        raise SystemExit("--seconds must be > 0")
    os.environ["ROS_DOMAIN_ID"] = str(DOMAIN_ID)
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    runs = []
    with tempfile.TemporaryDirectory(prefix="up_loop_") as tmp:
        for mode in args.modes:
            runs += run_mode(mode, args.phases, args.seconds, Path(tmp))
        if args.keep_logs is not None:
            args.keep_logs.mkdir(parents=True, exist_ok=True)
            for log in Path(tmp).glob("*.log"):
                (args.keep_logs / log.name).write_text(log.read_text(errors="replace"))
    headers = ["mode", "phase", "s", "ticks", "missed", "Hz", "learner steps", "load start", "load end"]
    keys = ("seconds", "ticks", "missed_ticks", "rate_hz", "learner_steps", "load_start", "load_end")
    rows = [[r["mode"], r["phase"], *(r.get(k, "error") for k in keys)] for r in runs]
    print(format_table(headers, rows))
    write_json(args.json, {"runs": runs, "params": {"seconds": args.seconds, "settle_s": SETTLE_S,
                                                    "demo_s": DEMO_S, "modes": args.modes,
                                                    "phases": args.phases},
                           "targets": TARGETS, "machine": machine_info()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
