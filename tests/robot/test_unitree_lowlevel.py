"""The vendor interface without DDS traffic: the SDK import, the CRC against the SDK's own reference, and
LowState / LowCmd <-> numpy through the motor slots; the fake robot's motor law."""

from __future__ import annotations

import builtins
import sys
from unittest import mock

import numpy as np
import pytest

from robots import unitree_lowlevel as u

needs_sdk = pytest.mark.skipif(not u.sdk_available(), reason=f"bridge extra not installed: {u.INSTALL_HINT}")
SLOTS = [3, 4, 5, 0, 1, 2, 9, 10, 11, 6, 7, 8]  # a permutation, so a slot mix-up shows


def test_a_missing_sdk_raises_the_install_hint():
    real_import = builtins.__import__

    def no_sdk(name, *args, **kwargs):
        if name.startswith("unitree_sdk2py"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    with mock.patch.dict(sys.modules), mock.patch("builtins.__import__", no_sdk):
        for name in [m for m in sys.modules if m.startswith("unitree_sdk2py")]:
            del sys.modules[name]
        with pytest.raises(u.SdkMissingError, match="make install"):
            u.import_sdk()


@needs_sdk
def test_crc_matches_the_sdks_reference():
    """unitree_sdk2py's CRC class, on its pure-Python path (its compiled helper is not in the wheel)."""
    from unitree_sdk2py.utils.crc import CRC

    with mock.patch("platform.system", return_value="reference"):
        reference = CRC()
    sdk = u.import_sdk()
    rng = np.random.default_rng(0)
    for _ in range(5):
        cmd = sdk.new_lowcmd()
        u.fill_lowcmd(cmd, SLOTS, *(rng.uniform(-3, 3, 12) for _ in range(5)))
        assert cmd.crc == reference.Crc(cmd)
        state = sdk.new_lowstate()
        imu = np.r_[0.1, 0.2, 0.3, 0.9, rng.normal(size=6)]
        u.fill_lowstate(state, SLOTS, *(rng.normal(size=12) for _ in range(3)), imu, int(rng.integers(1e6)))
        assert state.crc == reference.Crc(state)
    cmd.motor_cmd[0].q += 0.001  # any change breaks it
    assert u.lowcmd_crc(cmd) != cmd.crc


@needs_sdk
def test_lowstate_and_lowcmd_round_trip_through_the_motor_slots():
    sdk = u.import_sdk()
    q, dq, tau = np.linspace(-1, 1, 12), np.linspace(0, 2, 12), np.linspace(-5, 5, 12)
    imu = np.array([0.1, 0.2, 0.3, 0.927, 0.5, 0.6, 0.7, 0.0, 0.1, 9.8])  # xyzw
    state = sdk.new_lowstate()
    u.fill_lowstate(state, SLOTS, q, dq, tau, imu, 1234)
    assert state.imu_state.quaternion[0] == pytest.approx(0.927)  # Unitree order: w first
    assert state.motor_state[SLOTS[0]].q == pytest.approx(q[0])
    r = u.read_lowstate(state, SLOTS)
    assert np.allclose(r.q, q) and np.allclose(r.dq, dq) and np.allclose(r.tau, tau)
    assert np.allclose(r.imu, imu) and r.tick_ms == 1234

    cmd = sdk.new_lowcmd()
    kp, kd = np.full(12, 100.0), np.full(12, 2.0)
    u.fill_lowcmd(cmd, SLOTS, q, np.zeros(12), kp, kd, np.zeros(12))
    assert list(cmd.head) == list(u.LOWCMD_HEAD) and cmd.level_flag == u.LEVEL_FLAG_LOWLEVEL
    t = u.read_lowcmd(cmd, SLOTS)
    assert np.allclose(t.q, q) and (t.mode == u.MOTOR_MODE_SERVO).all() and not t.damping
    assert cmd.motor_cmd[12].mode == 0  # unused slots stay off
    u.fill_lowcmd(cmd, SLOTS, q, np.zeros(12), np.zeros(12), kd, np.zeros(12))
    assert u.read_lowcmd(cmd, SLOTS).damping


@needs_sdk
def test_fake_robot_drops_a_command_with_a_wrong_crc():
    from sim.fake_unitree import accept_lowcmd

    cmd = u.import_sdk().new_lowcmd()
    u.fill_lowcmd(cmd, SLOTS, np.full(12, 0.5), np.zeros(12), np.full(12, 50.0), np.ones(12), np.zeros(12))
    taken = accept_lowcmd(cmd)
    assert taken is not None and np.allclose(taken.q[SLOTS], 0.5) and taken.q.shape == (u.NUM_VENDOR_MOTORS,)
    cmd.motor_cmd[SLOTS[0]].kp = 500.0  # changed after the crc was computed
    assert accept_lowcmd(cmd) is None


def test_fake_robot_applies_the_unitree_motor_law():
    """The fake's body: tau = tau_ff + kp (q - q_m) + kd (dq - dq_m), clipped; limp without a command."""
    from types import SimpleNamespace

    from sim.fake_unitree import FakeUnitreeBody
    from sim.robot import STAND_POSE_RAD

    profile = SimpleNamespace(vendor_motor_index=SLOTS, torque_limit_nm=np.full(12, 33.5))
    body = FakeUnitreeBody(profile)
    try:
        q, dq = np.zeros(12), np.zeros(12)
        assert (body.motor_torques(q, dq) == 0).all()  # limp
        n = u.NUM_VENDOR_MOTORS
        z = np.zeros(n)
        cq, kp, kd, mode = z.copy(), z.copy(), z.copy(), np.zeros(n, np.int64)
        cq[SLOTS], kp[SLOTS], kd[SLOTS], mode[SLOTS] = STAND_POSE_RAD, 100.0, 2.0, u.MOTOR_MODE_SERVO
        body.set_command(u.MotorTargets(mode, cq, z.copy(), kp, kd, z.copy()))
        tau = body.motor_torques(STAND_POSE_RAD - 0.1, np.full(12, 1.0))
        assert np.allclose(tau, 100 * 0.1 - 2.0 * 1.0)
        assert (np.abs(body.motor_torques(STAND_POSE_RAD - 5.0, dq)) == 33.5).all()  # clipped
        mode[SLOTS[0]] = 0
        assert body.motor_torques(q, dq)[0] == 0  # a motor not in servo mode is off
        mode[SLOTS[0]] = u.MOTOR_MODE_SERVO
        body.step(1000)  # 1 s holding the stand pose from the spawn pose
        q, dq, tau, imu = body.reading()
        assert np.abs(q - STAND_POSE_RAD).max() < 0.1 and body.base_height_m() > 0.2
        assert abs(np.linalg.norm(imu[:4]) - 1) < 1e-6 and imu[9] > 5  # upright: gravity reaction on +z
    finally:
        body.close()
