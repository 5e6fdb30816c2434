"""The person's side of teaching over ROS 2: one client that `teleop_keyboard` and the browser panel share.

It calls the brain's services (`/<brain>/start_demo`, `stop_demo`, `save_skill` as std_srvs/Trigger;
`set_trying`, `set_learning` as SetBool), the sim's (`/<sim>/play_cue`, `/<sim>/reset`, with the cue set
first through `/<sim>/set_parameters`), and sends teach-desk commands (`yan_dog.teach_desk`: skill, cue,
discard, list / rename / delete / export) on /teach/command, whose answers it matches by id in the latched
/teach/state. Every request ends in one call of `on_answer(action, ok, message)`, whether the service
answered, refused, was not there, or the brain did not answer a command within `COMMAND_TIMEOUT_S`.
Why one client: the keyboard and the panel then drive the same loop through the same interfaces.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable

from rcl_interfaces.srv import SetParameters
from rclpy.node import Node
from std_msgs.msg import String
from std_srvs.srv import SetBool, Trigger

from yan_dog.teach_desk import OPS as DESK_OPS
from yan_dog_ros.msgs import parameter_msg
from yan_dog_ros.teach_topics import (
    TEACH_COMMAND_QOS,
    TEACH_COMMAND_TOPIC,
    TEACH_STATE_QOS,
    TEACH_STATE_TOPIC,
)

COMMAND_TIMEOUT_S = 5.0  # a desk command the brain has not answered by then is reported as unanswered
TRIGGERS = {"start_demo": "brain", "stop_demo": "brain", "save_skill": "brain", "play_cue": "sim",
            "reset_sim": "sim"}
SWITCHES = ("set_trying", "set_learning")  # SetBool services of the brain
ACTIONS = (*TRIGGERS, *SWITCHES, *DESK_OPS)

Answer = Callable[[str, bool, str], None]


class TeachClient:
    """Teach actions from a node (see the module docstring).

    Args:
        node: the node that owns the clients (its executor runs their callbacks).
        brain, sim: the brain's and the sim's node names (the robot has no sim: its sim actions are refused
            by their absent services).
        on_answer: called once per request with (action, ok, message).
    """

    def __init__(self, node: Node, brain: str, sim: str, on_answer: Answer):
        self.node = node
        self.on_answer = on_answer
        self.state: dict = {}  # the newest teach-desk state (empty until the brain publishes one)
        self._services = {name: node.create_client(Trigger, f"/{brain if who == 'brain' else sim}/"
                                                   f"{'reset' if name == 'reset_sim' else name}")
                          for name, who in TRIGGERS.items()}
        self._services.update({name: node.create_client(SetBool, f"/{brain}/{name}") for name in SWITCHES})
        self._sim_params = node.create_client(SetParameters, f"/{sim}/set_parameters")
        self._commands = node.create_publisher(String, TEACH_COMMAND_TOPIC, TEACH_COMMAND_QOS)
        node.create_subscription(String, TEACH_STATE_TOPIC, self._on_state, TEACH_STATE_QOS)
        self._ids = itertools.count(1)
        self._pending: dict[str, tuple[str, float]] = {}  # command id -> (op, sent at, monotonic s)

    def ready(self, action: str) -> bool:
        """Whether `action`'s service is up (desk commands: whether the brain has published its state)."""
        return bool(self.state) if action in DESK_OPS else self._services[action].service_is_ready()

    def request(self, action: str, **args) -> None:
        """Ask for `action` (ACTIONS) with its arguments: `on` for SetBool switches, `cue` for play_cue
        ("" = the sim's own), the desk command's fields for desk commands."""
        if action not in ACTIONS:
            self.on_answer(action, False, f"unknown action {action!r}; known: {', '.join(ACTIONS)}")
        elif action in DESK_OPS:
            self._send_command(action, args)
        elif action == "play_cue" and args.get("cue") is not None:
            self._set_sim_cue(str(args["cue"]))
        else:
            self._call(action, SetBool.Request(data=bool(args.get("on"))) if action in SWITCHES
                       else Trigger.Request())

    # --- services -----------------------------------------------------------------------------------------
    def _call(self, action: str, request) -> None:
        client = self._services[action]
        if not client.service_is_ready():
            self.on_answer(action, False, f"service {client.srv_name} is not available")
            return
        client.call_async(request).add_done_callback(lambda f: self._on_service(action, f))

    def _on_service(self, action: str, future) -> None:
        try:
            response = future.result()
        except Exception as err:  # noqa: BLE001 — the call itself failed; say so, never raise in a callback
            self.on_answer(action, False, f"call failed: {err!r}")
            return
        self.on_answer(action, bool(response.success), response.message)

    def _set_sim_cue(self, cue: str) -> None:
        """Set the sim's `cue` parameter, then play it (the sim plays its skill's cue for "")."""
        if not self._sim_params.service_is_ready():
            self.on_answer("play_cue", False, f"service {self._sim_params.srv_name} is not available")
            return
        request = SetParameters.Request(parameters=[parameter_msg("cue", cue)])

        def then(future) -> None:
            try:
                (result,) = future.result().results
            except Exception as err:  # noqa: BLE001
                self.on_answer("play_cue", False, f"setting the sim's cue failed: {err!r}")
                return
            if not result.successful:
                self.on_answer("play_cue", False, f"the sim refused cue {cue!r}: {result.reason}")
                return
            self._call("play_cue", Trigger.Request())

        self._sim_params.call_async(request).add_done_callback(then)

    # --- desk commands ------------------------------------------------------------------------------------
    def _send_command(self, op: str, args: dict) -> None:
        command_id = f"{self.node.get_name()}-{next(self._ids)}"
        self._pending[command_id] = (op, time.monotonic())
        self._commands.publish(String(data=json.dumps({"op": op, "id": command_id, **args})))

    def _on_state(self, msg: String) -> None:
        try:
            state = json.loads(msg.data)
        except json.JSONDecodeError:
            return
        if not isinstance(state, dict):
            return
        self.state = state
        result = state.get("last_result") or {}
        pending = self._pending.pop(result.get("id"), None) if isinstance(result.get("id"), str) else None
        if pending is not None:
            self.on_answer(pending[0], bool(result.get("ok")), str(result.get("message")))

    def expire(self, now_s: float | None = None) -> None:
        """Report the desk commands the brain has not answered within COMMAND_TIMEOUT_S (call it from a
        timer). The latched state keeps only the last answer, so two commands sent within one state
        period may see only the second's; the first then expires here."""
        now_s = time.monotonic() if now_s is None else now_s
        for command_id, (op, sent_s) in list(self._pending.items()):
            if now_s - sent_s > COMMAND_TIMEOUT_S:
                del self._pending[command_id]
                self.on_answer(op, False, f"no answer from the brain within {COMMAND_TIMEOUT_S:g} s")
