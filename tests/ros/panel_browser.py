"""Helpers for the teach panel's real-browser tests: the sim graph with the panel (`yan-dog up sim
panel:=true`) and Debian's headless Chromium driven through Selenium."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from tests.ros.sim_graph import stop_process

REPO = Path(__file__).resolve().parents[2]
YAN_DOG = REPO / ".venv/bin/yan-dog"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
# screenshots of the browser tests (kept after the run, for a person to look at)
ARTIFACTS = Path(os.environ.get("YAN_DOG_ARTIFACTS", Path(tempfile.gettempdir()) / "yan-dog-artifacts"))
ARTIFACTS = ARTIFACTS / "panel"
START_TIMEOUT_S = 90.0  # torch + pybullet imports and the policy build, on a busy 2-core machine
STOP_TIMEOUT_S = 60.0
POLL_S = 0.25
WINDOW = (420, 2400)  # a phone's width, tall enough for the whole page in one screenshot


def need_chromium() -> None:
    if not (Path(CHROMIUM).is_file() and Path(CHROMEDRIVER).is_file()):
        pytest.skip("chromium and chromium-driver are not installed (make chromium)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def sim_graph_with_panel(log_path: Path, *args: str):
    """`yan-dog up sim panel:=true` on a free port; yields (base URL, process). Stopped with Ctrl-C."""
    port = free_port()
    with open(log_path, "w") as log:
        proc = subprocess.Popen([str(YAN_DOG), "up", "sim", "panel:=true", f"panel_port:={port}",
                                 "record:=false", *args], stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                urllib.request.urlopen(f"{url}/api/robot", timeout=1.0).read()
                break
            except OSError:
                time.sleep(POLL_S)
        else:
            pytest.fail(f"the panel did not come up; log:\n{log_path.read_text()[-3000:]}")
        yield url, proc
    finally:
        stop_process(proc, signal.SIGINT, STOP_TIMEOUT_S)


@contextlib.contextmanager
def chromium(fake_audio: Path | None = None):
    """Headless Chromium through chromedriver; with `fake_audio`, its microphone plays that WAV file."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--window-size={WINDOW[0]},{WINDOW[1]}", "--use-fake-ui-for-media-stream",
                "--autoplay-policy=no-user-gesture-required"):
        options.add_argument(arg)
    if fake_audio is not None:
        options.add_argument("--use-fake-device-for-media-stream")
        options.add_argument(f"--use-file-for-fake-audio-capture={fake_audio}")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(driver, condition, timeout_s: float, what: str):
    """Poll `condition(driver)` until truthy; fail with `what` and a screenshot otherwise."""
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, timeout_s, poll_frequency=POLL_S).until(condition)
    except Exception:  # noqa: BLE001 — TimeoutException; the screenshot says more than its message
        shot(driver, f"failed_{what.replace(' ', '_')[:40]}")
        raise AssertionError(f"timed out after {timeout_s} s waiting for {what}") from None


def text(driver, element_id: str) -> str:
    return driver.find_element("id", element_id).text


def shot(driver, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path
