#!/bin/bash
# Entry point of the yan-dog images: the ROS 2 environment, then the colcon-built workspace, then the
# command (default: the image's `ros2 launch yan_dog_ros <robot|sim>.launch.py`).
set -e
# shellcheck disable=SC1090,SC1091
source "/opt/ros/${ROS_DISTRO}/setup.bash"
# shellcheck disable=SC1091
source /opt/yan-dog/install/setup.bash
mkdir -p /var/lib/yan-dog/library /var/lib/yan-dog/bags
exec "$@"
