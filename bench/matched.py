"""Parameter-matched baselines: each baseline's own width knob set so its parameter count is within
`TOLERANCE` of Yan's at the same config (DESIGN.md §7).

Everything the policies share stays shared: tokenizers, `d_model`, `n_layers`, the action and cue heads.
Only the backbone's width moves, through the knob each baseline owns in `PolicyConfig`:
- transformer: `transformer.hidden_mult` (its gated MLP's hidden width, in units of d_model);
- mlp: `mlp.hidden_mult` (each residual block's hidden width, in units of d_model);
- gru: `gru.hidden_size` (the GRU's state width, between a d_model input and a linear map back to
  d_model), in steps of `GRU_STEP`.
The value picked is the one whose count is closest to Yan's; a baseline that cannot get within the
tolerance raises (the bench must not run an unmatched comparison while saying it is matched).
"""

from __future__ import annotations

import dataclasses

import torch

# merge_overrides(base, extra): a section given in both merged key by key (the sessions' own merge)
from yan_dog.teach_setup import _merged as merge_overrides  # noqa: F401
from yan_policy.policies.config import PolicyConfig
from yan_policy.policies.registry import make_policy

TOLERANCE = 0.10
GRU_STEP = 8
KNOBS = {  # policy: (section, field, candidate values)
    "transformer": ("transformer", "hidden_mult", range(1, 65)),
    "mlp": ("mlp", "hidden_mult", range(1, 129)),
    "gru": ("gru", "hidden_size", range(GRU_STEP, 4097, GRU_STEP)),
}


def param_count(policy: str, config: PolicyConfig) -> int:
    """Trainable parameters of policy `policy` built from `config` (on the meta device: no memory)."""
    with torch.device("meta"):
        model = make_policy(policy, config)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def with_knob(config: PolicyConfig, section: str, name: str, value: int) -> PolicyConfig:
    """`config` with `config.<section>.<name>` = value."""
    changed = dataclasses.replace(getattr(config, section), **{name: value})
    return dataclasses.replace(config, **{section: changed})


def _closest(policy: str, config: PolicyConfig, target: int) -> tuple[int, int]:
    """(value, count) of the knob value whose count is closest to `target`; counts grow with the knob, so
    a binary search for the first value at or above `target`, then the better of it and the one before."""
    section, name, values = KNOBS[policy]
    values = list(values)
    counts: dict[int, int] = {}

    def count(i: int) -> int:
        if i not in counts:
            counts[i] = param_count(policy, with_knob(config, section, name, values[i]))
        return counts[i]

    lo, hi = 0, len(values) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if count(mid) < target:
            lo = mid + 1
        else:
            hi = mid
    best = min({lo, max(lo - 1, 0)}, key=lambda i: abs(count(i) - target))
    return values[best], count(best)


def matched_baselines(yan_config: PolicyConfig, policies=tuple(KNOBS), tolerance: float = TOLERANCE) -> dict:
    """{policy: {"overrides": {section: {knob: value}}, "params": n}} for "yan" (no overrides) and each
    baseline in `policies`, every count within `tolerance` of Yan's at `yan_config` (e.g. the teaching
    size that `yan_dog.teach_setup.build_policy` builds). ValueError if a baseline cannot get there."""
    target = param_count("yan", yan_config)
    out = {"yan": {"overrides": {}, "params": target}}
    for policy in policies:
        if policy == "yan":
            continue
        section, name, _ = KNOBS[policy]
        value, n = _closest(policy, yan_config, target)
        if abs(n - target) > tolerance * target:
            raise ValueError(f"{policy}: no {section}.{name} gets within {tolerance:.0%} of Yan's {target} "
                             f"parameters (closest: {value}, {n})")
        out[policy] = {"overrides": {section: {name: value}}, "params": n}
    return out
