"""Each policy's tuned learner settings (lr x batch episodes), chosen on dev by `bench/tune.py`.

`bench/tuned.json` holds, per policy, the grid cell with the best dev mean success and where it came
from; `bench/few_shot.py` (and `bench/ablate.py`) start every job of that policy from it unless run with
`--no-tuned`, and record what they used in their JSON config. Missing file: every policy runs at
`LearnerConfig`'s defaults (the file is written only by a full tuning run: see docs/benchmarks.md).

JSON: {"split": "dev", "source": result file, "grid": {"lr": [...], "batch_episodes": [...]},
       "policies": {policy: {"learner": {"lr": ..., "batch_episodes": ...}, "dev_mean_ci": [m, lo, hi]}}}
"""

from __future__ import annotations

import json
from pathlib import Path

TUNED_JSON = Path(__file__).resolve().parent / "tuned.json"
TUNED_FIELDS = ("lr", "batch_episodes")  # the LearnerConfig fields the grid tunes


def load_tuned(path: Path | None = TUNED_JSON) -> dict:
    """{"source": str | None, "overrides": {policy: {"learner": {field: value}}}} from `path` (a missing
    file or None: no overrides). ValueError if the file was tuned on another split or names other fields."""
    if path is None or not Path(path).exists():
        return {"source": None, "overrides": {}}
    data = json.loads(Path(path).read_text())
    if data.get("split") != "dev":
        raise ValueError(f"{path}: tuned on split {data.get('split')!r}; only dev may choose settings")
    overrides = {}
    for policy, entry in data.get("policies", {}).items():
        learner = entry.get("learner", {})
        unknown = sorted(set(learner) - set(TUNED_FIELDS))
        if unknown:
            raise ValueError(f"{path}: {policy} tunes {unknown}; the grid tunes only {list(TUNED_FIELDS)}")
        overrides[policy] = {"learner": dict(learner)}
    return {"source": str(path), "overrides": overrides}
