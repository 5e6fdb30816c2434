"""The Unitree low-level interface of unitree-sdk2 (CycloneDDS): topics, the SDK import, the CRC, and
LowState / LowCmd <-> numpy in the project's motor order. No ROS; the SDK is imported by `import_sdk` only,
so this module imports without it.

On the wire (unitree_go types, the Go2's): the robot publishes `rt/lowstate` (LowState_: 20 motor states,
the IMU, foot forces, a tick in ms) and obeys `rt/lowcmd` (LowCmd_: 20 motor commands). Each motor runs
tau = tau_ff + kp (q - q_m) + kd (dq - dq_m) on its own; a LowCmd whose `crc` does not match its contents is
dropped. Motor slot `profile.vendor_motor_index[j]` holds the project's joint j. The IMU quaternion is in
Unitree order (w, x, y, z); the project's IMU vectors are (x, y, z, w, gyro xyz, accelerometer xyz).
"""

from __future__ import annotations

import importlib.util
import struct
import sys
import types
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

LOWSTATE_TOPIC = "rt/lowstate"
LOWCMD_TOPIC = "rt/lowcmd"
NUM_VENDOR_MOTORS = 20  # motor slots in LowState_/LowCmd_ (12 used by a quadruped)
LOWCMD_HEAD = (0xFE, 0xEF)
LEVEL_FLAG_LOWLEVEL = 0xFF
MOTOR_MODE_SERVO = 0x01  # the motor's PD (FOC) mode; kp = 0 with kd > 0 is damping
IMU_VECTOR_SIZE = 10
INSTALL_HINT = (
    "the Unitree bridge needs the optional SDK (cyclonedds 0.10.2 + unitree-sdk2 1.0.1): run `make install`"
    " as root, or `ros_ws/src/yan_dog_ros/install_unitree_sdk.sh .venv` (see docs/robot.md)"
)


class SdkMissingError(ImportError):
    """unitree-sdk2 (or cyclonedds under it) is not installed or does not import."""


@dataclass(frozen=True)
class Sdk:
    """The parts of unitree_sdk2py the bridge and the fake robot use."""

    LowState_: type
    LowCmd_: type
    new_lowstate: object  # () -> LowState_ with every field zero
    new_lowcmd: object  # () -> LowCmd_ with every field zero
    ChannelPublisher: type
    ChannelSubscriber: type
    ChannelFactoryInitialize: object  # (domain_id, network_interface) -> None; once per process


def import_sdk() -> Sdk:
    """Import unitree_sdk2py, or raise SdkMissingError with the install hint."""
    try:
        spec = importlib.util.find_spec("unitree_sdk2py")
        if spec is None or spec.origin is None:
            raise ImportError("No module named 'unitree_sdk2py'")
        # unitree-sdk2 1.0.1's __init__ runs `from . import ..., go2, b2`, but its wheel ships no `b2`
        # package, so the import fails; an empty stand-in (only where the real one is absent) lets it
        # finish. Nothing here uses b2 (the B2 robot's clients).
        if not (Path(spec.origin).parent / "b2").exists():
            sys.modules.setdefault("unitree_sdk2py.b2", types.ModuleType("unitree_sdk2py.b2"))
        from unitree_sdk2py.core import channel
        from unitree_sdk2py.idl import default
        from unitree_sdk2py.idl.unitree_go.msg.dds_ import LowCmd_, LowState_
    except ImportError as err:
        raise SdkMissingError(f"{INSTALL_HINT} ({err})") from err
    return Sdk(
        LowState_=LowState_,
        LowCmd_=LowCmd_,
        new_lowstate=default.unitree_go_msg_dds__LowState_,
        new_lowcmd=default.unitree_go_msg_dds__LowCmd_,
        ChannelPublisher=channel.ChannelPublisher,
        ChannelSubscriber=channel.ChannelSubscriber,
        ChannelFactoryInitialize=channel.ChannelFactoryInitialize,
    )


