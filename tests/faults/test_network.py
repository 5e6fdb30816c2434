"""Network exposure: simulation and tests keep DDS on this host, and the brain takes teach commands from
its configured teach topic only."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
from geometry_msgs.msg import Twist
from std_msgs.msg import Float64MultiArray
from yan_dog_ros import msgs, runner
from yan_dog_ros.graph import get_graph, processes, resolve_args

from tests.faults import rig as rg

REPO = Path(__file__).resolve().parents[2]
OTHER_TEACH_TOPICS = ["/teach/action_2", "/yan_brain/teach/action", msgs.TEACHER_ACTION_TOPIC, "/teach"]


def graph_procs(name: str):
    graph = get_graph(name)
    return processes(graph, resolve_args(graph))


@pytest.mark.parametrize("graph", ["sim", "teach"])
def test_the_runner_keeps_simulation_graphs_on_localhost(graph):
    """A graph with the simulator in it: DDS discovery is limited to this host, for the runner's own
    nodes and (through the environment) every child process; a range the user set is kept."""
    env = {}
    assert runner.keep_sim_on_localhost(graph_procs(graph), env) and env == {
        runner.DISCOVERY_RANGE_VAR: "LOCALHOST"}
    env = {runner.DISCOVERY_RANGE_VAR: "SUBNET"}
    assert not runner.keep_sim_on_localhost(graph_procs(graph), env)
    assert env[runner.DISCOVERY_RANGE_VAR] == "SUBNET"


def test_the_robot_graph_leaves_discovery_to_the_robot_environment():
    """The robot graph must reach its driver (maybe another machine): the runner sets nothing."""
    env = {}
    assert not runner.keep_sim_on_localhost(graph_procs("robot"), env) and env == {}


def test_ros_tests_run_in_their_own_domain_on_localhost(ros_domain):
    """The tests' fixture (tests/ros/conftest.py, shared here): a private domain id, loopback discovery."""
    assert os.environ["ROS_DOMAIN_ID"] == str(ros_domain) and 0 < ros_domain <= 101
    assert os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST"


def test_the_launch_readme_documents_domain_isolation_and_sros2():
    text = (REPO / "launch" / "README.md").read_text()
    for term in ("ROS_DOMAIN_ID", "ROS_AUTOMATIC_DISCOVERY_RANGE", "ROS_SECURITY_ENCLAVE_OVERRIDE",
                 "ROS_SECURITY_STRATEGY=Enforce", "ros2 security"):
        assert term in text, term


def test_teach_actions_on_any_other_topic_have_no_effect():
    """Fault: while the brain demonstrates, teach actions arrive on look-alike topics (and a Twist on
    /cmd_vel), none on the configured teach topic. Outcome: the robot holds the stand pose (every tick
    counted as 'teach missing'); the brain subscribes to one Float64MultiArray topic, /teach/action; a
    teach action on that topic moves it again."""
    with rg.Rig(seed=4) as r:
        assert r.spin_until(lambda: r.following(r.taught, 0.0), 30.0), r.log
        arrays = [s.topic_name for s in r.brain.subscriptions if s.msg_type is Float64MultiArray]
        assert arrays == [msgs.TEACH_ACTION_TOPIC]
        others = [r.probe.create_publisher(Float64MultiArray, topic, msgs.COMMAND_QOS)
                  for topic in OTHER_TEACH_TOPICS]
        cmd_vel = r.probe.create_publisher(Twist, msgs.CMD_VEL_TOPIC, msgs.COMMAND_QOS)
        r.probe.create_timer(rg.PERIOD_S, lambda: [p.publish(msgs.float_array(rg.TEACH)) for p in others])
        r.probe.create_timer(rg.PERIOD_S, lambda: cmd_vel.publish(Twist()))
        r.teach_enabled = False
        missing0 = r.brain.core.counts["teach_missing"]
        t0 = time.monotonic()
        r.spin_for(1.0)  # the brain's teach timeout here is 25 periods (0.5 s)
        held = r.commands_between(t0 + 0.7, time.monotonic())
        assert held and all(np.allclose(q, r.stand, atol=1e-6) for q in held)
        assert r.brain.core.counts["teach_missing"] > missing0
        r.teach_enabled = True
        back = time.monotonic()
        assert r.spin_until(lambda: r.following(r.taught, back), 10.0)
