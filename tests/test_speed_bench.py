"""bench/speed.py: interleaved blocks (A B, then B A), the learner's own CPU accounting, the tick timer and
the profile table; the slow test runs the bench for real at a tiny size."""

import json
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import speed  # noqa: E402


class FakeLearner:
    """Counts its steps into a shared log and charges `cost` CPU seconds per step, as `train_step` does."""

    def __init__(self, name: str, cost: float, log: list) -> None:
        self.name, self.cost, self.log, self.train_seconds = name, cost, log, 0.0

    def train_step(self) -> dict:
        self.log.append(self.name)
        self.train_seconds += self.cost
        torch.ones(8, 8) @ torch.ones(8, 8)  # something for the profiler to see
        return {}


def test_interleaved_blocks_alternate_order_and_time_every_step_by_the_learners_clock():
    log = []
    learners = {"yan": FakeLearner("yan", 0.003, log), "transformer": FakeLearner("transformer", 0.002, log)}
    times, ratios = speed.interleaved(learners, repeats=3, steps=2)
    assert log == ["yan"] * 2 + ["transformer"] * 4 + ["yan"] * 4 + ["transformer"] * 2
    assert times["yan"] == pytest.approx([3.0] * 6) and times["transformer"] == pytest.approx([2.0] * 6)
    assert ratios == pytest.approx([1.5] * 3)
    spread = speed._spread([1.0, 2.0, 3.0, 4.0])
    assert spread == {"median": 2.5, "q25": 1.75, "q75": 3.25, "n": 4}


def test_tick_timer_steps_a_real_policy():
    from yan_policy import PolicyConfig, make_policy

    policy = make_policy("yan", PolicyConfig(d_model=32, n_layers=1))
    ticks = speed.tick_ms(policy, 5, seed=0)
    assert ticks["n"] == 5 and 0 < ticks["median"] <= ticks["p99"] and 0 <= ticks["cpu_median"]


@pytest.mark.slow
def test_profile_lists_the_top_ops_per_step():
    """~20 s on a busy core: the profiler's start-up."""
    rows, table = speed.profile_steps(FakeLearner("yan", 0.0, []), 2)
    assert rows and "aten::mm" in {r["op"] for r in rows} and "aten::mm" in table
    assert all(r["calls"] > 0 and r["self_cpu_ms"] >= 0 for r in rows)


@pytest.mark.slow
def test_speed_bench_runs_end_to_end_at_a_tiny_size(tmp_path):
    """~1-3 min on a busy core: two learners on real demonstrations, a few steps each."""
    out = tmp_path / "speed.json"
    assert speed.main(["--repeats", "2", "--steps", "1", "--ticks", "5", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert set(data["learner_step_ms"]) == {"yan", "transformer"}
    assert data["learner_step_ms"]["yan"]["n"] == 2 and data["profile"]
    assert abs(data["params"]["transformer"] / data["params"]["yan"] - 1) <= 0.10
