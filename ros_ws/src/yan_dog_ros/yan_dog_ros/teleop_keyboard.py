"""`teleop_keyboard`: a person drives and teaches the dog from a terminal.

Keys (see `yan_dog.teleop`): w/s/a/d/q/e walk and turn, space/x stop, 1-4 postures (stand, sit, lie
down, shake paw), k name the skill, u name its cue, [ ] pick a known skill (and its cue), b/n begin/end a
demonstration, j discard the running one, c play the cue through the sim, t try on/off, v save the skill,
r reset the sim, Esc or Ctrl-C quit.

Every control tick (`control_hz`) it publishes the current 15-D hybrid action on /teach/action (the brain
executes and records it while a demonstration runs) and, with `publish_cmd_vel`, the gait command on
/cmd_vel (so the sim's own trot controller walks the dog when no brain is running). The other keys go
through `yan_dog_ros.teach_client.TeachClient`, as the browser panel's buttons do: the brain's services
(start_demo, stop_demo, save_skill, set_trying), its teach-desk commands on /teach/command (set_skill,
set_cue, discard_demo), and the sim's play_cue (with the chosen cue) and reset.

The terminal is put in cbreak mode (keys arrive without Enter, not echoed) and restored on exit, whatever
the exit path. Parameters (config/teleop_keyboard.yaml): robot (profile: its posture presets),
control_hz, publish_cmd_vel, sim_node, brain_node.
"""

from __future__ import annotations

import os
import select
import sys
import termios
import tty

from geometry_msgs.msg import Twist
from rclpy.node import Node
from std_msgs.msg import Float64MultiArray

from yan_dog.teleop import HELP, TeleopState, apply_key, posture_offsets, step_action
from yan_dog_ros import msgs
from yan_dog_ros.robot_params import declare_robot
from yan_dog_ros.spin import spin_until
from yan_dog_ros.teach_client import TeachClient

NODE_NAME = "teleop_keyboard"
MAX_KEYS_PER_TICK = 16  # keys read per tick at most (a held key repeats ~30/s)
ESCAPE = b"\x1b"
ESCAPE_SEQUENCE_MAX_BYTES = 8  # the rest of an escape sequence such as an arrow key's "\x1b[A"

PARAMETERS = {
    "control_hz": 50,
    "publish_cmd_vel": True,
    "sim_node": "sim_node",
    "brain_node": "yan_brain",
}


class TerminalKeys:
    """Single key presses from a terminal (cbreak mode), as a context manager that restores the terminal.

    `read_key()` returns one pending key or None without blocking."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stdin
        self._saved = None

    def __enter__(self) -> TerminalKeys:
        if not self.stream.isatty():
            raise RuntimeError("teleop_keyboard needs a terminal: stdin is not a TTY")
        fd = self.stream.fileno()
        self._saved = termios.tcgetattr(fd)
        tty.setcbreak(fd)
        return self

    def __exit__(self, *exc) -> None:
        if self._saved is not None:
            termios.tcsetattr(self.stream.fileno(), termios.TCSADRAIN, self._saved)
            self._saved = None

    def read_key(self) -> str | None:
        fd = self.stream.fileno()
        ready, _, _ = select.select([fd], [], [], 0.0)
        if not ready:
            return None
        data = os.read(fd, 1)
        if data == ESCAPE and select.select([fd], [], [], 0.0)[0]:
            os.read(fd, ESCAPE_SEQUENCE_MAX_BYTES)  # an arrow or function key, not a lone Esc: ignore it
            return None
        return data.decode(errors="replace") if data else None


class TeleopNode(Node):
    """Turns key presses into teach actions and service calls. `key_source` has `read_key() -> str | None`."""

    def __init__(self, key_source, **node_kwargs):
        super().__init__(NODE_NAME, **node_kwargs)
        for name, default in PARAMETERS.items():
            self.declare_parameter(name, default)
        self.postures = posture_offsets(declare_robot(self))  # {name: (12,) offsets}, the robot's own
        self.keys = key_source
        self.state = TeleopState()
        self.quit = False
        self.dt_s = 1.0 / self.get_parameter("control_hz").value
        self.publish_cmd_vel = self.get_parameter("publish_cmd_vel").value
        sim, brain = self.get_parameter("sim_node").value, self.get_parameter("brain_node").value
        self.teach = TeachClient(self, brain, sim, self._on_answer)
        self.pub_action = self.create_publisher(Float64MultiArray, msgs.TEACH_ACTION_TOPIC, msgs.COMMAND_QOS)
        self.pub_cmd_vel = self.create_publisher(Twist, msgs.CMD_VEL_TOPIC, msgs.COMMAND_QOS)
        self.create_timer(self.dt_s, self._on_tick)
        self.get_logger().info("keys:" + HELP)

    def _on_tick(self) -> None:
        for _ in range(MAX_KEYS_PER_TICK):
            key = self.keys.read_key()
            if key is None:
                break
            self.state, event = apply_key(self.state, key)
            if event == "quit":
                self.quit = True
            elif event is not None:
                self._call(event)
        self.teach.expire()
        self.state, action = step_action(self.state, self.dt_s, self.postures)
        self.pub_action.publish(msgs.float_array(action, "hybrid_action"))
        if self.publish_cmd_vel:
            twist = Twist()
            twist.linear.x, twist.linear.y, twist.angular.z = (float(v) for v in self.state.command)
            self.pub_cmd_vel.publish(twist)

    def _call(self, event: str) -> None:
        s = self.state
        if event in ("set_skill", "pick_skill"):  # a picked skill comes with its cue
            picked = f", cue {s.cue!r}" if event == "pick_skill" else ""
            self.get_logger().info(f"skill {s.skill!r}{picked}")
            self.teach.request("set_skill", name=s.skill)
            if event == "pick_skill":
                self.teach.request("set_cue", cue=s.cue)
        elif event == "set_cue":
            self.get_logger().info(f"cue {s.cue!r}")
            self.teach.request("set_cue", cue=s.cue)
        elif event == "toggle_try":
            self.teach.request("set_trying", on=not self.teach.state.get("trying", False))
        elif event == "play_cue":
            self.teach.request("play_cue", cue=s.cue or self.teach.state.get("cue") or "")
        else:
            self.teach.request(event)

    def _on_answer(self, event: str, ok: bool, message: str) -> None:
        # one call line per severity (rclpy raises if one line logs at two; see brain_node._answer)
        if ok:
            self.get_logger().info(f"{event}: ok {message[:200]}")
        else:
            self.get_logger().error(f"{event}: refused {message[:200]}")


def main(args=None) -> None:
    with TerminalKeys() as keys:
        spin_until(lambda: TeleopNode(keys), lambda n: n.quit, lambda n: n.dt_s, args)


if __name__ == "__main__":
    main()
