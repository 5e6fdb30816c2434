"""The browser teach panel in a real browser (headless Chromium) over the real sim graph.

Smoke test (default suite): `yan-dog up sim panel:=true`; the page loads, the socket's status and camera
frames arrive, and buttons reach the brain: the skill set through the teach desk, a demonstration started
and discarded through its service, each action logged by the panel."""

from __future__ import annotations

import tempfile
from pathlib import Path

from tests.ros.panel_browser import chromium, need_chromium, shot, sim_graph_with_panel, text, wait_for

STATUS_TIMEOUT_S = 60.0  # the brain's first teach state after its policy build, on a busy machine
ANSWER_TIMEOUT_S = 20.0


def test_the_panel_loads_over_the_sim_graph_and_its_buttons_reach_the_brain():
    need_chromium()
    log = Path(tempfile.mkstemp(prefix="panel_graph_", suffix=".log")[1])
    try:
        with sim_graph_with_panel(log) as (url, _), chromium() as driver:
            driver.get(url + "/")
            wait_for(driver, lambda d: text(d, "conn") == "online", STATUS_TIMEOUT_S, "the socket")
            wait_for(driver, lambda d: text(d, "st-mode") == "idle", STATUS_TIMEOUT_S, "the brain's state")
            camera = driver.find_element("id", "camera")
            wait_for(driver, lambda d: camera.get_attribute("src").startswith("blob:"), STATUS_TIMEOUT_S,
                     "a camera frame")
            assert len(driver.find_elements("css selector", ".joint-slider")) == 12  # the pose editor

            driver.find_element("id", "skill-name").send_keys("head_tilt")
            driver.find_element("id", "skill-set").click()
            wait_for(driver, lambda d: text(d, "st-skill") == "head_tilt", ANSWER_TIMEOUT_S, "the skill set")
            driver.find_element("id", "demo-start").click()  # ~/start_demo, a service of the brain
            wait_for(driver, lambda d: text(d, "st-mode") == "demonstrating", ANSWER_TIMEOUT_S, "start_demo")
            driver.find_element("id", "demo-discard").click()
            wait_for(driver, lambda d: "discarded" in text(d, "demos"), ANSWER_TIMEOUT_S, "the discard")
            assert text(d := driver, "st-mode") == "idle", text(d, "answers")
            wait_for(driver, lambda d: "start_demo: demonstrating 'head_tilt'" in text(d, "answers"),
                     ANSWER_TIMEOUT_S, "the start_demo answer in the log")
            shot(driver, "smoke")
        out = log.read_text()
        for action in ("set_skill {'name': 'head_tilt'}", "start_demo {}", "discard_demo {}"):
            assert "]: panel: 127.0.0.1:" in out and action in out, f"{action} not logged:\n{out[-3000:]}"
        assert "Traceback" not in out, out[-3000:]
    finally:
        log.unlink(missing_ok=True)
