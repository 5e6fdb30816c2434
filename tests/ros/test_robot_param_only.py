"""`yan_dog_ros.robot_params.declare_robot`: a node that needs only the robot's profile (the keyboard
teleop's postures) declares `robot` alone; an unknown robot is a one-line error naming the known ones."""

import numpy as np
import pytest
from rclpy.node import Node
from rclpy.parameter import Parameter
from yan_dog_ros.robot_params import declare_robot

from tests.ros.sim_graph import ros_node
from yan_dog.teleop import posture_offsets


def _node(robot: str | None):
    overrides = [] if robot is None else [Parameter("robot", value=robot)]
    return lambda ctx: Node("teleop_keyboard", context=ctx, parameter_overrides=overrides)


def test_the_robot_parameter_gives_its_profile_and_its_postures():
    with ros_node("teleop_keyboard", _node(None)) as (node, _):
        assert declare_robot(node).name == "a1"
        assert not node.has_parameter("joint_names")  # the robot alone
    with ros_node("teleop_keyboard", _node("go2")) as (node, _):
        go2 = declare_robot(node)
        assert go2.name == "go2"
        a1_sit, go2_sit = posture_offsets()["sit"], posture_offsets(go2)["sit"]  # (12,) offsets (rad)
        assert go2_sit.shape == (12,) and not np.allclose(a1_sit, go2_sit)  # the Go2 sits its own way
    with ros_node("teleop_keyboard", _node("spot")) as (node, _), pytest.raises(ValueError, match="spot"):
        declare_robot(node)