def sdk_available() -> bool:
    try:
        import_sdk()
    except SdkMissingError:
        return False
    return True


# --- CRC --------------------------------------------------------------------------------------------------
# The robot checks `crc` = Unitree's crc32_core over the message packed as its C struct (little-endian, 4-byte
# aligned), all 32-bit words but the last (the crc itself). Formats and field order as unitree_sdk2py
# 1.0.1's utils/crc.py (whose compiled helper is missing from the wheel, and whose pure-Python fallback takes
# ~1 ms a message). crc32_core feeds each word's bits most significant first into a CRC-32 (polynomial
# 0x04C11DB7, init 0xFFFFFFFF, no reflection, no final xor: CRC-32/MPEG-2), computed here with zlib's
# reflected CRC-32 on the bit-reversed bytes. tests/robot/test_unitree_lowlevel.py checks it against the SDK.
_LOWCMD_FORMAT = "<4B4IH2x" + "B3x5f3I" * NUM_VENDOR_MOTORS + "4B" + "55Bx2I"  # 812 bytes
_LOWSTATE_FORMAT = ("<4B4IH2x" + "13fb3x" + "B3x7fb3x3I" * NUM_VENDOR_MOTORS + "4BiH4b15H"
                    + "8hI41B3xf2b2x2f4h2I")  # 1180 bytes
_BIT_REVERSED = bytes(int(f"{b:08b}"[::-1], 2) for b in range(256))


def _crc32_core(packed: bytes) -> int:
    words = np.frombuffer(packed, "<u4")[:-1]  # (n - 1,) the crc field excluded
    msb_first = words.astype(">u4").tobytes()  # each word's bytes, most significant first
    reflected = zlib.crc32(msb_first.translate(_BIT_REVERSED))
    return int(f"{reflected:032b}"[::-1], 2) ^ 0xFFFFFFFF


def lowcmd_crc(cmd) -> int:
    """The crc a robot expects in this LowCmd_."""
    fields = [*cmd.head, cmd.level_flag, cmd.frame_reserve, *cmd.sn, *cmd.version, cmd.bandwidth]
    for m in cmd.motor_cmd:
        fields += [m.mode, m.q, m.dq, m.tau, m.kp, m.kd, *m.reserve]
    fields += [cmd.bms_cmd.off, *cmd.bms_cmd.reserve, *cmd.wireless_remote, *cmd.led, *cmd.fan, cmd.gpio,
               cmd.reserve, cmd.crc]
    return _crc32_core(struct.pack(_LOWCMD_FORMAT, *fields))


def lowstate_crc(state) -> int:
    """The crc a robot puts in this LowState_."""
    imu, bms = state.imu_state, state.bms_state
    fields = [*state.head, state.level_flag, state.frame_reserve, *state.sn, *state.version, state.bandwidth,
              *imu.quaternion, *imu.gyroscope, *imu.accelerometer, *imu.rpy, imu.temperature]
    for m in state.motor_state:
        fields += [m.mode, m.q, m.dq, m.ddq, m.tau_est, m.q_raw, m.dq_raw, m.ddq_raw, m.temperature, m.lost,
                   *m.reserve]
    fields += [bms.version_high, bms.version_low, bms.status, bms.soc, bms.current, bms.cycle, *bms.bq_ntc,
               *bms.mcu_ntc, *bms.cell_vol, *state.foot_force, *state.foot_force_est, state.tick,
               *state.wireless_remote, state.bit_flag, state.adc_reel, state.temperature_ntc1,
               state.temperature_ntc2, state.power_v, state.power_a, *state.fan_frequency, state.reserve,
               state.crc]
    return _crc32_core(struct.pack(_LOWSTATE_FORMAT, *fields))


# --- LowState ---------------------------------------------------------------------------------------------
@dataclass
class JointReading:
    """One LowState in project order."""

    q: np.ndarray  # (12,) rad
    dq: np.ndarray  # (12,) rad/s
    tau: np.ndarray  # (12,) N·m, the motors' estimate
    imu: np.ndarray  # (10,) quaternion xyzw, gyroscope rad/s (body), accelerometer m/s² (body)
    tick_ms: int


