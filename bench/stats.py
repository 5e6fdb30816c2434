"""Means with 95 % intervals from a nested bootstrap over seeds and episodes (DESIGN.md §7).

One replicate resamples the training seeds with replacement, then each drawn seed's episodes with
replacement, and takes the mean of the seed means. The interval is the replicates' 2.5 and 97.5
percentiles; the point estimate is the mean of the observed seed means. "Ahead" means the intervals do not
overlap (`ahead`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

N_BOOT = 2000
LEVEL = 0.95


def _replicates(per_seed: Sequence[Sequence[float]], n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(n_boot,) bootstrap means of the seed means of `per_seed` (one sequence of episode values per seed)."""
    seeds = [np.asarray(v, np.float64) for v in per_seed]
    if not seeds or any(v.size == 0 for v in seeds):
        raise ValueError("need at least one seed, each with at least one episode")
    n = np.array([v.size for v in seeds])  # (S,)
    values = np.full((len(seeds), n.max()), np.nan)  # (S, N) padded
    for i, v in enumerate(seeds):
        values[i, : v.size] = v
    pick = rng.integers(0, len(seeds), (n_boot, len(seeds)))  # (B, S) seeds drawn
    m = n[pick]  # (B, S) their episode counts
    eps = (rng.random((n_boot, len(seeds), n.max())) * m[..., None]).astype(np.int64)  # (B, S, N) draws
    drawn = values[pick[..., None], eps]  # (B, S, N); only the first m of each row are used
    used = np.arange(n.max()) < m[..., None]  # (B, S, N)
    seed_means = np.where(used, drawn, 0.0).sum(-1) / m  # (B, S)
    return seed_means.mean(-1)  # (B,)


def bootstrap_ci(per_seed: Sequence[Sequence[float]], n_boot: int = N_BOOT,
                 rng: np.random.Generator | None = None, level: float = LEVEL) -> tuple[float, float, float]:
    """(mean, lo, hi): the mean of the seed means and its `level` interval, `per_seed` being one sequence
    of per-episode values (successes as 0 / 1) per seed."""
    return bootstrap_mean_ci([per_seed], n_boot, rng, level)


def bootstrap_mean_ci(groups: Sequence[Sequence[Sequence[float]]], n_boot: int = N_BOOT,
                      rng: np.random.Generator | None = None,
                      level: float = LEVEL) -> tuple[float, float, float]:
    """(mean, lo, hi) of the mean over `groups` (e.g. skills), each resampled on its own as in
    `bootstrap_ci` (its seeds are separate runs)."""
    rng = rng if rng is not None else np.random.default_rng(0)
    reps = np.mean([_replicates(g, n_boot, rng) for g in groups], axis=0)  # (B,)
    mean = float(np.mean([np.mean([np.mean(v) for v in g]) for g in groups]))
    lo, hi = np.quantile(reps, [(1 - level) / 2, (1 + level) / 2])
    return mean, float(lo), float(hi)


def episode_outcomes(rate: float, episodes: int) -> list[int]:
    """A seed's 0 / 1 outcomes from its success rate over `episodes` tries (the bootstrap needs only the
    count: the order of one seed's episodes does not matter)."""
    k = round(rate * episodes)
    return [1] * k + [0] * (episodes - k)


def ahead(a: Sequence[float], b: Sequence[float]) -> bool:
    """True when interval `a` = (mean, lo, hi) lies wholly above interval `b` (they do not overlap)."""
    return a[1] > b[2]


def fmt_ci(ci: Sequence[float] | None) -> str:
    """"0.95 [0.90, 1.00]" (or "-" for None)."""
    return "-" if ci is None else f"{ci[0]:.2f} [{ci[1]:.2f}, {ci[2]:.2f}]"
