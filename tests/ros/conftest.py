"""Shared settings for the tests that start a real ROS 2 graph (rclpy + Fast DDS on loopback).

Every test here is marked `ros`. DDS traffic stays on this host (ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST),
and each test gets its own ROS_DOMAIN_ID (disjoint ranges per pytest-xdist worker), so two tests running
at the same time never see each other's topics. Child processes inherit the environment, so a graph
started with `subprocess` lands in the test's domain too.
"""

from __future__ import annotations

import itertools
import os

import pytest

_DOMAINS_PER_WORKER = 45  # ROS_DOMAIN_ID must stay in 0..101 on Linux (Fast DDS port range)
_counter = itertools.count()


def _worker_index() -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")  # "gw0", "gw1", ... (unset without xdist)
    return int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0


def pytest_collection_modifyitems(config, items):
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.fspath).startswith(here):
            item.add_marker(pytest.mark.ros)


@pytest.fixture(autouse=True)
def ros_domain(monkeypatch) -> int:
    """A fresh DDS domain for this test (1..90), exported to this process and its children."""
    # the process id spreads separate pytest runs on one machine over the range as well
    slot = (os.getpid() + next(_counter)) % _DOMAINS_PER_WORKER
    domain = 1 + (_worker_index() % 2) * _DOMAINS_PER_WORKER + slot
    monkeypatch.setenv("ROS_DOMAIN_ID", str(domain))
    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    monkeypatch.setenv("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
    return domain
