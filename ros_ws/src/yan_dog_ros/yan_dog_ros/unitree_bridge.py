"""`unitree_bridge`: a Unitree robot's low-level interface (unitree-sdk2, CycloneDDS) on the ROS graph, with
the last line of safety (`robots.safety.JointSafety`).

    rt/lowstate (LowState_)     -> /joint_states  sensor_msgs/JointState (the profile's joint names)
                                   /imu/data      sensor_msgs/Imu (frame "base")      at publish_hz
    /joint_commands             -> rt/lowcmd (LowCmd_): position targets with the profile's kp/kd and
      (std_msgs/Float64MultiArray,  the CRC, at rate_hz, through the safety core: soft limits, velocity and
       12 targets, project order)   torque caps, ramp on start, watchdog -> damping, refusal to start on an
                                   implausible state. Nothing is sent before a start.
    ~/estop (std_srvs/SetBool)      true: latched damping; false: release (damping until a fresh command)
    /diagnostics (diagnostic_msgs/DiagnosticArray) at diagnostics_hz: safety state, LowState / command /
                                   LowCmd rates and ages

A LowState counts as new only when its `tick` (the robot's ms counter) moved: a hung controller that
repeats itself goes stale. Each /joint_commands message feeds the watchdog on arrival (it has no stamp).
On shutdown after a start the motors are left in damping (they keep the last command they received).

The DDS of the vendor (CycloneDDS, `domain_id` on `network_interface`) is separate from the ROS graph's.
Without the optional SDK the node does not start: one line says how to install it (exit status 2).
Parameters: PARAMETERS and config/unitree_bridge.yaml.
"""

from __future__ import annotations

import sys
import threading
import time

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from std_msgs.msg import Float64MultiArray
from std_srvs.srv import SetBool

import robots
from robots.profile import DEFAULT_ROBOT
from robots.safety import JointSafety, SafetyConfig, SafetyLimits, SafetyMode
from robots.unitree_lowlevel import (
    LOWCMD_TOPIC,
    LOWSTATE_TOPIC,
    SdkMissingError,
    fill_lowcmd,
    import_sdk,
    read_lowstate,
)
from yan_dog.scheduling import (
    CONTROL_RT_PRIORITY,
    DDS_THREAD_PREFIX,
    GIL_SWITCH_S,
    check_rt_priority,
    set_realtime,
    set_realtime_threads,
)
from yan_dog_ros import msgs
from yan_dog_ros.spin import spin_node

NODE_NAME = "unitree_bridge"
DIAGNOSTICS_TOPIC = "/diagnostics"
LOG_THROTTLE_S = 1.0
MS_PER_S = 1000.0
LATE_TICK_FACTOR = 2.0  # a tick more than this many periods after the previous one counts as late
# CycloneDDS threads of the vendor SDK that carry LowState in ("recv", "recvUC": sockets; "dq.user": the
# listener that calls us) and Fast DDS's of ROS (`DDS_THREAD_PREFIX`): one step below the bridge's own
DDS_RT_THREADS = ("recv", "dq.user", DDS_THREAD_PREFIX)
SHUTDOWN_DAMPING_WRITES = 3  # damping commands sent on shutdown after a start (motors keep the last one)

# name: default (config/unitree_bridge.yaml sets the same values)
PARAMETERS = {
    "robot": DEFAULT_ROBOT,  # robots.get_profile name
    "network_interface": "lo",  # the NIC wired to the robot (e.g. eth0); lo: a fake robot on this machine
    "domain_id": 0,  # the vendor DDS domain (Unitree robots use 0)
    "rate_hz": 500.0,  # LowCmd rate and safety tick
    "publish_hz": 50.0,  # /joint_states and /imu/data rate (the newest LowState)
    "diagnostics_hz": 1.0,
    "watchdog_ms": 100.0,
    "state_timeout_ms": 100.0,
    "ramp_s": 2.0,
    "start_settle_s": 0.5,
    "soft_limit_margin_rad": 0.05,
    "limit_tolerance_rad": 0.1,
    "velocity_fraction": 0.5,
    "torque_fraction": 1.0,
    "damping_kd": 2.0,
    "rt_priority": CONTROL_RT_PRIORITY,  # SCHED_FIFO of the LowCmd thread and the ROS callbacks (0: normal)
}

