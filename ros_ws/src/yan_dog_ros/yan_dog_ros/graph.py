"""The yan-dog ROS 2 graphs, declared once: which nodes run, with which parameter files and remaps.

Both the launch files (`launch/*.launch.py`, through `launch_description`) and the in-process runner
(`yan-dog up sim`, `yan_dog_ros.runner`) are built from these declarations, so the YAML files a launch
file passes are, by construction, the ones the runner passes.

Graphs:
    sim    the simulated A1 (`sim_node`) + the brain (preprocessing + `yan_brain`) + the session recorder
           (+ the browser teach panel, `panel_node`, with `panel:=true`; in the robot graph too)
    robot  the robot's drivers (`unitree_bridge`, `mic_node`, `camera_node`; off with `bridge:=false`,
           `mic:=false`, `camera:=false`) + the brain + the session recorder; with a vendor driver
           instead, remap its topics with the `*_topic` arguments
    teach  `sim` + the scripted `teacher`, which runs `demos` demonstrations of `skill` through the brain

The brain's four nodes run in one process (`brain_composed`: one executor, no serialisation between the
preprocessing nodes and the brain) when `composed:=true`, else as four processes. Parameter files live in the
package's `config/` folder, one per node, under `<node name>: ros__parameters:` (or `/**/<node name>:`,
which also matches under a namespace); `params_file` adds one more YAML applied after them (overrides).

This module imports neither rclpy nor launch: tests and the CLI read it anywhere.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "yan_dog_ros"
TRUE_VALUES = ("true", "1", "yes", "on")
FALSE_VALUES = ("false", "0", "no", "off")


@dataclass(frozen=True)
class LaunchArg:
    """A launch argument: `name:=value` on the `ros2 launch` / `yan-dog up` command line."""

    name: str
    default: str
    description: str
    choices: tuple[str, ...] | None = None


@dataclass(frozen=True)
class NodeSpec:
    """One node of a graph.

    Args:
        executable: console script (declared in setup.py) that runs the node in its own process.
        name: the node's name (the key of its section in its YAML file).
        params: parameter files under config/, applied in order.
        factory: "module:Class" that builds the node in a process the runner owns; called with rclpy
            `Node` keyword arguments only (context, cli_args).
        group: "brain" for the nodes `brain_composed` runs in one process when `composed:=true`.
        when: a boolean launch argument that must be true for the node to start ("" = always).
        param_args: (parameter, launch argument) pairs: the argument's value, unless '', overrides the
            parameter.
        clock_source: the node publishes /clock itself (the simulator): `use_sim_time` is not set on it.
        description: one line for the docs.
    """

    executable: str
    name: str
    params: tuple[str, ...]
    factory: str
    group: str = ""
    when: str = ""
    param_args: tuple[tuple[str, str], ...] = ()
    clock_source: bool = False
    description: str = ""


@dataclass(frozen=True)
class Graph:
    name: str
    description: str
    args: tuple[LaunchArg, ...]
    nodes: tuple[NodeSpec, ...]
    includes: tuple[str, ...] = ()  # graphs whose launch files this one includes (their args pass through)

    def all_args(self) -> tuple[LaunchArg, ...]:
        """This graph's arguments and those of the graphs it includes (its own defaults win)."""
        out = {a.name: a for g in self.includes for a in GRAPHS[g].all_args()}
        out.update({a.name: a for a in self.args})
        return tuple(out.values())

    def all_nodes(self) -> tuple[NodeSpec, ...]:
        return tuple(n for g in self.includes for n in GRAPHS[g].all_nodes()) + self.nodes


# --- the nodes ------------------------------------------------------------------------------------------
COMPOSED_EXECUTABLE = "brain_composed"
BRAIN_GROUP = "brain"

