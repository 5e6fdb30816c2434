"""The teach desk: what the browser panel and the keyboard ask of the brain beyond its services (no ROS).

The brain's services cover start / stop / save / try / learn. A person teaching also names the skill and
its cue, discards a demonstration that went wrong, sees how long each demonstration was, and keeps the
library tidy (list, rename, delete, export). Those arrive on one std_msgs/String topic as JSON commands
(`TEACH_COMMAND_TOPIC`) and the answer, with everything a panel shows, goes out as a latched JSON state
(`TEACH_STATE_TOPIC`). This module parses and checks the commands and runs them on a `BrainCore`; the
`yan_brain` node only wires the topics to it. Why a topic and not services: custom .srv types cannot be
built here, and a JSON command carries its arguments where std_srvs/Trigger carries none.

Commands (`{"op": ..., "id": any}`; `id` is echoed in `last_result` so a caller can match its answer):
    set_skill    name                the skill the next demonstrations teach
    set_cue      cue                 its cue name ("" = none); a recorded cue is named after its file
    discard_demo                     drop the demonstration being recorded (nothing reaches the learner)
    list_skills                      (the state always lists them; this only refreshes the state)
    rename_skill name, new_name      in the library: its demonstrations are rewritten under the new name;
                                     in the running learner: they train under the new name (the next
                                     demonstrations under it are more of the same skill)
    delete_skill name                from the library (older library versions keep their files) and from
                                     the running learner, which trains on the other skills from then on;
                                     a selected skill stays selected (its next demonstrations start it anew)
    export_skill name, path          one .yanskill file (`SkillLibrary.export_skill`)
Library changes are durable with the next save (a new library version). Neither a rename nor a delete is
taken while that skill's demonstration is being recorded (it would arrive under the old name).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the library (torch) is imported where it is used: the panel and keyboard only parse
    from yan_policy.data.library import SkillLibrary

TEACH_COMMAND_TOPIC = "/teach/command"
TEACH_STATE_TOPIC = "/teach/state"
MAX_COMMAND_CHARS = 4096  # a command is a few names; anything longer is refused unread
MAX_CUE_CHARS = 200  # a cue name or "say:<a short phrase>"
DEMO_LOG_LENGTH = 50  # the state lists the lengths of this many latest demonstrations
OPS = ("set_skill", "set_cue", "discard_demo", "list_skills", "rename_skill", "delete_skill", "export_skill")
_ARGS = {"set_skill": ("name",), "set_cue": ("cue",), "rename_skill": ("name", "new_name"),
         "delete_skill": ("name",), "export_skill": ("name", "path")}


@dataclass(frozen=True)
class TeachCommand:
    """One parsed command: `op` (one of OPS), its string arguments, and the caller's `id` (echoed)."""

    op: str
    args: dict
    id: object = None


def parse_command(text: str) -> TeachCommand:
    """A JSON command -> TeachCommand; ValueError (one line) on anything malformed."""
    if len(text) > MAX_COMMAND_CHARS:
        raise ValueError(f"command longer than {MAX_COMMAND_CHARS} characters")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"command is not JSON: {e.msg}") from None
    if not isinstance(data, dict) or data.get("op") not in OPS:
        raise ValueError(f"command must be an object with op in {OPS}, got {str(data)[:80]!r}")
    op = data["op"]
    args = {}
    for name in _ARGS.get(op, ()):
        value = data.get(name)
        if not isinstance(value, str):
            raise ValueError(f"{op} needs a string {name!r}")
        args[name] = value
    if op == "set_cue" and len(args["cue"]) > MAX_CUE_CHARS:
        raise ValueError(f"cue name longer than {MAX_CUE_CHARS} characters")
    return TeachCommand(op, args, data.get("id"))


@dataclass(frozen=True)
class DemoRecord:
    """A finished demonstration as the person sees it: its skill, length (control ticks and s), fate."""

    skill: str
    ticks: int
    seconds: float
    kept: bool
    message: str


