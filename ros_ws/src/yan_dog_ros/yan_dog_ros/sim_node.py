"""`sim_node`: the simulated Unitree A1 as a ROS 2 robot device (a thin node over `sim.device.SimDevice`).

A wall-clock timer at `control_hz` runs one simulation tick in real time and publishes what is due:

  /camera/image_raw  sensor_msgs/Image rgb8       at camera_hz (only ticks that drew a new frame)
  /audio/pcm         std_msgs/Int16MultiArray     every tick, audio_rate_hz / control_hz mono samples
  /joint_states      sensor_msgs/JointState       every tick, the 12 A1 motors (rad, rad/s, N·m)
  /imu/data          sensor_msgs/Imu              every tick (frame "base")
  /clock             rosgraph_msgs/Clock          every tick, the sim clock
  /sim/teacher_action std_msgs/Float64MultiArray  every tick while a skill is set: the scripted
                                                  teacher's 15-D hybrid action (sim-only oracle)
  /sim/status        std_msgs/String (JSON)       every tick: skill, seed, episode, time_s, episode_s,
                                                  cue, cue_time_s, go_time_s, condition, success,
                                                  early, fallen, sim_time_s, control_source, tick_ms,
                                                  overruns, skipped_ticks

Subscriptions: /joint_commands (std_msgs/Float64MultiArray, 12 absolute joint targets in rad, clamped
to the joint limits) and /cmd_vel (geometry_msgs/Twist: linear.x, linear.y, angular.z drive the sim's
trot controller when no joint command arrived within `joint_command_timeout_s`). A message of the wrong
length or with NaN/inf is dropped with one log line; the node carries on.

Services (std_srvs/Trigger; their arguments are node parameters, set them first with SetParameters):
  ~/reset       new episode with parameters `skill` ("" = idle), `seed`, `play_cue`; the response
                message is the status JSON (its `episode` number identifies the new episode)
  ~/play_cue    play parameter `cue` now ("" = the skill's cue; a path to a .wav file: that recording,
                registered as the cue named after the file); the teacher acts when it has ended
  ~/place_ball  move the ball to parameter `ball_xy` = [x, y] (m, world frame)

Clock: every stamp is the sim time of capture. The sim clock starts at the wall-clock time when the
node's tick grid starts, once the world is built (`time_origin: wall`; or at 0 with `time_origin: zero`),
and advances exactly one control
period per tick; ticks run late are caught up (at most MAX_CATCH_UP_TICKS per timer callback) and a
backlog beyond MAX_LAG_S is skipped, so stamps read like the wall clock of the other nodes even on a busy
machine. Episode resets do not rewind it. Start-up parameters (rates, sizes, timeouts) are read once;
see config/sim_node.yaml.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from geometry_msgs.msg import Twist
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from rosgraph_msgs.msg import Clock as ClockMsg
from std_msgs.msg import Float64MultiArray, String
from std_srvs.srv import Trigger

from sim.cues import register_wav_cue
from sim.device import GAIT_COMMAND_SIZE, JOINT_NAMES, SimDevice, SimDeviceConfig
from yan_dog.plugins import load_plugins_from_env
from yan_dog_ros import msgs
from yan_dog_ros.spin import spin_node

NODE_NAME = "sim_node"
TIME_ORIGINS = ("wall", "zero")
BAD_INPUT_LOG_PERIOD_S = 1.0  # at most one log line per second per kind of bad input
MAX_CATCH_UP_TICKS = 3  # ticks run in one timer callback at most when the callback came late
MAX_LAG_S = 0.2  # a larger backlog behind real time is skipped instead of simulated
MS_PER_S = 1000.0
WAV_SUFFIX = ".wav"  # a `cue` parameter ending so names a recorded cue file (registered under its stem)

# name: default (the YAML in config/sim_node.yaml sets the same values)
PARAMETERS = {
    "skill": "",
    "seed": 0,
    "play_cue": True,
    "cue": "",
    "randomize": True,
    "ball_xy": [1.6, 0.0],
    "control_hz": 50,
    "camera_hz": 10.0,
    "camera_height": 96,
    "camera_width": 96,
    "audio_rate_hz": 16000,
    "joint_command_timeout_s": 0.1,
    "cmd_vel_timeout_s": 0.5,
    "time_origin": "wall",
}


class SimNode(Node):
    """The simulated robot on the ROS graph (see the module docstring)."""

    def __init__(self, **node_kwargs):
        load_plugins_from_env()  # a user's skills ($YAN_DOG_PLUGINS, entry points): reset can name them
        super().__init__(NODE_NAME, **node_kwargs)
        for name, default in PARAMETERS.items():
            self.declare_parameter(name, default)
        p = self._param
        origin = p("time_origin")
        if origin not in TIME_ORIGINS:
            raise ValueError(f"parameter time_origin must be one of {TIME_ORIGINS}, got {origin!r}")
        config = SimDeviceConfig(
            skill=p("skill"),
            seed=p("seed"),
            play_cue=p("play_cue"),
            randomize=p("randomize"),
            control_hz=p("control_hz"),
            camera_hz=float(p("camera_hz")),
            camera_size=(p("camera_height"), p("camera_width")),
            audio_rate_hz=p("audio_rate_hz"),
            joint_command_timeout_s=float(p("joint_command_timeout_s")),
            cmd_vel_timeout_s=float(p("cmd_vel_timeout_s")),
        )
        self.device = SimDevice(config)
        self._pending_joints: np.ndarray | None = None  # (12,) newest command since the last tick
        self._pending_cmd_vel: np.ndarray | None = None  # (3,)
        self._overruns = 0  # ticks that took longer than a control period to compute
        self._skipped = 0  # ticks dropped to catch up with real time
        self._tick_ms = 0.0

        self.pubs = msgs.sensor_publishers(self)  # camera, audio, joints, imu
        self.pub_clock = self.create_publisher(ClockMsg, msgs.CLOCK_TOPIC, msgs.STATUS_QOS)
        self.pub_teacher = self.create_publisher(
            Float64MultiArray, msgs.TEACHER_ACTION_TOPIC, msgs.COMMAND_QOS
        )
        self.pub_status = self.create_publisher(String, msgs.SIM_STATUS_TOPIC, msgs.STATUS_QOS)
        self.create_subscription(
            Float64MultiArray, msgs.JOINT_COMMANDS_TOPIC, self._on_joint_command, msgs.COMMAND_QOS
        )
        self.create_subscription(Twist, msgs.CMD_VEL_TOPIC, self._on_cmd_vel, msgs.COMMAND_QOS)
        self.create_service(Trigger, "~/reset", self._on_reset)
        self.create_service(Trigger, "~/play_cue", self._on_play_cue)
        self.create_service(Trigger, "~/place_ball", self._on_place_ball)

        self._period_s = 1.0 / config.control_hz
        # The tick grid and the sim clock start at one instant, after the world was built: a sim clock
        # started before the build stayed behind the other nodes' wall clocks by the build's time, over
        # 1 s on a busy machine, where the brain dropped every sample as stale (max_stamp_age_s).
        self._wall_start_s = time.monotonic()
        if origin == "wall":
            self.device.set_clock(time.time())
        self._ticks_run = 0
        # Steady (wall) clock: the simulation runs in real time whatever use_sim_time says.
        self._timer = self.create_timer(
            self._period_s, self._on_tick, clock=Clock(clock_type=ClockType.STEADY_TIME)
        )
        self.get_logger().info(
            f"simulated A1 up: skill={config.skill or '(idle)'} seed={config.seed},"
            f" control {config.control_hz} Hz,"
            f" camera {config.camera_size[0]}x{config.camera_size[1]} at {config.camera_hz:g} Hz,"
            f" audio {config.audio_rate_hz} Hz"
        )

    def _param(self, name: str):
        return self.get_parameter(name).value

    # --- commands in --------------------------------------------------------------------------------------
    def _warn(self, text: str) -> None:
        self.get_logger().warning(text, throttle_duration_sec=BAD_INPUT_LOG_PERIOD_S)

    def _on_joint_command(self, msg: Float64MultiArray) -> None:
        try:
            self._pending_joints = msgs.float_array_values(msg, len(JOINT_NAMES), msgs.JOINT_COMMANDS_TOPIC)
        except ValueError as err:
            self._warn(f"dropped a joint command: {err}")

    def _on_cmd_vel(self, msg: Twist) -> None:
        v = np.array([msg.linear.x, msg.linear.y, msg.angular.z], np.float64)  # (3,) vx, vy, yaw rate
        if v.shape != (GAIT_COMMAND_SIZE,) or not np.isfinite(v).all():
            self._warn(f"dropped a {msgs.CMD_VEL_TOPIC} message: non-finite values {v.tolist()}")
            return
        self._pending_cmd_vel = v

    # --- one real-time tick -------------------------------------------------------------------------------
    def _on_tick(self) -> None:
        """Run the ticks that are due by the wall clock: normally one; after a late callback (a busy
        machine, a reset) up to MAX_CATCH_UP_TICKS, so the sim clock keeps up with real time. A backlog
        beyond MAX_LAG_S is dropped: the sim clock jumps forward and the world skips that time."""
        behind = int((time.monotonic() - self._wall_start_s) / self._period_s) - self._ticks_run
        if behind * self._period_s > MAX_LAG_S:
            self.device.skip_ticks(behind - 1)
            self._ticks_run += behind - 1
            self._skipped += behind - 1
            self.get_logger().warning(
                f"simulation fell {behind * self._period_s:.2f} s behind real time; skipped ahead",
                throttle_duration_sec=BAD_INPUT_LOG_PERIOD_S,
            )
            behind = 1
        for _ in range(min(max(behind, 1), MAX_CATCH_UP_TICKS)):
            self._tick_once()

    def _tick_once(self) -> None:
        start = time.perf_counter()
        joints, cmd_vel = self._pending_joints, self._pending_cmd_vel
        self._pending_joints = self._pending_cmd_vel = None
        self._ticks_run += 1
        try:
            out = self.device.tick(joints, cmd_vel)
        except Exception as err:  # never let the simulation kill the robot's node
            self.get_logger().error(
                f"simulation tick failed: {err!r}", throttle_duration_sec=BAD_INPUT_LOG_PERIOD_S
            )
            return
        try:
            self._publish(out, start)
        except Exception as err:  # e.g. the context shut down mid-tick (Ctrl-C): nothing left to do
            if self.context.ok():
                self.get_logger().error(
                    f"publishing failed: {err!r}", throttle_duration_sec=BAD_INPUT_LOG_PERIOD_S
                )

    def _publish(self, out, start: float) -> None:
        stamp = msgs.to_stamp(out.sim_time_s)
        if out.camera is not None:
            self.pubs["camera"].publish(msgs.image_rgb8(out.camera, stamp))
        self.pubs["audio"].publish(msgs.audio_chunk(out.audio))
        self.pubs["joints"].publish(
            msgs.joint_state(JOINT_NAMES, out.joints[0], out.joints[1], out.joints[2], stamp)
        )
        self.pubs["imu"].publish(msgs.imu_msg(out.imu, stamp))
        self.pub_clock.publish(msgs.clock_msg(stamp))
        if out.teacher_action is not None:
            self.pub_teacher.publish(msgs.float_array(out.teacher_action, "hybrid_action"))
        self._tick_ms = (time.perf_counter() - start) * MS_PER_S
        if self._tick_ms > self._period_s * MS_PER_S:
            self._overruns += 1
        self.pub_status.publish(msgs.json_string(self._status(out.status)))

    def _status(self, status: dict) -> dict:
        return {
            **status,
            "tick_ms": round(self._tick_ms, 3),
            "overruns": self._overruns,
            "skipped_ticks": self._skipped,
        }

    # --- services -----------------------------------------------------------------------------------------
    def _on_reset(self, request, response):
        skill, seed, play_cue = self._param("skill"), self._param("seed"), self._param("play_cue")
        try:
            status = self.device.reset(skill, seed, play_cue)
        except (KeyError, ValueError) as err:
            response.success, response.message = False, f"reset refused: {err}"
            self.get_logger().error(response.message)
            return response
        self._pending_joints = self._pending_cmd_vel = None
        self.get_logger().info(f"episode {status['episode']}: skill={skill or '(idle)'} seed={seed}")
        response.success, response.message = True, msgs.json_string(self._status(status)).data
        return response

    def _on_play_cue(self, request, response):
        cue = self._param("cue") or None
        try:
            if cue is not None and cue.endswith(WAV_SUFFIX):  # a recorded cue (the browser panel's)
                cue = register_recorded_cue(cue)
            name = self.device.play_cue(cue)
        except (KeyError, RuntimeError, ValueError, OSError) as err:
            response.success, response.message = False, f"play_cue refused: {err}"
            self.get_logger().error(response.message)
            return response
        response.success, response.message = True, f"playing {name} at t={self.device.env.time_s:.2f} s"
        self.get_logger().info(response.message)
        return response

    def _on_place_ball(self, request, response):
        xy = self._param("ball_xy")
        try:
            self.device.place_ball(xy)
        except (TypeError, ValueError) as err:
            response.success, response.message = False, f"place_ball refused: {err}"
            self.get_logger().error(response.message)
            return response
        response.success, response.message = True, f"ball at {list(xy)}"
        return response

    def destroy_node(self):
        self.device.close()
        super().destroy_node()


def register_recorded_cue(path: str) -> str:
    """Register the WAV file at `path` as the cue named after it (its stem; a newer recording of that name
    replaces the older one) and return the name: what the brain records as the demonstrations' cue."""
    wav = Path(path)
    if not wav.is_file():
        raise ValueError(f"cue file {path!r} does not exist")
    register_wav_cue(wav.stem, wav, overwrite=True)
    return wav.stem


def main(args=None) -> None:
    spin_node(SimNode, args)


if __name__ == "__main__":
    main()
