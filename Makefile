# yan-dog: the two commands a newcomer needs are `make demo` and `make test`.
# Everything installs into .venv/ in the repo root; nothing needs to be installed by hand.

PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: install test test-slow lint demo sim-demo bench clean

install: $(STAMP)

$(STAMP): pyproject.toml requirements-ros.txt ros_ws/src/yan_dog_ros/setup.py
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (Python 3.11 is required)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first and pinned: the local CPU build (a bare `torch` would pull a multi-GB CUDA build).
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[dev]"
	$(PY) -m pip install --quiet -r requirements-ros.txt
	# the ROS 2 nodes (ament_python), editable: their console scripts land in .venv/bin
	$(PY) -m pip install --quiet -e ros_ws/src/yan_dog_ros
	touch $(STAMP)

lint: install
	$(VENV)/bin/ruff check .

# The fast suite: lint + every test not marked slow; two workers, then the `solo` tests alone (each
# needs the core the other worker would take).
test: install lint
	$(VENV)/bin/pytest -q -n 2 -m "not slow and not solo"
	$(VENV)/bin/pytest -q -m "solo and not slow"

test-slow: install
	$(VENV)/bin/pytest -q -m slow

# The main job: a robot that knows nothing is taught several skills, each from 3 demonstrations and
# asked for by its own audio cue, then evaluated cue by cue (report, plots and videos in demo_out/).
demo: install
	$(VENV)/bin/yan-dog demo --out demo_out

# The simulator and its scripted teachers on every skill (one MP4 per skill, about a minute).
sim-demo: install
	$(PY) -m sim.demo --out demo_out/sim

# The quick benchmarks (~20 min on 2 cores); each prints a table and writes JSON to bench_out/.
bench: install
	$(PY) bench/teachers.py --episodes 20 --json bench_out/teachers.json
	$(PY) bench/latency.py --quick --json bench_out/latency_quick.json
	$(PY) bench/few_shot.py --quick --json bench_out/few_shot_quick.json

clean:
	rm -rf $(VENV) demo_out bench_out .pytest_cache .ruff_cache
