"""Skill files from another robot are untrusted: data only (safetensors + a JSON header, never pickle),
checked for format, version, content hash, names, dtypes and shapes before anything is written. Every
malicious or mismatched file below is refused with a LibraryError that says why, and the importing
library is left untouched (no demo written, nothing outside its folder).

tests/test_teach_data.py already covers a flipped tensor byte (hash mismatch), a wrong action size and a
JSON file posing as a skill file."""

from __future__ import annotations

import json
import pickle
import struct

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import load_file
from safetensors.numpy import save as safetensors_bytes

from yan_policy.data.episode import Episode
from yan_policy.data.library import LibraryError, SkillLibrary, _tensor_digest

T = 6


def episode(skill="sit", seed=0) -> Episode:
    rng = np.random.default_rng(seed)
    return Episode(skill=skill, action_mode="hybrid", control_hz=50, stamps_s=np.arange(T) / 50.0,
                   camera=rng.integers(0, 255, (T, 8, 8, 3), dtype=np.uint8),
                   audio=rng.integers(-100, 100, (T, 320)).astype(np.int16),
                   joints=rng.normal(size=(T, 3, 12)).astype(np.float32),
                   imu=rng.normal(size=(T, 10)).astype(np.float32),
                   action=rng.normal(size=(T, 15)).astype(np.float32), seed=seed)


@pytest.fixture
def exported(tmp_path):
    """A valid exported skill file: (tensors, header) to tamper with."""
    lib = SkillLibrary(tmp_path / "robot_a")
    lib.add_demo(episode())
    path = lib.export_skill("sit", tmp_path / "sit.yanskill")
    with safe_open(str(path), framework="numpy") as f:
        header = json.loads(f.metadata()["skill"])
    return load_file(str(path)), header


def write(path, tensors, header, rehash=True):
    """A well-formed safetensors skill file; `rehash`: a consistent content hash (a careful attacker)."""
    if rehash:
        header = {**header, "sha256": _tensor_digest(tensors)}
    path.write_bytes(safetensors_bytes(tensors, metadata={"skill": json.dumps(header)}))
    return path


def assert_refused(tmp_path, path, match):
    target = SkillLibrary(tmp_path / "robot_b")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    with pytest.raises(LibraryError, match=match):
        target.import_skill(path, expect_action_dim=15)
    assert not target.skills
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before  # nothing written


