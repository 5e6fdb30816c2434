"""`YanDog-v1`: the Unitree A1 robot dog in PyBullet as a Gymnasium environment."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import pybullet as pb
import pybullet_data
from gymnasium import spaces

from robots.actions import GAIT_COMMAND_NAMES, HYBRID_OFFSET_LIMIT_RAD, hybrid_joint_targets
from robots.gait import GaitConfig, TrotController
from sim import skills as skill_registry
from sim.cues import CUE_SPLITS
from sim.microphone import DEFAULT_SAMPLE_RATE_HZ, Microphone, MicrophoneConfig
from sim.robot import (
    JOINT_LOWER_RAD,
    JOINT_UPPER_RAD,
    NUM_MOTORS,
    SPAWN_BASE_HEIGHT_M,
    STAND_POSE_RAD,
    A1Robot,
    clamp_to_joint_limits,
)
from sim.scene import Scene
from sim.schedule import CueSchedule, draw_schedule
from sim.skills import LIE_POSE_RAD, STATE_HISTORY_S, SkillContext, hybrid_hold_offsets

GRAVITY_MPS2 = 9.81
LIE_SPAWN_HEIGHT_M = 0.14
SETTLE_S = 0.3  # physics run before t = 0 so the robot rests on the floor in its start posture
TEACHER_REACTION_S = 0.1  # the teacher starts this long after the cue has ended

# Tilt beyond which the robot has fallen over and the episode terminates.
FALLEN_ROLL_RAD = 1.0
FALLEN_PITCH_RAD = 1.2

# Domain randomisation ranges (used when randomize=True; all draws through self.np_random).
INIT_JOINT_NOISE_RAD = 0.05
INIT_YAW_RANGE_RAD = np.pi
BALL_DISTANCE_RANGE_M = (1.2, 2.0)
BALL_BEARING_RANGE_RAD = (-0.5, 0.5)
FLOOR_FRICTION_RANGE = (0.7, 1.1)
LIGHT_COLOR_RANGE = (0.75, 1.0)
CAMERA_NOISE_STD_RANGE = (0.0, 4.0)  # uint8 units
AUDIO_NOISE_LEVEL_RANGE = (0.005, 0.02)  # full-scale RMS
CUE_TIME_RANGE_S = (0.2, 0.6)
# Fixed values used when randomize=False.
NOMINAL_BALL_XY_M = (1.6, 0.0)
NOMINAL_FLOOR_FRICTION = 0.9
NOMINAL_CUE_TIME_S = 0.4

ENV_ACTION_MODES = ("joint", "gait", "hybrid")


@dataclass
class RewardWeights:
    """Reward = condition·w_condition + success_bonus (once) − fall_penalty (on falling)."""

    condition: float = 1.0
    success_bonus: float = 10.0
    fall_penalty: float = 10.0


class YanDogEnv(gym.Env):
    """A Unitree A1 robot dog that can be taught skills.

    ## Description
    The A1 quadruped (pybullet_data `a1/a1.urdf`) on a floor with an orange ball. Every episode asks the
    dog for one skill (`sit`, `walk_forward`, ... see `sim.skills.names()`): at a random time early in
    the episode the skill's audio cue (a whistle pattern or a clap) is played into the robot's
    microphone, and the dog should then perform the skill. A delayed command (`sit_on_go`) has a
    second signal: its cue, then after 2-4 s a go, and in half the episodes a decoy go before the cue;
    the dog should start only at the go that follows the cue (`sim.schedule`, `info["cue_schedule"]`).
    Each skill has a scripted teacher (`teacher_action()`) and a success check computed from simulator
    state (`info["success"]`), which counts only if the skill happened after it was asked for.
    Physics runs at `physics_hz` with joint PD torques; the agent acts at `control_hz`.

    ## Action Space
    `action_mode="joint"`: `Box(12,)` joint position targets (rad), motor order FR, FL, RR, RL ×
    (hip, upper, lower); targets outside the joint limits are clamped.
    `action_mode="gait"`: `Box(3,)` = (vx m/s, vy m/s, yaw rate rad/s) for the built-in trot controller.
    `action_mode="hybrid"`: `Box(15,)` = the gait command, then 12 joint offsets (rad) added to the trot
    controller's targets. Zero is "stand still"; every skill can be demonstrated in this one space (a
    posture is an offset from the standing pose, locomotion a gait command), so one policy can hold all.
    Non-finite or wrongly shaped actions raise `ValueError`; the simulation is left untouched.

    ## Observation Space
    `Dict` of the robot's sensor streams for one control period:
    - `camera`: `Box(0, 255, (H, W, 3), uint8)` RGB from the head camera, refreshed at `camera_hz`
      (between refreshes the last frame repeats, as from a real driver);
    - `audio`: `Box(int16, (S,))` microphone samples of the control period, S = audio_rate_hz / control_hz;
    - `joints`: `Box((3, 12), float32)` rows position (rad), velocity (rad/s), effort (N·m);
    - `imu`: `Box((10,), float32)` orientation quaternion (x, y, z, w), body angular velocity (rad/s),
      body specific force (m/s², includes gravity).

    ## Rewards
    `condition * reward_weights.condition` each step the skill's condition holds, plus
    `success_bonus` on the step the skill first succeeds, minus `fall_penalty` on falling over. The parts
    are in `info["reward_parts"]`. (Teaching uses demonstrations, not reward; reward is for RL users.)

    ## Starting State
    Standing (or lying, for skills that start lying) at the origin, settled for 0.3 s. With
    `randomize=True`: joint noise ±0.05 rad, any heading, ball 1.2–2.0 m ahead within ±0.5 rad,
    floor friction 0.7–1.1, light direction and colour, camera noise, audio noise and cue time. A spoken
    cue (`sim.speech`) gets a new speaker every episode, of the `cue_split`'s voices, whatever `randomize`.

    ## Episode End
    Terminates when the robot falls over (|roll| > 1.0 rad or |pitch| > 1.2 rad); truncates after the
    skill's `duration_s` (or `episode_s`).

    ## Success
    `info["success"]` latches once the skill's check has held for its `hold_s`. Before the skill is
    asked for (`info["release_time_s"]`: the cue's start, a delayed command's go's start), the check
    passing or the robot leaving its start pose (`sim.skills.early_motion`) fails the episode for good
    (`info["early"]` says how).

    ## Arguments
    `skill` (name in the registry), `action_mode` (None: the skill's teacher's mode), `control_hz`,
    `physics_hz`, `camera_size` (H, W), `camera_hz`, `audio_rate_hz`, `play_cue`, `cue` (override the
    skill's cue name), `snr_db`, `episode_s`, `randomize`, `render_mode` ("rgb_array": chase camera),
    `render_size`, `reward_weights`, `gait_config`, `cue_split` ("demo" or "eval": whose voices a spoken
    cue is said in, `sim.speech`). `reset(options={"skill": name})` switches skill;
    `reset(options={"cue_split": "eval"})` sets the speakers for that episode.

    ## Version History
    - v1: a skill counts only if done after it was asked for: the check passing, or the robot leaving
      its start pose or place (`sim.skills.EARLY_*` thresholds), before the cue fails the episode; the
      cue's time is in `SkillContext` (`cue_time_s`, `release_time_s`) and `info` (`cue_tick`,
      `cue_schedule`); `come_to_ball` counts only when the dog stops at the ball (mean speed below
      `BALL_STOP_SPEED_MPS` over `BALL_DWELL_S`), not when it walks past or through it; episodes may
      have several cue events (`sim.schedule`), for the delayed command `sit_on_go`. One-cue episodes
      draw the same randomisation from a seed as in v0.
    - v0: initial version: one cue per episode; a check passing at any time counted, also before the
      cue; `come_to_ball` counted a dog within reach and facing the ball, also one walking past it.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 25}

    def __init__(
        self,
        skill: str = "stand",
        action_mode: str | None = None,
        control_hz: int = 50,
        physics_hz: int = 1000,
        camera_size: tuple[int, int] = (96, 96),
        camera_hz: float = 10.0,
        audio_rate_hz: int = DEFAULT_SAMPLE_RATE_HZ,
        play_cue: bool = True,
        cue: str | None = None,
        snr_db: float = 20.0,
        episode_s: float | None = None,
        randomize: bool = True,
        render_mode: str | None = None,
        render_size: tuple[int, int] = (240, 320),
        reward_weights: RewardWeights | None = None,
        gait_config: GaitConfig | None = None,
        cue_split: str = "demo",
    ):
        self.skill = skill_registry.get(skill)
        if cue_split not in CUE_SPLITS:
            raise ValueError(f"cue_split must be one of {CUE_SPLITS}, got {cue_split!r}")
        self.action_mode = action_mode or self.skill.action_mode
        if self.action_mode not in ENV_ACTION_MODES:
            raise ValueError(f"action_mode must be one of {ENV_ACTION_MODES}, got {action_mode!r}")
        if control_hz <= 0 or physics_hz % control_hz:
            raise ValueError(
                f"physics_hz ({physics_hz}) must be a positive multiple of control_hz ({control_hz})"
            )
        if audio_rate_hz % control_hz:
            raise ValueError(
                f"audio_rate_hz ({audio_rate_hz}) must be a multiple of control_hz ({control_hz})"
            )
        if not 0 < camera_hz <= control_hz:
            raise ValueError(f"camera_hz must be in (0, control_hz={control_hz}], got {camera_hz}")
        if len(camera_size) != 2 or min(camera_size) < 8 or max(camera_size) > 1024:
            raise ValueError(f"camera_size must be (H, W) with 8 <= H, W <= 1024, got {camera_size}")
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise ValueError(f"render_mode must be None or one of {self.metadata['render_modes']}")
        if episode_s is not None and episode_s <= 0:
            raise ValueError(f"episode_s must be > 0, got {episode_s}")
        self.control_hz = control_hz
        self.physics_hz = physics_hz
        self.control_dt_s = 1.0 / control_hz
        self.substeps = physics_hz // control_hz
        self.camera_size = (int(camera_size[0]), int(camera_size[1]))
        self.camera_hz = float(camera_hz)
        self.audio_rate_hz = audio_rate_hz
        self.audio_samples = audio_rate_hz // control_hz
        self.play_cue = play_cue
        self.cue_override = cue
        self.cue_split = cue_split
        self.snr_db = snr_db
        self.episode_s_override = episode_s
        self.randomize = randomize
        self.render_mode = render_mode
        self.render_size = render_size
        self.reward_weights = reward_weights or RewardWeights()
        self.gait = TrotController(gait_config)
        self._teacher_gait = TrotController(gait_config)

        h, w = self.camera_size
        self.observation_space = spaces.Dict(
            {
                "camera": spaces.Box(0, 255, (h, w, 3), np.uint8),
                "audio": spaces.Box(-32768, 32767, (self.audio_samples,), np.int16),
                "joints": spaces.Box(-np.inf, np.inf, (3, NUM_MOTORS), np.float32),
                "imu": spaces.Box(-np.inf, np.inf, (10,), np.float32),
            }
        )
        self.action_space = self._make_action_space(self.action_mode)

        self._client = pb.connect(pb.DIRECT)
        self.mic = Microphone(MicrophoneConfig(sample_rate_hz=audio_rate_hz, snr_db=snr_db))
        self.robot: A1Robot | None = None
        self.scene: Scene | None = None
        self._frame: np.ndarray | None = None
        self._camera_noise_std = 0.0
        self._closed = False

    # --- spaces ------------------------------------------------------------------------------------------
    def _make_action_space(self, mode: str) -> spaces.Box:
        if mode == "joint":
            return spaces.Box(JOINT_LOWER_RAD.astype(np.float32), JOINT_UPPER_RAD.astype(np.float32))
        c = self.gait.config
        hi = np.array([c.max_speed_mps, c.max_speed_mps, c.max_yaw_rate_radps], np.float32)
        if mode == "hybrid":
            hi = np.concatenate([hi, np.full(NUM_MOTORS, HYBRID_OFFSET_LIMIT_RAD, np.float32)])
        return spaces.Box(-hi, hi)

    @property
    def episode_s(self) -> float:
        return self.episode_s_override or self.skill.duration_s

    # --- reset -------------------------------------------------------------------------------------------
    def _build_world(self) -> None:
        c = self._client
        pb.resetSimulation(physicsClientId=c)
        pb.setAdditionalSearchPath(pybullet_data.getDataPath(), physicsClientId=c)
        pb.setGravity(0, 0, -GRAVITY_MPS2, physicsClientId=c)
        pb.setTimeStep(1.0 / self.physics_hz, physicsClientId=c)
        self.scene = Scene(c)
        self.robot = A1Robot(c, 1.0 / self.physics_hz)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        options = options or {}
        if "skill" in options:  # the action space stays as constructed; teacher_action() converts
            self.skill = skill_registry.get(options["skill"])
        self._build_world()
        rng = self.np_random
        rand = self.randomize

        start_pose = LIE_POSE_RAD if self.skill.start_posture == "lie" else STAND_POSE_RAD
        spawn_z = LIE_SPAWN_HEIGHT_M if self.skill.start_posture == "lie" else SPAWN_BASE_HEIGHT_M
        joints = start_pose + (rng.uniform(-1, 1, NUM_MOTORS) * INIT_JOINT_NOISE_RAD if rand else 0.0)
        joints = clamp_to_joint_limits(joints)
        yaw = float(rng.uniform(-INIT_YAW_RANGE_RAD, INIT_YAW_RANGE_RAD)) if rand else 0.0
        self.robot.reset([0.0, 0.0, spawn_z], yaw, joints)

        if rand:
            dist = rng.uniform(*BALL_DISTANCE_RANGE_M)
            bearing = yaw + rng.uniform(*BALL_BEARING_RANGE_RAD)
            ball_xy = (dist * np.cos(bearing), dist * np.sin(bearing))
            friction = float(rng.uniform(*FLOOR_FRICTION_RANGE))
            light_dir = rng.normal(size=3)
            light_dir[2] = abs(light_dir[2]) + 0.5  # from above
            self.scene.lighting.direction = light_dir / np.linalg.norm(light_dir)
            self.scene.lighting.color = rng.uniform(*LIGHT_COLOR_RANGE, size=3)
            self._camera_noise_std = float(rng.uniform(*CAMERA_NOISE_STD_RANGE))
            noise_level = float(rng.uniform(*AUDIO_NOISE_LEVEL_RANGE))
            cue_time = float(rng.uniform(*CUE_TIME_RANGE_S))
        else:
            ball_xy = NOMINAL_BALL_XY_M
            friction = NOMINAL_FLOOR_FRICTION
            self._camera_noise_std = 0.0
            noise_level = MicrophoneConfig().noise_level
            cue_time = NOMINAL_CUE_TIME_S
        self.scene.place_ball(ball_xy)
        self.scene.set_floor_friction(friction)
        self.robot.set_friction(friction)

        # Settle in the start posture before t = 0.
        self.robot.set_targets(joints)
        for _ in range(int(SETTLE_S * self.physics_hz)):
            self.robot.apply_pd()
            pb.stepSimulation(physicsClientId=self._client)
        self.robot.after_control_period(SETTLE_S)
        self.robot.lin_accel_world_mps2 = np.zeros(3)

        # Microphone: its clock starts one control period before t = 0, so every observation carries
        # the audio of the period that just ended.
        self.mic = Microphone(
            MicrophoneConfig(sample_rate_hz=self.audio_rate_hz, snr_db=self.snr_db, noise_level=noise_level)
        )
        self.mic.reset(rng, cue_split=options.get("cue_split", self.cue_split))
        self.cue = self.cue_override or self.skill.cue
        self.schedule: CueSchedule | None = None
        self.cue_time_s, self.release_time_s, self.go_time_s = None, 0.0, 0.0
        if self.play_cue:
            schedule = draw_schedule(self.cue, cue_time, self.skill.go_signal, rng if rand else None)
            self._play_schedule(schedule)

        self._cue_played_now = False
        self.gait.reset()
        self._teacher_gait.reset()
        self.time_s = 0.0
        self._tick = 0
        self.state = self.robot.state(0.0)
        self.start_state = self.state
        self._history = deque([self.state], maxlen=round(STATE_HISTORY_S / self.control_dt_s) + 1)
        self._tracker = skill_registry.SuccessTracker(self.skill, self.control_dt_s)
        self.joint_targets = joints.copy()
        self._next_camera_s = 0.0
        self._frame = None
        self.camera_frame_time_s = 0.0  # episode time (s) at which the current camera frame was drawn
        return self._observe(), self._info(condition=False, reward_parts={})

    # --- step --------------------------------------------------------------------------------------------
    def _validate_action(self, action) -> np.ndarray:
        a = np.asarray(action, dtype=np.float64)
        expected = self.action_space.shape
        if a.shape != expected:
            raise ValueError(
                f"action for action_mode={self.action_mode!r} must have shape {expected}, got {a.shape}"
            )
        bad = np.flatnonzero(~np.isfinite(a))
        if bad.size:
            names = {
                "gait": GAIT_COMMAND_NAMES,
                "joint": [f"joint {i}" for i in range(NUM_MOTORS)],
                "hybrid": [*GAIT_COMMAND_NAMES, *(f"joint offset {i}" for i in range(NUM_MOTORS))],
            }[self.action_mode]
            labels = [names[i] for i in bad]
            raise ValueError(f"non-finite action entries {labels}: {a[bad].tolist()}; nothing was applied")
        return a

    def step(self, action):
        if self.robot is None:
            raise RuntimeError("call reset() before step()")
        a = self._validate_action(action)
        if self.action_mode == "gait":
            targets = self.gait.step(a, self.control_dt_s)
        elif self.action_mode == "hybrid":
            targets = hybrid_joint_targets(self.gait, a, self.control_dt_s)
        else:
            targets = clamp_to_joint_limits(a)
        return self._advance(targets)

    def step_joint_targets(self, targets_rad):
        """Step one control period with 12 absolute joint targets (rad), whatever the action mode.

        This is how a robot driver takes joint commands (ROS `/joint_commands`): the targets are clamped
        to the joint limits and tracked by the joint PD; the trot controller is not advanced. Returns
        the same tuple as `step`. Wrong shapes or non-finite values raise `ValueError` and nothing is
        applied."""
        if self.robot is None:
            raise RuntimeError("call reset() before step_joint_targets()")
        t = np.asarray(targets_rad, dtype=np.float64)
        if t.shape != (NUM_MOTORS,):
            raise ValueError(f"joint targets must have shape ({NUM_MOTORS},), got {t.shape}")
        bad = np.flatnonzero(~np.isfinite(t))
        if bad.size:
            raise ValueError(f"non-finite joint targets at indices {bad.tolist()}; nothing was applied")
        return self._advance(clamp_to_joint_limits(t))

    def _advance(self, targets: np.ndarray):
        """Track `targets` (12,) (rad, already clamped) for one control period; returns the `step` tuple."""
        self.joint_targets = targets
        self.robot.set_targets(targets)
        for _ in range(self.substeps):
            self.robot.apply_pd()
            pb.stepSimulation(physicsClientId=self._client)
        self.robot.after_control_period(self.control_dt_s)
        self._tick += 1
        self.time_s = self._tick * self.control_dt_s
        self.state = self.robot.state(self.time_s)
        self._history.append(self.state)

        condition, newly = self._tracker.update(self.skill_context())
        roll, pitch = self.state.base_rpy_rad[:2]
        fallen = abs(roll) > FALLEN_ROLL_RAD or abs(pitch) > FALLEN_PITCH_RAD
        w = self.reward_weights
        parts = {
            "condition": w.condition * float(condition),
            "success_bonus": w.success_bonus * float(newly),
            "fall_penalty": -w.fall_penalty * float(fallen),
        }
        truncated = self.time_s >= self.episode_s - 1e-9
        return self._observe(), float(sum(parts.values())), fallen, truncated, self._info(condition, parts)

    def _play_schedule(self, schedule: CueSchedule) -> None:
        """Play every event of `schedule` into the microphone; the skill may start at its release event's
        start, and the teacher starts when that event has ended (`go_time_s`, + reaction time)."""
        release_end_s = 0.0
        for event in schedule.events:
            # The microphone clock runs one control period ahead of episode time (see reset).
            scheduled = self.mic.play(event.name, event.start_s + self.control_dt_s)
            if event is schedule.release:
                release_end_s = scheduled.end_s - self.control_dt_s
        self.schedule = schedule
        self.cue_time_s = schedule.cue.start_s
        self.release_time_s = schedule.release.start_s
        self.go_time_s = release_end_s + TEACHER_REACTION_S

    def play_cue_now(self, cue: str | None = None) -> float:
        """Play `cue` (default: the episode's cue) into the microphone from now on, and ask for the skill.

        The cue is heard from the next observation's audio on; the teacher starts when it has ended
        (`go_time_s` = cue end + reaction time), as for a cue scheduled at reset; a delayed command's go
        follows after its nominal delay (no decoy). Motion before now was judged against the earlier
        schedule (none: asked for from the start). Returns the cue's start (episode time, s). Unknown
        cue names raise `KeyError`."""
        if self.robot is None:
            raise RuntimeError("call reset() before play_cue_now()")
        name = cue or self.cue_override or self.skill.cue
        self._play_schedule(draw_schedule(name, self.time_s, self.skill.go_signal, None))
        self.cue = name
        self._cue_played_now = True
        return self.time_s

    # --- observation / info ------------------------------------------------------------------------------
    def skill_context(self) -> SkillContext:
        """Privileged state for teachers and success checks (any registered skill's check may use it)."""
        return SkillContext(
            self.state, self.start_state, self.scene.ball_position(), self.time_s, self.go_time_s,
            tuple(self._history), self.cue_time_s, self.release_time_s,
        )

    def _observe(self) -> dict:
        s = self.state
        if self._frame is None or self.time_s >= self._next_camera_s - 1e-9:
            h, w = self.camera_size
            frame = self.scene.head_camera(s.base_pos_m, s.base_quat_xyzw, w, h)
            if self._camera_noise_std > 0:
                noise = self.np_random.normal(0.0, self._camera_noise_std, frame.shape)
                frame = np.clip(frame + noise, 0, 255).astype(np.uint8)
            self._frame = frame
            self.camera_frame_time_s = self.time_s
            self._next_camera_s += 1.0 / self.camera_hz
        joints = np.stack([s.joint_pos_rad, s.joint_vel_radps, s.joint_torque_nm]).astype(np.float32)
        return {
            "camera": self._frame.copy(),
            "audio": self.mic.read(self.audio_samples),
            "joints": joints,
            "imu": self.robot.imu(s),
        }

    @property
    def cue_tick(self) -> int | None:
        """The first control tick whose observation carries the skill's cue (None: no cue played)."""
        if self.cue_time_s is None:
            return None
        return math.floor(self.cue_time_s / self.control_dt_s + 1e-9) + 1

    def _info(self, condition: bool, reward_parts: dict) -> dict:
        return {
            "skill": self.skill.name,
            "cue": self.cue if self.play_cue or self._cue_played_now else None,
            "cue_time_s": self.cue_time_s,
            "cue_tick": self.cue_tick,
            "cue_schedule": None if self.schedule is None else self.schedule.to_list(),
            "release_time_s": self.release_time_s,
            "go_time_s": self.go_time_s,
            "time_s": self.time_s,
            "condition": condition,
            "success": self._tracker.success,
            "early": self._tracker.early,
            "joint_targets": np.asarray(self.joint_targets, np.float32),
            "base_pos_m": self.state.base_pos_m.copy(),
            "reward_parts": reward_parts,
        }

    # --- teacher -----------------------------------------------------------------------------------------
    def teacher_action(self) -> np.ndarray:
        """The scripted teacher's action for the current state, in this env's action mode.

        A gait teacher in a joint-mode env is converted through a trot controller of its own, so call
        this once per step. In hybrid mode a gait teacher gives (command, offsets that hold the start
        pose until the go time and fade out after it: `sim.skills.hybrid_hold_offsets`) and a joint
        teacher (zero command, offsets from the standing targets). A joint teacher cannot drive a
        gait-mode env (ValueError)."""
        if self.robot is None:
            raise RuntimeError("call reset() before teacher_action()")
        ctx = self.skill_context()
        native = np.asarray(self.skill.teacher(ctx), np.float64)
        if self.skill.action_mode == self.action_mode:
            return native.astype(np.float32)
        if self.action_mode == "hybrid":
            if self.skill.action_mode == "gait":
                offsets = hybrid_hold_offsets(ctx, self.gait.stand_targets())
                return np.concatenate([native, offsets]).astype(np.float32)
            offsets = clamp_to_joint_limits(native) - self.gait.stand_targets()
            return np.concatenate([np.zeros(3), offsets]).astype(np.float32)
        if self.skill.action_mode == "gait":
            return self._teacher_gait.step(native, self.control_dt_s).astype(np.float32)
        raise ValueError(
            f"skill {self.skill.name!r} is taught in joint mode; make the env with action_mode='joint'"
        )

    # --- render / close ----------------------------------------------------------------------------------
    def render(self):
        if self.render_mode != "rgb_array" or self.robot is None:
            return None
        h, w = self.render_size
        return self.scene.chase_camera(self.state.base_pos_m, self.state.base_rpy_rad[2], w, h)

    def close(self):
        if not self._closed:
            pb.disconnect(self._client)
            self._closed = True
