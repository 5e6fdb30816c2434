"""The Docker images, checked without building them (no registry access here): every file they copy
exists, the pinned versions match pyproject.toml / requirements-ros.txt, and the commands they run exist."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCKER = REPO / "docker"
DOCKERFILES = ["Dockerfile.robot", "Dockerfile.sim"]


def instructions(name: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", (DOCKER / name).read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def arg_default(name: str, arg: str) -> str:
    for word, rest in instructions(name):
        if word == "ARG" and rest.startswith(f"{arg}="):
            return rest.split("=", 1)[1]
    raise AssertionError(f"{name} declares no ARG {arg} with a default")


def pinned(requirement_prefix: str) -> str:
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    (dep,) = [d for d in deps if d.startswith(f"{requirement_prefix}==")]
    return dep.split("==")[1]


@pytest.mark.parametrize("name", DOCKERFILES)
def test_dockerfile_copies_only_existing_files(name):
    copies = [rest.split() for word, rest in instructions(name) if word == "COPY"]
    assert copies
    for args in copies:
        *sources, _dest = [a for a in args if not a.startswith("--")]
        for src in sources:
            assert (REPO / src).exists(), f"{name}: COPY source {src} does not exist"
    assert (DOCKER / f"{name}.dockerignore").is_file()
    ignored = (DOCKER / f"{name}.dockerignore").read_text().split()
    assert ".venv" in ignored and ".git" in ignored


@pytest.mark.parametrize("name", DOCKERFILES)
def test_dockerfile_pins_match_the_project(name):
    assert arg_default(name, "TORCH_VERSION") == pinned("torch")
    distro = arg_default(name, "ROS_DISTRO")
    ros_pins = (REPO / "requirements-ros.txt").read_text()
    assert re.search(rf"^ros-{distro}-rclpy==", ros_pins, re.M), "ROS distro != requirements-ros.txt's"
    froms = [rest for word, rest in instructions(name) if word == "FROM"]
    assert froms == ["ros:${ROS_DISTRO}-ros-base"]  # multi-arch official image (amd64, arm64)
    runs = " ".join(rest for word, rest in instructions(name) if word == "RUN")
    assert "torch==${TORCH_VERSION}" in runs and "colcon build --base-paths ros_ws/src" in runs


@pytest.mark.parametrize("name, launch_file", [("Dockerfile.robot", "robot"), ("Dockerfile.sim", "sim")])
def test_images_launch_an_existing_launch_file_through_the_entrypoint(name, launch_file):
    steps = dict(instructions(name))
    assert steps["ENTRYPOINT"] == '["/entrypoint.sh"]'
    assert steps["CMD"] == f'["ros2", "launch", "yan_dog_ros", "{launch_file}.launch.py"]'
    assert (REPO / "launch" / f"{launch_file}.launch.py").is_file()
    entry = DOCKER / "entrypoint.sh"
    assert os.access(entry, os.X_OK)
    text = entry.read_text()
    assert 'source "/opt/ros/${ROS_DISTRO}/setup.bash"' in text and "/opt/yan-dog/install/setup.bash" in text
    assert text.rstrip().endswith('exec "$@"')


def test_readme_documents_multi_arch_build_and_driver_remaps():
    text = (DOCKER / "README.md").read_text()
    assert "--platform linux/amd64,linux/arm64" in text
    for arg in ("camera_topic", "joint_states_topic", "imu_topic", "joint_commands_topic", "audio_topic"):
        assert arg in text
    for robot in ("A1", "Go1", "Go2"):
        assert robot in text
