"""A fake Unitree robot on the vendor's own interface: the PyBullet A1 served through unitree-sdk2's
LowState_ / LowCmd_ over CycloneDDS, so `unitree_bridge` runs against it exactly as against a dog.

    python -m sim.fake_unitree --interface lo --domain 0 --status-file /tmp/fake_unitree.json

- Out: `rt/lowstate` at `--rate-hz` (500 Hz, a Go2's rate): the 12 joints (q, dq, estimated torque) in
  the profile's motor slots, the IMU (quaternion w x y z, gyroscope, accelerometer), a tick in ms, the crc.
- In: `rt/lowcmd`. A command with a wrong crc is dropped and counted (as a robot does); otherwise each
  motor in servo mode runs tau = tau_ff + kp (q - q_m) + kd (dq - dq_m), clipped to the profile's torque
  limit, at every physics step (1 kHz) until the next command. Before the first command, and for a motor
  not in servo mode, the motor is limp (no torque).
- The status file (JSON, rewritten atomically every `--status-period-s`) reports what was applied: per
  motor slot (20) the mode, q, dq, kp, kd, tau of the newest valid command; per joint (project order) the
  measured pose; counts of states sent, commands received and crc errors; whether the robot is in damping
  (every motor kp = 0, kd > 0) and since when.
- `--fault nan | out_of_limits | stale` makes the reported state implausible from the start (one joint
  NaN; one joint 0.5 rad beyond its limit; the first LowState sent again and again, its tick frozen, as
  from a hung controller), to test a bridge's refusal to start.

No ROS. The simulated body (`FakeUnitreeBody`) needs no DDS and is tested on its own.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import time

import numpy as np
import pybullet as pb
import pybullet_data

import robots
from robots.unitree_lowlevel import (
    LOWCMD_TOPIC,
    LOWSTATE_TOPIC,
    MOTOR_MODE_SERVO,
    MotorTargets,
    fill_lowstate,
    import_sdk,
    lowcmd_crc,
    read_lowcmd,
)
from sim.robot import (
    GRAVITY_MPS2,
    MOTOR_JOINT_IDS,
    NUM_MOTORS,
    SPAWN_BASE_HEIGHT_M,
    STAND_POSE_RAD,
    A1Robot,
)
from sim.scene import Scene

FAULTS = ("none", "nan", "out_of_limits", "stale")
FAULT_JOINT = 2  # FR calf: the joint a fault is injected on
FAULT_EXCESS_RAD = 0.5
MAX_LAG_S = 0.1  # a backlog behind real time beyond this is skipped, not simulated


class FakeUnitreeBody:
    """The PyBullet A1 driven by Unitree motor commands (see the module docstring).

    Args:
        profile: the robot profile (motor slots, torque limits); the body is always the A1.
        physics_hz: physics rate (Hz).
    """

    def __init__(self, profile, physics_hz: int = 1000):
        self.profile = profile
        self.slots = np.asarray(profile.vendor_motor_index, np.int64)  # (12,) joint j -> motor slot
        self.torque_limit_nm = np.broadcast_to(np.asarray(profile.torque_limit_nm, np.float64), (NUM_MOTORS,))
        self.physics_dt_s = 1.0 / physics_hz
        self.client = pb.connect(pb.DIRECT)
        pb.setAdditionalSearchPath(pybullet_data.getDataPath(), physicsClientId=self.client)
        pb.setGravity(0, 0, -GRAVITY_MPS2, physicsClientId=self.client)
        pb.setTimeStep(self.physics_dt_s, physicsClientId=self.client)
        self.scene = Scene(self.client)
        self.robot = A1Robot(self.client, self.physics_dt_s)
        self.robot.reset([0.0, 0.0, SPAWN_BASE_HEIGHT_M], 0.0, STAND_POSE_RAD)  # then limp: it lies down
        self.command: MotorTargets | None = None  # per motor slot (20); None: limp
        self.steps = 0

    def set_command(self, command: MotorTargets | None) -> None:
        self.command = command

    def motor_torques(self, q: np.ndarray, dq: np.ndarray) -> np.ndarray:
        """(12,) N·m the motors apply now for measured q, dq (12,): the Unitree motor law, clipped."""
        c = self.command
        if c is None:
            return np.zeros(NUM_MOTORS)
        s = self.slots
        tau = c.tau[s] + c.kp[s] * (c.q[s] - q) + c.kd[s] * (c.dq[s] - dq)  # (12,)
        tau = np.where(c.mode[s] == MOTOR_MODE_SERVO, tau, 0.0)
        return np.clip(tau, -self.torque_limit_nm, self.torque_limit_nm)

    def step(self, n: int = 1) -> None:
        """n physics steps under the current command."""
        for _ in range(n):
            states = pb.getJointStates(self.robot.body, MOTOR_JOINT_IDS, physicsClientId=self.client)
            q = np.fromiter((st[0] for st in states), np.float64, NUM_MOTORS)  # (12,)
            dq = np.fromiter((st[1] for st in states), np.float64, NUM_MOTORS)  # (12,)
            tau = self.motor_torques(q, dq)
            pb.setJointMotorControlArray(
                self.robot.body, MOTOR_JOINT_IDS, pb.TORQUE_CONTROL, forces=tau.tolist(),
                physicsClientId=self.client,
            )
            pb.stepSimulation(physicsClientId=self.client)
            self.robot.last_torque_nm = tau
            self.steps += 1
        self.robot.after_control_period(n * self.physics_dt_s)

    def reading(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Joint q, dq, tau (12,) in project order and the IMU (10,) xyzw / gyro / accelerometer."""
        state = self.robot.state(self.steps * self.physics_dt_s)
        return state.joint_pos_rad, state.joint_vel_radps, state.joint_torque_nm, self.robot.imu(state)

    def base_height_m(self) -> float:
        pos, _ = pb.getBasePositionAndOrientation(self.robot.body, physicsClientId=self.client)
        return float(pos[2])

    def close(self) -> None:
        if pb.isConnected(self.client):
            pb.disconnect(self.client)


