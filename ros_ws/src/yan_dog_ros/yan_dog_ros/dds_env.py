"""DDS settings of the brain's process, which is the one that gets killed and started again.

Fast DDS gives a new participant the lowest free participant id, and with it a shared-memory port. A brain
started after a `kill -9` of the last one gets the dead brain's id and port, while the other processes'
writers still hold the dead brain's segment: they go on writing into it, and the new brain hears no
camera, audio or joint states until they rediscover it (reproduced in tests/faults/test_brain_kill.py:
1 generation of 13 ran 1352 ticks with every input stale; Fast DDS 2.14). Over UDP on the loopback there
is no such leftover, so the brain's process uses UDPv4 alone: the others reach it by the locators it
announces. It costs one copy through the kernel per message; the brain's inputs are small (a 64×64 image,
20 ms of audio, one joint state per tick).

The user's own DDS configuration wins: nothing is set under another middleware, or when a Fast DDS
profile file or a transport choice is already in the environment.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

TRANSPORTS_VAR = "FASTDDS_BUILTIN_TRANSPORTS"  # Fast DDS >= 2.13 reads it when a participant is created
RESTARTABLE_TRANSPORTS = "UDPv4"
FAST_DDS_RMWS = ("rmw_fastrtps_cpp", "rmw_fastrtps_dynamic_cpp")
DEFAULT_RMW = "rmw_fastrtps_cpp"  # ROS 2 Jazzy's default when RMW_IMPLEMENTATION is unset
USER_DDS_VARS = (TRANSPORTS_VAR, "FASTRTPS_DEFAULT_PROFILES_FILE", "FASTDDS_DEFAULT_PROFILES_FILE")


def use_restartable_transport(environ: MutableMapping[str, str] = os.environ) -> bool:
    """Set the brain's Fast DDS transport to `RESTARTABLE_TRANSPORTS` in `environ` (call before rclpy.init);
    False, and nothing set, under another middleware or when the user configured Fast DDS themselves."""
    if environ.get("RMW_IMPLEMENTATION", DEFAULT_RMW) not in FAST_DDS_RMWS:
        return False
    if any(environ.get(var) for var in USER_DDS_VARS):
        return False
    environ[TRANSPORTS_VAR] = RESTARTABLE_TRANSPORTS
    return True
