"""The `teacher` node on a real graph: sim_node (process) + teacher (process) + a fake brain (this process).

The fake brain is a test double of the yan_brain process: it offers the brain's teaching services and
the `skill`, `demo_source` and `demo_gait_gain` parameters, records what arrives on /teach/action while a
demonstration runs, and drives the robot with it (hybrid action -> joint targets through a trot
controller, as the brain does) so the sim can judge the demonstration.
"""

import numpy as np
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray
from std_srvs.srv import SetBool, Trigger
from yan_dog_ros import msgs

from robots.actions import hybrid_joint_targets
from robots.gait import TrotController
from tests.ros.sim_graph import ros_node, spawn, spin_until
from yan_dog.teach_setup import DEFAULT_DEMO_GAIT_GAIN_RANGE, draw_demo_gait_gain

SESSION_TIMEOUT_S = 30.0  # start-up + one 4 s demonstration of `sit`
CONTROL_DT_S = 0.02


class FakeBrain:
    """The brain's teaching interface on `node` (named yan_brain), recording calls and teach actions."""

    def __init__(self, node):
        self.calls: list[str] = []
        self.source_at_start: str | None = None  # demo_source when start_demo was called
        self.demo_actions: list[np.ndarray] = []
        self.recording = False
        self.gait = TrotController()
        node.declare_parameter("skill", "")
        node.declare_parameter("demo_source", "teleop")
        node.declare_parameter("demo_gait_gain", 1.0)
        self.node = node
        for name in ("start_demo", "stop_demo", "save_skill"):
            node.create_service(Trigger, f"~/{name}", lambda req, res, n=name: self._trigger(n, res))
        for name in ("set_trying", "set_learning"):
            node.create_service(SetBool, f"~/{name}", lambda req, res, n=name: self._trigger(n, res))
        node.create_subscription(
            Float64MultiArray, msgs.TEACH_ACTION_TOPIC, self._on_action, msgs.COMMAND_QOS
        )
        self.pub = node.create_publisher(Float64MultiArray, msgs.JOINT_COMMANDS_TOPIC, msgs.COMMAND_QOS)

    def _trigger(self, name, response):
        self.calls.append(name)
        if name == "start_demo":
            self.source_at_start = self.node.get_parameter("demo_source").value
        self.recording = {"start_demo": True, "stop_demo": False}.get(name, self.recording)
        response.success, response.message = True, name
        return response

    def _on_action(self, msg):
        if not self.recording:
            return
        action = msgs.float_array_values(msg, 15, "teach action")
        self.demo_actions.append(action)
        targets = hybrid_joint_targets(self.gait, action, CONTROL_DT_S)  # (12,)
        self.pub.publish(msgs.float_array(targets))


def test_teacher_runs_one_demonstration_through_the_brain_services():
    with (
        spawn("sim_node", params_file="sim_node.yaml") as sim,
        ros_node("yan_brain") as (node, ex),
    ):
        brain = FakeBrain(node)
        joints = []
        node.create_subscription(JointState, msgs.JOINT_STATES_TOPIC, joints.append, msgs.SENSOR_QOS)
        assert spin_until(ex, lambda: joints, 20.0), sim.log()
        with spawn("teacher", "-p", "demos:=1", "-p", "skill:=sit", params_file="teacher.yaml") as teacher:
            done = spin_until(ex, lambda: not teacher.alive(), SESSION_TIMEOUT_S)
            assert done, f"teacher still running\n{teacher.log()}\n{sim.log()}"
            assert teacher.proc.returncode == 0, f"{teacher.log()}\n{sim.log()}"
            log = teacher.log()
        assert brain.calls == ["start_demo", "stop_demo"]
        assert node.get_parameter("skill").value == "sit"
        assert brain.source_at_start == "scripted"
        assert node.get_parameter("demo_source").value == "teleop"  # put back after the session
        assert "the brain's demo_source is 'teleop' again" in log, log
        gain = draw_demo_gait_gain(1000, DEFAULT_DEMO_GAIT_GAIN_RANGE)  # the demonstration's seed
        assert node.get_parameter("demo_gait_gain").value == gain
        assert f"gait gain {gain:.2f}" in log, log
        # about one action per control tick of the 4 s episode (minus the few ticks of set-up)
        assert 150 <= len(brain.demo_actions) <= 210, len(brain.demo_actions)
        assert all(a.shape == (15,) and np.isfinite(a).all() for a in brain.demo_actions)
        assert "demonstration 1/1 (seed 1000): success=True" in log, log
        assert sim.alive()
