"""Platform jitter (a cyclictest in Python): how late does a real-time thread wake on THIS machine?

    python bench/jitter.py --minutes 5 --json bench_out/jitter.json
    python bench/jitter.py --minutes 5 --priority 0 --json /tmp/jitter_normal.json   # normal policy

A thread under SCHED_FIFO (`--priority`, default the brain's control_rt_priority) sleeps to absolute
deadlines every `--interval-ms` and records how late it woke. Nothing else runs in this process, so the
lateness is the platform's: the kernel's wake-up path, other real-time work, and on a virtual machine the
hypervisor taking the vCPU away (steal). It bounds what any control loop on the machine can promise: a
50 Hz loop misses a tick when something stalls it for more than one 20 ms period.

Each wake-up later than `--spike-ms` is a spike, kept with where its time went (from the thread's
/proc/thread-self/schedstat and the machine's /proc/stat): `queued_ms` on a run queue, `cpu_ms` the
thread was charged as running (a stolen vCPU is charged to whatever was on it), and the machine's
`steal_ms` in the same `STEAL_WINDOW_S` window.

Measured: wake-up lateness median / p99 / p99.99 / max (ms), spikes per minute, spikes over one 20 ms
control period, the machine's steal over the run; a table on stdout, JSON at --json.
Run it on a quiet machine, then beside the load you care about: bench/soak.py runs it beside the brain
and matches each late control tick to the stalls it saw. SIGTERM or SIGINT ends the measurement early
(the results so far are written).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from bench._common import format_table, machine_info, write_json  # noqa: E402
from yan_dog.scheduling import CONTROL_RT_PRIORITY, set_realtime, thread_schedstat  # noqa: E402

INTERVAL_MS = 1.0  # wake-up period (ms), as cyclictest's default
SPIKE_MS = 5.0  # a wake-up this late (ms) is kept with its breakdown
CONTROL_PERIOD_MS = 20.0  # the brain's 50 Hz period: a stall longer than this costs a control tick
STEAL_WINDOW_S = 1.0  # the machine's steal is read this often (s; /proc/stat counts in 10 ms ticks)
MS_PER_S = 1e3


def steal_s() -> float:
    """CPU time the hypervisor has taken from this machine so far, all cores (s)."""
    with open("/proc/stat") as f:
        fields = f.readline().split()  # cpu user nice system idle iowait irq softirq steal ...
    return int(fields[8]) / os.sysconf("SC_CLK_TCK")


def measure(seconds: float, interval_s: float, priority: int, spike_s: float,
            stop: threading.Event | None = None) -> dict:
    """Run the sleeping thread for `seconds` (or until `stop` is set); returns lateness samples (s),
    spikes, the policy note and the time measured."""
    out: dict = {}
    stop = stop or threading.Event()

    def run() -> None:
        out["policy"] = set_realtime(priority)
        late, spikes = [], []
        steal_at, steal_before = time.monotonic(), steal_s()
        window_steal = 0.0
        sched = thread_schedstat()
        cpu = time.thread_time()
        first = time.monotonic() + interval_s
        end = first + seconds
        n_deadlines = round(seconds / interval_s)  # counted, not compared: summed floats gave one extra
        k, deadline = 0, first
        started = time.monotonic()
        while k < n_deadlines and not stop.is_set():
            pause = deadline - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            now = time.monotonic()
            lateness = now - deadline
            late.append(lateness)
            sched_now, cpu_now = thread_schedstat(), time.thread_time()
            if now - steal_at >= STEAL_WINDOW_S:
                steal_now = steal_s()
                window_steal, steal_before, steal_at = steal_now - steal_before, steal_now, now
            if lateness > spike_s:
                spikes.append({
                    "at_s": round(seconds - (end - now), 3),
                    "wall_time_s": time.time(),  # to line up with other logs (ROS stamps are wall clock)
                    "late_ms": lateness * MS_PER_S,
                    "queued_ms": (sched_now[1] - sched[1]) * MS_PER_S if sched and sched_now else None,
                    "cpu_ms": (cpu_now - cpu) * MS_PER_S,
                    "steal_ms_window": window_steal * MS_PER_S,
                })
            sched, cpu = sched_now, cpu_now
            k += 1
            if first + k * interval_s < now:  # overrun: skip the deadlines past (as a control timer does)
                k = int((now - first) // interval_s) + 1
            deadline = first + k * interval_s
        out["late"], out["spikes"], out["seconds"] = late, spikes, time.monotonic() - started

    thread = threading.Thread(target=run, name="jitter")
    steal0 = steal_s()
    thread.start()
    thread.join()
    out["steal_s"] = steal_s() - steal0
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, required=True, help="how long to measure (minutes)")
    ap.add_argument("--json", type=Path, required=True, help="write the results here")
    ap.add_argument("--priority", type=int, default=CONTROL_RT_PRIORITY,
                    help="SCHED_FIFO priority of the thread (0 = normal policy)")
    ap.add_argument("--interval-ms", type=float, default=INTERVAL_MS, help="wake-up period (ms)")
    ap.add_argument("--spike-ms", type=float, default=SPIKE_MS, help="keep wake-ups later than this (ms)")
    args = ap.parse_args(argv)
    if args.minutes <= 0 or args.interval_ms <= 0 or args.spike_ms <= 0:
        raise SystemExit("--minutes, --interval-ms and --spike-ms must be > 0")
    seconds = args.minutes * 60.0
    print(f"measuring {args.minutes:g} min of wake-ups every {args.interval_ms:g} ms ...", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    r = measure(seconds, args.interval_ms / MS_PER_S, args.priority, args.spike_ms / MS_PER_S, stop)
    minutes = r["seconds"] / 60.0
    late_ms = np.asarray(r["late"]) * MS_PER_S
    over_period = [s for s in r["spikes"] if s["late_ms"] > CONTROL_PERIOD_MS]
    result = {
        "policy": r["policy"],
        "wakeups": int(late_ms.size),
        "late_ms_median": float(np.median(late_ms)),
        "late_ms_p99": float(np.percentile(late_ms, 99)),
        "late_ms_p9999": float(np.percentile(late_ms, 99.99)),
        "late_ms_max": float(late_ms.max()),
        "spikes": len(r["spikes"]),
        "minutes": minutes,
        "spikes_per_min": len(r["spikes"]) / minutes,
        "over_control_period": len(over_period),
        "steal_s": r["steal_s"],
        "spike_list": r["spikes"],
    }
    print(format_table(
        ["policy", "min", "wake-ups", "median ms", "p99 ms", "p99.99 ms", "max ms",
         f"> {args.spike_ms:g} ms", f"> {CONTROL_PERIOD_MS:g} ms", "steal s"],
        [[r["policy"].split(" (")[0], minutes, result["wakeups"], result["late_ms_median"],
          result["late_ms_p99"], result["late_ms_p9999"], result["late_ms_max"], result["spikes"],
          result["over_control_period"], result["steal_s"]]]))
    for s in sorted(r["spikes"], key=lambda s: -s["late_ms"])[:10]:
        queued = f"{s['queued_ms']:.1f}" if s["queued_ms"] is not None else "?"
        print(f"  at {s['at_s']:.1f} s: {s['late_ms']:.1f} ms late (run queue {queued} ms, charged CPU "
              f"{s['cpu_ms']:.1f} ms; machine steal {s['steal_ms_window']:.0f} ms in that second)")
    write_json(args.json, {
        **result,
        "params": {"minutes": args.minutes, "priority": args.priority, "interval_ms": args.interval_ms,
                   "spike_ms": args.spike_ms, "control_period_ms": CONTROL_PERIOD_MS},
        "machine": machine_info(),
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
