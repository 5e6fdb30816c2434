"""The fault-injection suite shares the ROS 2 tests' isolation: every test gets its own ROS_DOMAIN_ID and
DDS discovery stays on this host (ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST), see tests/ros/conftest.py.
Tests that need no ROS simply ignore the fixture."""

from tests.ros.conftest import ros_domain  # noqa: F401  (autouse fixture, re-exported for this folder)
