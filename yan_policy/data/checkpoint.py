"""Atomic checkpoint files: safetensors weights / recurrent states and JSON, via temp file + os.replace.

A kill at any moment leaves either the old file or the new one, never a torn file: the bytes go to a
temporary file in the same directory, are flushed and fsync'ed, and then renamed over the target.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from safetensors.torch import save as safetensors_bytes


def fsync_dir(path: str | Path) -> None:
    """fsync a directory, so a rename or a new file inside it survives a power cut."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` atomically (same-directory temp file, fsync, os.replace)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_safetensors_atomic(tensors: Mapping[str, torch.Tensor], path: str | Path,
                            metadata: Mapping[str, str] | None = None) -> None:
    """Save tensors (detached, contiguous copies, so views and shared storage are fine)."""
    plain = {k: v.detach().contiguous().clone() for k, v in tensors.items()}
    atomic_write_bytes(path, safetensors_bytes(plain, metadata=dict(metadata) if metadata else None))


def save_json_atomic(obj: Any, path: str | Path) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def save_state(state: Mapping[str, torch.Tensor], path: str | Path) -> None:
    """Save a policy's recurrent state (for Yan: MCSD sums, memory weights and momenta, audio buffer)."""
    save_safetensors_atomic(state, path, {"kind": "recurrent_state"})


def load_state(path: str | Path) -> dict[str, torch.Tensor]:
    """Inverse of `save_state`."""
    return load_file(str(path))