def read_lowstate(state, motor_index) -> JointReading:
    """The joints (project order, via `motor_index`) and the IMU of a LowState_."""
    motors = [state.motor_state[i] for i in motor_index]
    w, x, y, z = state.imu_state.quaternion
    imu = np.array([x, y, z, w, *state.imu_state.gyroscope, *state.imu_state.accelerometer], np.float64)
    return JointReading(
        q=np.array([m.q for m in motors], np.float64),
        dq=np.array([m.dq for m in motors], np.float64),
        tau=np.array([m.tau_est for m in motors], np.float64),
        imu=imu,
        tick_ms=int(state.tick),
    )


def fill_lowstate(state, motor_index, q, dq, tau, imu, tick_ms: int, temperature_c: int = 30) -> None:
    """Write joints (project order) and the IMU (10,) into a LowState_, then its crc (what a robot sends)."""
    for j, i in enumerate(motor_index):
        m = state.motor_state[i]
        m.mode, m.q, m.dq, m.tau_est = MOTOR_MODE_SERVO, float(q[j]), float(dq[j]), float(tau[j])
        m.temperature = temperature_c
    x, y, z, w = (float(v) for v in imu[0:4])
    state.imu_state.quaternion = [w, x, y, z]
    state.imu_state.gyroscope = [float(v) for v in imu[4:7]]
    state.imu_state.accelerometer = [float(v) for v in imu[7:10]]
    state.tick = int(tick_ms) & 0xFFFFFFFF
    state.crc = lowstate_crc(state)


# --- LowCmd -----------------------------------------------------------------------------------------------
def fill_lowcmd(cmd, motor_index, q, dq, kp, kd, tau) -> None:
    """Write 12 motor commands (project order) into a LowCmd_ (servo mode), the header, then its crc."""
    cmd.head = list(LOWCMD_HEAD)
    cmd.level_flag = LEVEL_FLAG_LOWLEVEL
    cmd.gpio = 0
    for j, i in enumerate(motor_index):
        m = cmd.motor_cmd[i]
        m.mode = MOTOR_MODE_SERVO
        m.q, m.dq, m.kp, m.kd, m.tau = float(q[j]), float(dq[j]), float(kp[j]), float(kd[j]), float(tau[j])
    cmd.crc = lowcmd_crc(cmd)


@dataclass
class MotorTargets:
    """Motor commands of a LowCmd_ (what a robot applies): (12,) in project order, or (20,) per slot."""

    mode: np.ndarray  # int
    q: np.ndarray  # rad
    dq: np.ndarray  # rad/s
    kp: np.ndarray  # N·m/rad
    kd: np.ndarray  # N·m·s/rad
    tau: np.ndarray  # N·m

    @property
    def damping(self) -> bool:
        """Every motor at kp = 0 with some kd: the motors only resist motion."""
        return bool((self.kp == 0).all() and (self.kd > 0).any())

    def as_lists(self) -> dict[str, list]:
        return {k: getattr(self, k).tolist() for k in ("mode", "q", "dq", "kp", "kd", "tau")}


def read_lowcmd(cmd, motor_index=None) -> MotorTargets:
    """The motor commands of the joints in `motor_index` (project order), or of all slots (None)."""
    motors = list(cmd.motor_cmd) if motor_index is None else [cmd.motor_cmd[i] for i in motor_index]
    return MotorTargets(
        mode=np.array([m.mode for m in motors], np.int64),
        q=np.array([m.q for m in motors], np.float64),
        dq=np.array([m.dq for m in motors], np.float64),
        kp=np.array([m.kp for m in motors], np.float64),
        kd=np.array([m.kd for m in motors], np.float64),
        tau=np.array([m.tau for m in motors], np.float64),
    )