class _Payload:
    """Pickling this runs `open(marker, "w")` on unpickling: what a malicious checkpoint would do."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_a_pickle_payload_renamed_to_a_skill_file_is_refused_and_never_run(tmp_path):
    """Fault: a pickle (with code that runs on load) named like a skill file.
    Outcome: refused as 'not a yan-dog skill file'; the payload never ran."""
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.yanskill"
    path.write_bytes(pickle.dumps({"skill": _Payload(marker)}))
    assert_refused(tmp_path, path, "not a yan-dog skill file")
    assert not marker.exists()


def test_an_oversized_or_lying_header_is_refused(tmp_path):
    """Fault: the 8-byte header length claims 1 TiB (or more than the file holds).
    Outcome: refused before anything is allocated or parsed."""
    for n in (1 << 40, 1000):
        path = tmp_path / f"huge{n}.yanskill"
        path.write_bytes(struct.pack("<Q", n) + b'{"__metadata__":{}}')
        assert_refused(tmp_path, path, "not a yan-dog skill file")


@pytest.mark.parametrize("name", ["../../outside", "/etc/cron.d/x", "a/b", "..", "", "x" * 65, 7, None])
def test_a_skill_name_that_is_a_path_is_refused(tmp_path, exported, name):
    """Fault: the skill's name (which becomes a folder) is a path, empty, too long or not a string, with
    a consistent hash. Outcome: refused naming the invalid skill name; nothing written anywhere."""
    tensors, header = exported
    header = {**header, "skill": {**header["skill"], "name": name},
              "episodes": [{**m, "skill": name} for m in header["episodes"]]}
    assert_refused(tmp_path, write(tmp_path / "evil.yanskill", tensors, header), "skill name")


def _with(tensors, **changes):
    out = dict(tensors)
    for key, value in changes.items():
        if value is None:
            out.pop(key)
        else:
            out[key] = value
    return out


def tensors_set(key, value):
    """A tampering that replaces (value: an array or fn(tensors) -> array) or removes (None) one tensor."""
    return lambda t, h: (_with(t, **{key: value(t) if callable(value) else value}), h)


def episode_meta(**changes):
    return lambda t, h: (t, {**h, "episodes": [{**h["episodes"][0], **changes}]})


def header_set(**changes):
    return lambda t, h: (t, {**h, **changes})


ZEROS = np.zeros
MISMATCHED = {
    "joints of another robot (11)": (tensors_set("ep0.joints", ZEROS((T, 3, 11), np.float32)),
                                     "joints must have shape"),
    "action of another size": (tensors_set("ep0.action", ZEROS((T, 12), np.float32)), "action dims"),
    "camera as float64": (tensors_set("ep0.camera", lambda t: t["ep0.camera"].astype(np.float64)),
                          "dtype float64, expected uint8"),
    "ticks disagree": (tensors_set("ep0.imu", ZEROS((T + 1, 10), np.float32)), "imu has 7 ticks"),
    "NaN joints": (tensors_set("ep0.joints", np.full((T, 3, 12), np.nan, np.float32)), "joints contains NaN"),
    "missing stamps": (tensors_set("ep0.stamps_s", None), "malformed"),
    "unexpected tensor": (tensors_set("ep0.__init__", ZEROS(1, np.uint8)), "unexpected tensor"),
    "tensor of an episode not in the header": (tensors_set("ep1.action", lambda t: t["ep0.action"]),
                                               "unexpected tensor"),
    "episode of another skill": (episode_meta(skill="bite"), "not of skill 'sit'"),
    "unknown action mode": (episode_meta(action_mode="x"), "action_mode must be one of"),
    "file format version 2": (header_set(format_version=2), "is not 'yan-dog-skill' v1"),
    "no episodes": (lambda t, h: ({}, {**h, "episodes": []}), "non-empty 'episodes'"),
    "episode meta not an object": (header_set(episodes=["sit"]), "not of skill"),
    "header is a list": (lambda t, h: (t, ["sit"]), "header is not a JSON object"),
}


@pytest.mark.parametrize("kind", MISMATCHED, ids=list(MISMATCHED))
def test_a_mismatched_or_malformed_skill_file_is_refused(tmp_path, exported, kind):
    """Fault: a file with a consistent content hash (a careful attacker, or another robot's format) but
    wrong shapes, dtypes, names, version or structure. Outcome: refused with a message naming the fault."""
    tensors, header = exported
    make, match = MISMATCHED[kind]
    tensors, header = make(tensors, header)
    path = tmp_path / "other.yanskill"
    if isinstance(header, dict):
        write(path, tensors, header)
    else:
        path.write_bytes(safetensors_bytes(tensors, metadata={"skill": json.dumps(header)}))
    assert_refused(tmp_path, path, match)


def test_a_header_hash_that_does_not_match_the_tensors_is_refused(tmp_path, exported):
    """Fault: tensors replaced, header (and its hash) kept. Outcome: 'content hash mismatch'."""
    tensors, header = exported
    tensors = _with(tensors, **{"ep0.action": np.ones((T, 15), np.float32)})
    assert_refused(tmp_path, write(tmp_path / "swapped.yanskill", tensors, header, rehash=False),
                   "content hash mismatch")


def test_a_valid_file_still_imports(tmp_path, exported):
    """Control: the untampered export (re-written the same way) is accepted."""
    tensors, header = exported
    target = SkillLibrary(tmp_path / "robot_b")
    (ep,) = target.import_skill(write(tmp_path / "ok.yanskill", tensors, header), expect_action_dim=15)
    assert ep.skill == "sit" and "sit" in target.skills
