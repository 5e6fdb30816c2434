"""`panel_node`: the browser teach panel (`yan-dog panel`), a thin node under `yan_dog.panel_server`.

It hosts the panel's web server (uvicorn, in a thread of this process) and is its `PanelBackend`:
- motion: the virtual joystick, the posture presets and the pose editor set a `yan_dog.teleop.TeleopState`;
  while a browser is connected, every control tick publishes its 15-D hybrid action on /teach/action and
  its gait command on /cmd_vel, exactly as `teleop_keyboard` does (so the brain records it during a
  demonstration, and the sim walks on its own without a brain);
- teaching: every button goes through `yan_dog_ros.teach_client.TeachClient`, the client `teleop_keyboard`
  uses (brain services, teach-desk commands on /teach/command, the sim's play_cue and reset); a recorded
  cue is played by giving the sim its WAV file (the sim registers it under the file's name);
- status: /brain/status, /sim/status, the latched /teach/state and the newest camera frame (JPEG-encoded
  on demand, at most once per frame) for the socket.
The web server's thread never touches rclpy: its actions are queued and run by this node's timer.

Parameters (config/panel_node.yaml): host, port, token (anything but loopback needs one), control_hz,
brain_node, sim_node, robot, cue_dir, export_dir, publish_cmd_vel, jpeg_quality.
"""

from __future__ import annotations

import collections
import json
import os
import queue
import threading
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
from geometry_msgs.msg import Twist
from rclpy.node import Node
from sensor_msgs.msg import Image
from std_msgs.msg import Float64MultiArray, String

from robots.gait import TrotController
from robots.profile import get_profile
from yan_dog.panel_server import DEFAULT_HOST, DEFAULT_PORT, PanelConfig, create_app
from yan_dog.teleop import TeleopState, posture_offsets, step_action, with_pose
from yan_dog_ros import msgs
from yan_dog_ros.spin import spin_node
from yan_dog_ros.teach_client import ACTIONS as TEACH_ACTIONS
from yan_dog_ros.teach_client import TeachClient

NODE_NAME = "panel_node"
ANSWERS_KEPT = 20  # answers the socket shows (newest last)
ACTIONS_PER_TICK = 32  # queued browser actions run per control tick at most
SERVER_STOP_S = 5.0  # s the web server gets to stop
DEFAULT_JPEG_QUALITY = 80

PARAMETERS = {
    "host": DEFAULT_HOST,
    "port": DEFAULT_PORT,
    "token": "",
    "control_hz": 50,
    "brain_node": "yan_brain",
    "sim_node": "sim_node",
    "robot": "a1",
    "cue_dir": "",  # "" = PanelConfig's default
    "export_dir": "",
    "publish_cmd_vel": True,
    "jpeg_quality": DEFAULT_JPEG_QUALITY,
}


