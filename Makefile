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

demo: install
	$(VENV)/bin/yan-dog demo --out demo_out

bench: install
	$(PY) bench/teachers.py --episodes 20 --json bench_out/teachers.json

clean:
	rm -rf $(VENV) demo_out bench_out .pytest_cache .ruff_cache