_LEVEL = {  # safety mode -> diagnostic level
    SafetyMode.ACTIVE: DiagnosticStatus.OK,
    SafetyMode.RAMP: DiagnosticStatus.OK,
    SafetyMode.WAITING: DiagnosticStatus.WARN,
    SafetyMode.DAMPING: DiagnosticStatus.WARN,
    SafetyMode.REFUSED: DiagnosticStatus.ERROR,
    SafetyMode.ESTOP: DiagnosticStatus.ERROR,
}


class RateCounter:
    """Events counted since the last `rate()` call: mean rate over that window."""

    def __init__(self):
        self.total = 0
        self._window = 0
        self._since = time.monotonic()

    def add(self) -> None:
        self.total += 1
        self._window += 1

    def rate(self, now_s: float) -> float:
        hz = self._window / max(now_s - self._since, 1e-9)
        self._window, self._since = 0, now_s
        return hz


def _status(name: str, level: bytes, message: str, hardware_id: str, values: dict) -> DiagnosticStatus:
    return DiagnosticStatus(
        level=level, name=f"{NODE_NAME}: {name}", message=message, hardware_id=hardware_id,
        values=[KeyValue(key=k, value=str(v)) for k, v in values.items()],
    )


class UnitreeBridge(Node):
    """See the module docstring."""

    def __init__(self, **node_kwargs):
        super().__init__(NODE_NAME, **node_kwargs)
        for name, default in PARAMETERS.items():
            self.declare_parameter(name, default)
        p = self._param
        self.sdk = import_sdk()  # SdkMissingError with the install hint
        self.profile = robots.get_profile(p("robot"))
        self.motor_index = [int(i) for i in self.profile.vendor_motor_index]
        self.rate_hz = float(p("rate_hz"))
        self.rt_priority = int(p("rt_priority"))
        check_rt_priority(self.rt_priority)
        self._rt_threads: set[str] = set()  # the threads that asked for real-time priority
        self.safety = JointSafety(
            SafetyLimits.from_profile(self.profile),
            SafetyConfig(
                rate_hz=self.rate_hz,
                watchdog_s=float(p("watchdog_ms")) / MS_PER_S,
                state_timeout_s=float(p("state_timeout_ms")) / MS_PER_S,
                ramp_s=float(p("ramp_s")),
                start_settle_s=float(p("start_settle_s")),
                soft_limit_margin_rad=float(p("soft_limit_margin_rad")),
                limit_tolerance_rad=float(p("limit_tolerance_rad")),
                velocity_fraction=float(p("velocity_fraction")),
                torque_fraction=float(p("torque_fraction")),
                damping_kd=float(p("damping_kd")),
            ),
        )
        # newest LowState, written by the SDK's listener thread (one attribute store: atomic under the GIL)
        self._latest = None  # (JointReading, monotonic s, wall s) | None
        self._applied = None  # the reading last given to the safety core
        self._published = None  # the reading last published on ROS
        self.lowstate_rate, self.command_rate, self.lowcmd_rate = RateCounter(), RateCounter(), RateCounter()
        self.bad_lowstates = self.repeated_lowstates = self.write_failures = self.late_ticks = 0
        self._last_tick_s: float | None = None
        self._lowcmd = self.sdk.new_lowcmd()
        # the safety core is used by the tick thread and by the ROS callbacks (commands, e-stop, diagnostics)
        self._lock = threading.Lock()
        self._running = True

        self.sdk.ChannelFactoryInitialize(int(p("domain_id")), p("network_interface") or None)
        self._lowcmd_pub = self.sdk.ChannelPublisher(LOWCMD_TOPIC, self.sdk.LowCmd_)
        self._lowcmd_pub.Init()
        self._lowstate_sub = self.sdk.ChannelSubscriber(LOWSTATE_TOPIC, self.sdk.LowState_)
        self._lowstate_sub.Init(self._on_lowstate, 0)

        self.pubs = {k: v for k, v in msgs.sensor_publishers(self).items() if k in ("joints", "imu")}
        self._diag_pub = self.create_publisher(DiagnosticArray, DIAGNOSTICS_TOPIC, msgs.STATUS_QOS)
        self.create_subscription(
            Float64MultiArray, msgs.JOINT_COMMANDS_TOPIC, self._on_joint_command, msgs.COMMAND_QOS
        )
        self.create_service(SetBool, "~/estop", self._on_estop)
        steady = Clock(clock_type=ClockType.STEADY_TIME)
        self.create_timer(1.0 / float(p("publish_hz")), self._on_publish, clock=steady)
        self.create_timer(1.0 / float(p("diagnostics_hz")), self._on_diagnostics, clock=steady)
        self.get_logger().info(
            f"Unitree bridge up: robot {self.profile.name}, vendor DDS domain {p('domain_id')} on"
            f" {p('network_interface') or '(any interface)'}, LowCmd at {self.rate_hz:g} Hz; nothing is sent"
            " before a plausible robot state and a fresh /joint_commands"
        )
        # The LowCmd tick runs in a thread of its own, paced by the monotonic clock: an executor timer at
        # 500 Hz, sharing its wait with the ROS callbacks, reached ~330 Hz here; this thread ~490 Hz.
        self._tick_thread = threading.Thread(target=self._tick_loop, name="unitree_lowcmd", daemon=True)
        self._tick_thread.start()

    def _param(self, name: str):
        return self.get_parameter(name).value

    # --- inputs -------------------------------------------------------------------------------------------
    def _on_lowstate(self, state) -> None:
        """SDK listener thread: convert and store; the tick reads it. A LowState whose tick (the robot's
        ms counter) did not advance is not a new reading: a hung controller repeating itself goes stale.
        (A tick of 0 is taken as "not filled in": every such message counts as new.)"""
        try:
            reading = read_lowstate(state, self.motor_index)
        except Exception:  # a malformed sample: counted in /diagnostics, never raised into the SDK
            self.bad_lowstates += 1
            return
        latest = self._latest
        if reading.tick_ms != 0 and latest is not None and reading.tick_ms == latest[0].tick_ms:
            self.repeated_lowstates += 1
            return
        self._latest = (reading, time.monotonic(), time.time())
        self.lowstate_rate.add()

    def _on_joint_command(self, msg: Float64MultiArray) -> None:
        self.command_rate.add()
        with self._lock:
            accepted = self.safety.command(np.asarray(msg.data, np.float64), time.monotonic())
        if not accepted:
            self.get_logger().warning(
                f"dropped a joint command: {len(msg.data)} values or NaN/inf (12 finite targets expected)",
                throttle_duration_sec=LOG_THROTTLE_S,
            )

    def _on_estop(self, request, response):
        with self._lock:
            before = self.safety.mode
            self.safety.set_estop(bool(request.data), time.monotonic())
            response.success = True
            response.message = f"{self.safety.mode}: {self.safety.reason}"
        if self.safety.mode != before and request.data:
            self.get_logger().warning(f"e-stop engaged: {response.message}")
        elif self.safety.mode != before:
            self.get_logger().info(f"e-stop released: {response.message}")
        return response

    # --- the tick: safety -> LowCmd -----------------------------------------------------------------------
    def _raise_priority(self, thread: str) -> None:
        """Once per thread, from that thread: SCHED_FIFO at rt_priority. Why: the LowCmd tick, the
        /joint_states publication and the command callback sit on the state-to-command path, and at the
        normal policy a busy core (a camera, the learner, a build) delayed them by tens of ms. A missing
        privilege is said once, and the bridge goes on at normal priority."""
        if thread in self._rt_threads:
            return
        self._rt_threads.add(thread)
        try:
            self.get_logger().info(f"{thread}: {set_realtime(self.rt_priority)}")
            if self.rt_priority:
                priority = max(1, self.rt_priority - 1)
                raised = [n for prefix in DDS_RT_THREADS for n in set_realtime_threads(prefix, priority)]
                if raised:
                    self.get_logger().info(f"DDS threads under SCHED_FIFO {priority}: {', '.join(raised)}")
        except OSError as e:  # PermissionError: no CAP_SYS_NICE / rtprio limit; or not Linux
            self.get_logger().warning(f"{thread} stays at normal priority: SCHED_FIFO {self.rt_priority} "
                                      f"refused ({e}); grant CAP_SYS_NICE or set rt_priority 0")

    def _tick_loop(self) -> None:
        self._raise_priority("LowCmd thread")
        period = 1.0 / self.rate_hz
        next_s = time.monotonic()
        while self._running:
            self._on_tick()
            next_s += period
            delay = next_s - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            elif delay < -period:  # fell more than a period behind: a new grid from now (ticks are late)
                next_s = time.monotonic()

    def _on_tick(self) -> None:
        try:
            self._tick()
        except Exception as err:  # never let one tick kill the bridge; the safety state stays as it was
            self.get_logger().error(f"bridge tick failed: {err!r}", throttle_duration_sec=LOG_THROTTLE_S)

    def _tick(self) -> None:
        now = time.monotonic()
        if self._last_tick_s is not None and now - self._last_tick_s > LATE_TICK_FACTOR / self.rate_hz:
            self.late_ticks += 1
        self._last_tick_s = now
        latest = self._latest
        with self._lock:
            if latest is not None and latest is not self._applied:
                self._applied = latest
                self.safety.update_state(latest[0].q, latest[0].dq, latest[1])
            mode_before = self.safety.mode
            out = self.safety.tick(now)
            mode_after = self.safety.mode
        if mode_after != mode_before:
            self._log_mode(mode_before)
        if out is not None:
            self._write(out)

    def _write(self, out) -> None:
        if self._lowcmd_pub is None:  # closed (shutting down)
            return
        fill_lowcmd(self._lowcmd, self.motor_index, out.q, out.dq, out.kp, out.kd, out.tau)
        if self._lowcmd_pub.Write(self._lowcmd):
            self.lowcmd_rate.add()
        else:
            self.write_failures += 1

    def _log_mode(self, before: SafetyMode) -> None:
        mode, reason = self.safety.mode, self.safety.reason
        if mode in (SafetyMode.DAMPING, SafetyMode.REFUSED, SafetyMode.ESTOP):
            self.get_logger().warning(
                f"safety {before} -> {mode}: {reason}", throttle_duration_sec=LOG_THROTTLE_S
            )
        else:
            self.get_logger().info(f"safety {before} -> {mode}: {reason}")

    # --- outputs on ROS -----------------------------------------------------------------------------------
    def _on_publish(self) -> None:
        self._raise_priority("ROS callback thread")
        latest = self._latest
        if latest is None or latest is self._published:
            return
        self._published = latest
        reading, _, wall_s = latest
        try:
            self.pubs["joints"].publish(
                msgs.joint_state(self.profile.joint_names, reading.q, reading.dq, reading.tau, wall_s)
            )
            self.pubs["imu"].publish(msgs.imu_msg(reading.imu, wall_s))
        except ValueError as err:  # e.g. NaN in the IMU: the state is still reported in /diagnostics
            self.get_logger().warning(f"LowState not published: {err}", throttle_duration_sec=LOG_THROTTLE_S)

    def _on_diagnostics(self) -> None:
        with self._lock:
            self._publish_diagnostics(time.monotonic())

    def _publish_diagnostics(self, now: float) -> None:
        s = self.safety.status(now)
        hw = f"unitree {self.profile.name}"
        state_age = s.pop("state_age_ms")
        cmd_age = s.pop("command_age_ms")
        state_fault = self.safety.state_fault(now)
        silent = self.safety.mode in (SafetyMode.WAITING, SafetyMode.REFUSED)
        statuses = [
            _status("safety", _LEVEL[self.safety.mode], f"{s['mode']}: {s['reason']}", hw, s),
            _status(
                "lowstate",
                DiagnosticStatus.OK if state_fault is None else DiagnosticStatus.ERROR,
                "ok" if state_fault is None else state_fault,
                hw,
                {"rate_hz": round(self.lowstate_rate.rate(now), 1), "age_ms": state_age,
                 "received": self.lowstate_rate.total, "malformed": self.bad_lowstates,
                 "repeated_tick": self.repeated_lowstates},
            ),
            _status(
                "joint_commands",
                DiagnosticStatus.OK if self.safety.command_fresh(now) else DiagnosticStatus.WARN,
                "fresh" if self.safety.command_fresh(now) else "stale or none",
                hw,
                {"rate_hz": round(self.command_rate.rate(now), 1), "age_ms": cmd_age,
                 "received": self.command_rate.total, "rejected": s["rejected_commands"]},
            ),
            _status(
                "lowcmd",
                DiagnosticStatus.OK if self.write_failures == 0 else DiagnosticStatus.WARN,
                "silent (not started)" if silent else "sending",
                hw,
                {"rate_hz": round(self.lowcmd_rate.rate(now), 1), "target_rate_hz": self.rate_hz,
                 "sent": self.lowcmd_rate.total, "write_failures": self.write_failures,
                 "late_ticks": self.late_ticks},
            ),
        ]
        msg = DiagnosticArray(status=statuses)
        msg.header.stamp = self.get_clock().now().to_msg()
        self._diag_pub.publish(msg)

    # --- shutdown -----------------------------------------------------------------------------------------
    def close(self) -> None:
        """Stop the tick; after a start, leave the motors in damping (they keep the last command they got).
        The LowState subscription closes first: CycloneDDS's (real-time) threads calling into Python while
        the interpreter shuts down ended the process with SIGSEGV."""
        self._stop_tick()
        self._close_channel("_lowstate_sub")
        if self.safety.mode not in (SafetyMode.WAITING, SafetyMode.REFUSED):
            self.safety.set_estop(True, time.monotonic())
            out = self.safety.tick(time.monotonic())
            for _ in range(SHUTDOWN_DAMPING_WRITES):
                self._write(out)  # (the writer stays open: deleting it at once could drop these)

    def _close_channel(self, name: str) -> None:
        channel = getattr(self, name, None)  # absent when __init__ failed before making it
        if channel is not None:
            setattr(self, name, None)
            try:
                channel.Close()
            except Exception as err:  # noqa: BLE001 (shutting down: say it, go on)
                self.get_logger().warning(f"closing {name.strip('_')}: {err!r}")

    def _stop_tick(self) -> None:
        self._running = False
        thread = getattr(self, "_tick_thread", None)  # absent when __init__ failed before starting it
        if thread is not None and thread.is_alive() and thread is not threading.current_thread():
            thread.join(timeout=1.0)

    def destroy_node(self):
        self._stop_tick()
        super().destroy_node()


def main(args=None) -> None:
    try:
        import_sdk()
    except SdkMissingError as err:
        print(f"unitree_bridge: {err}", file=sys.stderr)
        sys.exit(2)
    # Four threads take turns at the interpreter lock (LowCmd, the ROS callbacks, CycloneDDS's listener that
    # brings LowState in, Fast DDS's): at Python's default 5 ms a waiting one sat out a whole interval.
    sys.setswitchinterval(GIL_SWITCH_S)
    spin_node(UnitreeBridge, args)


if __name__ == "__main__":
    main()
