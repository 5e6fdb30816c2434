"""yan_dog.scheduling.set_realtime_threads: the threads of this process named with a prefix (the DDS
middleware's "dds.*") go under SCHED_FIFO; other threads, and the caller, keep the normal policy."""

import ctypes
import os
import threading

import pytest

from yan_dog.scheduling import RT_PRIORITY_OFF, set_realtime_threads

PR_SET_NAME = 15  # prctl option: the calling thread's name (its /proc comm)
PREFIX = "ydtest."


def _named_thread(name: str, ready: threading.Event, done: threading.Event, tids: dict) -> threading.Thread:
    def body():
        ctypes.CDLL(None).prctl(PR_SET_NAME, name.encode(), 0, 0, 0)
        tids[name] = threading.get_native_id()
        ready.set()
        done.wait()

    return threading.Thread(target=body, daemon=True)


@pytest.mark.skipif(not hasattr(os, "SCHED_FIFO") or not os.path.isdir("/proc/self/task"), reason="Linux")
def test_only_the_threads_with_the_prefix_become_real_time():
    done, tids, threads = threading.Event(), {}, []
    for name in (f"{PREFIX}ev", "other.ev"):
        ready = threading.Event()
        threads.append(_named_thread(name, ready, done, tids))
        threads[-1].start()
        assert ready.wait(5.0)
    try:
        assert set_realtime_threads(PREFIX, RT_PRIORITY_OFF) == []  # off: nothing changes
        try:
            changed = set_realtime_threads(PREFIX, 1)
        except PermissionError:
            pytest.skip("no privilege for SCHED_FIFO here (CAP_SYS_NICE or an rtprio limit)")
        assert changed == [f"{PREFIX}ev"]
        assert os.sched_getscheduler(tids[f"{PREFIX}ev"]) == os.SCHED_FIFO
        assert os.sched_getscheduler(tids["other.ev"]) == os.SCHED_OTHER
        assert os.sched_getscheduler(0) == os.SCHED_OTHER  # the caller too
        assert set_realtime_threads(PREFIX, 1) == []  # already real-time: left alone
        with pytest.raises(ValueError, match="real-time priority"):
            set_realtime_threads(PREFIX, 1000)
    finally:
        done.set()
        for t in threads:
            t.join(5.0)
