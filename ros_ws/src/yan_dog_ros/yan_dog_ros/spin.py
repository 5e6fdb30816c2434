"""The console-script main of a single-node process: init, spin until Ctrl-C or shutdown, clean up."""

from __future__ import annotations

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node


def spin_node(node_cls: type[Node], args=None) -> None:
    """rclpy.init, spin one node of `node_cls` until Ctrl-C or shutdown, then destroy it and shut down."""
    rclpy.init(args=args)
    node = None
    try:
        node = node_cls()
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
