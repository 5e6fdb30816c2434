"""The `robot`, `joint_names` and `command_joint_names` parameters (`yan_dog_ros.robot_params`): the
joint preprocess node reads a Go2's joint states by Unitree's names in its driver's leg order, or by
explicit names; bad parameters stop a node at start with a one-line error."""

import numpy as np
import pytest
from rclpy.node import Node
from rclpy.parameter import Parameter
from yan_dog_ros import msgs
from yan_dog_ros.preprocess_nodes import JointPreprocessNode
from yan_dog_ros.robot_params import declare_joint_map

from robots.profile import get_profile
from tests.ros.sim_graph import ros_node

GO2 = get_profile("go2")
LEGS_GO2_ROS2_SDK = ("FL", "FR", "RL", "RR")  # go2_ros2_sdk's joint_states order
IMU = np.array([0, 0, 0, 1, 0, 0, 0, 0, 0, 9.81])


def _params(**values) -> list[Parameter]:
    return [Parameter(k, value=v) for k, v in values.items()]


def _proprio_of(node: JointPreprocessNode, names: list[str], position: dict[str, float]) -> np.ndarray:
    """Feed one IMU reading and one joint state straight to the node's callbacks; the proprio matrix out."""
    got = []
    node.sinks.append(got.append)
    node.on_imu(msgs.imu_msg(IMU, msgs.to_stamp(1.0)))
    node.on_joint_state(msgs.joint_state(names, [position[n] for n in names], np.zeros(len(names)),
                                         np.zeros(len(names)), msgs.to_stamp(1.0)))
    assert node.counts == {"in": 1, "out": 1, "dropped": 0}, node.counts
    return got[0].data


def test_a_go2_joint_state_in_its_drivers_leg_order_is_read_by_unitree_names():
    names = [f"{leg}_{part}_joint" for leg in LEGS_GO2_ROS2_SDK for part in ("hip", "thigh", "calf")]
    position = {n: 0.01 * i for i, n in enumerate(GO2.joint_names)}  # project order: 0.00, 0.01, ...
    make = lambda ctx: JointPreprocessNode(context=ctx, parameter_overrides=_params(robot="go2"))  # noqa: E731
    with ros_node("joint_preprocess", make) as (node, _):
        assert node.joints.profile is GO2
        proprio = _proprio_of(node, names, position)
    np.testing.assert_allclose(proprio[0, :12], np.arange(12) * 0.01, atol=1e-6)


def test_explicit_joint_names_map_a_drivers_own_names():
    custom = [f"motor_{i}" for i in range(12)]
    position = {n: -0.1 * i for i, n in enumerate(custom)}
    make = lambda ctx: JointPreprocessNode(  # noqa: E731
        context=ctx, parameter_overrides=_params(robot="a1", joint_names=custom))
    with ros_node("joint_preprocess", make) as (node, _):
        proprio = _proprio_of(node, custom[::-1], position)
    np.testing.assert_allclose(proprio[0, :12], -0.1 * np.arange(12), atol=1e-6)


def test_command_joint_names_set_the_command_order():
    driver = [f"{leg}_{part}_joint" for leg in LEGS_GO2_ROS2_SDK for part in ("hip", "thigh", "calf")]
    make = lambda ctx: _Probe(ctx, robot="go2", command_joint_names=driver)  # noqa: E731
    with ros_node("probe", make) as (node, _):
        jm = declare_joint_map(node, commands=True)
    out = jm.to_command(np.arange(12.0))
    assert jm.command_names == tuple(driver) and out[:3].tolist() == [3.0, 4.0, 5.0]


@pytest.mark.parametrize("overrides, match", [
    ({"robot": "go3"}, r"^unknown robot 'go3'; known robots: a1, go1, go2$"),
    ({"joint_names": ["a", "b"]}, r"^joint_names: need 12 non-empty joint names, got 2"),
    ({"command_joint_names": ["FR_hip_joint"] * 12}, r"^command_joint_names: duplicated joint names"),
])
def test_bad_robot_parameters_stop_the_node_with_one_line(overrides, match):
    with ros_node("probe", lambda ctx: _Probe(ctx, **overrides)) as (node, _), \
            pytest.raises(ValueError, match=match) as e:
        declare_joint_map(node, commands=True)
    assert "\n" not in str(e.value)


class _Probe(Node):
    def __init__(self, ctx, **overrides):
        super().__init__("probe", context=ctx, parameter_overrides=_params(**overrides))