SIM_NODE = NodeSpec(
    "sim_node", "sim_node", ("sim_node.yaml",), "yan_dog_ros.sim_node:SimNode", clock_source=True,
    description="the PyBullet A1 as a ROS 2 device: raw streams, /clock, /joint_commands, services",
)  # fmt: skip
BRAIN_NODES = (
    NodeSpec("camera_preprocess", "camera_preprocess", ("camera_preprocess.yaml",),
             "yan_dog_ros.preprocess_nodes:CameraPreprocessNode", group=BRAIN_GROUP,
             description="/camera/image_raw -> /obs/camera"),
    NodeSpec("audio_preprocess", "audio_preprocess", ("audio_preprocess.yaml",),
             "yan_dog_ros.preprocess_nodes:AudioPreprocessNode", group=BRAIN_GROUP,
             description="/audio/pcm -> /obs/audio (one block per control tick)"),
    NodeSpec("joint_preprocess", "joint_preprocess", ("joint_preprocess.yaml",),
             "yan_dog_ros.preprocess_nodes:JointPreprocessNode", group=BRAIN_GROUP,
             description="/joint_states + /imu/data -> /obs/proprio"),
    NodeSpec("yan_brain", "yan_brain", ("yan_brain.yaml",), "yan_dog_ros.brain_node:BrainNode",
             group=BRAIN_GROUP, param_args=(("view", "view"),),
             description="train-inference loop, /obs/* -> /joint_commands; teaching"),
)  # fmt: skip
RECORDER_NODE = NodeSpec(
    "session_recorder", "session_recorder", ("session_recorder.yaml",),
    "yan_dog_ros.recorder_node:SessionRecorder", when="record", param_args=(("output_dir", "bag_dir"),),
    description="writes every teach session as an MCAP bag",
)  # fmt: skip
# The robot's drivers (robot graph), each behind a boolean argument, its device as a launch argument.
DRIVER_NODES = (
    NodeSpec("unitree_bridge", "unitree_bridge", ("unitree_bridge.yaml",),
             "yan_dog_ros.unitree_bridge:UnitreeBridge", when="bridge",
             param_args=(("network_interface", "network_interface"),),
             description="unitree-sdk2 LowState/LowCmd <-> /joint_states, /imu/data, /joint_commands, "
                         "with safety"),
    NodeSpec("mic_node", "mic_node", ("mic_node.yaml",), "yan_dog_ros.mic_node:MicNode", when="mic",
             param_args=(("device", "mic_device"),), description="a PortAudio microphone -> /audio/pcm"),
    NodeSpec("camera_node", "camera_node", ("camera_node.yaml",), "yan_dog_ros.camera_node:CameraNode",
             when="camera", param_args=(("source", "camera_source"),),
             description="an OpenCV camera (V4L2 device, video file, stream URL) -> /camera/image_raw"),
)  # fmt: skip
DRIVER_ARGS = (
    LaunchArg("bridge", "true", "start unitree_bridge (the Unitree low-level interface, with safety); false "
              "with a vendor ROS 2 driver", TRUE_VALUES + FALSE_VALUES),
    LaunchArg("network_interface", "", "NIC wired to the robot for unitree_bridge (e.g. eth0; lo: the fake "
              "robot; '' = config/unitree_bridge.yaml's)"),
    LaunchArg("mic", "true", "start mic_node (a PortAudio microphone -> /audio/pcm)",
              TRUE_VALUES + FALSE_VALUES),
    LaunchArg("mic_device", "", "mic_node's input device: an index or a (part of a) name ('' = "
              "config/mic_node.yaml's: the default input)"),
    LaunchArg("camera", "true", "start camera_node (OpenCV capture -> /camera/image_raw)",
              TRUE_VALUES + FALSE_VALUES),
    LaunchArg("camera_source", "", "camera_node's source: a V4L2 index or /dev/videoN, a video file or a "
              "stream URL ('' = config/camera_node.yaml's: device 0)"),
)  # fmt: skip
PANEL_NODE = NodeSpec(
    "panel_node", "panel_node", ("panel_node.yaml",), "yan_dog_ros.panel_node:PanelNode", when="panel",
    param_args=(("host", "panel_host"), ("port", "panel_port"), ("token", "panel_token")),
    description="the browser teach panel (camera, joystick, postures, pose editor, teach loop, skills)",
)  # fmt: skip
PANEL_ARGS = (
    LaunchArg("panel", "false", "serve the browser teach panel (panel_node)", TRUE_VALUES + FALSE_VALUES),
    LaunchArg("panel_host", "", "the panel's bind address ('' = config/panel_node.yaml's: 127.0.0.1); "
              "anything but loopback needs panel_token"),
    LaunchArg("panel_port", "", "the panel's port ('' = config/panel_node.yaml's: 8765)"),
    LaunchArg("panel_token", "", "the token the panel asks of every browser ('' = none: loopback only)"),
)
TEACHER_NODE = NodeSpec(
    "teacher", "teacher", ("teacher.yaml",), "yan_dog_ros.teacher:TeacherNode",
    param_args=(("skill", "skill"), ("demos", "demos")),
    description="scripted teacher: runs `demos` demonstrations of `skill` through the brain",
)  # fmt: skip

# Raw-stream topics a real robot's driver may name differently: (topic, launch argument).
STREAM_REMAPS = (
    ("/camera/image_raw", "camera_topic"),
    ("/audio/pcm", "audio_topic"),
    ("/joint_states", "joint_states_topic"),
    ("/imu/data", "imu_topic"),
    ("/joint_commands", "joint_commands_topic"),
)

