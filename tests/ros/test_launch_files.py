"""Launch files, checked without executing launch (launch/launch_ros are not installable here).

Every node a graph starts is a console script declared in setup.py and installed in .venv/bin, its
in-process factory exists, every parameter file exists and has a `ros__parameters` section for the node;
the launch files are parsed (ast) and reference only graphs declared in graph.py; the runner's command
lines pass exactly the graph's parameter files (the launch files' OpaqueFunction builds its Node actions
from the same `graph.processes`)."""

from __future__ import annotations

import ast
import importlib
import sys
from pathlib import Path

import pytest
import yaml
from yan_dog_ros import graph, runner

REPO = Path(__file__).resolve().parents[2]
PKG = REPO / "ros_ws/src/yan_dog_ros"
LAUNCH = REPO / "launch"
VENV_BIN = Path(sys.executable).parent
LAUNCH_FILES = sorted(LAUNCH.glob("*.launch.py"))
ALL_NODES = {n.name: n for g in graph.GRAPHS.values() for n in g.all_nodes()}


def console_scripts() -> dict[str, str]:
    """name -> 'module:function' of the console_scripts in setup.py (parsed, not executed)."""
    tree = ast.parse((PKG / "setup.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and key.value == "console_scripts":
                    entries = [e.value for e in value.elts]
                    return {e.split("=")[0].strip(): e.split("=")[1].strip() for e in entries}
    raise AssertionError("setup.py declares no console_scripts")


def node_section(path: Path, node_name: str) -> dict:
    """The `ros__parameters` of `node_name` in a parameter file (`name:` or `/**/name:`)."""
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), f"{path.name} is not a YAML mapping"
    for key in (node_name, f"/{node_name}", f"/**/{node_name}"):
        if key in data:
            params = data[key].get("ros__parameters") if isinstance(data[key], dict) else None
            assert isinstance(params, dict), f"{path.name}: {key} has no ros__parameters mapping"
            return params
    raise AssertionError(f"{path.name} has no section for node {node_name!r} (keys: {list(data)})")


def test_three_launch_files_and_the_installed_launch_folder():
    assert [p.name for p in LAUNCH_FILES] == ["robot.launch.py", "sim.launch.py", "teach.launch.py"]
    assert (PKG / "launch").resolve() == LAUNCH.resolve()  # the package installs launch/ (setup.py glob)
    setup = (PKG / "setup.py").read_text()
    assert 'glob("launch/*.launch.py")' in setup and 'glob("config/*.yaml")' in setup


@pytest.mark.parametrize("spec", list(ALL_NODES.values()), ids=list(ALL_NODES))
def test_every_node_is_an_installed_console_script_with_its_parameter_files(spec):
    scripts = console_scripts()
    assert spec.executable in scripts, f"{spec.executable} is not a console script in setup.py"
    assert (VENV_BIN / spec.executable).is_file(), f"{spec.executable} is not installed in {VENV_BIN}"
    module, _, function = scripts[spec.executable].partition(":")
    assert callable(getattr(importlib.import_module(module), function))
    module, _, cls = spec.factory.partition(":")
    assert callable(getattr(importlib.import_module(module), cls)), f"factory {spec.factory} missing"
    for path in graph.param_files(spec):
        assert path.is_file(), f"{spec.name}: parameter file {path} missing"
        node_section(path, spec.name)


def test_composed_brain_executable_and_robot_overrides():
    assert graph.COMPOSED_EXECUTABLE in console_scripts()
    assert (VENV_BIN / graph.COMPOSED_EXECUTABLE).is_file()
    robot = graph.extra_params_file(graph.resolve_args(graph.get_graph("robot"))["params_file"])
    data = yaml.safe_load(robot.read_text())
    for key in data:  # every override section names a node of the robot graph
        name = key.split("/")[-1]
        assert name in {n.name for n in graph.get_graph("robot").all_nodes()}, key
        node_section(robot, name)


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=[p.name for p in LAUNCH_FILES])
def test_launch_file_is_built_from_graph_py(path):
    tree = ast.parse(path.read_text())
    assert ast.get_docstring(tree), f"{path.name} needs a docstring listing its arguments"
    imports = [n for n in tree.body if isinstance(n, ast.ImportFrom | ast.Import)]
    assert all(isinstance(n, ast.ImportFrom) and n.module == "yan_dog_ros.graph" for n in imports)
    (fn,) = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    assert fn.name == "generate_launch_description"
    calls = [n for n in ast.walk(fn) if isinstance(n, ast.Call)]
    assert [c.func.id for c in calls] == ["launch_description"]
    (name,) = [a.value for a in calls[0].args]
    assert path.name == f"{name}.launch.py" and name in graph.GRAPHS
    g = graph.get_graph(name)
    for included in g.includes:  # included graphs are included as their installed launch files
        assert (LAUNCH / f"{included}.launch.py").is_file()
    for arg in g.args:
        assert arg.description, f"{name}: launch argument {arg.name} has no description"
        assert arg.name in ast.get_docstring(tree), f"{path.name}: docstring does not mention {arg.name}"
    for _topic, arg in graph.STREAM_REMAPS:  # a real robot's driver topics can be remapped
        assert arg in {a.name for a in g.all_args()}


