"""`yan_dog_ros.participant_id`: every start of a node process takes a DDS participant id of its own, so a
node restarted after a crash does not come back on its dead predecessor's shared-memory port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap

import pytest
from yan_dog_ros import participant_id as pid
from yan_dog_ros.participant_id import PoolConfig, claim, next_id, ports, wanted

NODE_UP_TIMEOUT_S = 60.0  # rclpy import and one participant on 2 busy cores
MEET_TIMEOUT_S = 20.0  # DDS discovery between two processes on 2 busy cores


def test_the_ports_are_fast_dds_well_known_unicast_ports():
    assert ports(0, 0) == (7410, 7411)  # what `ros2 daemon` and every first participant bind
    assert ports(3, 5) == (7400 + 750 + 10 + 10, 7400 + 750 + 11 + 10)


def test_a_pool_that_would_reach_the_next_domain_or_is_empty_is_refused():
    PoolConfig(first=40, count=80)  # ids 40..119: the last user port is the domain's 250th
    with pytest.raises(ValueError, match="next domain"):
        PoolConfig(first=40, count=81)
    with pytest.raises(ValueError, match="count >= 1"):
        PoolConfig(first=40, count=0)


def test_ids_are_taken_in_turn_wrapping_and_skipping_one_whose_port_is_held():
    pool = PoolConfig(first=40, count=80)
    domain = 97  # no test of this run uses it (tests/ros/conftest.py: 1..90)
    assert next_id(None, domain, pool) == 40
    assert next_id(40, domain, pool) == 41
    assert next_id(119, domain, pool) == 40
    assert next_id(7, domain, pool) == 40  # a counter from another pool starts this one afresh
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as held:
        held.bind(("127.0.0.1", ports(domain, 41)[0]))  # someone else's participant 41
        assert next_id(40, domain, pool) == 42


def test_each_claim_takes_the_next_id_and_points_fast_dds_at_its_profile(tmp_path):
    pool = PoolConfig(first=50, count=3, folder=tmp_path)
    env = {"ROS_DOMAIN_ID": "98"}
    taken = []
    for _ in range(4):
        child = dict(env)  # each process starts from its parent's environment
        taken.append(claim(pool, child))
        profile = child["FASTRTPS_DEFAULT_PROFILES_FILE"]
        text = open(profile).read()
        assert f"<participantID>{taken[-1]}</participantID>" in text
        assert all(f"<port>{ports(98, i)[0]}</port>" in text for i in (50, 51, 52))  # the pool: peers
        env = child  # a node process started by this one inherits its profile and claims again
    assert taken == [50, 51, 52, 50]


def test_nothing_is_claimed_over_the_users_own_profile_or_under_another_rmw(tmp_path):
    pool = PoolConfig(folder=tmp_path)
    assert claim(pool, {"FASTRTPS_DEFAULT_PROFILES_FILE": "/etc/mine.xml"}) is None
    assert claim(pool, {"FASTDDS_DEFAULT_PROFILES_FILE": "/etc/mine.xml"}) is None
    assert claim(pool, {"RMW_IMPLEMENTATION": "rmw_cyclonedds_cpp"}) is None
    assert wanted({}) and wanted({"RMW_IMPLEMENTATION": "rmw_fastrtps_cpp"})
    assert not list(tmp_path.iterdir())  # no counter, no profile


def test_two_node_processes_bind_the_ports_of_the_ids_they_claimed_and_meet(tmp_path, ros_domain):
    """The real thing: Fast DDS reads the profile `claim` wrote, so each node's participant holds the ports
    of its claimed id (not Fast DDS's lowest free one), and two claimed ids find each other, which under
    LOCALHOST discovery only the profile's initial peers make possible (ids above 31)."""
    script = textwrap.dedent(f"""
        import sys, time, rclpy
        from pathlib import Path
        from yan_dog_ros import participant_id as pid
        name, other = sys.argv[1:3]
        taken = pid.claim(pid.PoolConfig(first=60, count=5, folder=Path({str(tmp_path)!r})))
        rclpy.init()
        node = rclpy.create_node(name)
        deadline = time.monotonic() + {MEET_TIMEOUT_S}
        while other not in node.get_node_names() and time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.1)
        print(taken, other in node.get_node_names(), flush=True)
        sys.stdin.readline()  # held until the test has looked at the ports
        node.destroy_node()
        rclpy.shutdown()
    """)
    env = {k: v for k, v in os.environ.items() if k not in pid.PROFILE_VARS and k != pid.OURS_VAR}
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    procs = [subprocess.Popen([sys.executable, "-c", script, name, other], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, env=env)
             for name, other in (("first_node", "second_node"), ("second_node", "first_node"))]
    try:
        answers = [proc.stdout.readline().split() for proc in procs]
        taken = sorted(int(a[0]) for a in answers)
        assert taken == [60, 61], answers
        assert [a[1] for a in answers] == ["True", "True"], f"the two nodes did not meet: {answers}"
        for participant in taken:  # held by the nodes' participants
            assert not any(pid.port_free(p) for p in ports(ros_domain, participant))
    finally:
        for proc in procs:
            proc.communicate("\n", timeout=NODE_UP_TIMEOUT_S)
    assert [proc.returncode for proc in procs] == [0, 0]
