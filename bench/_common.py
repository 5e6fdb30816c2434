"""Shared helpers for the benchmarks: one-core pinning, a text table, atomic JSON output."""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np


def pin_to_one_core() -> str:
    """Pin this process to a single CPU core (Linux) so timings mean "on one core"; returns a note."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    if hasattr(os, "sched_setaffinity"):
        core = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {core})
        return f"pinned to core {core}"
    return "not pinned (no sched_setaffinity on this platform)"


# the CPU flags that decide how fast torch's CPU kernels run (a slower core of the same count halves the
# learner's steps per CPU second: docs/experiments.md, 2026-12-01: the 60 CPU s budget on a slower CPU)
VECTOR_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_tile", "fma")


def cpu_model(cpuinfo: str | None = None) -> dict:
    """The CPU's model name and its vector extensions, from /proc/cpuinfo (Linux; empty elsewhere)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return {}
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        key = key.strip()
        if sep and key in ("model name", "flags") and key not in fields:
            fields[key] = value.strip()
    flags = set(fields.get("flags", "").split())
    return {"cpu_model": fields.get("model name", "unknown"),
            "cpu_vector_flags": [f for f in VECTOR_FLAGS if f in flags]}


def machine_info() -> dict:
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        **cpu_model(),
    }


def format_table(headers: Sequence[str], rows: Sequence[Sequence]) -> str:
    """A plain aligned text table; floats get 3 significant decimals."""

    def cell(v) -> str:
        if isinstance(v, float):
            return f"{v:.3g}" if abs(v) < 1e4 else f"{v:.0f}"
        return str(v)

    body = [[cell(v) for v in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in body)) if body else len(h) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    sep = "  ".join("-" * w for w in widths)
    out = [line, sep] + ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in body]
    return "\n".join(out)


def write_json(path: str | os.PathLike, data: dict) -> Path:
    """Write JSON atomically (temp file in the same folder + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)
    return path


def time_calls(fn: Callable[[], object], n: int, warmup: int = 10) -> dict:
    """Call fn `warmup` + n times; median and p99 of the n timed calls, in milliseconds."""
    for _ in range(warmup):
        fn()
    times = np.empty(n)
    for i in range(n):
        start = time.perf_counter()
        fn()
        times[i] = time.perf_counter() - start
    return {"median_ms": float(np.median(times) * 1e3), "p99_ms": float(np.percentile(times, 99) * 1e3)}


def process_rss_mb(pid: int) -> float:
    """Resident memory of process `pid` in MiB, from /proc (Linux); OSError or RuntimeError where it cannot
    be read (e.g. the process is gone)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"no VmRSS for process {pid}")


def rss_mb() -> float:
    """Resident memory of this process in MiB (Linux: after returning freed heap pages to the OS)."""
    if platform.system() == "Linux":
        import ctypes

        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)  # so buffers already freed do not count
        except OSError:
            pass
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10  # peak: the best cheap proxy
