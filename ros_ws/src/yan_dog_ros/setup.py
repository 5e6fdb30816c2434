"""ament_python package of the yan-dog ROS 2 nodes.

Built by colcon on a ROS 2 system (`colcon build`), or installed into the project's .venv with
`pip install -e ros_ws/src/yan_dog_ros` (what `make install` does), which puts the same console scripts
on PATH for the in-process runner and the tests.
"""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "yan_dog_ros"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/config", glob("config/*.yaml")),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="yan-dog team",
    description="yan-dog ROS 2 nodes",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            # robot side (simulation)
            "sim_node = yan_dog_ros.sim_node:main",
            "teacher = yan_dog_ros.teacher:main",
            "teleop_keyboard = yan_dog_ros.teleop_keyboard:main",
            "panel_node = yan_dog_ros.panel_node:main",
            # robot side (drivers)
            "camera_node = yan_dog_ros.camera_node:main",
            "mic_node = yan_dog_ros.mic_node:main",
            "unitree_bridge = yan_dog_ros.unitree_bridge:main",
            # brain side
            "camera_preprocess = yan_dog_ros.preprocess_nodes:camera_main",
            "audio_preprocess = yan_dog_ros.preprocess_nodes:audio_main",
            "joint_preprocess = yan_dog_ros.preprocess_nodes:joint_main",
            "yan_brain = yan_dog_ros.brain_node:main",
            "brain_composed = yan_dog_ros.composed:main",
            # recording
            "session_recorder = yan_dog_ros.recorder_node:main",
        ],
    },
)