class TeachDesk:
    """Runs teach commands on a brain core and keeps what the panel shows (see the module docstring).

    Args:
        core: the brain (`yan_dog.brain.BrainCore`), used through its public methods (they take its lock).
        library: the skill library, or None (skills in memory only: library commands are refused).
    """

    def __init__(self, core, library: SkillLibrary | None):
        self.core = core
        self.library = library
        self.demos: list[DemoRecord] = []
        self.last_result: dict = {"id": None, "op": None, "ok": True, "message": "ready"}

    # --- commands ---------------------------------------------------------------------------------------
    def handle_text(self, text: str) -> tuple[bool, str]:
        """Parse and run one JSON command; a malformed one is answered, never raised."""
        try:
            command = parse_command(text)
        except ValueError as e:
            return self._result(TeachCommand("invalid", {}), False, str(e))
        return self.handle(command)

    def handle(self, command: TeachCommand) -> tuple[bool, str]:
        a = command.args
        if command.op == "set_skill":
            ok, message = self.core.set_skill(a["name"])
        elif command.op == "set_cue":
            ok, message = self.set_cue(a["cue"])
        elif command.op == "discard_demo":
            ok, message = self.discard_demo()
        elif command.op == "list_skills":
            ok, message = True, f"{len(self.skills())} skills"
        elif command.op == "rename_skill":
            ok, message = self._library_call(self.rename_skill, a["name"], a["new_name"])
        elif command.op == "delete_skill":
            ok, message = self._library_call(self.delete_skill, a["name"])
        else:
            ok, message = self._library_call(self.export_skill, a["name"], a["path"])
        return self._result(command, ok, message)

    def _result(self, command: TeachCommand, ok: bool, message: str) -> tuple[bool, str]:
        self.last_result = {"id": command.id, "op": command.op, "ok": ok, "message": message}
        return ok, message

    def _library_call(self, fn, *args) -> tuple[bool, str]:
        if self.library is None:
            return False, "no skill library configured (parameter library_dir)"
        try:
            return True, fn(*args)
        except (KeyError, ValueError, OSError) as e:
            return False, str(e).strip("'\"")

    def set_cue(self, cue: str) -> tuple[bool, str]:
        """The cue recorded with the next demonstrations ("" = none)."""
        return self.core.set_cue(cue)

    # --- demonstrations -----------------------------------------------------------------------------------
    def start_demo(self, now_s: float) -> tuple[bool, str]:
        return self.core.start_demo(now_s)

    def stop_demo(self) -> tuple[bool, str]:
        """Stop the demonstration through the core, and remember its length and whether it was kept."""
        status = self.core.status()  # one look: the ticks and the skill of the same demonstration
        ticks, skill = status["demo_ticks"], status["skill"]
        ok, message = self.core.stop_demo()
        if ticks:
            self._remember(DemoRecord(skill, ticks, ticks / self.core.config.control_hz, ok, message))
        return ok, message

    def discard_demo(self) -> tuple[bool, str]:
        """Drop the demonstration being recorded: nothing of it reaches the learner or the library."""
        skill = self.core.skill
        ok, message, ticks = self.core.abort_demo("by the teacher")
        if ok:
            self._remember(DemoRecord(skill, ticks, ticks / self.core.config.control_hz, False, message))
        return ok, message

    def _remember(self, record: DemoRecord) -> None:
        self.demos = [*self.demos, record][-DEMO_LOG_LENGTH:]

    # --- the library --------------------------------------------------------------------------------------
    def skills(self) -> list[dict]:
        """Every skill the brain knows: the library's (with their cues and demonstration counts) and
        those the learner holds demonstrations of but the library does not (no library, not saved)."""
        out = {}
        if self.library is not None:
            for name, rec in self.library.skills.items():
                out[name] = {"name": name, "cue": rec.cue, "demos": len(rec.demos), "in_library": True,
                             "eval_success": rec.eval_success}
        for name in self.core.learner.buffer.skills():
            out.setdefault(name, {"name": name, "cue": None, "demos": None, "in_library": False,
                                  "eval_success": None})
        return list(out.values())

    def _record(self, name: str):
        if name not in self.library.skills:
            raise KeyError(f"skill {name!r} is not in the library; it has: {', '.join(self.library.skills)}")
        return self.library.skills[name]

    def _check_not_demonstrating(self, name: str, what: str) -> None:
        status = self.core.status()
        if status["mode"] == "demonstrating" and status["skill"] == name:
            raise ValueError(f"cannot {what} {name!r} during its demonstration: stop or discard it first")

    def rename_skill(self, name: str, new_name: str) -> str:
        """Rename a library skill: its demonstrations are rewritten (an episode carries its skill name);
        then the running learner's (`BrainCore.rename_skill`), which also moves the selection."""
        from yan_policy.data.episode import Episode
        from yan_policy.data.library import check_skill_name

        check_skill_name(new_name)
        rec = self._record(name)
        if new_name in self.library.skills:
            raise ValueError(f"skill {new_name!r} is already in the library")
        self._check_not_demonstrating(name, "rename")
        renamed = []
        for rel in rec.demos:
            episode = Episode.load(self.library.root / rel)
            new_rel = Path("demos") / new_name / Path(rel).name
            replace(episode, skill=new_name).save(self.library.root / new_rel)
            renamed.append(str(new_rel))
        del self.library.skills[name]
        self.library.skills[new_name] = replace(rec, name=new_name, demos=renamed)
        ok, learner = self.core.rename_skill(name, new_name)
        where = "in the running learner too" if ok else f"the running learner unchanged ({learner})"
        return f"renamed {name!r} to {new_name!r} ({len(renamed)} demonstrations), {where}; save to keep it"

    def delete_skill(self, name: str) -> str:
        """Remove a skill from the library, then from the running learner (`BrainCore.forget_skill`). Its
        demonstration files stay: the versions saved before still list them (a fallback to one of those
        must find them intact)."""
        rec = self._record(name)
        self._check_not_demonstrating(name, "delete")
        del self.library.skills[name]
        ok, learner = self.core.forget_skill(name)
        where = ("from the running learner too (it trains on the other skills)" if ok
                 else f"the running learner unchanged ({learner})")
        selected = (f"; {name!r} is still selected: its next demonstrations teach it anew"
                    if self.core.skill == name else "")
        return f"deleted {name!r} ({len(rec.demos)} demonstrations), {where}{selected}; save to keep it"

    def export_skill(self, name: str, path: str) -> str:
        self._record(name)
        out = self.library.export_skill(name, path)
        return f"exported {name!r} to {out}"

    # --- state --------------------------------------------------------------------------------------------
    def state(self) -> dict:
        """Everything a panel shows, JSON-ready."""
        status = self.core.status()
        last_loss = getattr(self.core.learner, "last_loss", None)  # (step, loss) or None; a property
        return {
            "skill": status["skill"],
            "cue": self.core.config.cue,
            "mode": status["mode"],
            "trying": status["trying"],
            "learning": status["learning"],
            "learner_steps": status["learner_steps"],
            "loss": None if last_loss is None or not math.isfinite(last_loss[1]) else round(last_loss[1], 5),
            "demo_ticks": status["demo_ticks"],
            "demo_s": status["demo_ticks"] / self.core.config.control_hz,
            "demos": [r.__dict__ for r in self.demos],
            "skills": self.skills(),
            "last_event": status["last_event"],
            "last_result": self.last_result,
        }
