"""`teacher`: the scripted teacher of the simulation, demonstrating a skill K times to the brain over ROS 2.

A thin node over `yan_dog.teaching_protocol.TeachingProtocol` (the session logic, ROS-free). It first reads
the brain's `demo_source` parameter (`/<brain_node>/get_parameters`). For each demonstration it sets the
sim's `skill`/`seed`/`play_cue` parameters, calls `/<sim_node>/reset`, sets the brain's `skill`,
`demo_source` ("scripted") and `demo_gait_gain` parameters, calls `/<brain_node>/start_demo`, relays every
/sim/teacher_action (the sim's oracle: the scripted teacher's 15-D hybrid action) to /teach/action until the
episode time on /sim/status reaches the skill's episode length, then calls `/<brain_node>/stop_demo`. In
`cue_mode: service` it calls `/<sim_node>/play_cue` at `cue_at_s`; in `cue_mode: sim` the sim plays the cue
at reset. After the last demonstration it calls `/<brain_node>/save_skill` if `save_skill` is set, sets the
brain's `demo_source` back to what it read (also after a failure), then exits (status 0 when every request
succeeded, 1 otherwise).

Parameters (config/teacher.yaml): skill, demos, seed_base, cue_mode, cue_at_s, episode_s (0 = the
skill's duration), save_skill, demo_gait_gain_range (each demonstration's gait gain, drawn from its seed:
the brain executes the teacher's gait command times it and records the command as it came), sim_node,
brain_node, wait_for_services_s, service_timeout_s, status_timeout_s.
"""

from __future__ import annotations

import sys
import time

from rcl_interfaces.msg import ParameterType
from rcl_interfaces.srv import GetParameters, SetParameters
from rclpy.node import Node
from std_msgs.msg import Float64MultiArray, String
from std_srvs.srv import Trigger

from robots.actions import HYBRID_ACTION_DIM
from yan_dog.plugins import load_plugins_from_env
from yan_dog.teach_setup import DEFAULT_DEMO_GAIT_GAIN_RANGE
from yan_dog.teaching_protocol import Request, TeachingConfig, TeachingProtocol
from yan_dog_ros import msgs
from yan_dog_ros.spin import spin_until

NODE_NAME = "teacher"
WATCHDOG_PERIOD_S = 0.1  # how often service time-outs and the sim's silence are checked

PARAMETERS = {
    "skill": "sit",
    "demos": 3,
    "seed_base": 1000,
    "cue_mode": "sim",
    "cue_at_s": 0.4,
    "episode_s": 0.0,
    "save_skill": False,
    "demo_gait_gain_range": list(DEFAULT_DEMO_GAIT_GAIN_RANGE),
    "sim_node": "sim_node",
    "brain_node": "yan_brain",
    "wait_for_services_s": 30.0,
    "service_timeout_s": 10.0,
    "status_timeout_s": 5.0,
}


