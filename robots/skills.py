"""What each teachable skill is, without a simulator: its name, cue, action mode, episode length, start
posture and left-right symmetry (`SkillSpec`), in a registry the robot's brain reads.

The simulator adds a scripted teacher and a success check to each (`sim.skills.Skill`, built from these
specs); registering a skill there registers its spec here too, so the brain and the learner know every
skill the process knows. A skill taught only on a real robot has no spec: it is simply not mirrored and
its teacher's action mode is unknown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Generic, TypeVar

ACTION_MODES = ("joint", "gait")
START_POSTURES = ("stand", "lie")


@dataclass(frozen=True)
class SkillSpec:
    """A skill's metadata.

    Args:
        name: registry key (an identifier).
        cue: name of the default audio cue that asks for this skill (see `sim.cues`).
        action_mode: the scripted teacher's native action mode, "joint" or "gait".
        duration_s: episode length (s).
        hold_s: how long the success check must hold continuously to count (s).
        start_posture: "stand" or "lie" (the robot's posture at t = 0).
        mirror_symmetric: the skill is its own left-right mirror image (sitting, walking forward, coming
            to a ball on either side; not turning left, not raising the right paw): a mirrored
            demonstration of it is a demonstration of it too, and a learner may train on both.
        description: one line for people.
    """

    name: str
    cue: str
    action_mode: str = "joint"
    duration_s: float = 5.0
    hold_s: float = 1.0
    start_posture: str = "stand"
    mirror_symmetric: bool = False
    description: str = ""

    def __post_init__(self):
        if not self.name or not self.name.replace("_", "").isalnum():
            raise ValueError(f"skill name must be a non-empty identifier, got {self.name!r}")
        if not isinstance(self.cue, str) or not re.fullmatch(r"\S+", self.cue):
            raise ValueError(f"skill {self.name!r}: cue must be a cue name, got {self.cue!r}")
        if self.action_mode not in ACTION_MODES:
            raise ValueError(f"action_mode must be one of {ACTION_MODES}, got {self.action_mode!r}")
        if self.start_posture not in START_POSTURES:
            raise ValueError(f"start_posture must be one of {START_POSTURES}, got {self.start_posture!r}")
        if self.duration_s <= 0 or self.hold_s < 0 or self.hold_s >= self.duration_s:
            raise ValueError(
                f"need duration_s > 0 and 0 <= hold_s < duration_s, got {self.duration_s}, {self.hold_s}"
            )


BUILTIN_SKILL_SPECS = (
    SkillSpec("stand", "whistle_double", start_posture="lie", duration_s=4.0, mirror_symmetric=True),
    SkillSpec("sit", "whistle_falling", duration_s=4.0, mirror_symmetric=True),
    SkillSpec("lie_down", "whistle_trill", duration_s=4.0, mirror_symmetric=True),
    SkillSpec("shake_paw", "clap", duration_s=5.0),
    SkillSpec("walk_forward", "whistle_rising", action_mode="gait", duration_s=6.0, hold_s=0.2,
              mirror_symmetric=True),
    SkillSpec("turn_left", "click", action_mode="gait", duration_s=5.0, hold_s=0.5),
    SkillSpec("turn_right", "clap_triple", action_mode="gait", duration_s=5.0, hold_s=0.5),
    SkillSpec("come_to_ball", "whistle_long", action_mode="gait", duration_s=8.0, hold_s=0.5,
              mirror_symmetric=True),
)

T = TypeVar("T")


class Registry(Generic[T]):
    """Skills (anything with a `name`) by name, in the order they were added, from any user code.

    Args:
        kind: the class of the items (a TypeError names it for anything else).
        what: how errors name that class ("robots.skills.SkillSpec").
    """

    def __init__(self, kind: type, what: str):
        self.kind, self.what = kind, what
        self._items: dict[str, T] = {}

    def register(self, item: T, *, overwrite: bool = False) -> T:
        if not isinstance(item, self.kind):
            raise TypeError(f"register() takes a {self.what}, got {type(item).__name__}")
        if item.name in self._items and not overwrite:
            raise ValueError(f"skill {item.name!r} is already registered (pass overwrite=True to replace it)")
        self._items[item.name] = item
        return item

    def unregister(self, name: str) -> None:
        self.get(name)
        del self._items[name]

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise KeyError(f"unknown skill {name!r}; registered skills: {', '.join(self.names())}") from None

    def find(self, name: str) -> T | None:
        """The item named `name`, or None."""
        return self._items.get(name)

    def names(self) -> list[str]:
        return list(self._items)


SPECS: Registry[SkillSpec] = Registry(SkillSpec, "robots.skills.SkillSpec")
for _spec in BUILTIN_SKILL_SPECS:
    SPECS.register(_spec)
register, unregister, get, names = SPECS.register, SPECS.unregister, SPECS.get, SPECS.names


def is_mirror_symmetric(name: str) -> bool:
    """Whether the registered skill `name` is its own mirror image (False for unregistered names, e.g.
    a skill taught only on a real robot)."""
    spec = SPECS.find(name)
    return bool(spec and spec.mirror_symmetric)


def teacher_action_mode(name: str) -> str | None:
    """The registered skill `name`'s native action mode, "joint" or "gait" (None if unregistered). Stored
    with each recorded episode (`extra["teacher_action_mode"]`): the learner trains on episodes whose
    teacher commands joint targets with noisier joints (`yan_policy.training.learner.LearnerConfig`)."""
    spec = SPECS.find(name)
    return spec.action_mode if spec else None
