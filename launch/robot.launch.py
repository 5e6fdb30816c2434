"""A real robot: the brain (tokenizers + yan_brain) and the session recorder, next to the robot's vendor
ROS 2 driver, which publishes the raw streams and takes /joint_commands.

    ros2 launch yan_dog_ros robot.launch.py \
        joint_states_topic:=/go2/joint_states imu_topic:=/go2/imu camera_topic:=/go2/camera/image_raw

Arguments (see `--show-args`): namespace, params_file (default robot.yaml: the robot overrides in
config/), composed, record, bag_dir, log_level, use_sim_time (default false), and the raw-stream
topics to remap to the driver's names (camera_topic, audio_topic, joint_states_topic, imu_topic,
joint_commands_topic).
docker/README.md lists the topics of the A1/Go1/Go2 drivers. Nodes and parameter files come from
yan_dog_ros/graph.py.
"""

from yan_dog_ros.graph import launch_description


def generate_launch_description():
    return launch_description("robot")