# --- the arguments --------------------------------------------------------------------------------------
COMMON_ARGS = (
    LaunchArg("namespace", "", "ROS namespace of every node (e.g. a robot's name; '' = none)"),
    LaunchArg("params_file", "", "extra parameter YAML applied after the package's config/*.yaml "
              "(a name in config/ or a path; '' = none)"),
    LaunchArg("composed", "true", "run the preprocessing and yan_brain in one process (no serialisation)",
              TRUE_VALUES + FALSE_VALUES),
    LaunchArg("record", "true", "record each teach session as an MCAP bag (session_recorder)",
              TRUE_VALUES + FALSE_VALUES),
    LaunchArg("bag_dir", "", "folder of the session bags ('' = output_dir in config/session_recorder.yaml)"),
    LaunchArg("log_level", "info", "log level of every node", ("debug", "info", "warn", "error", "fatal")),
    LaunchArg("view", "", "live view of the brain in Rerun: true (a viewer window), web (a browser viewer), "
              "rerun+http://HOST:9876/proxy (a running viewer) or PATH.rrd (a file); '' = the brain's "
              "YAML (off)"),
) + tuple(
    LaunchArg(arg, topic, f"topic the robot uses for {topic} (remap for a vendor driver)")
    for topic, arg in STREAM_REMAPS
)  # fmt: skip

GRAPHS: dict[str, Graph] = {}
GRAPHS["sim"] = Graph(
    "sim",
    "the simulated A1 with the brain and the session recorder",
    COMMON_ARGS
    + (LaunchArg("use_sim_time", "true", "use the simulator's /clock", TRUE_VALUES + FALSE_VALUES),)
    + PANEL_ARGS,
    (SIM_NODE, *BRAIN_NODES, RECORDER_NODE, PANEL_NODE),
)
GRAPHS["robot"] = Graph(
    "robot",
    "a real robot: its drivers (Unitree bridge, microphone, camera), the brain and the session recorder",
    tuple(a for a in COMMON_ARGS if a.name != "params_file")
    + (
        LaunchArg("params_file", "robot.yaml", "extra parameter YAML applied after config/*.yaml "
                  "(robot overrides; a name in config/ or a path)"),
        LaunchArg("use_sim_time", "false", "use /clock instead of the system clock",
                  TRUE_VALUES + FALSE_VALUES),
    )
    + DRIVER_ARGS
    + PANEL_ARGS,
    (*DRIVER_NODES, *BRAIN_NODES, RECORDER_NODE, PANEL_NODE),
)  # fmt: skip
GRAPHS["teach"] = Graph(
    "teach",
    "the sim graph and the scripted teacher, which demonstrates a skill through the brain",
    (
        LaunchArg("skill", "sit", "skill the teacher demonstrates (a name from sim.skills)"),
        LaunchArg("demos", "3", "number of demonstrations"),
    ),
    (TEACHER_NODE,),
    includes=("sim",),
)


# --- helpers shared by the launch files and the runner --------------------------------------------------
def get_graph(name: str) -> Graph:
    if name not in GRAPHS:
        raise KeyError(f"unknown graph {name!r}; known: {', '.join(GRAPHS)}")
    return GRAPHS[name]


def config_dir() -> Path:
    """The package's config folder: next to this package in a source/editable install, else the
    installed share directory (colcon)."""
    here = Path(__file__).resolve().parent.parent / "config"
    if here.is_dir():
        return here
    from ament_index_python.packages import get_package_share_directory  # only on a colcon install

    return Path(get_package_share_directory(PACKAGE)) / "config"


def param_files(spec: NodeSpec, cfg: Path | None = None) -> list[Path]:
    cfg = cfg or config_dir()
    return [cfg / name for name in spec.params]


def resolve_args(graph: Graph, overrides: dict[str, str] | None = None) -> dict[str, str]:
    """Argument values: defaults, then `overrides`; ValueError on an unknown name or a bad choice."""
    args = {a.name: a for a in graph.all_args()}
    values = {name: a.default for name, a in args.items()}
    for name, value in (overrides or {}).items():
        if name not in args:
            raise ValueError(f"graph {graph.name!r} has no argument {name!r}; it has: {', '.join(args)}")
        if args[name].choices and str(value).lower() not in args[name].choices:
            raise ValueError(f"argument {name!r} must be one of {args[name].choices}, got {value!r}")
        values[name] = str(value)
    return values


def is_true(value: str) -> bool:
    return str(value).lower() in TRUE_VALUES


