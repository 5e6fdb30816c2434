"""The brain's process talks DDS over UDP alone, unless the user configured DDS (yan_dog_ros.dds_env); the
kill -9 tests (tests/faults/test_brain_kill.py) show that a restarted brain then hears its inputs."""

from __future__ import annotations

import pytest
from yan_dog_ros.dds_env import RESTARTABLE_TRANSPORTS, TRANSPORTS_VAR, use_restartable_transport


@pytest.mark.parametrize("rmw", [None, "rmw_fastrtps_cpp", "rmw_fastrtps_dynamic_cpp"])
def test_under_fast_dds_the_brain_uses_udp_alone(rmw):
    env = {} if rmw is None else {"RMW_IMPLEMENTATION": rmw}
    assert use_restartable_transport(env)
    assert env[TRANSPORTS_VAR] == RESTARTABLE_TRANSPORTS == "UDPv4"


@pytest.mark.parametrize("env", [
    {"RMW_IMPLEMENTATION": "rmw_cyclonedds_cpp"},
    {TRANSPORTS_VAR: "SHM"},
    {"FASTRTPS_DEFAULT_PROFILES_FILE": "/etc/my_dds.xml"},
    {"FASTDDS_DEFAULT_PROFILES_FILE": "/etc/my_dds.xml"},
])
def test_the_users_own_dds_settings_win(env):
    before = dict(env)
    assert not use_restartable_transport(env)
    assert env == before

