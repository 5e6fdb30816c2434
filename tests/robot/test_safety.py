"""The bridge's safety core (robots/safety.py): every rule on its own, with explicit times."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robots.safety import JointSafety, SafetyConfig, SafetyLimits, SafetyMode, smoothstep

# A1-like numbers (pybullet_data a1/a1.urdf; DESIGN.md section 3), project order FR FL RR RL x hip thigh calf
LOWER = np.array([-0.8029, -1.0472, -2.6965] * 4)
UPPER = np.array([0.8029, 4.1888, -0.9163] * 4)
STAND = np.array([0.0, 0.9, -1.8] * 4)
KP, KD = np.full(12, 100.0), np.array([1.0, 2.0, 2.0] * 4)
TORQUE, VELOCITY = np.full(12, 33.5), np.array([52.4, 28.6, 28.6] * 4)
NAMES = tuple(f"{leg}_{part}_joint" for leg in ("FR", "FL", "RR", "RL") for part in ("hip", "thigh", "calf"))
RATE = 100.0
DT = 1.0 / RATE


def limits() -> SafetyLimits:
    return SafetyLimits(NAMES, LOWER, UPPER, KP, KD, TORQUE, VELOCITY)


def make(**overrides) -> JointSafety:
    cfg = dict(rate_hz=RATE, watchdog_s=0.1, state_timeout_s=0.1, ramp_s=0.5, velocity_fraction=1.0,
               start_settle_s=0.0)
    cfg.update(overrides)
    return JointSafety(limits(), SafetyConfig(**cfg))


def run(s: JointSafety, t0: float, seconds: float, q=STAND, cmd=None, state=True, follow=False):
    """Tick for `seconds` from t0: a fresh state each tick (pose q, or with `follow` the last position
    target: a robot that tracks perfectly), a command each tick when cmd is given."""
    outs, t = [], t0
    for _ in range(round(seconds * RATE)):
        if state:
            s.update_state(q, np.zeros(12), t)
        if cmd is not None:
            s.command(cmd, t)
        outs.append(s.tick(t))
        if follow and outs[-1] is not None and not outs[-1].damping:
            q = outs[-1].q
        t += DT
    return outs, t


def started(q=STAND, cmd=STAND) -> tuple[JointSafety, float]:
    s = make()
    _, t = run(s, 0.0, 0.6, q=q, cmd=cmd)
    assert s.mode == SafetyMode.ACTIVE
    return s, t


# --- start ------------------------------------------------------------------------------------------------
def test_nothing_is_sent_before_a_state_and_a_command():
    s = make()
    assert s.tick(0.0) is None and s.mode == SafetyMode.REFUSED and "no robot state" in s.reason
    outs, _ = run(s, 0.0, 0.2)
    assert outs == [None] * len(outs) and s.mode == SafetyMode.WAITING


@pytest.mark.parametrize(
    "fault, expect",
    [("nan", "NaN"), ("out_of_limits", "outside its limits"), ("stale", "stale"), ("fast", "implausible")],
)
def test_an_implausible_state_refuses_start(fault, expect):
    s = make()
    q, dq, stamp = STAND.copy(), np.zeros(12), 0.0
    if fault == "nan":
        q[4] = np.nan
    elif fault == "out_of_limits":
        q[2] = UPPER[2] + 0.3
    elif fault == "stale":
        stamp = -0.5
    else:
        dq[1] = 3 * VELOCITY[1]
    for k in range(20):
        s.update_state(q, dq, stamp if fault == "stale" else k * DT)
        s.command(STAND, k * DT)
        assert s.tick(k * DT) is None
    assert s.mode == SafetyMode.REFUSED and expect in s.reason, s.reason
    # the robot comes right: it starts
    s.update_state(STAND, np.zeros(12), 1.0)
    s.command(STAND, 1.0)
    assert s.tick(1.0) is not None and s.mode == SafetyMode.RAMP


def test_start_waits_for_an_unbroken_run_of_good_states():
    s = make(start_settle_s=0.3, state_timeout_s=0.05)
    s.update_state(STAND, np.zeros(12), 0.0)  # one good state, then the robot hangs
    for k in range(50):
        s.command(STAND, k * DT)
        assert s.tick(k * DT) is None
    assert s.mode == SafetyMode.REFUSED and "stale" in s.reason
    outs, t = run(s, 1.0, 0.25, cmd=STAND)  # a live robot: still settling after 250 ms
    assert outs == [None] * len(outs) and s.mode == SafetyMode.WAITING and "plausible for" in s.reason
    outs, _ = run(s, t, 0.1, cmd=STAND)
    assert outs[-1] is not None and s.mode == SafetyMode.RAMP


def test_a_joint_a_little_beyond_its_limit_is_plausible():
    s = make(limit_tolerance_rad=0.1)
    q = STAND.copy()
    q[2] = LOWER[2] - 0.05  # a lying dog's calf on its stop
    s.update_state(q, np.zeros(12), 0.0)
    assert s.state_fault(0.0) is None


def test_the_ramp_starts_at_the_measured_pose_and_ends_at_the_command():
    lying = np.array([0.0, 1.2, -2.6] * 4)
    s = make(ramp_s=0.5)
    outs, _ = run(s, 0.0, 0.7, q=lying, cmd=STAND, follow=True)
    first = outs[0].q
    assert np.abs(first - lying).max() < 1e-3  # smoothstep: no jump at the start
    steps = np.abs(np.diff([o.q for o in outs], axis=0)).max(axis=1)
    assert steps.max() < 0.1 * np.abs(STAND - lying).max()  # spread over the ramp, no step
    assert np.allclose(outs[-1].q, STAND) and s.mode == SafetyMode.ACTIVE
    assert s.counters.starts == 1 and not outs[0].damping and np.allclose(outs[0].kp, KP)


def test_smoothstep():
    assert smoothstep(-1) == 0 and smoothstep(0.5) == 0.5 and smoothstep(2) == 1


# --- caps -------------------------------------------------------------------------------------------------
def test_out_of_limit_commands_are_clamped_to_the_soft_limits():
    s, t = started()
    cmd = STAND.copy()
    cmd[0], cmd[2] = 5.0, -9.0  # far beyond the FR hip's upper and the FR calf's lower limit
    outs, _ = run(s, t, 1.0, q=STAND, cmd=cmd, follow=True)
    margin = s.config.soft_limit_margin_rad
    assert np.isclose(outs[-1].q[0], UPPER[0] - margin) and np.isclose(outs[-1].q[2], LOWER[2] + margin)
    assert all((o.q >= s.soft_lower - 1e-12).all() and (o.q <= s.soft_upper + 1e-12).all() for o in outs)
    assert s.counters.position_clamped == len(outs) and s.flags.clamped[[0, 2]].all()


def test_velocity_cap_limits_each_joints_step_per_tick():
    s = make(velocity_fraction=0.1, torque_fraction=1.0)
    _, t = run(s, 0.0, 0.6, cmd=STAND)
    target = STAND + 0.5
    outs, _ = run(s, t, 0.5, q=STAND, cmd=target, follow=True)
    prev = STAND
    for o in outs:
        assert (np.abs(o.q - prev) <= s.max_step_rad + 1e-12).all()
        prev = o.q
    assert s.counters.velocity_capped > 0 and np.allclose(s.max_step_rad, VELOCITY * 0.1 / RATE)


def test_torque_cap_bounds_the_pd_torque():
    s = make(torque_fraction=0.5, velocity_fraction=1.0)
    _, t = run(s, 0.0, 0.6, cmd=STAND)
    # the joints lag behind (held where they are) while the command moves away
    dq = np.full(12, 1.0)
    for _ in range(50):
        s.update_state(STAND, dq, t)
        s.command(STAND + 0.6, t)
        o = s.tick(t)
        tau = KP * (o.q - STAND) + KD * (o.dq - dq)
        assert (np.abs(tau) <= 0.5 * TORQUE + 1e-9).all()
        t += DT
    assert s.counters.torque_capped > 0


@settings(max_examples=200, deadline=None)
@given(
    q=st.lists(st.floats(-3.0, 4.0), min_size=12, max_size=12),
    cmd=st.lists(st.floats(-1e3, 1e3), min_size=12, max_size=12),
    dq=st.lists(st.floats(-50.0, 50.0), min_size=12, max_size=12),
)
def test_every_position_target_is_finite_and_within_the_soft_limits(q, cmd, dq):
    s = make(ramp_s=0.0)
    for k in range(3):
        s.update_state(np.clip(q, LOWER, UPPER), dq, k * DT)
        s.command(cmd, k * DT)
        o = s.tick(k * DT)
        if o is not None and not o.damping:
            assert np.isfinite(o.q).all()
            assert (o.q >= s.soft_lower - 1e-9).all() and (o.q <= s.soft_upper + 1e-9).all()


# --- watchdog, state loss, e-stop -------------------------------------------------------------------------
def test_watchdog_drops_to_damping_when_commands_stop_and_a_fresh_one_ramps_back():
    s, t = started()
    outs, t = run(s, t, 0.09, cmd=None)  # 90 ms without a command: still active
    assert s.mode == SafetyMode.ACTIVE and not outs[-1].damping
    outs, t = run(s, t, 0.05, cmd=None)
    assert s.mode == SafetyMode.DAMPING and "watchdog" in s.reason and s.counters.watchdog_trips == 1
    d = outs[-1]
    assert d.damping and (d.kp == 0).all() and (d.kd == s.config.damping_kd).all() and (d.tau == 0).all()
    # the old command does not revive it; a new one ramps from the current pose
    outs, t = run(s, t, 0.05, cmd=None)
    assert s.mode == SafetyMode.DAMPING
    sagged = STAND + 0.2
    outs, _ = run(s, t, 0.05, q=sagged, cmd=STAND)
    assert s.mode == SafetyMode.RAMP and np.abs(outs[0].q - sagged).max() < 0.01


def test_a_stale_or_bad_state_while_active_drops_to_damping():
    s, t = started()
    outs, t = run(s, t, 0.15, cmd=STAND, state=False)  # LowState stops
    assert s.mode == SafetyMode.DAMPING and "stale" in s.reason and outs[-1].damping
    assert s.counters.state_faults == 1
    s2, t2 = started()
    bad = STAND.copy()
    bad[3] = np.inf
    outs, _ = run(s2, t2, 0.02, q=bad, cmd=STAND)
    assert s2.mode == SafetyMode.DAMPING and np.isfinite(outs[-1].q).all()


def test_after_a_state_fault_the_state_must_settle_before_a_ramp_back():
    s = make(start_settle_s=0.2)
    _, t = run(s, 0.0, 0.8, cmd=STAND)
    assert s.mode == SafetyMode.ACTIVE
    _, t = run(s, t, 0.15, cmd=STAND, state=False)  # a LowState dropout
    assert s.mode == SafetyMode.DAMPING
    outs, t = run(s, t, 0.15, cmd=STAND)  # states and commands back: settling
    assert s.mode == SafetyMode.DAMPING and all(o.damping for o in outs)
    _, _ = run(s, t, 0.1, cmd=STAND)
    assert s.mode == SafetyMode.RAMP and s.counters.starts == 2


def test_estop_latches_damping_until_released():
    s, t = started()
    s.set_estop(True, t)
    outs, t = run(s, t, 0.5, cmd=STAND)  # fresh commands all along: still damping
    assert s.mode == SafetyMode.ESTOP and all(o.damping for o in outs) and s.counters.estops == 1
    s.set_estop(False, t)
    assert s.mode == SafetyMode.DAMPING and "released" in s.reason
    o = s.tick(t)
    assert o.damping  # no command since the release yet
    t += DT
    outs, _ = run(s, t, 0.6, cmd=STAND)
    assert s.mode == SafetyMode.ACTIVE and not outs[-1].damping


def test_estop_before_start_sends_damping():
    s = make()
    s.set_estop(True, 0.0)
    assert s.tick(0.0).damping


def test_malformed_commands_are_rejected_and_do_not_feed_the_watchdog():
    s, t = started()
    assert not s.command(np.ones(11), t) and not s.command(np.full(12, np.nan), t)
    assert s.counters.rejected_commands == 2
    outs, _ = run(s, t, 0.2, cmd=None)
    assert s.mode == SafetyMode.DAMPING


# --- configuration and report -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs", [{"rate_hz": 0}, {"watchdog_s": -1}, {"ramp_s": float("nan")}, {"velocity_fraction": 1.5}]
)
def test_bad_config_is_refused(kwargs):
    with pytest.raises(ValueError):
        SafetyConfig(**kwargs)


def test_bad_limits_are_refused():
    with pytest.raises(ValueError):
        SafetyLimits(NAMES, UPPER, LOWER, KP, KD, TORQUE, VELOCITY)
    with pytest.raises(ValueError):
        SafetyLimits(NAMES, LOWER, UPPER, np.zeros(12), KD, TORQUE, VELOCITY)
    with pytest.raises(ValueError):
        JointSafety(limits(), SafetyConfig(soft_limit_margin_rad=1.0))


def test_status_is_json():
    s, t = started()
    status = s.status(t)
    json.dumps(status)
    assert status["mode"] == "active" and status["starts"] == 1 and status["command_age_ms"] is not None
