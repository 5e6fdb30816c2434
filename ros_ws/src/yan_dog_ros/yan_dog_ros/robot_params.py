"""The robot parameters shared by the nodes that read joint states or send joint commands.

    robot                profile name (`robots.PROFILES`: a1, go1, go2; default a1)
    joint_names          optional: the driver's own names of the 12 motors, in the project's order (FR, FL,
                         RR, RL x hip, thigh, calf); unset: the profile's vendor names or the simulator's
    command_joint_names  (the brain) optional: the joints, by any accepted name, in the order the driver
                         wants /joint_commands; unset: the project's motor order

A node that needs only the robot (the keyboard teleop: its postures are the profile's) declares `robot`
alone with `declare_robot`. A bad robot or name list stops the node at start with a one-line error naming it.
"""

from __future__ import annotations

from rclpy.node import Node
from rclpy.parameter import Parameter

from robots.joint_map import JointMap
from robots.profile import DEFAULT_ROBOT, RobotProfile, get_profile


def _names(node: Node, name: str) -> list[str]:
    node.declare_parameter(name, Parameter.Type.STRING_ARRAY)  # no default: unset unless given
    return list(node.get_parameter_or(name, Parameter(name, Parameter.Type.STRING_ARRAY, [])).value or [])


def declare_robot(node: Node) -> RobotProfile:
    """Declare `robot` on `node`; returns its profile. ValueError (one line) for an unknown robot."""
    return get_profile(node.declare_parameter("robot", DEFAULT_ROBOT).value)


def declare_joint_map(node: Node, commands: bool = False) -> JointMap:
    """Declare `robot` and `joint_names` (and, with `commands`, `command_joint_names`) on `node`; returns
    the JointMap they describe. ValueError (one line) for an unknown robot or bad names."""
    profile = declare_robot(node)
    joint_names = _names(node, "joint_names")
    command_joint_names = _names(node, "command_joint_names") if commands else []
    return JointMap(profile, joint_names, command_joint_names)
