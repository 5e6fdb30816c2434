"""A Fast DDS participant id of its own for every start of a node process on this computer.

Why: a node restarted after kill -9 (or any crash) otherwise gets the lowest free id, which is its dead
predecessor's, and so the same shared-memory port; the other processes' writers go on writing into the
dead process's segment, and the new node hears nothing (Fast DDS 2.14; seen for 1 brain in 13 restarts in
`tests/faults/test_brain_kill.py`; docs/experiments.md, 2026-12-06). Turning shared memory off is not an
option: under ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST rmw_fastrtps adds it whatever the environment says
(docs/experiments.md, 2026-12-07).

So each process that `claim()`s takes the next id of a pool shared by the computer's yan-dog processes
(a counter file under a lock), skipping ids whose ports another participant holds, and loads it as Fast
DDS's default XML profile before `rclpy.init`, with the pool's discovery ports as initial peers. A
restarted node then comes back on a port no one has cached. Nothing happens where the user already
gives Fast DDS a profile file, or runs another RMW.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path

# Fast DDS's well-known ports (RTPS 2.x, section 9.6.1.1), all in UDP port numbers
PORT_BASE = 7400
DOMAIN_GAIN = 250  # ports per domain
PARTICIPANT_GAIN = 2  # ports per participant id
METATRAFFIC_UNICAST_OFFSET = 10
USER_UNICAST_OFFSET = 11

PROFILE_VARS = ("FASTRTPS_DEFAULT_PROFILES_FILE", "FASTDDS_DEFAULT_PROFILES_FILE")
OURS_VAR = "YAN_DOG_PARTICIPANT_PROFILE"  # the profile `claim` set: a child process claims again
FAST_DDS_RMW = "rmw_fastrtps_cpp"
PEER_ADDRESS = "127.0.0.1"
PROFILE_XML = """<?xml version="1.0" encoding="UTF-8" ?>
<profiles xmlns="http://www.eprosima.com/XMLSchemas/fastRTPS_Profiles">
  <participant profile_name="yan_dog_participant_{participant_id}" is_default_profile="true">
    <rtps>
      <participantID>{participant_id}</participantID>
      <builtin><initialPeersList>
{peers}
      </initialPeersList></builtin>
    </rtps>
  </participant>
</profiles>
"""
PEER_XML = "        <locator><udpv4><address>{address}</address><port>{port}</port></udpv4></locator>"


@dataclass(frozen=True)
class PoolConfig:
    """The ids yan-dog's node processes take in turn. Below `first`: what other programs (the ROS 2 CLI,
    a test process) get from Fast DDS itself, lowest free first. The last id's user port must stay inside
    its domain's 250 ports (id 119 at most)."""

    first: int = 40
    count: int = 80
    folder: Path | None = None  # None: <tmp>/yan-dog-dds-<uid>

    def __post_init__(self):
        last = self.first + self.count - 1
        if self.first < 0 or self.count < 1:
            raise ValueError(f"participant ids: first >= 0 and count >= 1, got {self.first}, {self.count}")
        if USER_UNICAST_OFFSET + PARTICIPANT_GAIN * last >= DOMAIN_GAIN:
            raise ValueError(f"participant id pool: the last id {last} would use ports of the next domain "
                             f"(at most {(DOMAIN_GAIN - 1 - USER_UNICAST_OFFSET) // PARTICIPANT_GAIN})")

    def state_folder(self) -> Path:
        return self.folder or Path(tempfile.gettempdir()) / f"yan-dog-dds-{os.getuid()}"


def ports(domain: int, participant_id: int) -> tuple[int, int]:
    """The two unicast UDP ports (discovery, user data) a participant of `participant_id` binds."""
    base = PORT_BASE + DOMAIN_GAIN * domain + PARTICIPANT_GAIN * participant_id
    return base + METATRAFFIC_UNICAST_OFFSET, base + USER_UNICAST_OFFSET


def profile_xml(participant_id: int, domain: int, pool: PoolConfig) -> str:
    """The default participant profile: this id, and every id of the pool on this computer as an initial
    peer. Why the peers: under ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST a participant announces itself only
    to ids 0..31 (rmw_fastrtps's range, measured), so two participants above those would never meet."""
    peers = "\n".join(PEER_XML.format(address=PEER_ADDRESS, port=ports(domain, i)[0])
                      for i in range(pool.first, pool.first + pool.count))
    return PROFILE_XML.format(participant_id=participant_id, peers=peers)


def port_free(port: int) -> bool:
    """True when nothing on this computer holds UDP `port` (a bind on every address succeeds)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def next_id(last: int | None, domain: int, pool: PoolConfig) -> int:
    """The id after `last` in the pool (wrapping) whose ports are free; the one after `last` if none is."""
    start = 0 if last is None or not pool.first <= last < pool.first + pool.count else last - pool.first + 1
    candidates = [pool.first + (start + k) % pool.count for k in range(pool.count)]
    for candidate in candidates:
        if all(port_free(p) for p in ports(domain, candidate)):
            return candidate
    return candidates[0]


def wanted(environ: os._Environ | dict) -> bool:
    """Whether to claim: Fast DDS is the RMW and the user gives it no profile file of their own (the one a
    parent process claimed, inherited, is not the user's)."""
    rmw = environ.get("RMW_IMPLEMENTATION", FAST_DDS_RMW) or FAST_DDS_RMW
    profiles = {environ.get(var) for var in PROFILE_VARS} - {None, "", environ.get(OURS_VAR)}
    return rmw == FAST_DDS_RMW and not profiles


def claim(pool: PoolConfig | None = None, environ: os._Environ | dict | None = None) -> int | None:
    """Take this process's participant id and point Fast DDS at a profile with it (call before
    `rclpy.init`; child processes inherit it). Returns the id, or None where nothing was done (see
    `wanted`)."""
    pool = pool or PoolConfig()
    environ = os.environ if environ is None else environ
    if not wanted(environ):
        return None
    domain = int(environ.get("ROS_DOMAIN_ID", "0") or 0)
    folder = pool.state_folder()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    counter = folder / "last_participant_id"
    last = None
    with open(folder / "lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        with contextlib.suppress(FileNotFoundError, ValueError):
            last = int(counter.read_text())
        participant_id = next_id(last, domain, pool)
        _write_atomic(counter, str(participant_id))
        profile = folder / f"participant_{participant_id}_domain_{domain}.xml"
        _write_atomic(profile, profile_xml(participant_id, domain, pool))
    environ[PROFILE_VARS[0]] = environ[OURS_VAR] = str(profile)
    return participant_id


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)