@pytest.mark.parametrize("name", list(graph.GRAPHS))
@pytest.mark.parametrize("composed", ["true", "false"])
def test_runner_passes_exactly_the_graph_parameter_files(name, composed):
    g = graph.get_graph(name)
    commands = runner.commands(name, {"composed": composed})
    passed = {Path(cmd[i + 1]) for cmd in commands for i, a in enumerate(cmd) if a == "--params-file"}
    values = graph.resolve_args(g)
    running = [n for n in g.all_nodes() if not n.when or graph.is_true(values[n.when])]
    assert {n.when for n in running} >= {"", "record"}  # record:=true by default
    expected = {p for n in running for p in graph.param_files(n)}
    extra = graph.extra_params_file(values["params_file"])
    assert passed == expected | ({extra} if extra else set())
    for cmd in commands:
        assert Path(cmd[0]).is_file() and cmd[1] == "--ros-args"
    executables = [Path(c[0]).name for c in commands]
    assert (graph.COMPOSED_EXECUTABLE in executables) == (composed == "true")
    if name != "robot":
        (sim,) = [c for c in commands if Path(c[0]).name == "sim_node"]
        assert "use_sim_time:=false" in sim  # the clock source keeps its own clock


def test_arguments_remap_the_streams_and_reject_unknown_names():
    overrides = {"joint_states_topic": "/go2/joint_states", "record": "false", "namespace": "dog1",
                 "bridge": "false", "mic": "false", "camera": "false"}  # fmt: skip
    (cmd,) = runner.commands("robot", overrides)  # the brain alone, next to a vendor driver
    assert "/joint_states:=/go2/joint_states" in cmd and "__ns:=/dog1" in cmd
    with pytest.raises(ValueError, match="no argument 'skil'"):
        graph.resolve_args(graph.get_graph("teach"), {"skil": "sit"})
    with pytest.raises(ValueError, match="must be one of"):
        graph.resolve_args(graph.get_graph("sim"), {"composed": "maybe"})
    teach = runner.commands("teach", {"skill": "lie_down", "demos": "2"})
    (teacher,) = [c for c in teach if Path(c[0]).name == "teacher"]
    assert "skill:=lie_down" in teacher and "demos:=2" in teacher
    assert runner.parse_overrides(["a:=1", "b:="]) == {"a": "1", "b": ""}
    with pytest.raises(ValueError, match="name:=value"):
        runner.parse_overrides(["a=1"])


def test_the_robot_graph_starts_the_drivers_with_their_devices():
    """By default the robot graph brings up the whole robot side: the Unitree bridge, the microphone and
    the camera, each with its parameter file and its device from a launch argument; each can be left out."""
    devices = {"network_interface": "eth0", "mic_device": "USB", "camera_source": "/dev/video2",
               "camera_topic": "/dog/camera"}  # fmt: skip
    commands = {Path(c[0]).name: c for c in runner.commands("robot", devices)}
    assert set(commands) == {"unitree_bridge", "mic_node", "camera_node", graph.COMPOSED_EXECUTABLE,
                             "session_recorder"}  # fmt: skip
    for executable, param in [("unitree_bridge", "network_interface:=eth0"), ("mic_node", "device:=USB"),
                              ("camera_node", "source:=/dev/video2")]:  # fmt: skip
        cmd = commands[executable]
        assert param in cmd and str(graph.config_dir() / f"{executable}.yaml") in cmd
        assert "/camera/image_raw:=/dog/camera" in cmd  # the drivers publish under the same remaps
    defaults = {Path(c[0]).name: c for c in runner.commands("robot")}
    assert not any(a.startswith(("source:=", "device:=", "network_interface:=")) for c in defaults.values()
                   for a in c)  # '' keeps each driver's YAML  # fmt: skip
    for flag, executable in [("bridge", "unitree_bridge"), ("mic", "mic_node"), ("camera", "camera_node")]:
        left = {Path(c[0]).name for c in runner.commands("robot", {flag: "false"})}
        assert executable not in left and len(left) == 4
