"""Validation helpers shared by the config dataclasses."""

from __future__ import annotations


def positive(name: str, value: float) -> None:
    """Raise a ValueError naming `name` unless `value` > 0."""
    if not value > 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
