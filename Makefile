# yan-dog: the two commands a newcomer needs are `make demo` and `make test`.
# Everything installs into .venv/ in the repo root; nothing needs to be installed by hand.

PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: install espeak-ng audio-debs chromium unitree-sdk test test-slow lint demo sim-demo bench clean

install: espeak-ng audio-debs chromium $(STAMP) unitree-sdk

# Spoken cues (sim/speech.py) need the espeak-ng text-to-speech engine, a Debian package: installed here
# when missing (as root), else a one-line error.
espeak-ng:
	@command -v espeak-ng >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    { apt-get -qq update && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 \
	      install -y -qq --no-install-recommends espeak-ng; } \
	    || { echo "error: apt-get could not install espeak-ng (spoken cues)"; exit 1; }; \
	  else \
	    echo "error: espeak-ng (spoken cues) is missing: run 'sudo apt-get install espeak-ng', or make install as root"; \
	    exit 1; \
	  fi; }

# The microphone node (mic_node) captures through PortAudio (libportaudio2); its test records a private
# PulseAudio null sink (pulseaudio, pulseaudio-utils) through ALSA's pulse plugin (libasound2-plugins).
# Installed here when missing (as root), else a one-line error.
AUDIO_DEBS := libportaudio2 libasound2-plugins pulseaudio pulseaudio-utils
audio-debs:
	@missing=$$(for p in $(AUDIO_DEBS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null \
	  | grep -q '^install ok installed' || echo $$p; done | xargs); \
	[ -z "$$missing" ] || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    { apt-get -qq update && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 \
	      install -y -qq --no-install-recommends $$missing; } \
	    || { echo "error: apt-get could not install $$missing (microphone node and its test)"; exit 1; }; \
	  else \
	    echo "error: the microphone node needs the Debian packages $$missing: run 'sudo apt-get install $$missing', or make install as root"; \
	    exit 1; \
	  fi; }

# The browser teach panel's test drives a real browser: Debian's Chromium, headless, through its
# chromedriver (Selenium). Installed here when missing (as root), else a one-line error.
chromium:
	@{ command -v chromium >/dev/null && command -v chromedriver >/dev/null; } || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    { apt-get -qq update && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 \
	      install -y -qq --no-install-recommends chromium chromium-driver; } \
	    || { echo "error: apt-get could not install chromium chromium-driver (the teach panel's browser test)"; exit 1; }; \
	  else \
	    echo "error: the teach panel's browser test needs chromium and chromium-driver: run 'sudo apt-get install chromium chromium-driver', or make install as root"; \
	    exit 1; \
	  fi; }

$(STAMP): pyproject.toml requirements-ros.txt requirements-lerobot.txt requirements-lerobot-nodeps.txt \
          ros_ws/src/yan_dog_ros/setup.py
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (Python 3.11 is required)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first and pinned: the local CPU build (a bare `torch` would pull a multi-GB CUDA build).
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[dev]"
	$(PY) -m pip install --quiet -r requirements-ros.txt
	# LeRobot's dataset code beside torch 2.13 (docs/ecosystem.md): what it imports, then lerobot and
	# torchvision without their dependencies (both declare an older torch); then check torch stayed.
	$(PY) -m pip install --quiet -r requirements-lerobot.txt
	$(PY) -m pip install --quiet --no-deps -r requirements-lerobot-nodeps.txt
	$(PY) -c "import torch; assert torch.__version__.startswith('2.13.0'), torch.__version__"
	# the ROS 2 nodes (ament_python), editable: their console scripts land in .venv/bin
	$(PY) -m pip install --quiet -e ros_ws/src/yan_dog_ros
	touch $(STAMP)

# The Unitree bridge's SDK (unitree_bridge; docs/robot.md): CycloneDDS 0.10.2 from Debian's cyclonedds-dev
# (apt-get, as root) and unitree-sdk2, by install_unitree_sdk.sh (which says why each step). Optional: where
# it cannot install, one "error:" line and everything else works without it (the bridge's tests skip);
# REQUIRE_BRIDGE=1 (CI) makes that fatal.
BRIDGE_STAMP := $(VENV)/.unitree-sdk-stamp
unitree-sdk: $(BRIDGE_STAMP)
$(BRIDGE_STAMP): $(STAMP) ros_ws/src/yan_dog_ros/install_unitree_sdk.sh
	@if ros_ws/src/yan_dog_ros/install_unitree_sdk.sh $(VENV); then touch $@; \
	elif [ "$(REQUIRE_BRIDGE)" = 1 ]; then exit 1; \
	else echo "note: continuing without the Unitree bridge (nothing else needs it)"; fi

lint: install
	$(VENV)/bin/ruff check .

# The fast suite: lint + every test not marked slow; two workers, then the `solo` tests alone (each
# needs the core the other worker would take; pytest's exit 5 says none is selected, as now).
test: install lint
	$(VENV)/bin/pytest -q -n 2 -m "not slow and not solo"
	$(VENV)/bin/pytest -q -m "solo and not slow" || [ $$? -eq 5 ]

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
