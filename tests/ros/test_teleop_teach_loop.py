"""`teleop_keyboard`'s teach loop over ROS 2: naming the skill and the cue (teach-desk commands), trying and
saving (brain services), and playing the chosen cue (the sim's parameter, then its play_cue)."""

import json

from rcl_interfaces.msg import SetParametersResult
from rclpy.node import Node
from std_msgs.msg import String
from std_srvs.srv import SetBool, Trigger
from yan_dog_ros.msgs import json_string
from yan_dog_ros.teach_topics import (
    TEACH_COMMAND_QOS,
    TEACH_COMMAND_TOPIC,
    TEACH_STATE_QOS,
    TEACH_STATE_TOPIC,
)
from yan_dog_ros.teleop_keyboard import TeleopNode

from tests.ros.sim_graph import ros_node, spin_until
from tests.ros.test_teleop_keyboard import ScriptedKeys


def test_keys_name_the_skill_and_cue_try_save_and_play_the_chosen_cue():
    with ros_node("yan_brain") as (brain, ex):
        commands, calls = [], []
        state = brain.create_publisher(String, TEACH_STATE_TOPIC, TEACH_STATE_QOS)

        def on_command(msg):  # a brain's teach desk: answer in the state
            command = json.loads(msg.data)
            commands.append(command)
            state.publish(json_string({"trying": False, "last_result": {
                "id": command["id"], "op": command["op"], "ok": True, "message": "done"}}))

        brain.create_subscription(String, TEACH_COMMAND_TOPIC, on_command, TEACH_COMMAND_QOS)

        def serve(name):
            def answer(request, response):
                calls.append((name, getattr(request, "data", None)))
                response.success, response.message = True, name
                return response
            return answer

        brain.create_service(SetBool, "~/set_trying", serve("set_trying"))
        brain.create_service(Trigger, "~/save_skill", serve("save_skill"))
        state.publish(json_string({"trying": False, "last_result": {}}))
        sim_node = Node("sim_node", context=brain.context)
        teleop = None
        try:
            sim_node.declare_parameter("cue", "")
            cues = []

            def on_parameters(params):
                cues.extend(p.value for p in params)
                return SetParametersResult(successful=True)

            sim_node.add_on_set_parameters_callback(on_parameters)
            sim_node.create_service(Trigger, "~/play_cue", serve("play_cue"))
            ex.add_node(sim_node)
            keys = ScriptedKeys("")
            teleop = TeleopNode(keys, context=brain.context)
            answers = []
            teleop.teach.on_answer = lambda *a: answers.append(a)
            ex.add_node(teleop)
            assert spin_until(ex, lambda: teleop.teach.ready("set_trying") and teleop.teach.ready("play_cue")
                              and teleop.teach.ready("set_skill"), 10.0)
            keys.keys = ["k", *"head_tilt", "\r", "u", *"say:tilt", "\r"]
            assert spin_until(ex, lambda: len(commands) == 2 and len(answers) == 2, 5.0), (commands, answers)
            assert [(c["op"], c.get("name") or c.get("cue")) for c in commands] == [
                ("set_skill", "head_tilt"), ("set_cue", "say:tilt")]
            assert answers == [("set_skill", True, "done"), ("set_cue", True, "done")]
            keys.keys = list("tcv")
            assert spin_until(ex, lambda: len(calls) == 3, 5.0), calls
            assert sorted(calls) == [("play_cue", None), ("save_skill", None), ("set_trying", True)]
            assert cues == ["say:tilt"]  # the sim plays the chosen cue
        finally:
            for node in (teleop, sim_node):
                if node is not None:
                    ex.remove_node(node)
                    node.destroy_node()
