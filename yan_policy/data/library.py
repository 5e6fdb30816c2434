"""The skill library on disk: the robot's policy, the skills it knows and their demonstrations.

Layout of a library folder:
    CURRENT                      name of the current version, e.g. "v000007" (replaced atomically)
    versions/v000007/
        manifest.json            skills, their cues and demo files, sha256 of every file
        policy/                  the policy checkpoint (model.safetensors + config.json)
        memory.safetensors       the policy's native memory (the lifetime part of its recurrent state,
                                 `PolicyBase.lifetime_state`), when it has one; older versions have none
    demos/<skill>/<id>.safetensors   demonstration episodes (immutable once written, see episode.py)

Crash safety: a new version is written into a temporary folder, fsync'ed, renamed into `versions/`,
and only then is CURRENT replaced (temp file + rename). A kill at any moment leaves CURRENT naming a
complete version. `load()` checks the sha256 of every file of the current version; a damaged version is
reported and the newest intact older version is used instead. The last `keep_versions` versions stay.
The memory file is checked like the weights (its sha256, then that it is a memory file of finite tensors
that fits the policy): a damaged one makes its version unusable, so the previous version (weights and
memory) is used. A version without one loads with a fresh memory (`self.memory` is None).

Exported skills (`export_skill` / `import_skill`) are one safetensors file: the skill's demonstrations
concatenated, with the metadata (name, cue, action mode, episode boundaries, format version) and a
sha256 of the tensors in its JSON header. Data only, no pickle; checked before use: the format and its
version, the content hash, the header's structure, skill names (a name becomes a folder: no paths),
every tensor's name, dtype and shape (through `Episode` validation), and that every episode is of the
file's skill. Anything else is refused with a LibraryError saying why.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.numpy import load_file
from safetensors.numpy import save as safetensors_bytes
from safetensors.torch import load_file as load_torch_file

from yan_policy.data.checkpoint import (
    atomic_write_bytes,
    fsync_dir,
    save_json_atomic,
    save_safetensors_atomic,
)
from yan_policy.data.episode import Episode

log = logging.getLogger(__name__)

LIBRARY_FORMAT_VERSION = 1
SKILL_FILE_FORMAT = "yan-dog-skill"
SKILL_FILE_VERSION = 1
MEMORY_FILE = "memory.safetensors"  # in a version folder, beside policy/
MEMORY_KIND = "yan-dog-lifetime-memory"  # its safetensors metadata "kind"
VERSION_PREFIX = "v"
VERSION_DIGITS = 6
HASH_CHUNK_BYTES = 1 << 20
SKILL_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")  # a skill name is a folder name: no paths
_TENSOR_KEY_RE = re.compile(r"ep(\d+)\.(stamps_s|camera|audio|joints|imu|action|label_mask)")
_STORED_DTYPES = {"stamps_s": "float64", "camera": "uint8", "audio": "int16", "joints": "float32",
                  "imu": "float32", "action": "float32", "label_mask": "uint8"}


class LibraryError(RuntimeError):
    """The library on disk cannot be used (nothing intact to load, or a refused import)."""


@dataclass
class SkillRecord:
    """What the library knows about one skill.

    Args:
        name: skill name (as in `sim.skills`).
        cue: the audio cue that asks for it.
        action_mode: the action space its demos are in.
        demos: demo episode files, relative to the library root.
        learn_seconds: CPU seconds spent learning it (all sessions).
        taught_at: unix time of the last teach session.
        eval_success: the last measured success rate (None if never evaluated).
    """

    name: str
    cue: str | None
    action_mode: str
    demos: list[str] = field(default_factory=list)
    learn_seconds: float = 0.0
    taught_at: float = 0.0
    eval_success: float | None = None

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def check_skill_name(name) -> str:
    """`name` if it is a valid skill name (letters, digits, '_' and '-', up to 64), else ValueError."""
    if not isinstance(name, str) or not SKILL_NAME_RE.fullmatch(name):
        raise ValueError(f"skill name {name!r} is not valid: use letters, digits, '_' or '-' (up to 64), "
                         f"starting with a letter or digit")
    return name


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(HASH_CHUNK_BYTES):
            h.update(chunk)
    return h.hexdigest()


class SkillLibrary:
    """A folder of skills and the policy that performs them (see the module docstring).

    Args:
        root: the library folder (created if missing).
        keep_versions: how many versions to keep on disk (>= 2, so there is always a fallback).
    """

    def __init__(self, root: str | os.PathLike, keep_versions: int = 3):
        if keep_versions < 2:
            raise ValueError(f"keep_versions must be >= 2 (a fallback must exist), got {keep_versions}")
        self.root = Path(root)
        self.keep_versions = keep_versions
        (self.root / "versions").mkdir(parents=True, exist_ok=True)
        (self.root / "demos").mkdir(exist_ok=True)
        self.skills: dict[str, SkillRecord] = {}
        self.version: str | None = None
        # the loaded version's native memory (state key -> tensor), None for a fresh one (see `load`)
        self.memory: dict[str, torch.Tensor] | None = None

    # --- versions ----------------------------------------------------------------------------------------
    def versions(self) -> list[str]:
        """Complete versions on disk, oldest first."""
        names = [p.name for p in (self.root / "versions").iterdir() if p.name.startswith(VERSION_PREFIX)]
        return sorted(n for n in names if n[1:].isdigit())

    def current(self) -> str | None:
        path = self.root / "CURRENT"
        # a damaged pointer (any bytes) names no version: load() then falls back to the newest intact one
        return path.read_bytes().decode(errors="replace").strip() if path.is_file() else None

    def _next_version(self) -> str:
        existing = [int(v[1:]) for v in self.versions()]
        return f"{VERSION_PREFIX}{(max(existing) + 1 if existing else 1):0{VERSION_DIGITS}d}"

    # --- demos -------------------------------------------------------------------------------------------
    def add_demo(self, episode: Episode) -> str:
        """Store a demonstration; returns its path relative to the root. The skill is recorded in the
        library (in memory) and becomes durable with the next `commit`."""
        rel = Path("demos") / check_skill_name(episode.skill) / f"{uuid.uuid4().hex[:12]}.safetensors"
        episode.save(self.root / rel)
        rec = self.skills.get(episode.skill)
        if rec is None:
            rec = self.skills[episode.skill] = SkillRecord(episode.skill, episode.cue, episode.action_mode)
        rec.demos.append(str(rel))
        rec.taught_at = time.time()
        return str(rel)

    def demos(self, skill: str | None = None) -> list[Episode]:
        """Load the demonstrations of one skill, or of every skill (in the order the skills were first
        taught, each skill's in the order they were added)."""
        names = [skill] if skill else list(self.skills)
        missing = [n for n in names if n not in self.skills]
        if missing:
            raise KeyError(f"skill {missing[0]!r} is not in the library; it has: {', '.join(self.skills)}")
        return [Episode.load(self.root / rel) for n in names for rel in self.skills[n].demos]

    # --- commit / load -----------------------------------------------------------------------------------
    def commit(self, policy, memory: dict[str, torch.Tensor] | None = None) -> str:
        """Write a new version holding `policy`, its native `memory` (the lifetime part of its recurrent
        state, `PolicyBase.lifetime_state`; {}: none) and the current skill records; returns its name.

        memory None carries the library's current memory (`self.memory`, from `load` or the last commit)
        into the new version, so a commit that never ran the robot (e.g. `yan-dog learn`) does not drop
        it; one that does not fit `policy` is then left out, with a warning. A memory given that does not
        fit (non-finite, other keys or shapes) is refused with a ValueError before anything is written.
        """
        carried = memory is None
        memory = dict((self.memory or {}) if carried else memory)
        problem = _memory_problem(memory, policy)
        if problem and carried:
            log.warning("skill library: the current memory is not carried into the new version: %s", problem)
            memory = {}
        elif problem:
            raise ValueError(f"memory: {problem}; not saved (a memory can be reset)")
        name = self._next_version()
        tmp = self.root / "versions" / f".tmp-{name}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        try:
            policy.save(tmp / "policy")
            if memory:
                save_safetensors_atomic(memory, tmp / MEMORY_FILE, {"kind": MEMORY_KIND})
            files = {
                str(p.relative_to(tmp)): _sha256(p)
                for p in sorted([*(tmp / "policy").rglob("*"), tmp / MEMORY_FILE])
                if p.is_file()
            }
            demo_hashes = {rel: _sha256(self.root / rel) for rec in self.skills.values() for rel in rec.demos}
            manifest = {
                "format_version": LIBRARY_FORMAT_VERSION,
                "version": name,
                "created_unix": time.time(),
                "skills": {n: r.to_dict() for n, r in self.skills.items()},
                # the order skills were first taught: the manifest's JSON sorts the keys, and a learner
                # built from this library must number the cues as the one that trained the policy did
                # (yan_policy.training.learner: classes in order of first appearance)
                "skill_order": list(self.skills),
                "files": files,
                "demo_files": demo_hashes,
            }
            save_json_atomic(manifest, tmp / "manifest.json")
            fsync_dir(tmp)
            os.rename(tmp, self.root / "versions" / name)
            fsync_dir(self.root / "versions")
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        atomic_write_bytes(self.root / "CURRENT", f"{name}\n".encode())
        self.version, self.memory = name, memory or None
        self._prune()
        return name

    def _prune(self) -> None:
        for stale in self.versions()[: -self.keep_versions]:
            shutil.rmtree(self.root / "versions" / stale, ignore_errors=True)
        for leftover in (self.root / "versions").glob(".tmp-*"):  # from a process killed mid-commit
            if not leftover.name.endswith(f"-{os.getpid()}"):
                shutil.rmtree(leftover, ignore_errors=True)

    def _verify(self, name: str) -> dict:
        vdir = self.root / "versions" / name
        manifest_path = vdir / "manifest.json"
        if not manifest_path.is_file():
            raise LibraryError(f"version {name}: manifest.json is missing")
        try:
            manifest = json.loads(manifest_path.read_text())
        except json.JSONDecodeError as e:
            raise LibraryError(f"version {name}: manifest.json is not valid JSON ({e})") from e
        if manifest.get("format_version") != LIBRARY_FORMAT_VERSION:
            raise LibraryError(f"version {name}: unsupported library format {manifest.get('format_version')}")
        for rel, digest in {**manifest["files"]}.items():
            path = vdir / rel
            if not path.is_file() or _sha256(path) != digest:
                raise LibraryError(f"version {name}: {rel} is missing or damaged (sha256 mismatch)")
        for rel, digest in manifest.get("demo_files", {}).items():
            path = self.root / rel
            if not path.is_file() or _sha256(path) != digest:
                raise LibraryError(f"version {name}: demo {rel} is missing or damaged (sha256 mismatch)")
        return manifest

    def load(self, load_policy):
        """Load the newest intact version: returns the policy (via `load_policy(dir)`), and fills
        `self.skills`. Returns None for an empty library. Damaged versions are logged and skipped."""
        current = self.current()
        candidates = self.versions()
        if current in candidates:  # CURRENT first, then older ones newest first
            candidates = [current] + [v for v in reversed(candidates) if v < current]
        else:
            candidates = list(reversed(candidates))
        if not candidates:
            return None
        errors = []
        for name in candidates:
            try:
                manifest = self._verify(name)
                policy = load_policy(self.root / "versions" / name / "policy")
                memory = self._load_memory(name, manifest, policy)
            except Exception as e:  # a damaged version must not stop the robot: try the previous one
                errors.append(f"{name}: {e}")
                log.error("skill library: version %s is unusable (%s); falling back to an older one", name, e)
                continue
            order = manifest.get("skill_order") or sorted(manifest["skills"])  # older versions: sorted
            order += [n for n in manifest["skills"] if n not in order]
            self.skills = {n: SkillRecord(**manifest["skills"][n]) for n in order if n in manifest["skills"]}
            self.version, self.memory = name, memory
            if name != current:
                log.warning("skill library: loaded %s instead of CURRENT=%s", name, current)
            return policy
        raise LibraryError("no intact version in the skill library:\n  " + "\n  ".join(errors))

    def _load_memory(self, name: str, manifest: dict, policy) -> dict[str, torch.Tensor] | None:
        """The version's memory file (sha256 already checked by `_verify`), checked: a memory file of
        finite tensors with exactly the policy's lifetime keys and shapes. None if the version has none
        (written before memories were saved): the policy then starts with a fresh memory."""
        if MEMORY_FILE not in manifest["files"]:
            return None
        path = self.root / "versions" / name / MEMORY_FILE
        try:
            with safe_open(str(path), framework="pt") as f:
                kind = (f.metadata() or {}).get("kind")
            memory = load_torch_file(str(path))
        except Exception as e:
            raise LibraryError(f"version {name}: {MEMORY_FILE} is not readable ({e})") from e
        if kind != MEMORY_KIND:
            raise LibraryError(f"version {name}: {MEMORY_FILE} is not a memory file (kind {kind!r})")
        problem = _memory_problem(memory, policy)
        if problem:
            raise LibraryError(f"version {name}: {MEMORY_FILE} {problem}")
        return memory

    # --- export / import ---------------------------------------------------------------------------------
    def export_skill(self, skill: str, path: str | os.PathLike) -> Path:
        """Write one skill (its record and demonstrations) to a single safetensors file."""
        episodes = self.demos(skill)
        rec = self.skills[skill]
        tensors: dict[str, np.ndarray] = {}
        meta_eps = []
        for i, ep in enumerate(episodes):
            arrays = {k: getattr(ep, k) for k in ("stamps_s", "camera", "audio", "joints", "imu", "action")}
            arrays["label_mask"] = ep.label_mask.astype(np.uint8)
            for k, v in arrays.items():
                if v is not None:
                    tensors[f"ep{i}.{k}"] = v
            meta_eps.append(ep.metadata())
        digest = _tensor_digest(tensors)
        header = {
            "format": SKILL_FILE_FORMAT,
            "format_version": SKILL_FILE_VERSION,
            "skill": rec.to_dict() | {"demos": []},
            "episodes": meta_eps,
            "sha256": digest,
        }
        atomic_write_bytes(Path(path), safetensors_bytes(tensors, metadata={"skill": json.dumps(header)}))
        return Path(path)

    @staticmethod
    def read_skill_file(path: str | os.PathLike) -> tuple[dict, list[Episode]]:
        """Read and check an exported skill file; raises LibraryError with a clear reason."""
        path = Path(path)
        try:
            with safe_open(str(path), framework="numpy") as f:
                header = json.loads((f.metadata() or {})["skill"])
            tensors = load_file(str(path))
        except Exception as e:
            raise LibraryError(f"{path} is not a yan-dog skill file: {e}") from e
        if not isinstance(header, dict):
            raise LibraryError(f"{path} is not a yan-dog skill file: its header is not a JSON object")
        if header.get("format") != SKILL_FILE_FORMAT or header.get("format_version") != SKILL_FILE_VERSION:
            raise LibraryError(
                f"{path}: format {header.get('format')!r} v{header.get('format_version')} is not "
                f"{SKILL_FILE_FORMAT!r} v{SKILL_FILE_VERSION}"
            )
        if _tensor_digest(tensors) != header.get("sha256"):
            raise LibraryError(f"{path}: content hash mismatch (the file was modified or damaged)")
        skill, metas = header.get("skill"), header.get("episodes")
        if not isinstance(skill, dict) or not isinstance(metas, list) or not metas:
            raise LibraryError(f"{path}: header needs a 'skill' object and a non-empty 'episodes' list")
        try:
            check_skill_name(skill.get("name"))
        except ValueError as e:
            raise LibraryError(f"{path}: {e}") from e
        for key, value in tensors.items():
            m = _TENSOR_KEY_RE.fullmatch(key)
            if m is None or int(m.group(1)) >= len(metas):
                raise LibraryError(f"{path}: unexpected tensor {key!r}")
            if str(value.dtype) != _STORED_DTYPES[m.group(2)]:
                raise LibraryError(f"{path}: tensor {key!r} has dtype {value.dtype}, expected "
                                   f"{_STORED_DTYPES[m.group(2)]}")
        episodes = []
        for i, meta in enumerate(metas):
            if not isinstance(meta, dict) or meta.get("skill") != skill["name"]:
                raise LibraryError(f"{path}: episode {i} is not of skill {skill['name']!r}")
            arrays = {k.split(".", 1)[1]: v for k, v in tensors.items() if k.startswith(f"ep{i}.")}
            try:
                episodes.append(Episode.from_stored(meta, arrays))
            except (ValueError, TypeError, KeyError, AttributeError) as e:
                raise LibraryError(f"{path}: episode {i} is malformed: {e!r}") from e
        return header, episodes

    def import_skill(self, path: str | os.PathLike, *, expect_action_dim: int | None = None) -> list[Episode]:
        """Add the demonstrations of an exported skill to this library (commit to make it durable;
        teach/learn to make the policy perform it). Refuses files that do not match this robot."""
        header, episodes = self.read_skill_file(path)
        name = header["skill"]["name"]
        if expect_action_dim is not None:
            dims = {ep.action.shape[1] for ep in episodes}
            if dims != {expect_action_dim}:
                raise LibraryError(
                    f"{path}: skill {name!r} has action dims {dims}, this policy needs {expect_action_dim}"
                )
        for ep in episodes:
            self.add_demo(ep)
        return episodes


def _memory_problem(memory: dict, policy) -> str | None:
    """Why `memory` cannot be `policy`'s native memory (non-finite values, other keys or shapes), or None.
    An empty memory (none) always fits."""
    if not memory:
        return None
    bad = sorted(k for k, v in memory.items()
                 if not (isinstance(v, torch.Tensor) and bool(torch.isfinite(v).all())))
    if bad:
        return f"holds non-finite values in {bad}"
    if not hasattr(policy, "lifetime_keys"):
        return None
    if set(memory) != set(policy.lifetime_keys()):
        return f"holds {sorted(memory)}, the policy's memory is {sorted(policy.lifetime_keys())}"
    try:
        policy.initial_state(keep=memory)
    except ValueError as e:
        return f"does not fit the policy: {e}"
    return None


def _tensor_digest(tensors: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for k in sorted(tensors):
        v = np.ascontiguousarray(tensors[k])
        h.update(k.encode())
        h.update(str(v.dtype).encode())
        h.update(str(v.shape).encode())
        h.update(v.tobytes())
    return h.hexdigest()
