"""`yan_brain`'s control timer keeps the steady clock under `use_sim_time`: it ticks at its rate when the
simulator's /clock is late or absent (a ROS-time timer fired only when /clock came, so each late simulator
tick was a late brain tick: issue 31)."""

import rclpy
from rclpy.executors import SingleThreadedExecutor
from yan_dog_ros.brain_node import BrainNode

from tests.ros.sim_graph import spin_for

CONTROL_HZ = 50.0
SPIN_S = 1.0
MIN_TICK_FRACTION = 0.5  # of the nominal ticks: a loaded test machine may run a few late, never none
BRAIN_ARGS = ["--ros-args", "-p", "d_model:=32", "-p", "n_layers:=1", "-p", "learning:=false",
              "-p", "control_rt_priority:=0", "-p", "use_sim_time:=true"]


def test_the_brain_ticks_without_any_clock_message():
    ctx = rclpy.Context()
    rclpy.init(context=ctx, args=BRAIN_ARGS)
    brain = executor = None
    try:
        brain = BrainNode(context=ctx)
        assert brain.get_clock().ros_time_is_active  # sim time, and nobody publishes /clock
        executor = SingleThreadedExecutor(context=ctx)
        executor.add_node(brain)
        spin_for(executor, SPIN_S)
        assert brain.stats.ticks >= MIN_TICK_FRACTION * CONTROL_HZ * SPIN_S, brain.stats.ticks
        assert brain.core.counts["stale_holds"] == brain.stats.ticks  # no inputs: every tick holds
    finally:
        if executor is not None:
            executor.shutdown()
        if brain is not None:
            brain.close()
            brain.destroy_node()
        rclpy.try_shutdown(context=ctx)
