"""The console-script main of a node process: init, spin until Ctrl-C or shutdown, clean up."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator, Sequence

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy
from rclpy.node import Node

from yan_dog_ros import participant_id


def init(args=None, context=None) -> None:
    """rclpy.init for a node process, with a DDS participant id of its own first
    (`yan_dog_ros.participant_id`: a restarted node must not inherit its dead predecessor's port)."""
    participant_id.claim()
    rclpy.init(args=args, context=context)


@contextlib.contextmanager
def until_shutdown(context=None) -> Iterator[None]:
    """Ends a spin quietly on Ctrl-C or shutdown. rclpy's SIGINT handler shuts the context down from
    another thread: when that lands between the executor's `ok()` check and its next wait set, the wait set
    raises RCLError ("the given context is not valid") instead of ExternalShutdownException (the Unitree
    bridge exited 1 on Ctrl-C in a CI run). An RCLError while the context is still valid is a real error."""
    try:
        yield
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except _rclpy.RCLError:
        if rclpy.ok(context=context):  # `context`: the spin's own (None: the default one)
            raise


def spin_nodes(
    build: Callable[[], Sequence[Node]], args=None, before_spin: Callable[[], None] | None = None
) -> None:
    """rclpy.init, build the nodes, spin them in one executor until Ctrl-C or shutdown, then close
    (nodes with a `close()` method, e.g. the brain saving its state), destroy them and shut down.
    `before_spin` runs once the nodes exist (the brain freezes its start-up objects there)."""
    init(args)
    executor = SingleThreadedExecutor()
    nodes: list[Node] = []
    try:
        with until_shutdown():
            nodes = list(build())
            for node in nodes:
                executor.add_node(node)
            if before_spin is not None:
                before_spin()
            executor.spin()
    finally:
        executor.shutdown()
        for node in nodes:
            close = getattr(node, "close", None)
            if callable(close):
                close()
            node.destroy_node()
        rclpy.try_shutdown()


def spin_until(
    build: Callable[[], Node], done: Callable[[Node], bool], period_s: Callable[[Node], float], args=None
) -> Node | None:
    """rclpy.init, build one node and spin it (one callback at a time, waiting at most `period_s(node)`)
    until `done(node)`, Ctrl-C or shutdown; destroy it and shut down. Returns the node (None if building
    it failed) so the caller can read how it ended."""
    init(args)
    node = None
    try:
        with until_shutdown():
            node = build()
            while rclpy.ok() and not done(node):
                rclpy.spin_once(node, timeout_sec=period_s(node))
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return node


def spin_node(node_cls: type[Node], args=None) -> None:
    """spin_nodes for a process holding one node of `node_cls`."""
    spin_nodes(lambda: [node_cls()], args)


def spin_device_node(
    node_cls: type[Node], device_error: type[Exception], exit_status: int, prefix: str = "", args=None
) -> None:
    """spin_node for a driver: a `device_error` raised while it starts (no such device) is one ERROR
    line, `[<node>]: <prefix><error>`, and exit status `exit_status`, not a traceback."""
    try:
        spin_node(node_cls, args)
    except device_error as err:
        name = getattr(node_cls, "NODE_NAME", node_cls.__name__)
        print(f"[ERROR] [{name}]: {prefix}{err}", file=sys.stderr, flush=True)
        sys.exit(exit_status)
