"""A real robot: its drivers (unitree_bridge, mic_node, camera_node), the brain (preprocessing nodes +
yan_brain) and the session recorder; the whole robot side in one command.

    ros2 launch yan_dog_ros robot.launch.py network_interface:=eth0 mic_device:=USB camera_source:=0
    ros2 launch yan_dog_ros robot.launch.py bridge:=false mic:=false camera:=false \
        joint_states_topic:=/go2/joint_states imu_topic:=/go2/imu   # next to a vendor ROS 2 driver instead

Arguments (see `--show-args`): the drivers, each on by default: bridge (unitree_bridge, the Unitree
low-level interface with its safety) with network_interface (the NIC wired to the robot), mic (mic_node)
with mic_device, camera (camera_node) with camera_source (a V4L2 index or /dev/videoN, a video file or a
stream URL); '' keeps the value in the driver's config/*.yaml. Then namespace, params_file (default
robot.yaml: the robot overrides in config/), composed, record, bag_dir, log_level, view (the brain
live in Rerun: web, a viewer's URL rerun+http://HOST:9876/proxy, or PATH.rrd), use_sim_time (default
false), panel (the browser teach panel, panel_node; off by default) with panel_host, panel_port and
panel_token (required off loopback), and the raw-stream topics to remap to a vendor driver's names
(camera_topic, audio_topic, joint_states_topic, imu_topic, joint_commands_topic; the drivers above get
the same remaps).
docker/README.md and docs/robot.md: the bring-up steps. Nodes and parameter files come from
yan_dog_ros/graph.py.
"""

from yan_dog_ros.graph import launch_description


def generate_launch_description():
    return launch_description("robot")