def extra_params_file(value: str, cfg: Path | None = None) -> Path | None:
    """The `params_file` argument as a path ('' = none; a bare name is looked up in config/)."""
    if not value:
        return None
    path = Path(os.path.expanduser(value))
    if not path.is_absolute() and not path.exists():
        path = (cfg or config_dir()) / value
    if not path.is_file():
        raise FileNotFoundError(f"params_file {value!r} not found (looked for {path})")
    return path


@dataclass(frozen=True)
class Process:
    """One OS process of a resolved graph: its executable, the nodes it holds and its `--ros-args`."""

    executable: str
    nodes: tuple[NodeSpec, ...]
    ros_args: tuple[str, ...]


def node_ros_args(nodes: tuple[NodeSpec, ...], values: dict[str, str], cfg: Path | None = None) -> list[str]:
    """`--ros-args ...` for a process holding `nodes`: namespace, every parameter file, the extra
    params_file, use_sim_time, launch-argument parameters, stream remaps and the log level."""
    cfg = cfg or config_dir()
    out = ["--ros-args"]
    if values.get("namespace"):
        out += ["-r", f"__ns:=/{values['namespace'].strip('/')}"]
    for spec in nodes:
        for path in param_files(spec, cfg):
            out += ["--params-file", str(path)]
    extra = extra_params_file(values.get("params_file", ""), cfg)
    if extra is not None:
        out += ["--params-file", str(extra)]
    if "use_sim_time" in values:  # the clock source itself keeps its own clock
        sim_time = is_true(values["use_sim_time"]) and not any(n.clock_source for n in nodes)
        out += ["-p", f"use_sim_time:={'true' if sim_time else 'false'}"]
    for spec in nodes:
        for param, arg in spec.param_args:
            if values[arg] != "":  # '' keeps the YAML's value
                out += ["-p", f"{param}:={values[arg]}"]
    for topic, arg in STREAM_REMAPS:
        if values.get(arg, topic) != topic:
            out += ["-r", f"{topic}:={values[arg]}"]
    out += ["--log-level", values.get("log_level", "info")]
    return out


def processes(
    graph: Graph, values: dict[str, str], cfg: Path | None = None, own_nodes_only: bool = False
) -> list[Process]:
    """The processes that run `graph` with argument `values` (see `resolve_args`); `own_nodes_only`
    leaves out the nodes of included graphs (their launch files start them)."""
    nodes = graph.nodes if own_nodes_only else graph.all_nodes()
    running = [n for n in nodes if not n.when or is_true(values[n.when])]
    out: list[Process] = []
    brain = tuple(n for n in running if n.group == BRAIN_GROUP)
    if brain and is_true(values.get("composed", "true")):
        out.append(Process(COMPOSED_EXECUTABLE, brain, tuple(node_ros_args(brain, values, cfg))))
        running = [n for n in running if n.group != BRAIN_GROUP]
    for n in running:
        out.append(Process(n.executable, (n,), tuple(node_ros_args((n,), values, cfg))))
    return out


# --- launch (only on a ROS 2 system: imports launch / launch_ros lazily) --------------------------------
def launch_description(graph_name: str):
    """The `LaunchDescription` of a graph: its declared arguments, the launch files of the graphs it
    includes, and one `Node` action per process of `processes()`, resolved when the launch runs, so each
    process gets exactly the `--ros-args` (parameter files, remaps, namespace) the runner gives it."""
    from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription, OpaqueFunction
    from launch.launch_description_sources import PythonLaunchDescriptionSource
    from launch.substitutions import PathJoinSubstitution
    from launch_ros.actions import Node
    from launch_ros.substitutions import FindPackageShare

    from launch import LaunchDescription

    graph = get_graph(graph_name)
    actions: list = [
        DeclareLaunchArgument(a.name, default_value=a.default, description=a.description, choices=a.choices)
        for a in graph.args
    ]
    for included in graph.includes:
        source = PathJoinSubstitution([FindPackageShare(PACKAGE), "launch", f"{included}.launch.py"])
        actions.append(IncludeLaunchDescription(PythonLaunchDescriptionSource(source)))

    def nodes(context):
        given = context.launch_configurations  # command line, then the included launch files' defaults
        values = {a.name: str(given.get(a.name, a.default)) for a in graph.all_args()}
        return [
            Node(package=PACKAGE, executable=p.executable, arguments=list(p.ros_args), output="screen")
            for p in processes(graph, values, own_nodes_only=True)
        ]

    actions.append(OpaqueFunction(function=nodes))
    return LaunchDescription(actions)
