"""Functional forms of small modules, for the per-tick paths.

At one control tick per call the model runs a few hundred tiny ops, and `nn.Module.__call__` (hook
bookkeeping) costs about as much as a small op itself, ~3-5 µs. The per-tick paths (and the shared code
they use) therefore call these instead of `module(x)`; they compute exactly what the module does.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def linear(m: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    """`m(x)` for an nn.Linear."""
    return F.linear(x, m.weight, m.bias)


def rms_norm(m: nn.RMSNorm, x: torch.Tensor) -> torch.Tensor:
    """`m(x)` for an nn.RMSNorm."""
    return F.rms_norm(x, m.normalized_shape, m.weight, m.eps)
