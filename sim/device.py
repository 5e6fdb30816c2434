"""The simulated A1 as a real-time robot device: commands in, sensor streams out, one control tick at a time.

`SimDevice` wraps `YanDogEnv` (hybrid action mode) the way a robot driver wraps hardware. It is what the
ROS 2 `sim_node` runs on a wall-clock timer, but it has no ROS in it, so it is tested on its own.

Each `tick(joint_targets, cmd_vel)` advances the simulation by one control period and returns the
streams that are due: the camera frame only on ticks where the head camera drew a new frame
(`camera_hz`), and every tick one audio chunk (`audio_rate_hz / control_hz` samples), the joint
states and the IMU. In simulation it also returns the oracle: the scripted teacher's 15-D hybrid action
for the current state (while a skill is set) and a status dict.

What drives the joints, in order of precedence:
1. absolute joint targets (12, rad; ros2_control forward-command convention), applied as-is after
   clamping to the joint limits, as long as the last one arrived within `joint_command_timeout_s`;
2. otherwise a gait command (vx m/s, vy m/s, yaw rate rad/s, from a `cmd_vel`) drives the env's own
   trot controller while it is fresh (`cmd_vel_timeout_s`); when it goes stale the trot is stopped
   (one zero command: the stand targets);
3. otherwise the last joint targets are held (a position-controlled robot holds its last command).

Time: the device clock `sim_time_s` starts at `SimDeviceConfig.time_origin_s` and advances exactly one
control period per tick; an episode reset does not rewind it (episode time `time_s` restarts at 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robots.actions import HYBRID_ACTION_DIM
from sim import skills as skill_registry
from sim.cues import DEFAULT_SAMPLE_RATE_HZ
from sim.env import YanDogEnv
from sim.robot import MOTOR_NAMES, NUM_MOTORS, clamp_to_joint_limits

# Joint names in the A1 motor order FR, FL, RR, RL x (hip, upper, lower) (sensor_msgs/JointState names).
JOINT_NAMES: tuple[str, ...] = MOTOR_NAMES
GAIT_COMMAND_SIZE = 3

JOINT_COMMAND_TIMEOUT_S = 0.1  # 5 control periods at 50 Hz: a brain that stops publishing loses control
CMD_VEL_TIMEOUT_S = 0.5  # teleop convention: a twist is valid for half a second unless repeated
IDLE_SKILL = ""  # no skill set: no teacher action, no cue; the world is built as for IDLE_WORLD_SKILL
IDLE_WORLD_SKILL = "sit"  # a standing-start skill; only its start posture matters when idle

CONTROL_SOURCES = ("joint_commands", "cmd_vel", "hold")


@dataclass
class SimDeviceConfig:
    """Settings of the simulated robot device.

    Args:
        skill: skill of the episode (name in `sim.skills`), or "" for none (idle: no teacher, no cue).
        seed: reset seed of the episode.
        control_hz: control (tick) rate (Hz).
        camera_hz: head-camera frame rate (Hz), at most control_hz.
        camera_size: (H, W) of the head camera (px).
        audio_rate_hz: microphone sample rate (Hz), a multiple of control_hz.
        play_cue: schedule the skill's cue at reset (at the env's cue time); when False, cues are played
            only on request (`play_cue()`).
        randomize: domain randomisation at reset (see `YanDogEnv`).
        joint_command_timeout_s: a joint command is obeyed for this long after it arrived (s).
        cmd_vel_timeout_s: a gait command is obeyed for this long after it arrived (s).
        time_origin_s: device clock at creation (s); e.g. the wall-clock time, so stamps read like it.
    """

    # episode
    skill: str = IDLE_SKILL
    seed: int = 0
    play_cue: bool = True
    randomize: bool = True
    # rates and sizes
    control_hz: int = 50
    camera_hz: float = 10.0
    camera_size: tuple[int, int] = (96, 96)
    audio_rate_hz: int = DEFAULT_SAMPLE_RATE_HZ
    # command handling
    joint_command_timeout_s: float = JOINT_COMMAND_TIMEOUT_S
    cmd_vel_timeout_s: float = CMD_VEL_TIMEOUT_S
    # clock
    time_origin_s: float = 0.0

    def __post_init__(self):
        if self.skill != IDLE_SKILL and self.skill not in skill_registry.names():
            raise ValueError(f"skill must be '' or one of {skill_registry.names()}, got {self.skill!r}")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be an int >= 0, got {self.seed!r}")
        if not isinstance(self.control_hz, int) or self.control_hz <= 0:
            raise ValueError(f"control_hz must be an int > 0, got {self.control_hz!r}")
        if not 0 < self.camera_hz <= self.control_hz:
            raise ValueError(f"camera_hz must be in (0, control_hz={self.control_hz}], got {self.camera_hz}")
        if len(self.camera_size) != 2 or min(self.camera_size) < 8:
            raise ValueError(f"camera_size must be (H, W) with H, W >= 8, got {self.camera_size}")
        if self.audio_rate_hz <= 0 or self.audio_rate_hz % self.control_hz:
            raise ValueError(
                f"audio_rate_hz must be a positive multiple of control_hz ({self.control_hz}),"
                f" got {self.audio_rate_hz}"
            )
        if self.joint_command_timeout_s <= 0 or self.cmd_vel_timeout_s <= 0:
            raise ValueError(
                "joint_command_timeout_s and cmd_vel_timeout_s must be > 0, got"
                f" {self.joint_command_timeout_s}, {self.cmd_vel_timeout_s}"
            )
        if not np.isfinite(self.time_origin_s) or self.time_origin_s < 0:
            raise ValueError(f"time_origin_s must be finite and >= 0, got {self.time_origin_s}")


@dataclass
class DeviceTick:
    """What one control tick produced. Arrays are copies owned by the caller.

    Args:
        sim_time_s: device clock after the tick (s): the capture time of every stream below.
        camera: (H, W, 3) uint8 new head-camera frame, or None when no frame was drawn this tick.
        audio: (S,) int16 microphone samples of the period that just ended.
        joints: (3, 12) float32 rows position (rad), velocity (rad/s), effort (N·m), motor order.
        imu: (10,) float32 orientation xyzw, angular velocity (rad/s), specific force (m/s²).
        teacher_action: (15,) float32 scripted teacher's hybrid action now, or None when idle.
        status: episode status (see `SimDevice.status`).
        control_source: what drove the joints this tick, one of CONTROL_SOURCES.
        fields_due: names of the streams present this tick ("camera", "audio", "joints", "imu",
            "teacher_action").
    """

    sim_time_s: float
    camera: np.ndarray | None
    audio: np.ndarray
    joints: np.ndarray
    imu: np.ndarray
    teacher_action: np.ndarray | None
    status: dict
    control_source: str
    fields_due: tuple[str, ...]


class SimDevice:
    """The simulated A1 as a real-time device (see the module docstring).

    Usage::

        dev = SimDevice(SimDeviceConfig(skill="sit", seed=3))
        out = dev.tick()                                 # hold the start posture
        out = dev.tick(joint_targets=out.joints[0])      # absolute targets (12,) rad
        out = dev.tick(cmd_vel=np.array([0.3, 0, 0]))    # trot (when no recent joint command)
        dev.reset(skill="lie_down", seed=4)
    """

    def __init__(self, config: SimDeviceConfig | None = None):
        self.config = c = config or SimDeviceConfig()
        self.env = YanDogEnv(
            skill=c.skill or IDLE_WORLD_SKILL,
            action_mode="hybrid",
            control_hz=c.control_hz,
            camera_size=tuple(c.camera_size),
            camera_hz=c.camera_hz,
            audio_rate_hz=c.audio_rate_hz,
            play_cue=c.play_cue,
            randomize=c.randomize,
        )
        self.dt_s = 1.0 / c.control_hz
        self._origin_s = c.time_origin_s  # the device clock before the first tick (s); see set_clock
        self._ticks = 0  # since creation (the device clock)
        self.episode = 0  # incremented by every reset
        self.reset(c.skill, c.seed)

    # --- clock and episode --------------------------------------------------------------------------------
    @property
    def sim_time_s(self) -> float:
        return self._origin_s + self._ticks * self.dt_s

    def set_clock(self, now_s: float) -> None:
        """Make the device clock read `now_s` now, before the first tick: a real-time runner that starts its
        tick grid once the device is built sets it to the wall clock of that moment (building the world
        takes ~0.3 s, over 1 s on a busy machine, and a clock started before it stays that far behind)."""
        if self._ticks:
            raise RuntimeError(f"set_clock must come before the first tick ({self._ticks} ticks run)")
        if not np.isfinite(now_s) or now_s < 0:
            raise ValueError(f"now_s must be finite and >= 0, got {now_s}")
        self._origin_s = float(now_s)

    @property
    def skill(self) -> str:
        return self._skill

    def reset(self, skill: str | None = None, seed: int | None = None, play_cue: bool | None = None) -> dict:
        """Start a new episode (rebuilds the world, ~60 ms); None keeps the configured skill / seed /
        play_cue (a value given here becomes the configured one).

        Pending commands are forgotten: the robot holds its start posture until a new one arrives.
        Returns the status."""
        skill = self.config.skill if skill is None else skill
        seed = self.config.seed if seed is None else seed
        play_cue = self.config.play_cue if play_cue is None else bool(play_cue)
        if skill != IDLE_SKILL:
            skill_registry.get(skill)  # KeyError naming the registered skills
        if not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be an int >= 0, got {seed!r}")
        self.config.skill, self.config.seed, self.config.play_cue = skill, seed, play_cue
        self._skill, self._seed = skill, seed
        self.env.play_cue = play_cue and skill != IDLE_SKILL
        _, self._info = self.env.reset(seed=seed, options={"skill": skill or IDLE_WORLD_SKILL})
        self._last_joint_targets: np.ndarray | None = None
        self._joint_command_s = -np.inf
        self._cmd_vel = np.zeros(GAIT_COMMAND_SIZE)
        self._cmd_vel_s = -np.inf
        self._source = "hold"
        self._fallen = False
        self.episode += 1
        return self.status()

    def play_cue(self, cue: str | None = None) -> str:
        """Play `cue` (default: the skill's cue) now; the scripted teacher acts when it has ended.

        Returns the cue name. Raises `RuntimeError` when idle and no cue is named."""
        if self._skill == IDLE_SKILL and cue is None:
            raise RuntimeError("no skill is set, so there is no cue to play; name one or reset with a skill")
        self.env.play_cue_now(cue)
        self._info["cue"] = self.env.cue
        return self.env.cue

    def place_ball(self, xy_m) -> None:
        """Move the ball to (x, y) (m, world frame) and stop it."""
        xy = np.asarray(xy_m, np.float64)
        if xy.shape != (2,) or not np.isfinite(xy).all():
            raise ValueError(f"ball position must be 2 finite numbers (x, y) in m, got {xy_m!r}")
        self.env.scene.place_ball(tuple(xy))

    # --- one control tick -----------------------------------------------------------------------------------
    def tick(self, joint_targets: np.ndarray | None = None, cmd_vel: np.ndarray | None = None) -> DeviceTick:
        """Advance one control period; `joint_targets` (12,) rad / `cmd_vel` (3,) are commands that
        arrived since the last tick (None: none arrived). Bad commands raise `ValueError` before
        anything is applied."""
        now = self.sim_time_s
        if joint_targets is not None:
            t = np.asarray(joint_targets, np.float64)
            if t.shape != (NUM_MOTORS,) or not np.isfinite(t).all():
                raise ValueError(f"joint_targets must be {NUM_MOTORS} finite values (rad), got {t.tolist()}")
            self._last_joint_targets = clamp_to_joint_limits(t)
            self._joint_command_s = now
        if cmd_vel is not None:
            v = np.asarray(cmd_vel, np.float64)
            if v.shape != (GAIT_COMMAND_SIZE,) or not np.isfinite(v).all():
                raise ValueError(f"cmd_vel must be 3 finite values (vx, vy, yaw rate), got {v.tolist()}")
            self._cmd_vel = v
            self._cmd_vel_s = now

        env = self.env
        if now - self._joint_command_s <= self.config.joint_command_timeout_s + 1e-9:
            source = "joint_commands"
            result = env.step_joint_targets(self._last_joint_targets)
        elif now - self._cmd_vel_s <= self.config.cmd_vel_timeout_s + 1e-9:
            source = "cmd_vel"
            result = env.step(np.concatenate([self._cmd_vel, np.zeros(NUM_MOTORS)]))
        elif self._source == "cmd_vel":  # the twist went stale: stop trotting (zero command = stand)
            source = "hold"
            result = env.step(np.zeros(HYBRID_ACTION_DIM))
        else:
            source = "hold"
            result = env.step_joint_targets(env.joint_targets)
        obs, _, terminated, _, self._info = result
        self._source = source
        self._fallen = self._fallen or bool(terminated)
        self._ticks += 1

        new_frame = abs(env.camera_frame_time_s - env.time_s) < 1e-9  # the camera drew on this tick
        teacher = self.teacher_action() if self._skill != IDLE_SKILL else None
        due = ["audio", "joints", "imu"]
        if new_frame:
            due.insert(0, "camera")
        if teacher is not None:
            due.append("teacher_action")
        return DeviceTick(
            sim_time_s=self.sim_time_s,
            camera=obs["camera"] if new_frame else None,
            audio=obs["audio"],
            joints=obs["joints"],
            imu=obs["imu"],
            teacher_action=teacher,
            status=self.status(),
            control_source=source,
            fields_due=tuple(due),
        )

    def skip_ticks(self, n: int) -> None:
        """Advance the device clock by `n` control periods without simulating them (a real-time runner
        that fell behind drops its backlog; the world simply skips that time)."""
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        self._ticks += int(n)

    def teacher_action(self) -> np.ndarray:
        """(15,) float32 scripted teacher's hybrid action for the current state (a skill must be set)."""
        if self._skill == IDLE_SKILL:
            raise RuntimeError("no skill is set, so there is no teacher")
        return np.asarray(self.env.teacher_action(), np.float32)  # (15,)

    def status(self) -> dict:
        """Episode status (JSON-ready): skill, seed, episode, time_s, episode_s, cue, cue_time_s,
        go_time_s, condition, success, early (why the episode failed by moving before its cue, or None),
        fallen, sim_time_s, control_source."""
        env, info = self.env, self._info
        idle = self._skill == IDLE_SKILL
        return {
            "skill": self._skill,
            "seed": self._seed,
            "episode": self.episode,
            "time_s": round(float(env.time_s), 6),
            "episode_s": float(env.episode_s),
            "cue": info["cue"],
            "cue_time_s": env.cue_time_s,
            "go_time_s": None if idle else float(env.go_time_s),
            "condition": bool(info["condition"]),
            "success": bool(info["success"]) and not idle,
            "early": None if idle else info.get("early"),
            "fallen": self._fallen,
            "sim_time_s": round(self.sim_time_s, 6),
            "control_source": self._source,
        }

    def close(self) -> None:
        self.env.close()
