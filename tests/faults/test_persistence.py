"""Persistence under faults: kill -9 while learning and saving, damaged checkpoints, damaged bags.

The 5-kill smoke test and single-file damage cases live in tests/test_teach_data.py and tests/test_bag.py;
here: 50 kills at random moments, every kind of checkpoint damage, and bags damaged inside (not cut).
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
import shutil
import signal
import time
import warnings

import numpy as np
import pytest
import torch
from mcap.reader import make_reader
from rclpy.serialization import serialize_message
from std_msgs.msg import Float64MultiArray

from yan_dog import bag
from yan_policy.data.checkpoint import save_safetensors_atomic
from yan_policy.data.episode import Episode
from yan_policy.data.library import MEMORY_FILE, MEMORY_KIND, LibraryError, SkillLibrary
from yan_policy.policies.config import PolicyConfig
from yan_policy.policies.registry import load_policy, make_policy
from yan_policy.policies.yan import memory_kernels

# This module is preloaded in the kill test's forkserver, so its children fork with the memory scan's
# kernels already loaded (~1 s per fresh process otherwise), as they fork with torch already imported.
memory_kernels.warm_up()

KILLS = 50
KILL_AFTER_S = (0.02, 0.3)  # a random moment in the child's learn/save loop
WALL_LIMIT_S = 45.0
LEARNING_RATE = 1e-3


def tiny_policy(seed=0):
    torch.manual_seed(seed)
    cfg = PolicyConfig().to_dict() | {"d_model": 16, "n_layers": 1, "action_dim": 15}
    return make_policy("yan", PolicyConfig.from_dict(cfg))


def tiny_episode(skill: str, seed: int) -> Episode:
    rng = np.random.default_rng(seed)
    t = 4
    return Episode(skill=skill, action_mode="hybrid", control_hz=50, stamps_s=np.arange(t) / 50.0,
                   joints=rng.normal(size=(t, 3, 12)).astype(np.float32),
                   imu=rng.normal(size=(t, 10)).astype(np.float32),
                   action=rng.normal(size=(t, 15)).astype(np.float32), seed=seed)


def learn_and_save_forever(root: str, generation: int, conn) -> None:
    """The child: load the library, then forever learn a little (a step on the weights), record a demo
    of a new skill and commit; report (version, skill) once each commit has returned."""
    torch.set_num_threads(1)
    lib = SkillLibrary(root)
    policy = lib.load(load_policy) or tiny_policy()
    conn.send(("ready", None))
    i = 0
    while True:
        policy.zero_grad()
        loss = sum((p ** 2).sum() for p in policy.parameters())
        loss.backward()
        with torch.no_grad():  # one plain SGD step (torch.optim's first step imports torch._dynamo: ~1 s)
            for p in policy.parameters():
                p -= LEARNING_RATE * p.grad
        skill = f"g{generation}-{i}"
        lib.add_demo(tiny_episode(skill, seed=generation * 1000 + i))
        version = lib.commit(policy)
        conn.send((version, skill))
        i += 1


def test_kill_9_during_learning_and_saving_never_loses_a_saved_skill(tmp_path):
    """Fault: kill -9 at a random moment of a learn/save loop, 50 times (a fresh process each time, resuming
    from the library). Outcome: the library always loads, its version is at least the last one whose
    commit returned, and it holds every skill whose commit returned before a kill."""
    root = str(tmp_path / "lib")
    ctx = mp.get_context("forkserver")  # fast restarts: the children fork from a server with torch loaded
    ctx.set_forkserver_preload(["torch", "yan_policy.data.library", "yan_policy.policies.registry", __name__])
    rng = np.random.default_rng(0)
    saved: set[str] = set()
    last_version = 0
    t_start = time.monotonic()
    for generation in range(KILLS):
        parent, child = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=learn_and_save_forever, args=(root, generation, child))
        proc.start()
        child.close()
        assert parent.poll(30) and parent.recv()[0] == "ready"
        time.sleep(float(rng.uniform(*KILL_AFTER_S)))
        os.kill(proc.pid, signal.SIGKILL)
        proc.join()
        while parent.poll():
            try:
                version, skill = parent.recv()
            except EOFError:
                break
            saved.add(skill)
            last_version = int(version[1:])
        parent.close()
        check = SkillLibrary(root)
        assert check.load(load_policy) is not None, generation
        assert int(check.version[1:]) >= last_version, generation
        missing = saved - set(check.skills)
        assert not missing, (generation, sorted(missing))
    wall_s = time.monotonic() - t_start
    leftovers = list((tmp_path / "lib" / "versions").glob(".tmp-*"))
    assert len(leftovers) <= 1  # a killed commit's temp folder is removed by the next process
    assert len(saved) > KILLS  # commits did happen between the kills
    assert wall_s < WALL_LIMIT_S, wall_s
    print(f"{KILLS} kills, {len(saved)} commits survived, {wall_s:.1f} s")


# --- damaged checkpoints --------------------------------------------------------------------------------

def _flip_byte(path, at: float = 0.5) -> None:
    data = bytearray(path.read_bytes())
    data[int(len(data) * at)] ^= 0x5A
    path.write_bytes(bytes(data))


DAMAGE = {
    "weights bit flip": (lambda v: _flip_byte(v / "policy" / "model.safetensors", 0.9), "model.safetensors"),
    "weights file deleted": (lambda v: (v / "policy" / "model.safetensors").unlink(), "model.safetensors"),
    "config garbage": (lambda v: (v / "policy" / "config.json").write_text("{]"), "config.json"),
    "manifest deleted": (lambda v: (v / "manifest.json").unlink(), "manifest.json is missing"),
    "manifest not JSON": (lambda v: (v / "manifest.json").write_text("\x00\x01"), "not valid JSON"),
    "whole version deleted": (lambda v: shutil.rmtree(v), None),
}


@pytest.fixture
def two_versions(tmp_path):
    lib = SkillLibrary(tmp_path / "lib")
    lib.add_demo(tiny_episode("sit", 0))
    v1 = lib.commit(tiny_policy(0))
    lib.add_demo(tiny_episode("lie_down", 1))
    v2 = lib.commit(tiny_policy(1))
    return tmp_path / "lib", v1, v2


@pytest.mark.parametrize("kind", DAMAGE, ids=list(DAMAGE))
def test_a_damaged_checkpoint_is_reported_and_the_last_good_one_is_used(two_versions, kind, caplog):
    """Fault: the current version's files are damaged in one of several ways.
    Outcome: load() logs an error naming the version and the damaged file, and loads the previous one."""
    root, v1, v2 = two_versions
    damage, names = DAMAGE[kind]
    damage(root / "versions" / v2)
    lib = SkillLibrary(root)
    assert lib.load(load_policy) is not None
    assert lib.version == v1 and set(lib.skills) == {"sit"}
    if names is not None:
        assert f"version {v2} is unusable" in caplog.text and names in caplog.text, caplog.text


def test_a_damaged_demo_file_makes_its_version_unusable_and_falls_back(two_versions, caplog):
    """Fault: a demonstration file listed by the current version is flipped on disk.
    Outcome: the version fails its sha256 check by name; the previous version loads."""
    root, v1, v2 = two_versions
    demo = next((root / "demos" / "lie_down").glob("*.safetensors"))
    _flip_byte(demo)
    lib = SkillLibrary(root)
    assert lib.load(load_policy) is not None and lib.version == v1
    assert f"demo demos/lie_down/{demo.name} is missing or damaged" in caplog.text


def test_a_garbage_current_pointer_falls_back_to_the_newest_intact_version(two_versions, caplog):
    """Fault: CURRENT names no version (garbage bytes). Outcome: the newest intact version loads, with a
    warning that it is not CURRENT."""
    root, _, v2 = two_versions
    (root / "CURRENT").write_bytes(b"\xff\xfe garbage")
    lib = SkillLibrary(root)
    assert lib.load(load_policy) is not None and lib.version == v2
    assert f"loaded {v2} instead of CURRENT" in caplog.text


def test_every_version_damaged_is_one_clear_error_listing_each(two_versions):
    """Fault: no intact version at all. Outcome: LibraryError listing every version and its fault."""
    root, v1, v2 = two_versions
    for v in (v1, v2):
        _flip_byte(root / "versions" / v / "policy" / "model.safetensors", 0.9)
    with pytest.raises(LibraryError, match="no intact version") as err:
        SkillLibrary(root).load(load_policy)
    assert f"{v1}: version {v1}: policy/model.safetensors" in str(err.value) and v2 in str(err.value)


# --- the native memory, saved with every version --------------------------------------------------------

def _lived_memory(policy, seed: int) -> dict[str, torch.Tensor]:
    """The policy's native memory after a few ticks of a robot's life (not its initial value)."""
    rng, state = np.random.default_rng(seed), policy.initial_state()
    for _ in range(5):
        obs = {"joints": rng.normal(size=(3, 12)).astype(np.float32),
               "imu": rng.normal(size=10).astype(np.float32)}
        _, state = policy.step(obs, state)
    return policy.lifetime_state(state)


def _replace_memory(vdir, tensors) -> None:
    """Write another memory file into a version, with a matching sha256 in its manifest (so only the
    content checks can refuse it)."""
    save_safetensors_atomic(tensors, vdir / MEMORY_FILE, {"kind": MEMORY_KIND})
    manifest = json.loads((vdir / "manifest.json").read_text())
    manifest["files"][MEMORY_FILE] = hashlib.sha256((vdir / MEMORY_FILE).read_bytes()).hexdigest()
    (vdir / "manifest.json").write_text(json.dumps(manifest))


MEMORY_DAMAGE = {
    "bit flip": (lambda v, m: _flip_byte(v / MEMORY_FILE, 0.9), "memory.safetensors is missing or damaged"),
    "deleted": (lambda v, m: (v / MEMORY_FILE).unlink(), "memory.safetensors is missing or damaged"),
    "non-finite": (lambda v, m: _replace_memory(v, {**m, "memory.w1": m["memory.w1"] * np.nan}),
                   "non-finite values in ['memory.w1']"),
    "another policy's": (lambda v, m: _replace_memory(v, {k: t[..., :1] for k, t in m.items()}),
                         "does not fit the policy"),
}


@pytest.fixture
def two_versions_with_memory(tmp_path):
    lib = SkillLibrary(tmp_path / "lib")
    lib.add_demo(tiny_episode("sit", 0))
    m1 = _lived_memory(tiny_policy(0), 0)
    v1 = lib.commit(tiny_policy(0), m1)
    lib.add_demo(tiny_episode("lie_down", 1))
    m2 = _lived_memory(tiny_policy(1), 1)
    v2 = lib.commit(tiny_policy(1), m2)
    return tmp_path / "lib", (v1, m1), (v2, m2)


def test_the_native_memory_is_committed_and_restored_bit_for_bit(two_versions_with_memory):
    root, _, (v2, m2) = two_versions_with_memory
    manifest = json.loads((root / "versions" / v2 / "manifest.json").read_text())
    assert MEMORY_FILE in manifest["files"]  # sha256-checked like the weights
    lib = SkillLibrary(root)
    policy = lib.load(load_policy)
    assert lib.version == v2 and set(lib.memory) == set(policy.lifetime_keys()) == set(m2)
    for key, saved in m2.items():
        assert lib.memory[key].dtype == saved.dtype and torch.equal(lib.memory[key], saved), key
    v3 = lib.commit(policy)  # a commit that never ran the robot (`yan-dog learn`) carries the memory on
    again = SkillLibrary(root)
    again.load(load_policy)
    assert again.version == v3 and all(torch.equal(again.memory[k], m2[k]) for k in m2)


def test_a_library_from_before_the_memory_loads_with_a_fresh_one(tmp_path):
    lib = SkillLibrary(tmp_path / "lib")
    lib.add_demo(tiny_episode("sit", 0))
    version = lib.commit(tiny_policy(0))  # as every commit was written before
    again = SkillLibrary(tmp_path / "lib")
    assert again.load(load_policy) is not None and again.version == version and again.memory is None


@pytest.mark.parametrize("kind", MEMORY_DAMAGE, ids=list(MEMORY_DAMAGE))
def test_a_damaged_memory_file_is_refused_and_the_previous_version_used(two_versions_with_memory, kind,
                                                                        caplog):
    """Fault: the current version's memory file is damaged, gone, or holds what no memory can hold.
    Outcome: load() logs why, naming the version, and uses the previous version: its weights and its
    memory."""
    root, (v1, m1), (v2, m2) = two_versions_with_memory
    damage, reason = MEMORY_DAMAGE[kind]
    damage(root / "versions" / v2, m2)
    lib = SkillLibrary(root)
    assert lib.load(load_policy) is not None and lib.version == v1
    assert all(torch.equal(lib.memory[k], m1[k]) for k in m1)
    assert f"version {v2} is unusable" in caplog.text and reason in caplog.text, caplog.text


def test_a_non_finite_memory_is_not_committed(tmp_path):
    lib = SkillLibrary(tmp_path / "lib")
    policy = tiny_policy(0)
    memory = _lived_memory(policy, 0)
    memory["memory.s2"] = memory["memory.s2"] * np.inf
    with pytest.raises(ValueError, match=r"non-finite values in \['memory.s2'\]; not saved"):
        lib.commit(policy, memory)
    with pytest.raises(ValueError, match="does not fit the policy"):
        lib.commit(policy, {k: t[..., :1] for k, t in _lived_memory(policy, 0).items()})
    assert lib.versions() == [] and lib.current() is None  # nothing written


# --- damaged bags ---------------------------------------------------------------------------------------

BAG_MESSAGES = 60
LOG_TIMES_NS = [i * 20_000_000 for i in range(BAG_MESSAGES)]  # 50 Hz


def _write_bag(path, n=BAG_MESSAGES):
    with bag.BagWriter(path, chunk_bytes=1024) as writer:
        for i in range(n):
            msg = Float64MultiArray(data=[float(i)] * 8)
            writer.write("/teach/action", "std_msgs/msg/Float64MultiArray", serialize_message(msg),
                         LOG_TIMES_NS[i])
    return n


@pytest.mark.parametrize("chunk", [1, -1])
def test_a_bag_damaged_inside_a_chunk_is_read_up_to_the_damage_and_reported(tmp_path, chunk):
    """Fault: bytes flipped inside one compressed chunk (a bad sector, not a cut). Outcome: the messages
    read are exactly the ones before that chunk, in order and intact, and the damage is reported
    (a warning; BagDamaged when strict) with the count read: never a silent short read, never garbage."""
    path = tmp_path / "flipped.mcap"
    n = _write_bag(path)
    with open(path, "rb") as f:
        chunks = sorted(make_reader(f).get_summary().chunk_indexes, key=lambda c: c.chunk_start_offset)
    target = chunks[chunk]
    data = bytearray(path.read_bytes())
    start = target.chunk_start_offset + target.chunk_length // 2
    data[start:start + 16] = bytes(b ^ 0xA5 for b in data[start:start + 16])
    path.write_bytes(bytes(data))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        read = list(bag.read_bag(path))
    damaged = [w.message for w in caught if isinstance(w.message, bag.BagDamagedWarning)]
    assert damaged and damaged[0].messages_read == len(read) < n, (len(read), caught)
    assert [list(m.data) for _, _, m in read] == [[float(i)] * 8 for i in range(len(read))]
    before = [t for t in LOG_TIMES_NS[:n] if t < target.message_start_time]
    assert len(read) == len(before)  # every message of the intact chunks before the damaged one
    with pytest.raises(bag.BagDamaged):
        list(bag.read_bag(path, strict=True))
