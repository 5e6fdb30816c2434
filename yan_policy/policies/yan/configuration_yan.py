"""Configuration of the Yan backbone's parts: the MCSD mixer, the sparse MLP and the native memory."""

from __future__ import annotations

from dataclasses import dataclass

from yan_policy.validation import positive as _positive


@dataclass
class MCSDConfig:
    """MCSD mixer settings (DESIGN.md section 5).

    Args:
        n_channels: C, the number of slope/decay channels; d_model must be divisible by it.
        scan_chunk: chunk length L of the parallel (chunked) scan used for training.
        selective: input-dependent decay, enhancement and slope rates (the selective MCSD of
            DESIGN.md section 5, initialised at the paper's rates); False: the paper's fixed rates.
    """

    n_channels: int = 8
    scan_chunk: int = 64
    selective: bool = False

    def __post_init__(self) -> None:
        _positive("n_channels", self.n_channels)
        _positive("scan_chunk", self.scan_chunk)


@dataclass
class SparseConfig:
    """Input-dependent top-k ("brain-like") MLP settings.

    Args:
        hidden_mult: MLP hidden width H = hidden_mult * d_model.
        active_fraction: share of the H hidden neurons computed per token (k = round(H * fraction)).
        scorer_rank: rank r of the cheap low-rank scorer D -> r -> H that picks the neurons.
        scorer_loss_weight: weight of the auxiliary loss that teaches the scorer to predict which
            neurons the dense MLP would activate most (0 disables it).
    """

    hidden_mult: int = 4
    active_fraction: float = 0.25
    scorer_rank: int = 32
    scorer_loss_weight: float = 0.1

    def __post_init__(self) -> None:
        _positive("hidden_mult", self.hidden_mult)
        _positive("scorer_rank", self.scorer_rank)
        if not 0 < self.active_fraction <= 1:
            raise ValueError(f"active_fraction must be in (0, 1], got {self.active_fraction}")
        if self.scorer_loss_weight < 0:
            raise ValueError(f"scorer_loss_weight must be >= 0, got {self.scorer_loss_weight}")


@dataclass
class MemoryConfig:
    """Titans-style native memory settings.

    Args:
        enabled: include the memory layer in the Yan backbone.
        after_layer: the memory layer sits after this MCSD block (0-based).
        d_mem: width of keys, queries and values.
        hidden: hidden width of the two-layer memory MLP M(x) = W2 silu(W1 x).
        lr_max: upper bound of the inner learning rate theta_t (theta_t = lr_max * sigmoid(.)).
            The inner step on W2 scales with |silu(W1 k)|² ~ hidden / 3, so lr_max ~ 1 / hidden keeps
            a single write stable.
        momentum_max: upper bound of the momentum gate eta_t (eta_t = momentum_max * sigmoid(.)); must
            be < 1, or the writes (gradient descent with momentum) can grow without bound.
        forget_max: upper bound of the forget gate alpha_t (alpha_t = forget_max * sigmoid(.)), in (0, 1].
            1 (the default) leaves the gate free: trained on 250-tick windows it learned to open, and the
            memory empties itself within ~300 ticks of listening (docs/experiments.md, 2026-12-07: does
            Yan's native memory drift), so nothing carries across tries. A smaller bound keeps at least
            (1 - forget_max)^n of the memory after n ticks.
        forget_bias, momentum_bias, lr_bias: initial biases of the alpha_t, eta_t, theta_t gates
            (pre-sigmoid). forget_bias = -9 -> alpha ~ 1e-4 (times forget_max): ~90 % of a write survives
            1,000 steps.
        max_norm: after every write each memory layer is scaled back onto this many times its norm at
            initialisation (Frobenius, per sample: `memory.norm_bounds`; inf: no bound). The memory
            lives for the robot's lifetime, and the writes alone are not bounded: with every gate at
            its ceiling the default sizes reached NaN within ~50 ticks. At the default gates the
            norms shrink, so the bound only acts on a memory on its way to diverging
            (docs/experiments.md, 2026-12-07: native memory bound).
    """

    enabled: bool = True
    after_layer: int = 0
    d_mem: int = 64
    hidden: int = 128
    lr_max: float = 0.01
    momentum_max: float = 0.9
    forget_max: float = 1.0
    forget_bias: float = -9.0
    momentum_bias: float = 0.0
    lr_bias: float = -2.0
    max_norm: float = 4.0

    def __post_init__(self) -> None:
        for name in ("d_mem", "hidden", "lr_max", "max_norm"):
            _positive(name, getattr(self, name))
        if not 0.0 < self.forget_max <= 1.0:
            raise ValueError(f"forget_max must be in (0, 1], got {self.forget_max}")
        if not 0.0 <= self.momentum_max < 1.0:
            raise ValueError(f"momentum_max must be in [0, 1), got {self.momentum_max}")
        if self.after_layer < 0:
            raise ValueError(f"after_layer must be >= 0, got {self.after_layer}")