class PanelNode(Node):
    """The browser teach panel on the ROS graph (see the module docstring)."""

    def __init__(self, serve: bool = True, **node_kwargs):
        super().__init__(NODE_NAME, **node_kwargs)
        p = {name: self.declare_parameter(name, default).value for name, default in PARAMETERS.items()}
        self.config = PanelConfig(host=p["host"], port=p["port"], token=p["token"], robot=p["robot"],
                                  cue_dir=os.path.expanduser(p["cue_dir"] or PanelConfig.cue_dir),
                                  export_dir=os.path.expanduser(p["export_dir"] or PanelConfig.export_dir))
        profile = get_profile(p["robot"])
        self.lower, self.upper = np.asarray(profile.joint_lower_rad), np.asarray(profile.joint_upper_rad)
        self.stand = TrotController(profile=profile).stand_targets()  # (12,) what a zero action holds
        self.postures = posture_offsets(profile)
        self.dt_s = 1.0 / p["control_hz"]
        self.publish_cmd_vel = p["publish_cmd_vel"]
        self.jpeg_quality = int(p["jpeg_quality"])
        self.teleop = TeleopState()
        self.browsers = 0
        self.cue_wavs: dict[str, str] = {}  # recorded cue name -> its WAV file (the sim plays the file)
        self._actions: queue.Queue = queue.Queue()
        self._lock = threading.Lock()  # the status below is read by the server's thread
        self.brain_status: dict = {}
        self.sim_status: dict = {}
        self.answers: collections.deque = collections.deque(maxlen=ANSWERS_KEPT)
        self._answer_seq = 0
        self._image: Image | None = None
        self._image_seq = 0
        self._jpeg: tuple[int, bytes] | None = None

        self.teach = TeachClient(self, p["brain_node"], p["sim_node"], self._on_answer)
        self.pub_action = self.create_publisher(Float64MultiArray, msgs.TEACH_ACTION_TOPIC, msgs.COMMAND_QOS)
        self.pub_cmd_vel = self.create_publisher(Twist, msgs.CMD_VEL_TOPIC, msgs.COMMAND_QOS)
        self.create_subscription(Image, msgs.CAMERA_TOPIC, self._on_image, msgs.SENSOR_QOS)
        self.create_subscription(String, msgs.BRAIN_STATUS_TOPIC, lambda m: self._on_status("brain", m),
                                 msgs.STATUS_QOS)
        self.create_subscription(String, msgs.SIM_STATUS_TOPIC, lambda m: self._on_status("sim", m),
                                 msgs.STATUS_QOS)
        self.create_timer(self.dt_s, self._on_tick)
        self.server = self._thread = None
        if serve:
            self.start_server()

    # --- the web server -------------------------------------------------------------------------------------
    def start_server(self) -> None:
        import uvicorn

        app = create_app(self.config, self, log=self.log_line)
        self.server = uvicorn.Server(uvicorn.Config(app, host=self.config.host, port=self.config.port,
                                                    log_level="warning", access_log=False))
        self._thread = threading.Thread(target=self.server.run, name="panel-web", daemon=True)
        self._thread.start()
        self.get_logger().info(f"teach panel on http://{self.config.host}:{self.config.port}/"
                               + ("?token=..." if self.config.token else ""))

    def bound_port(self, timeout_s: float = 10.0) -> int:
        """The port the server listens on (port 0 picks one), once it has started."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.server is not None and self.server.started and self.server.servers:
                return self.server.servers[0].sockets[0].getsockname()[1]
            time.sleep(0.05)
        raise TimeoutError(f"the panel's web server did not start within {timeout_s} s")

    def log_line(self, line: str) -> None:
        self.get_logger().info(line)

    def close(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
            self._thread.join(SERVER_STOP_S)

    # --- PanelBackend (called from the server's thread) ------------------------------------------------
    def act(self, action: str, args: dict) -> tuple[bool, str]:
        if action == "posture" and args.get("name") not in self.postures:
            return False, f"unknown posture {args.get('name')!r}; known: {', '.join(self.postures)}"
        if action not in ("drive", "posture", "pose") and action not in TEACH_ACTIONS:
            return False, f"unknown action {action!r}"
        self._actions.put((action, args))
        return True, f"{action} sent"

    def snapshot(self) -> dict:
        with self._lock:
            return {"brain": self.brain_status, "sim": self.sim_status, "teach": self.teach.state,
                    "answers": list(self.answers), "browsers": self.browsers,
                    "teleop": {"command": list(self.teleop.command), "posture": self.teleop.posture}}

    def frame(self) -> tuple[int, bytes] | None:
        with self._lock:
            image, seq, cached = self._image, self._image_seq, self._jpeg
        if image is None:
            return None
        if cached is None or cached[0] != seq:
            rgb = np.frombuffer(image.data, np.uint8).reshape(image.height, image.width, 3)  # (H, W, 3)
            ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                                    [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
            if not ok:
                return cached
            cached = (seq, jpeg.tobytes())
            with self._lock:
                self._jpeg = cached
        return cached

    def set_clients(self, n: int) -> None:
        self.browsers = n
        if n == 0:  # nobody is driving: stop walking, keep the posture
            self._actions.put(("drive", {"vx": 0.0, "vy": 0.0, "wz": 0.0}))

    # --- ROS callbacks --------------------------------------------------------------------------------
    def _on_image(self, msg: Image) -> None:
        if msg.encoding != "rgb8" or len(msg.data) != msg.height * msg.width * 3:
            return  # the panel only shows what the sim and camera_node publish
        with self._lock:
            self._image, self._image_seq = msg, self._image_seq + 1

    def _on_status(self, which: str, msg: String) -> None:
        try:
            status = json.loads(msg.data)
        except json.JSONDecodeError:
            return
        with self._lock:
            if which == "brain":
                self.brain_status = status
            else:
                self.sim_status = status

    def _on_answer(self, action: str, ok: bool, message: str) -> None:
        if ok:
            self.get_logger().info(f"panel: {action}: ok {message[:200]}")
        else:
            self.get_logger().warning(f"panel: {action}: refused {message[:200]}")
        with self._lock:
            self._answer_seq += 1
            self.answers.append({"seq": self._answer_seq, "action": action, "ok": ok, "message": message})

    def _on_tick(self) -> None:
        for _ in range(ACTIONS_PER_TICK):
            try:
                action, args = self._actions.get_nowait()
            except queue.Empty:
                break
            self._run(action, args)
        self.teach.expire()
        self.teleop, action = step_action(self.teleop, self.dt_s, self.postures)  # (15,)
        if self.browsers == 0:
            return  # a panel nobody looks at does not drive the robot (the teacher node may be)
        self.pub_action.publish(msgs.float_array(action, "hybrid_action"))
        if self.publish_cmd_vel:
            twist = Twist()
            twist.linear.x, twist.linear.y, twist.angular.z = (float(v) for v in self.teleop.command)
            self.pub_cmd_vel.publish(twist)

    def _run(self, action: str, args: dict) -> None:
        """One browser action, on the executor's thread."""
        if action == "drive":
            self.teleop = replace(self.teleop, command=(args["vx"], args["vy"], args["wz"]),
                                  posture="stand" if any((args["vx"], args["vy"], args["wz"])) else
                                  self.teleop.posture)
        elif action == "posture":
            self.teleop = replace(self.teleop, command=(0.0, 0.0, 0.0), posture=args["name"])
        elif action == "pose":
            targets = np.clip(np.asarray(args["targets"]), self.lower, self.upper)  # (12,) rad
            self.teleop = with_pose(self.teleop, targets - self.stand)
        elif action == "set_cue":
            if args.get("wav"):
                self.cue_wavs[args["cue"]] = args["wav"]
            self.teach.request("set_cue", cue=args["cue"])
        elif action == "play_cue":
            cue = args.get("cue") or self.teach.state.get("cue") or ""
            self.teach.request("play_cue", cue=self.cue_wavs.get(cue, cue))
        elif action == "export_skill":
            path = Path(self.config.export_dir).expanduser().resolve() / f"{args['name']}.yanskill"
            path.parent.mkdir(parents=True, exist_ok=True)
            self.teach.request("export_skill", name=args["name"], path=str(path))
        else:
            self.teach.request(action, **args)



def main(args=None) -> None:
    spin_node(PanelNode, args)


if __name__ == "__main__":
    main()
