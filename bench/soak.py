"""Soak: the composed brain (learning on, trying on) under sensor streams at several times their nominal
rates, for M minutes per rate: does memory stay flat, does the control loop keep every tick, do the
queues stay bounded?

    python bench/soak.py --minutes 30 --json bench_out/soak.json              # the issue's target run
    python bench/soak.py --minutes 0.5 --rates 2 --json /tmp/soak.json        # a smoke run
    python bench/soak.py --minutes 30 --rates 2 --control-rt-priority 0 ...   # control thread not real-time

The robot is this script (as in bench/ros_loop.py): camera 96x96 rgb8, 320-sample audio chunks, joint
states and IMU, all published `rate`x as often as the sim does (camera 10 Hz x rate, the rest 50 Hz x
rate), stamped with the wall clock. The brain is `brain_composed` in its own process with the YAML
defaults; a 3 s demonstration is recorded first so the background learner trains throughout.

Measured per rate (over the window after a WARMUP_S warm-up):
    rss_mb_start/end, rss_slope_mb_per_min, rss_growth_pct   RSS of the brain process and its children
                   (the learner process) from /proc, least-squares slope; growth = slope x window / start
    child_rss_mb_end                                         of which the children (the learner process)
    ticks, missed_ticks, rate_hz                             the brain's own tick counters (/brain/status)
    publish_hz     joint states this script actually sent per second (it may fall short of rate x 50 on
                   2 busy cores: then the offered load was lower than asked)
    queued_audio_max, audio_dropped, dropped                 the audio queue (bounded by audio_queue_ticks),
                   blocks dropped from it, messages refused
    learner_steps, episodes                                  training kept going; the demo buffer is bounded
    control_rt_priority   the SCHED_FIFO priority the brain's control thread got (0: normal policy, e.g.
                   refused for want of privilege; see yan_dog.scheduling)
    missed_at      [{minute, missed, load_average_1min, steal_ms}] per sample in which ticks were missed
                   (the soak measures a quiet machine: other work on the 2 cores shows up here as load;
                   steal_ms: CPU time the hypervisor gave to other machines over that sample, all cores)
    steal_s, steal_ms_per_sample_max   the same over the whole window, and its worst sample
The machine itself (a stall probe): bench/jitter.py runs beside the brain in its own process (a thread
that only sleeps and wakes every PROBE_INTERVAL_MS, at the brain's real-time priority) and records every
wake-up later than PROBE_STALL_MS. Each late control tick is matched to the probe's stalls inside its gap:
    late_tick_stalls  [{line, machine_stall_ms}] per late-tick line of the brain (None: no stall seen, so
                   the cause was in the brain's process); probe: the probe's own summary
Targets (issue #6): 30 minutes at 2x with RSS growth under 5% and zero missed ticks.
"""

from __future__ import annotations

import argparse
import json
import os
import re
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
from yan_dog_ros.preprocess_nodes import SLOW_CALLBACK_MARK  # noqa: E402

from bench._common import format_table, machine_info, process_rss_mb, write_json  # noqa: E402
from bench.ros_loop import (  # noqa: E402
    CAMERA_EVERY,
    CONTROL_HZ,
    DEMO_S,
    STARTUP_TIMEOUT_S,
    FakeRobot,
    brain_processes,
    spin_until,
    stop,
    trigger,
)
from yan_dog.tick_timing import LATE_TICK_MARK  # noqa: E402

WARMUP_S = 10.0  # after a rate change, before the window opens (allocator and DDS queues settle)
SAMPLE_S = 2.0  # RSS and status sampling period
PROBE_INTERVAL_MS = 2.0  # the stall probe's wake-up period (ms)
PROBE_STALL_MS = 10.0  # a probe wake-up this late is a machine stall (ms)
PROBE_MATCH_SLACK_S = 0.01  # a stall matches a late tick if it ended within the tick's gap, +- this (s)
PROBE_STOP_TIMEOUT_S = 30.0
TARGETS = {"rate": 2, "minutes": 30, "rss_growth_pct_max": 5.0, "missed_ticks": 0}


