"""bench/latency.py --quick runs end to end and writes the documented JSON (slow: ~15 s)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_latency_bench_quick(tmp_path):
    out = tmp_path / "latency.json"
    # a subprocess: the bench pins itself to one core, which must not leak into the test process
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "latency.py"), "--quick", "--steps", "20", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert run.returncode == 0, run.stderr
    assert "target yan_median_step_le_2ms" in run.stdout
    data = json.loads(out.read_text())
    assert set(data["params"]) == {"yan", "transformer"}
    for model in ("yan", "transformer"):
        for n in ("256", "1024", "4096"):
            entry = data[model][n]
            assert entry["step_ms_median"] > 0 and entry["step_ms_p99"] >= entry["step_ms_median"]
            assert entry["rss_mb"] > 0
    # the Transformer's KV cache grows with the context, Yan's state does not
    assert data["transformer"]["4096"]["state_mb"] >= 4 * data["transformer"]["256"]["state_mb"]
    assert data["yan"]["4096"]["state_mb"] == data["yan"]["256"]["state_mb"]
    assert data["train"]["yan"]["timesteps_per_s"] > 0 and "ratios" in data and "targets" in data
