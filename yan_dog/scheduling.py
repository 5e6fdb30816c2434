"""CPU scheduling of the control thread (Linux): real-time priority, and where a late tick's time went.

A control loop on 2 cores shares them with the sensor drivers, the DDS threads, the learner and anything
else on the robot. Under the default policy (SCHED_OTHER) a thread whose timer fires may still wait on
the run queue until the scheduler gives it a core. A real-time policy (SCHED_FIFO) runs the thread as
soon as it wakes, ahead of every normal thread, which is what robot control loops do (ros2_control's
controller manager runs at SCHED_FIFO 50). It cannot help against stalls of the machine itself, e.g. a
hypervisor not running the vCPU: bench/jitter.py measures those.

`set_realtime(priority)` puts the CALLING THREAD under SCHED_FIFO with SCHED_RESET_ON_FORK: threads and
processes it starts afterwards (the learner process, a queue's feeder thread) get the normal policy back,
so only the control thread itself is real-time. It needs CAP_SYS_NICE or an `rtprio` limit
(`ulimit -r`, /etc/security/limits.conf); without either it raises PermissionError and the caller says so
and goes on at normal priority. Linux throttles real-time threads to 95% of a core
(/proc/sys/kernel/sched_rt_runtime_us), so a runaway loop cannot lock the machine.

`set_realtime_threads(prefix, priority)` puts this process's threads whose name starts with `prefix` under
SCHED_FIFO too, one step below the control thread: the DDS middleware's threads ("dds.ev", "dds.udp.*",
"dds.shm.*", "dds.asyn.*" in Fast DDS). A publish from the control thread takes the writer's lock, which
these threads also take (acknowledgements, heartbeats); at normal priority on a loaded machine one of them
was preempted holding it, and the real-time control thread slept in `publish()` until the scheduler ran
it again (30-52 ms, 0.2 ms of CPU: measured with bench/up_loop.py, `--processes`, load ~23): a priority
inversion. At real-time priority the holder runs at once and lets go.

`thread_schedstat()` reads /proc/thread-self/schedstat: time the calling thread ran, and time it waited
on a run queue for a core (runnable, not running). The rest of a gap the thread slept (its executor
waiting for the next event, or the GIL).
"""

from __future__ import annotations

import os

RT_PRIORITY_OFF = 0  # a priority of 0 means: leave the thread under the normal policy
GIL_SWITCH_S = 0.0005  # thread switch interval (s) while a control loop runs (Python's default: 5 ms)
CONTROL_RT_PRIORITY = 50  # SCHED_FIFO priority of the control thread by default (as ros2_control's)
NS_PER_S = 1e9
DDS_THREAD_PREFIX = "dds."  # Fast DDS names its threads dds.ev.<n>, dds.udp.<port>, dds.shm.<port>, ...
TASKS_DIR = "/proc/self/task"
SCHEDSTAT_PATH = "/proc/thread-self/schedstat"  # "<on-cpu ns> <run-queue wait ns> <timeslices>"


def rt_priority_range() -> tuple[int, int]:
    """(min, max) SCHED_FIFO priority on this system ((1, 99) on Linux); (0, 0) where there is none."""
    if not hasattr(os, "SCHED_FIFO"):
        return 0, 0
    return os.sched_get_priority_min(os.SCHED_FIFO), os.sched_get_priority_max(os.SCHED_FIFO)


def check_rt_priority(priority: int) -> None:
    """ValueError unless `priority` is RT_PRIORITY_OFF or a valid SCHED_FIFO priority."""
    low, high = rt_priority_range()
    if priority != RT_PRIORITY_OFF and not (high and low <= priority <= high):
        valid = f"{low}..{high}" if high else "none on this system"
        raise ValueError(f"real-time priority must be {RT_PRIORITY_OFF} (off) or a SCHED_FIFO priority "
                         f"({valid}), got {priority}")


def set_realtime(priority: int) -> str:
    """Put the calling thread under SCHED_FIFO at `priority` (its children are reset to the normal
    policy); returns a one-line description for the log. RT_PRIORITY_OFF: nothing changes.

    Raises ValueError for a bad priority, PermissionError without CAP_SYS_NICE or an rtprio limit,
    OSError where the policy does not exist (not Linux)."""
    check_rt_priority(priority)
    if priority == RT_PRIORITY_OFF:
        return "control thread at the normal scheduling policy (real-time priority off)"
    if not hasattr(os, "SCHED_RESET_ON_FORK"):
        raise OSError("SCHED_FIFO with SCHED_RESET_ON_FORK needs Linux")
    os.sched_setscheduler(0, os.SCHED_FIFO | os.SCHED_RESET_ON_FORK, os.sched_param(priority))
    return f"control thread under SCHED_FIFO priority {priority} (threads and processes it starts are not)"


def set_realtime_threads(prefix: str, priority: int, tasks_dir: str = TASKS_DIR) -> list[str]:
    """Put every thread of this process whose name starts with `prefix` under SCHED_FIFO at `priority`
    (see the module docstring); returns the names of the threads changed. Threads already real-time are
    left alone. Raises like `set_realtime`; a thread that ended meanwhile is skipped."""
    check_rt_priority(priority)
    if priority == RT_PRIORITY_OFF:
        return []
    changed = []
    for tid in sorted(os.listdir(tasks_dir)):
        try:
            with open(os.path.join(tasks_dir, tid, "comm")) as f:
                name = f.read().strip()
            if not name.startswith(prefix) or os.sched_getscheduler(int(tid)) == os.SCHED_FIFO:
                continue
            os.sched_setscheduler(int(tid), os.SCHED_FIFO, os.sched_param(priority))
        except (FileNotFoundError, ProcessLookupError):  # the thread ended
            continue
        changed.append(name)
    return changed


def thread_schedstat() -> tuple[float, float] | None:
    """(seconds on a CPU, seconds waiting on a run queue) of the calling thread so far; None where the
    kernel does not expose it."""
    try:
        with open(SCHEDSTAT_PATH) as f:
            on_cpu_ns, queued_ns, _ = f.read().split()
    except (OSError, ValueError):
        return None
    return int(on_cpu_ns) / NS_PER_S, int(queued_ns) / NS_PER_S
