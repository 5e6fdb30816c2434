"""`teleop_keyboard`'s node with a scripted key source: teach actions, /cmd_vel and service calls."""

import numpy as np
from geometry_msgs.msg import Twist
from std_msgs.msg import Float64MultiArray
from std_srvs.srv import Trigger
from yan_dog_ros import msgs
from yan_dog_ros.teleop_keyboard import TeleopNode

from tests.ros.sim_graph import ros_node, spin_until
from yan_dog.teleop import WALK_SPEED_MPS


class ScriptedKeys:
    """Stands in for the terminal: one key per read, then nothing."""

    def __init__(self, keys: str):
        self.keys = list(keys)

    def read_key(self):
        return self.keys.pop(0) if self.keys else None


def test_keys_drive_teach_actions_cmd_vel_and_brain_services():
    with ros_node("yan_brain") as (brain, ex):
        calls = []

        def trigger(name):
            def serve(request, response):  # the first call of each accepted, later ones refused
                calls.append(name)
                response.success, response.message = calls.count(name) == 1, name
                return response

            return serve

        brain.create_service(Trigger, "~/start_demo", trigger("start_demo"))
        brain.create_service(Trigger, "~/stop_demo", trigger("stop_demo"))
        actions, twists = [], []
        brain.create_subscription(
            Float64MultiArray,
            msgs.TEACH_ACTION_TOPIC,
            lambda m: actions.append(np.array(m.data)),
            msgs.COMMAND_QOS,
        )
        brain.create_subscription(Twist, msgs.CMD_VEL_TOPIC, twists.append, msgs.COMMAND_QOS)

        keys = ScriptedKeys("")
        teleop = TeleopNode(keys, context=brain.context)
        ex.add_node(teleop)
        try:
            assert spin_until(
                ex,
                lambda: len(actions) >= 3 and teleop.teach.ready("start_demo"),
                10.0,
            )
            keys.keys = list("bw")
            assert spin_until(ex, lambda: calls == ["start_demo"] and twists[-1].linear.x > 0, 5.0), calls
            assert np.allclose(actions[-1][:3], [WALK_SPEED_MPS, 0.0, 0.0]) and actions[-1].shape == (15,)
            keys.keys = list("2n")
            assert spin_until(ex, lambda: calls == ["start_demo", "stop_demo"], 5.0), calls
            assert spin_until(ex, lambda: np.abs(actions[-1][3:]).max() > 0.5, 5.0)  # ramping into the sit
            assert twists[-1].linear.x == 0.0
            # refused: logged at another severity than the accepted answers, and the node goes on
            # (rclpy raises if one log line is used at two severities)
            keys.keys = list("n")
            assert spin_until(ex, lambda: calls == ["start_demo", "stop_demo", "stop_demo"], 5.0), calls
            keys.keys = list("b")
            assert spin_until(ex, lambda: calls[-1] == "start_demo", 5.0), calls
            keys.keys = ["\x1b"]
            assert spin_until(ex, lambda: teleop.quit, 2.0)
        finally:
            ex.remove_node(teleop)
            teleop.destroy_node()
