"""yan_dog.scheduling: real-time priority for the control thread only, and the run-queue wait it reads."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

from yan_dog.scheduling import (
    RT_PRIORITY_OFF,
    check_rt_priority,
    rt_priority_range,
    set_realtime,
    thread_schedstat,
)

linux_only = pytest.mark.skipif(not hasattr(os, "SCHED_RESET_ON_FORK"), reason="Linux scheduling policies")
PRIORITY = 10


def in_thread(fn):
    """Run fn in a new thread (so the test process's own thread keeps its policy); its result or error."""
    out = {}

    def run():
        try:
            out["value"] = fn()
        except BaseException as e:  # noqa: BLE001 — handed back to the test
            out["error"] = e

    t = threading.Thread(target=run)
    t.start()
    t.join()
    if "error" in out:
        raise out["error"]
    return out["value"]


def test_priorities_are_checked():
    check_rt_priority(RT_PRIORITY_OFF)
    low, high = rt_priority_range()
    if high:
        check_rt_priority(low)
        check_rt_priority(high)
    for bad in (-1, high + 1):
        with pytest.raises(ValueError, match="real-time priority must be 0"):
            check_rt_priority(bad)
    with pytest.raises(ValueError):
        set_realtime(high + 1)


def test_priority_off_leaves_the_thread_alone():
    before = os.sched_getscheduler(0) if hasattr(os, "sched_getscheduler") else None
    assert "normal scheduling policy" in in_thread(lambda: set_realtime(RT_PRIORITY_OFF))
    if before is not None:
        assert os.sched_getscheduler(0) == before


@linux_only
def test_only_the_calling_thread_becomes_real_time_not_what_it_starts():
    def work():
        try:
            message = set_realtime(PRIORITY)
        except PermissionError:
            return None
        own = os.sched_getscheduler(0), os.sched_getparam(0).sched_priority
        child_thread = in_thread(lambda: os.sched_getscheduler(0))
        child_process = subprocess.run([sys.executable, "-c", "import os; print(os.sched_getscheduler(0))"],
                                       capture_output=True, text=True, check=True).stdout.strip()
        return message, own, child_thread, int(child_process)

    result = in_thread(work)
    if result is None:
        pytest.skip("no privilege for SCHED_FIFO here (CAP_SYS_NICE or an rtprio limit)")
    message, (policy, priority), child_thread, child_process = result
    assert f"SCHED_FIFO priority {PRIORITY}" in message
    assert policy & ~os.SCHED_RESET_ON_FORK == os.SCHED_FIFO and policy & os.SCHED_RESET_ON_FORK
    assert priority == PRIORITY
    assert child_thread == os.SCHED_OTHER and child_process == os.SCHED_OTHER
    assert os.sched_getscheduler(0) == os.SCHED_OTHER  # the test's own thread never changed


@linux_only
def test_schedstat_counts_this_threads_cpu_time():
    first = thread_schedstat()
    if first is None:
        pytest.skip("the kernel has no /proc/thread-self/schedstat")
    sum(i * i for i in range(200_000))  # a few ms of CPU
    second = thread_schedstat()
    assert second[0] > first[0] and second[1] >= first[1] >= 0.0


def test_jitter_bench_measures_wakeups_and_keeps_late_ones(tmp_path):
    """bench/jitter.py end to end for 3 s, normal policy (its own process: the thread it starts is the one
    measured): every wake-up is counted, none is early, and the JSON has what the README quotes."""
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    out = tmp_path / "jitter.json"
    args = ["--minutes", "0.05", "--priority", "0", "--interval-ms", "2", "--spike-ms", "0.001",
            "--json", str(out)]
    run = subprocess.run([sys.executable, str(root / "bench" / "jitter.py"), *args],
                         capture_output=True, text=True, timeout=60, cwd=root)
    assert run.returncode == 0, run.stderr
    data = json.loads(out.read_text())
    assert 500 <= data["wakeups"] <= 1500  # 3 s / 2 ms; fewer when wake-ups overran their next deadline
    assert 0.0 <= data["late_ms_median"] <= data["late_ms_p99"] <= data["late_ms_max"]
    assert data["spikes"] == len(data["spike_list"]) > 0  # every wake-up is a few us late at least
    assert all(s["late_ms"] > 0.001 and s["cpu_ms"] >= 0.0 for s in data["spike_list"])
    assert "normal scheduling policy" in data["policy"]