class LoadedRobot(FakeRobot):
    """FakeRobot publishing every stream `rate` times per control period (its 50 Hz timer stays)."""

    def __init__(self, context):
        super().__init__(context)
        self.rate = 1
        self.sent = 0
        self._extra = None

    def set_rate(self, rate: int) -> None:
        if self._extra is not None:
            self.destroy_timer(self._extra)
            self._extra = None
        self.rate = rate
        if rate > 1:
            self._extra = self.create_timer(1.0 / (CONTROL_HZ * (rate - 1)), self.tick)

    def tick(self) -> None:
        super().tick()
        self.sent += 1


def child_pids(pid: int) -> list[int]:
    """Every live descendant of `pid` (from /proc/*/stat), e.g. the brain's learner process."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:  # exited meanwhile
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])  # field 4: ppid
    found, frontier = [], [pid]
    while frontier:
        kids = [c for c, p in parents.items() if p in frontier]
        found += kids
        frontier = kids
    return found


def tree_rss_mb(pid: int) -> tuple[float, float]:
    """(RSS of `pid` and its descendants, RSS of the descendants) in MB: the learner process's memory
    belongs to the brain."""
    children = 0.0
    for child in child_pids(pid):
        try:
            children += process_rss_mb(child)
        except (OSError, RuntimeError):  # exited meanwhile
            pass
    return process_rss_mb(pid) + children, children


def cpu_steal_s() -> float:
    """CPU time stolen from this (virtual) machine by its hypervisor so far, all cores (s; /proc/stat):
    a vCPU that is not running stalls every thread on it, whatever its priority."""
    with open("/proc/stat") as f:
        fields = f.readline().split()  # cpu user nice system idle iowait irq softirq steal ...
    return int(fields[8]) / os.sysconf("SC_CLK_TCK")


def soak(robot: LoadedRobot, executor, pid: int, rate: int, minutes: float) -> dict:
    robot.set_rate(rate)
    spin_until(executor, lambda: False, WARMUP_S)
    before, sent0 = robot.status, robot.sent
    t0 = time.monotonic()
    times, rss, child_rss, queued, missed_at, steal_ms = [], [], [], [], [], []
    missed_seen = before["tick_stats"]["missed_ticks"]
    steal0_s = steal_s = cpu_steal_s()
    while time.monotonic() - t0 < minutes * 60.0:
        spin_until(executor, lambda: False, SAMPLE_S)
        steal_before_s, steal_s = steal_s, cpu_steal_s()
        steal_ms.append((steal_s - steal_before_s) * 1e3)
        times.append((time.monotonic() - t0) / 60.0)
        total, children = tree_rss_mb(pid)
        rss.append(total)
        child_rss.append(children)
        queued.append(robot.status["queued_audio"])
        missed_now = robot.status["tick_stats"]["missed_ticks"]
        if missed_now > missed_seen:  # when, and how loaded the machine was: load from elsewhere shows here
            missed_at.append({"minute": round(times[-1], 2), "missed": missed_now - missed_seen,
                              "load_average_1min": os.getloadavg()[0], "steal_ms": steal_ms[-1]})
            missed_seen = missed_now
    elapsed = time.monotonic() - t0
    after = robot.status
    slope = float(np.polyfit(times, rss, 1)[0]) if len(times) >= 2 else 0.0  # MB / min
    s0, s1 = before["tick_stats"], after["tick_stats"]
    return {
        "rate": rate,
        "minutes": elapsed / 60.0,
        "rss_mb_start": rss[0],
        "rss_mb_end": rss[-1],
        "rss_slope_mb_per_min": slope,
        "rss_growth_pct": 100.0 * slope * (elapsed / 60.0) / rss[0],
        "child_rss_mb_end": child_rss[-1],
        "ticks": s1["ticks"] - s0["ticks"],
        "missed_ticks": s1["missed_ticks"] - s0["missed_ticks"],
        "rate_hz": s1["rate_hz"],
        "publish_hz": (robot.sent - sent0) / elapsed,
        "queued_audio_max": max(queued),
        "audio_dropped": after["audio_dropped"] - before["audio_dropped"],
        "dropped": after["dropped"] - before["dropped"],
        "learner_steps": after["learner_steps"] - before["learner_steps"],
        "episodes": after["episodes"],
        "control_rt_priority": after.get("control_rt_priority"),
        "load_average_1min": os.getloadavg()[0],
        "missed_at": missed_at,
        "steal_s": steal_s - steal0_s,
        "steal_ms_per_sample_max": max(steal_ms),
    }


def start_probe(json_path: Path, minutes: float, priority: int | None) -> subprocess.Popen:
    """bench/jitter.py in its own process for up to `minutes` (stopped earlier by stop_probe), at
    `priority` (None: its default, the brain's default)."""
    script = Path(__file__).resolve().parent / "jitter.py"
    args = ["--minutes", f"{minutes:.2f}", "--interval-ms", str(PROBE_INTERVAL_MS),
            "--spike-ms", str(PROBE_STALL_MS), "--json", str(json_path)]
    if priority is not None:
        args += ["--priority", str(priority)]
    return subprocess.Popen([sys.executable, str(script), *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def stop_probe(probe: subprocess.Popen, json_path: Path) -> dict | None:
    """SIGTERM the probe (it writes what it measured) and read its JSON; None if it failed."""
    if probe.poll() is None:
        probe.send_signal(signal.SIGTERM)
    try:
        _, err = probe.communicate(timeout=PROBE_STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        probe.kill()
        _, err = probe.communicate()
    if probe.returncode != 0 or not json_path.exists():
        print(f"  the stall probe failed (exit {probe.returncode}): {err.strip()[-500:]}", flush=True)
        return None
    return json.loads(json_path.read_text())


def match_stalls(late_ticks: list[str], probe: dict) -> list[dict]:
    """For each late-tick line of the brain, the longest machine stall the probe saw inside that tick's
    gap (the line's stamp is the late tick's start, wall clock; its gap is in the text), or None."""
    stalls = [(s["wall_time_s"], s["late_ms"]) for s in probe["spike_list"]]
    out = []
    for line in late_ticks:
        stamp, gap = re.search(r"\[(\d+\.\d+)\]", line), re.search(r"control tick ([\d.]+) ms", line)
        if stamp is None or gap is None:  # a preprocessing node's slow callback, not a late tick
            continue
        end_s, gap_s = float(stamp.group(1)), float(gap.group(1)) / 1e3
        inside = [ms for t, ms in stalls
                  if end_s - gap_s - PROBE_MATCH_SLACK_S <= t <= end_s + PROBE_MATCH_SLACK_S]
        out.append({"line": line, "machine_stall_ms": max(inside) if inside else None})
    return out


def late_tick_lines(log_dir: str) -> list[str]:
    """The brain's own account of each late control tick (gap, compute time, garbage collections) and the
    preprocessing nodes' slow callbacks, from their logs: why a tick was missed, not just that it was."""
    lines = []
    for log in sorted(Path(log_dir).glob("*.log")):
        lines += [line.strip() for line in log.read_text(errors="replace").splitlines()
                  if LATE_TICK_MARK in line or SLOW_CALLBACK_MARK in line]
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, required=True, help="soak time per rate (minutes)")
    ap.add_argument("--json", type=Path, required=True, help="write the results here")
    ap.add_argument("--rates", type=int, nargs="+", default=[2, 5], help="stream rate multipliers")
    ap.add_argument("--control-rt-priority", type=int, default=None,
                    help="the brain's control_rt_priority (default: its YAML, SCHED_FIFO 50; 0 = normal)")
    args = ap.parse_args(argv)
    if args.minutes <= 0 or any(r < 1 for r in args.rates):
        raise SystemExit("--minutes must be > 0 and every rate >= 1")
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    results = []
    context = rclpy.Context()
    rclpy.init(context=context)
    robot = LoadedRobot(context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(robot)
    with tempfile.TemporaryDirectory(prefix="soak_") as log_dir:
        probe_json = Path(log_dir) / "probe.json"
        probe_minutes = len(args.rates) * (args.minutes + 2 * WARMUP_S / 60.0) + 5.0  # stopped at the end
        probe = start_probe(probe_json, probe_minutes, args.control_rt_priority)
        rt = args.control_rt_priority
        extra = () if rt is None else ("-p", f"control_rt_priority:={rt}")
        procs = brain_processes(composed=True, learning=True, log_dir=log_dir, extra_args=extra)
        try:
            if not spin_until(executor, lambda: robot.status is not None and not robot.status["stale"],
                              STARTUP_TIMEOUT_S):
                raise RuntimeError(f"the brain did not come up (logs in {log_dir})")
            trigger(robot, executor, "/yan_brain/start_demo")
            robot.teaching = True
            spin_until(executor, lambda: False, DEMO_S)
            robot.teaching = False
            trigger(robot, executor, "/yan_brain/stop_demo")
            for rate in args.rates:
                results.append(soak(robot, executor, procs[0].pid, rate, args.minutes))
                print(f"  {rate}x: done", flush=True)
        finally:
            stop(procs)
            executor.shutdown()
            robot.destroy_node()
            rclpy.try_shutdown(context=context)
            late_ticks = late_tick_lines(log_dir)
            probe_result = stop_probe(probe, probe_json)
    stalls = match_stalls(late_ticks, probe_result) if probe_result else []
    headers = ["rate", "min", "RSS MB", "slope MB/min", "growth %", "ticks", "missed", "Hz", "sent Hz",
               "audio q max", "audio dropped", "refused", "learner steps", "load", "RT prio"]
    rows = [[f"{r['rate']}x", r["minutes"], r["rss_mb_end"], r["rss_slope_mb_per_min"], r["rss_growth_pct"],
             r["ticks"], r["missed_ticks"], r["rate_hz"], r["publish_hz"], r["queued_audio_max"],
             r["audio_dropped"], r["dropped"], r["learner_steps"], r["load_average_1min"],
             r["control_rt_priority"]] for r in results]
    print(format_table(headers, rows))
    for r in results:
        for m in r["missed_at"]:
            print(f"  {r['rate']}x: {m['missed']} missed by minute {m['minute']} "
                  f"(1-min load average {m['load_average_1min']:.2f}, {m['steal_ms']:.0f} ms stolen by the "
                  f"hypervisor in that {SAMPLE_S:.0f} s sample)")
        print(f"  {r['rate']}x: {r['steal_s']:.1f} s stolen by the hypervisor over the window, at most "
              f"{r['steal_ms_per_sample_max']:.0f} ms in one {SAMPLE_S:.0f} s sample")
    for line in late_ticks:
        print(f"  brain: {line}")
    if probe_result:
        matched = sum(s["machine_stall_ms"] is not None for s in stalls)
        print(f"  stall probe: {probe_result['over_control_period']} machine stalls over "
              f"{1e3 / CONTROL_HZ:.0f} ms (longest {probe_result['late_ms_max']:.1f} ms), "
              f"{probe_result['spikes']} over {PROBE_STALL_MS:g} ms; {matched} of {len(stalls)} late ticks "
              f"had a machine stall inside their gap")
    print(f"targets: {TARGETS}")
    write_json(args.json, {
        "rates": results,
        "late_ticks": late_ticks,
        "late_tick_stalls": stalls,
        "probe": {k: v for k, v in (probe_result or {}).items() if k != "spike_list"},
        "probe_stalls": (probe_result or {}).get("spike_list", []),
        "params": {"minutes": args.minutes, "warmup_s": WARMUP_S, "sample_s": SAMPLE_S, "demo_s": DEMO_S,
                   "control_hz": CONTROL_HZ, "camera_every": CAMERA_EVERY,
                   "brain": "brain_composed, learning on, trying on, config/*.yaml defaults",
                   "control_rt_priority_arg": args.control_rt_priority,
                   "probe_interval_ms": PROBE_INTERVAL_MS, "probe_stall_ms": PROBE_STALL_MS},
        "targets": TARGETS,
        "machine": machine_info(),
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