class TeacherNode(Node):
    """Runs one scripted teaching session (see the module docstring); `finished` when it is over."""

    def __init__(self, **node_kwargs):
        load_plugins_from_env()  # a user's skills ($YAN_DOG_PLUGINS, entry points) can be taught too
        super().__init__(NODE_NAME, **node_kwargs)
        for name, default in PARAMETERS.items():
            self.declare_parameter(name, default)
        p = self._param
        self.protocol = TeachingProtocol(
            TeachingConfig(
                skill=p("skill"),
                demos=p("demos"),
                seed_base=p("seed_base"),
                cue_mode=p("cue_mode"),
                cue_at_s=float(p("cue_at_s")),
                episode_s=float(p("episode_s")),
                save_skill=p("save_skill"),
                status_timeout_s=float(p("status_timeout_s")),
                demo_gait_gain_range=tuple(p("demo_gait_gain_range")),
            )
        )
        sim, brain = p("sim_node"), p("brain_node")
        set_brain = self.create_client(SetParameters, f"/{brain}/set_parameters")
        self._service_clients = {
            "read_brain": self.create_client(GetParameters, f"/{brain}/get_parameters"),
            "configure_sim": self.create_client(SetParameters, f"/{sim}/set_parameters"),
            "reset_sim": self.create_client(Trigger, f"/{sim}/reset"),
            "play_cue": self.create_client(Trigger, f"/{sim}/play_cue"),
            "configure_brain": set_brain,
            "restore_brain": set_brain,
            "start_demo": self.create_client(Trigger, f"/{brain}/start_demo"),
            "stop_demo": self.create_client(Trigger, f"/{brain}/stop_demo"),
            "save_skill": self.create_client(Trigger, f"/{brain}/save_skill"),
        }
        self.pub_action = self.create_publisher(Float64MultiArray, msgs.TEACH_ACTION_TOPIC, msgs.COMMAND_QOS)
        self.create_subscription(
            Float64MultiArray, msgs.TEACHER_ACTION_TOPIC, self._on_teacher_action, msgs.COMMAND_QOS
        )
        self.create_subscription(String, msgs.SIM_STATUS_TOPIC, self._on_status, msgs.STATUS_QOS)
        self._started_s = time.monotonic()
        self._inflight: tuple[Request, float, object] | None = None  # (request, sent at, future)
        self._started = False
        self.create_timer(WATCHDOG_PERIOD_S, self._on_watchdog)
        cfg = self.protocol.config
        self.get_logger().info(
            f"teaching {cfg.skill!r}: {cfg.demos} demonstrations of {cfg.length_s:g} s,"
            f" seeds from {cfg.seed_base}, cue by {cfg.cue_mode},"
            f" gait gain {cfg.demo_gait_gain_range[0]:g}-{cfg.demo_gait_gain_range[1]:g}"
        )

    def _param(self, name: str):
        return self.get_parameter(name).value

    @property
    def finished(self) -> bool:
        return self.protocol.finished

    # --- events -> protocol -------------------------------------------------------------------------------
    def _on_teacher_action(self, msg: Float64MultiArray) -> None:
        if not self.protocol.relaying:
            return
        try:
            action = msgs.float_array_values(msg, HYBRID_ACTION_DIM, msgs.TEACHER_ACTION_TOPIC)
        except ValueError as err:
            self.get_logger().warning(f"not relayed: {err}", throttle_duration_sec=1.0)
            return
        self.pub_action.publish(msgs.float_array(action, "hybrid_action"))
        self.protocol.on_relayed()

    def _on_status(self, msg: String) -> None:
        try:
            status = msgs.json_from_msg(msg)
        except ValueError as err:
            self.get_logger().warning(f"ignored a sim status: {err}", throttle_duration_sec=1.0)
            return
        if not isinstance(status.get("time_s"), (int, float)):
            self.get_logger().warning("ignored a sim status without time_s", throttle_duration_sec=1.0)
            return
        self._dispatch(self.protocol.on_status(status, time.monotonic()))

    def _on_watchdog(self) -> None:
        now = time.monotonic()
        if not self._started:
            missing = [c.srv_name for c in self._service_clients.values() if not c.service_is_ready()]
            if not missing:
                self._started = True
                self._dispatch(self.protocol.start(now))
            elif now - self._started_s > self._param("wait_for_services_s"):
                self.protocol.abort(f"services not available: {missing}")
                self.get_logger().error(f"teaching session failed: {self.protocol.error}")
            return
        if self._inflight is not None:
            request, sent_s, future = self._inflight
            if now - sent_s > self._param("service_timeout_s"):
                future.cancel()
                self._answered(request, False, f"no answer within {self._param('service_timeout_s')} s")
            return
        self._dispatch(self.protocol.on_clock(now))

    # --- protocol requests -> service calls ---------------------------------------------------------------
    def _dispatch(self, requests: list[Request]) -> None:
        for request in requests:
            self._send(request)

    def _send(self, request: Request) -> None:
        if request.kind == "read_brain":
            call = GetParameters.Request(names=list(request.args["names"]))
        elif request.kind in ("configure_sim", "configure_brain", "restore_brain"):
            call = SetParameters.Request(
                parameters=[msgs.parameter_msg(k, v) for k, v in request.args.items()]
            )
        else:
            call = Trigger.Request()
        future = self._service_clients[request.kind].call_async(call)
        self._inflight = (request, time.monotonic(), future)
        future.add_done_callback(lambda f, r=request: self._on_answer(r, f))

    def _on_answer(self, request: Request, future) -> None:
        if self._inflight is None or self._inflight[0] is not request or future.cancelled():
            return  # timed out already
        try:
            response = future.result()
        except Exception as err:  # the service call itself failed
            self._answered(request, False, repr(err))
            return
        if isinstance(response, GetParameters.Response):  # read_brain: the one string asked for
            values = response.values
            if len(values) == 1 and values[0].type == ParameterType.PARAMETER_STRING:
                self._answered(request, True, values[0].string_value)
            else:
                self._answered(request, False, f"no string parameter {request.args['names']} on the brain")
        elif isinstance(response, SetParameters.Response):
            refused = [r.reason for r in response.results if not r.successful]
            self._answered(request, not refused, "; ".join(refused))
        else:
            self._answered(request, response.success, response.message)

    def _answered(self, request: Request, success: bool, message: str) -> None:
        self._inflight = None
        log = self.get_logger()
        if not success:
            log.error(f"{request.kind} failed: {message}")
        follow_up = self.protocol.on_response(request.kind, success, message, time.monotonic())
        if request.kind == "stop_demo" and self.protocol.results:
            r = self.protocol.results[-1]
            log.info(
                f"demonstration {r.index + 1}/{self.protocol.config.demos} (seed {r.seed}):"
                f" success={r.success} fallen={r.fallen} t={r.time_s:.2f} s, gait gain {r.gait_gain:.2f},"
                f" relayed {r.relayed} actions"
            )
        if request.kind == "restore_brain" and success:
            log.info(f"the brain's demo_source is {self.protocol.brain_source!r} again")
        if request.kind == "start_demo" and success:
            log.info(f"demonstration {self.protocol.demo_index + 1} started")
        self._dispatch(follow_up)
        if self.protocol.finished:
            if self.protocol.error:
                log.error(f"teaching session failed: {self.protocol.error}")
            else:
                log.info("teaching session done")


def main(args=None) -> None:
    node = spin_until(TeacherNode, lambda n: n.finished, lambda n: WATCHDOG_PERIOD_S, args)
    sys.exit(0 if node is not None and node.finished and node.protocol.error is None else 1)


if __name__ == "__main__":
    main()
