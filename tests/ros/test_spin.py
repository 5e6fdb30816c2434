"""`yan_dog_ros.spin.until_shutdown`: how a node process's spin ends."""

from __future__ import annotations

import pytest
import rclpy
from rclpy.context import Context
from rclpy.executors import ExternalShutdownException
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy
from yan_dog_ros.spin import until_shutdown


def _wait_set_on(context):
    """What an executor does on every spin: a wait set on its context (RCLError once it is shut down)."""
    with context.handle:
        return _rclpy.WaitSet(0, 0, 0, 0, 0, 0, context.handle)


def test_a_wait_set_on_a_context_ctrl_c_shut_down_ends_the_spin_quietly(ros_domain):
    """The race behind a Unitree bridge that exited 1 on Ctrl-C: rclpy's SIGINT handler shut the context
    down after the executor checked it and before it built its wait set."""
    rclpy.init()
    context = rclpy.get_default_context()
    _wait_set_on(context)  # fine while the context is valid
    rclpy.shutdown()
    with until_shutdown():
        _wait_set_on(context)  # RCLError: "the given context is not valid"
    for stop in (KeyboardInterrupt, ExternalShutdownException):
        with until_shutdown():
            raise stop()


def test_an_rcl_error_while_the_context_is_valid_is_raised(ros_domain):
    rclpy.init()
    try:
        with pytest.raises(_rclpy.RCLError), until_shutdown():
            raise _rclpy.RCLError("a real failure")
    finally:
        rclpy.try_shutdown()


def test_a_spin_on_a_context_of_its_own_is_judged_by_that_context(ros_domain):
    """The one-process runner spins on a context of its own: an RCLError is a shutdown only when that
    context is down, whatever the default context (here never started) says."""
    context = Context()
    rclpy.init(context=context)
    try:
        with pytest.raises(_rclpy.RCLError), until_shutdown(context):
            raise _rclpy.RCLError("a real failure")
        rclpy.shutdown(context=context)
        with until_shutdown(context):
            _wait_set_on(context)  # RCLError: the runner's context was shut down by Ctrl-C
    finally:
        rclpy.try_shutdown(context=context)
