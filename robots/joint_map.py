"""Joint names -> the project's motor order, and back out in the order a driver wants its commands.

Drivers name their joints their own way and list them in their own order: Unitree's SDKs and URDFs say
"FR_thigh_joint", the simulator "FR_upper_joint", go2_ros2_sdk lists the legs FL, FR, RL, RR. A
`JointMap` matches a joint state's names to the 12 motors (FR, FL, RR, RL x hip, thigh, calf) by the
profile's vendor names or the simulator's aliases, in any order, or by explicit names given for a driver
that uses names of its own; and it puts the 12 joint targets into the order the driver wants.
Every error is one line that names the joints at fault.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from robots.profile import A1, NUM_MOTORS, RobotProfile


def _check_names(names: Sequence[str], what: str) -> tuple[str, ...]:
    names = tuple(str(n) for n in names)
    if len(names) != NUM_MOTORS or not all(names):
        raise ValueError(f"{what}: need {NUM_MOTORS} non-empty joint names, got {len(names)}: {list(names)}")
    dups = sorted({n for n in names if names.count(n) > 1})
    if dups:
        raise ValueError(f"{what}: duplicated joint names {dups}")
    return names


class JointMap:
    """Which names in a driver's joint messages are which of the project's 12 motors, and the order its
    joint commands go out in.

    Args:
        profile: the robot (default: the A1). Its vendor names (`joint_names`) and the simulator's names
            (`sim_joint_names`) are both accepted.
        joint_names: explicit names of the 12 motors, in the project's motor order, for a driver with
            names of its own; then only these are accepted. None or empty: the profile's names.
        command_joint_names: the joints, by any accepted name, in the order the driver wants its
            commands. None or empty: the project's motor order.
    (The nodes' parameters of the same names, `yan_dog_ros.robot_params`.)
    """

    def __init__(self, profile: RobotProfile = A1, joint_names: Sequence[str] | None = None,
                 command_joint_names: Sequence[str] | None = None):
        self.profile = profile
        if joint_names:
            self.schemes: tuple[tuple[str, ...], ...] = (_check_names(joint_names, "joint_names"),)
        else:
            self.schemes = (profile.joint_names, profile.sim_joint_names)
        # every accepted name of each motor, vendor (or explicit) name first
        self.candidates = tuple(tuple(dict.fromkeys(s[m] for s in self.schemes)) for m in range(NUM_MOTORS))
        self._motor: dict[str, int] = {}
        for m, names in enumerate(self.candidates):
            for name in names:
                if self._motor.setdefault(name, m) != m:
                    raise ValueError(f"joint name {name!r} names two motors of robot {profile.name!r}")
        if command_joint_names:
            names = _check_names(command_joint_names, "command_joint_names")
            self.command_order = np.array([self.motor_of(n) for n in names])  # (12,) motor of each slot
            missing = sorted(set(range(NUM_MOTORS)) - set(self.command_order.tolist()))
            if missing:
                raise ValueError(f"command_joint_names: name each motor once; none for "
                                 f"{[self.schemes[0][m] for m in missing]}")
            self.command_names = names
        else:
            self.command_order = np.arange(NUM_MOTORS)
            self.command_names = self.schemes[0]
        self._to_motors = np.argsort(self.command_order)  # (12,) command slot of each motor
        self._cache: tuple[tuple[str, ...], np.ndarray] | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """The preferred name of each motor, in the project's order (vendor or explicit names)."""
        return self.schemes[0]

    def motor_of(self, name: str) -> int:
        """The project's motor index (0..11) of joint `name`; ValueError for a name this map does not know."""
        try:
            return self._motor[name]
        except KeyError:
            also = " (or the simulator's names)" if len(self.schemes) > 1 else ""
            raise ValueError(f"unknown joint name {name!r} for robot {self.profile.name!r}; expected one of "
                             f"{list(self.schemes[0])}{also}") from None

    def order(self, names: Sequence[str]) -> np.ndarray:
        """For a message's joint names (any order, extra joints ignored, no duplicates): the index in
        `names` of each of the 12 motors, (12,). ValueError names missing or doubly named motors, in the
        naming the message uses."""
        key = tuple(names)
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        index = {n: i for i, n in enumerate(key)}
        found: list[int | None] = []
        twice = []
        for names_of_motor in self.candidates:
            hits = [index[n] for n in names_of_motor if n in index]
            if len(hits) > 1:
                twice.append(" and ".join(repr(key[i]) for i in hits))
            found.append(hits[0] if hits else None)
        if twice:
            raise ValueError(f"one joint named twice: {', '.join(twice)}")
        if None in found:
            scheme = max(self.schemes, key=lambda s: sum(n in index for n in s))  # the message's naming
            raise ValueError(f"missing joints {[scheme[m] for m, i in enumerate(found) if i is None]}")
        order = np.array(found)
        self._cache = (key, order)
        return order

    def to_command(self, targets: np.ndarray) -> np.ndarray:
        """(12,) values in the project's motor order -> the driver's command order."""
        return np.asarray(targets)[self.command_order]

    def from_command(self, values: np.ndarray) -> np.ndarray:
        """(12,) values in the driver's command order -> the project's motor order."""
        return np.asarray(values)[self._to_motors]
