"""Simulation: the PyBullet A1 (sim_node), the brain (preprocessing nodes + yan_brain) and the session
recorder.

    ros2 launch yan_dog_ros sim.launch.py                      # composed brain, recording on
    ros2 launch yan_dog_ros sim.launch.py composed:=false      # preprocessing and brain as 4 processes
    ros2 launch yan_dog_ros sim.launch.py namespace:=dog1 record:=false

Arguments (see `ros2 launch yan_dog_ros sim.launch.py --show-args`): namespace, params_file (extra YAML
after config/*.yaml), composed, record, bag_dir, log_level, view (the brain live in Rerun: true, web or
PATH.rrd), use_sim_time (default true: the sim clock), panel (the browser teach panel, panel_node; off
by default) with panel_host, panel_port and panel_token (required off loopback),
and the raw-stream topics (camera_topic, audio_topic, joint_states_topic, imu_topic,
joint_commands_topic). Nodes, parameter files and remaps come from yan_dog_ros/graph.py, the same
declarations `yan-dog up sim` runs without the ROS 2 CLI.
"""

from yan_dog_ros.graph import launch_description


def generate_launch_description():
    return launch_description("sim")