def accept_lowcmd(cmd) -> MotorTargets | None:
    """A LowCmd_'s motor commands (all slots) as a robot takes them: None when its crc is wrong."""
    return read_lowcmd(cmd) if lowcmd_crc(cmd) == cmd.crc else None


def inject_fault(fault: str, q: np.ndarray, profile) -> np.ndarray:
    """q (12,) as a faulty robot would report it."""
    q = q.copy()
    if fault == "nan":
        q[FAULT_JOINT] = np.nan
    elif fault == "out_of_limits":
        q[FAULT_JOINT] = profile.joint_upper_rad[FAULT_JOINT] + FAULT_EXCESS_RAD
    return q


class FakeUnitree:
    """The body served over DDS in real time (see the module docstring). One per process (the SDK's
    channel factory is a process-wide singleton)."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.profile = robots.get_profile(args.robot)
        self.body = FakeUnitreeBody(self.profile, args.physics_hz)
        if args.physics_hz % args.rate_hz:
            raise ValueError(f"--physics-hz {args.physics_hz} must be a multiple of --rate-hz {args.rate_hz}")
        self.steps_per_state = args.physics_hz // args.rate_hz
        self.sdk = import_sdk()
        self.sdk.ChannelFactoryInitialize(args.domain, args.interface or None)
        self._state = self.sdk.new_lowstate()
        self._state_pub = self.sdk.ChannelPublisher(LOWSTATE_TOPIC, self.sdk.LowState_)
        self._state_pub.Init()
        self._cmd_sub = self.sdk.ChannelSubscriber(LOWCMD_TOPIC, self.sdk.LowCmd_)
        self._cmd_sub.Init(self._on_lowcmd, 0)
        self.states_sent = self.commands = self.crc_errors = self.skipped_s = 0
        self._last_cmd_wall: float | None = None
        self._damping_since: float | None = None
        self._stop = False

    def _on_lowcmd(self, cmd) -> None:
        """SDK listener thread: check the crc, then hand the command to the physics loop."""
        command = accept_lowcmd(cmd)
        if command is None:
            self.crc_errors += 1
            return
        self.body.set_command(command)
        self.commands += 1
        self._last_cmd_wall = time.time()
        damping = command.damping
        if damping and self._damping_since is None:
            self._damping_since = self._last_cmd_wall
        elif not damping:
            self._damping_since = None

    def _publish_state(self, tick_ms: int) -> None:
        fault = self.args.fault
        if fault == "stale" and self.states_sent >= 1:  # a hung controller: the same state, same tick
            self._state_pub.Write(self._state)
            self.states_sent += 1
            return
        q, dq, tau, imu = self.body.reading()
        q = inject_fault(fault, q, self.profile)
        fill_lowstate(self._state, self.body.slots, q, dq, tau, imu, tick_ms)
        self._state_pub.Write(self._state)
        self.states_sent += 1

    def status(self) -> dict:
        q, _, _, _ = self.body.reading()
        c = self.body.command
        now = time.time()
        cmd_age_ms = None if self._last_cmd_wall is None else (now - self._last_cmd_wall) * 1000
        return {
            "time": now,
            "robot": self.profile.name,
            "fault": self.args.fault,
            "states_sent": self.states_sent,
            "commands": self.commands,
            "crc_errors": self.crc_errors,
            "last_command_age_ms": cmd_age_ms,
            "damping": self._damping_since is not None,
            "damping_since": self._damping_since,
            "motor_slots": list(map(int, self.body.slots)),
            "command": None if c is None else c.as_lists(),
            "joint_pos_rad": q.tolist(),
            "base_height_m": self.body.base_height_m(),
            "skipped_s": self.skipped_s,
        }

    def _write_status(self) -> None:
        path = self.args.status_file
        if not path:
            return
        tmp = f"{path}.tmp"
        with open(tmp, "w") as f:
            json.dump(self.status(), f, allow_nan=True)
        os.replace(tmp, path)

    def stop(self, *_) -> None:
        self._stop = True

    def run(self) -> None:
        """Physics in real time, a LowState every steps_per_state steps, the status file now and then."""
        period = 1.0 / self.args.rate_hz
        start = next_t = time.monotonic()
        next_status = start
        ticks = 0
        duration = self.args.duration_s if self.args.duration_s > 0 else float("inf")
        while not self._stop and time.monotonic() - start < duration:
            self.body.step(self.steps_per_state)
            ticks += 1
            self._publish_state(int(ticks * period * 1000))
            now = time.monotonic()
            if now >= next_status:
                self._write_status()
                next_status = now + self.args.status_period_s
            next_t += period
            if now - next_t > MAX_LAG_S:  # fell behind (a busy machine): skip, do not simulate faster
                self.skipped_s += now - next_t
                next_t = now
            elif next_t > now:
                time.sleep(next_t - now)
        self._write_status()

    def close(self) -> None:
        self._cmd_sub.Close()
        self._state_pub.Close()
        self.body.close()


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--robot", default="a1", help="robot profile (motor slots, torque limits)")
    ap.add_argument("--interface", default="lo", help="network interface of the vendor DDS")
    ap.add_argument("--domain", type=int, default=0, help="vendor DDS domain id")
    ap.add_argument("--rate-hz", type=int, default=500, help="LowState rate (Hz)")
    ap.add_argument("--physics-hz", type=int, default=1000, help="physics rate (Hz), a multiple of --rate-hz")
    ap.add_argument("--fault", choices=FAULTS, default="none", help="report an implausible state")
    ap.add_argument("--status-file", default="", help="JSON report of what was applied")
    ap.add_argument("--status-period-s", type=float, default=0.05)
    ap.add_argument("--duration-s", type=float, default=0.0, help="stop after this long (0: until killed)")
    return ap.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    fake = FakeUnitree(args)
    signal.signal(signal.SIGTERM, fake.stop)
    signal.signal(signal.SIGINT, fake.stop)
    print(f"fake Unitree {fake.profile.name} up: LowState at {args.rate_hz} Hz on {args.interface},"
          f" domain {args.domain}, fault={args.fault}", flush=True)
    try:
        fake.run()
    finally:
        fake.close()


if __name__ == "__main__":
    main()
