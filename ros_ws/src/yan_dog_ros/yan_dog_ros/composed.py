"""`brain_composed`: the three tokenizer nodes and `yan_brain` in ONE process, on one executor.

How the hand-off works without serialisation: rclpy has no intra-process transport (that is an rclcpp
feature), so the composition wires the nodes directly: each tokenizer's `sinks` list gets the brain's
`on_tokens` method, and a token matrix goes from the tokenizer's subscription callback to the brain's
aligner as a numpy array in the same address space (no message is built, serialised or copied by DDS).
The brain then does not subscribe to /tokens/* (parameter `subscribe_tokens` forced to false), and the
tokenizers do not publish them unless `publish_tokens` is set true in their YAML (e.g. to watch the
tokens or record them); by default it is forced to false here, so nothing is serialised at all.

The raw sensor topics still arrive over DDS (they come from another process: the robot or sim_node).
Parameters come from the same per-node YAML files as the separate processes:
    brain_composed --ros-args --params-file config/camera_tokenizer.yaml --params-file ... yan_brain.yaml
One SingleThreadedExecutor runs all four nodes (a camera frame is decoded and resized in well under a
millisecond, so it cannot hold up a tick; rclpy's MultiThreadedExecutor measured about twice the CPU).
"""

from __future__ import annotations

from rclpy.parameter import Parameter

from yan_dog_ros.brain_node import BrainNode, configure_process, freeze_startup_objects
from yan_dog_ros.spin import spin_nodes
from yan_dog_ros.tokenizer_nodes import TOKENIZERS


def compose(context=None):
    """Build the four nodes, wired in-process; returns (brain, tokenizers)."""
    no_publish = [Parameter("publish_tokens", Parameter.Type.BOOL, False)]
    tokenizers = [cls(context=context, parameter_overrides=no_publish) for cls in TOKENIZERS.values()]
    brain = BrainNode(context=context,
                      parameter_overrides=[Parameter("subscribe_tokens", Parameter.Type.BOOL, False)])
    for tok in tokenizers:
        tok.sinks.append(brain.on_tokens)
    return brain, tokenizers


def main(args=None) -> None:
    configure_process()

    def build():
        brain, tokenizers = compose()
        return [brain, *tokenizers]

    spin_nodes(build, args, before_spin=freeze_startup_objects)
