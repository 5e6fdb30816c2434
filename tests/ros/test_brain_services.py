"""`yan_brain`'s teach services through real rclpy service calls, answered by the node's own callbacks
(in-process: the brain and a client node on one executor)."""

import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from std_srvs.srv import SetBool, Trigger
from yan_dog_ros.brain_node import BrainNode

from tests.ros.sim_graph import call

# small and not learning: these tests check the services, not the policy
BRAIN_ARGS = ["--ros-args", "-p", "d_model:=32", "-p", "n_layers:=1", "-p", "learning:=false",
              "-p", "control_rt_priority:=0"]


def test_accepted_and_refused_calls_are_all_answered_and_the_brain_keeps_serving():
    """rclpy ties a log call's severity to the line it is made on: a node that logs its answers from one
    line, at info when it accepts and warning when it refuses, raised on its first refusal after an
    acceptance, and that exception took the brain process down (seen in the ROS teach test: a discarded
    demonstration's stop_demo ended the brain)."""
    ctx = rclpy.Context()
    rclpy.init(context=ctx, args=BRAIN_ARGS)
    brain = client = executor = None
    try:
        brain = BrainNode(context=ctx)
        client = Node("teach_client", context=ctx)
        executor = SingleThreadedExecutor(context=ctx)
        for node in (brain, client):
            executor.add_node(node)

        def trigger(name: str):
            return call(client, executor, Trigger, f"/yan_brain/{name}", Trigger.Request())

        answers = [
            trigger("start_demo"),  # accepted
            trigger("stop_demo"),  # refused: no ticks were recorded (discarded)
            trigger("stop_demo"),  # refused: no demonstration is running
            trigger("start_demo"),  # accepted again
            call(client, executor, SetBool, "/yan_brain/set_learning", SetBool.Request(data=False)),
            trigger("stop_demo"),
        ]
        assert [a.success for a in answers] == [True, False, False, True, True, False], [
            (a.success, a.message) for a in answers]
        assert "discarded" in answers[1].message and "no demonstration" in answers[2].message
    finally:
        if executor is not None:
            executor.shutdown()
        if brain is not None:
            brain.close()
        for node in (brain, client):
            if node is not None:
                node.destroy_node()
        rclpy.try_shutdown(context=ctx)
