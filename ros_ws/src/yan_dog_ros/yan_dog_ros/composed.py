"""`brain_composed`: the three preprocessing nodes and `yan_brain` in ONE process, on one executor.

How the hand-off works without serialisation: rclpy has no intra-process transport (that is an rclcpp
feature), so the composition wires the nodes directly: each preprocessing node's `sinks` list gets the
brain's `on_obs` method, and an observation matrix goes from the node's subscription callback to the
brain's aligner as a numpy array in the same address space (no message is built, serialised or copied by
DDS). The brain then does not subscribe to /obs/* (parameter `subscribe_obs` forced to false), and the
preprocessing nodes do not publish them unless `publish_obs` is set true in their YAML (e.g. to watch the
matrices or record them); by default it is forced to false here, so nothing is serialised at all.

The raw sensor topics still arrive over DDS (they come from another process: the robot or sim_node).
Parameters come from the same per-node YAML files as the separate processes:
    brain_composed --ros-args --params-file config/camera_preprocess.yaml --params-file ... yan_brain.yaml
One SingleThreadedExecutor runs all four nodes (a camera frame is decoded and resized in well under a
millisecond, so it cannot hold up a tick; rclpy's MultiThreadedExecutor measured about twice the CPU).
"""

from __future__ import annotations

from rclpy.parameter import Parameter

from yan_dog_ros.brain_node import BrainNode, configure_process, freeze_startup_objects
from yan_dog_ros.preprocess_nodes import PREPROCESS_NODES
from yan_dog_ros.spin import spin_nodes


def compose(context=None):
    """Build the four nodes, wired in-process; returns (brain, preprocessing nodes)."""
    no_publish = [Parameter("publish_obs", Parameter.Type.BOOL, False)]
    preprocess = [cls(context=context, parameter_overrides=no_publish) for cls in PREPROCESS_NODES.values()]
    brain = BrainNode(context=context,
                      parameter_overrides=[Parameter("subscribe_obs", Parameter.Type.BOOL, False)])
    for node in preprocess:
        node.sinks.append(brain.on_obs)
    return brain, preprocess


def main(args=None) -> None:
    configure_process()

    def build():
        brain, preprocess = compose()
        return [brain, *preprocess]

    spin_nodes(build, args, before_spin=freeze_startup_objects)
