# syntax=docker/dockerfile:1
# yan-dog robot image: ROS 2 Jazzy (ros-base) + the yan-dog Python project (CPU torch) + the colcon-built
# yan_dog_ros workspace. Multi-arch (linux/amd64, linux/arm64: ros:jazzy-ros-base is published for both).
# Build from the repository root (the build context), see docker/README.md:
#   docker buildx build --platform linux/amd64,linux/arm64 -f docker/Dockerfile.robot -t yan-dog/robot .
ARG ROS_DISTRO=jazzy
FROM ros:${ROS_DISTRO}-ros-base

ARG ROS_DISTRO
# Pinned as in pyproject.toml. The CPU wheel index serves x86_64 and aarch64; a bare `torch` from PyPI
# would pull a multi-GB CUDA build on amd64.
ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu

# The image is single-purpose: Python packages go into the system Python that ROS 2 (and the colcon-built
# console scripts) use, so rclpy, torch and the project import together.
ENV DEBIAN_FRONTEND=noninteractive \
    PIP_BREAK_SYSTEM_PACKAGES=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONUNBUFFERED=1 \
    RMW_IMPLEMENTATION=rmw_fastrtps_cpp \
    YAN_DOG_LIBRARY=/var/lib/yan-dog/library

# build-essential + python3-dev: pybullet has no aarch64 wheel and compiles from source on arm64.
# libportaudio2: the microphone node (mic_node, through the sounddevice wheel). python-is-python3: the
# Unitree SDK script below runs $PREFIX/bin/python. camera_node needs only the opencv-python-headless wheel.
RUN apt-get update && apt-get install -y --no-install-recommends \
        build-essential python3-dev python3-pip python3-colcon-common-extensions \
        ros-${ROS_DISTRO}-rmw-fastrtps-cpp \
        libportaudio2 python-is-python3 \
    && rm -rf /var/lib/apt/lists/*

RUN pip install --index-url ${TORCH_INDEX} torch==${TORCH_VERSION}

WORKDIR /opt/yan-dog
# The libraries first (their layer changes less often than the nodes').
COPY pyproject.toml README.md ./
COPY yan_policy yan_policy
COPY robots robots
COPY sim sim
COPY yan_dog yan_dog
RUN pip install .
# Compile the memory scan's numba kernels now (cached beside the installed package, hence `cd /`: not
# this folder's copy), not at the brain's first start.
RUN cd / && python3 -c "from yan_policy.policies.yan import memory_kernels; memory_kernels.warm_up()"

# The ROS 2 workspace; ros_ws/src/yan_dog_ros/launch is a link to the top-level launch/ folder.
COPY launch launch
COPY ros_ws ros_ws
# The Unitree bridge's SDK into the system Python (docs/robot.md, "Install"): the script apt-gets
# cyclonedds-dev + cyclonedds-tools and builds the cyclonedds 0.10.2 binding against them. Where the base
# image's cyclonedds-dev is not 0.10.2 it says so in one "error:" line and the image is built without it
# (unitree_bridge then exits with that hint: run with `bridge:=false`), unless REQUIRE_BRIDGE=1.
ARG REQUIRE_BRIDGE=0
RUN ros_ws/src/yan_dog_ros/install_unitree_sdk.sh /usr \
    || { [ "$REQUIRE_BRIDGE" != 1 ] && echo "note: robot image without the Unitree bridge SDK"; }
RUN . /opt/ros/${ROS_DISTRO}/setup.sh \
    && colcon build --base-paths ros_ws/src --build-base /tmp/colcon-build --install-base /opt/yan-dog/install \
    && rm -rf /tmp/colcon-build

COPY docker/entrypoint.sh /entrypoint.sh
# Skill library and session bags survive container restarts when this is a volume.
VOLUME ["/var/lib/yan-dog"]
ENTRYPOINT ["/entrypoint.sh"]
CMD ["ros2", "launch", "yan_dog_ros", "robot.launch.py"]
