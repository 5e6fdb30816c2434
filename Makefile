# yan-dog: the two commands a newcomer needs are `make demo` and `make test`.
# Everything installs into .venv/ in the repo root; nothing needs to be installed by hand.

PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: install test test-slow lint demo bench clean

install: $(STAMP)

$(STAMP): pyproject.toml requirements-ros.txt
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (Python 3.11 is required)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first and pinned: the local CPU build (a bare `torch` would pull a multi-GB CUDA build).
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[dev]"
	$(PY) -m pip install --quiet -r requirements-ros.txt
	touch $(STAMP)

lint: install
	$(VENV)/bin/ruff check .

# The fast suite: lint + every test not marked slow.
test: install lint
	$(VENV)/bin/pytest -q -n 2 -m "not slow"

test-slow: install
	$(VENV)/bin/pytest -q -m slow

# Until multi-skill teaching meets its targets, the main job shows the simulator and its teachers;
# the teaching session is `.venv/bin/yan-dog demo` (see README).
demo: install
	$(PY) -m sim.demo --out demo_out

# The quick benchmarks (~20 min on 2 cores); each prints a table and writes JSON to bench_out/.
bench: install
	$(PY) bench/teachers.py --episodes 20 --json bench_out/teachers.json
	$(PY) bench/latency.py --quick --json bench_out/latency_quick.json
	$(PY) bench/few_shot.py --quick --json bench_out/few_shot_quick.json

clean:
	rm -rf $(VENV) demo_out bench_out .pytest_cache .ruff_cache
