"""Plots and tables for people: learning curves, success tables, the demo report."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: files only
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

SMOOTH_STEPS = 10  # moving-average window of the plotted loss


def _smooth(values: np.ndarray, window: int) -> np.ndarray:
    if len(values) < window:
        return values
    kernel = np.ones(window) / window
    return np.convolve(values, kernel, mode="valid")


def plot_learning_curves(curves: dict[str, list[dict]], path: str | os.PathLike) -> Path:
    """Action loss against CPU seconds of learning, one line per taught skill."""
    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    for skill, logs in curves.items():
        if not logs:
            continue
        t = np.array([log["train_seconds"] for log in logs])
        t = t - t[0]
        loss = np.array([log["action_loss"] for log in logs])
        s = _smooth(loss, SMOOTH_STEPS)
        ax.plot(t[len(t) - len(s) :], s, label=skill)
    ax.set_xlabel("CPU seconds of learning (since the skill's first demonstration)")
    ax.set_ylabel("action loss (L1, normalised)")
    ax.set_yscale("log")
    ax.set_title("Learning curves: one line per taught skill")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_success(table: dict[str, dict[str, float]], path: str | os.PathLike, title: str) -> Path:
    """Grouped bars: success rate per skill for each column (e.g. before / after teaching)."""
    skills = list(table)
    columns = list(next(iter(table.values()))) if table else []
    fig, ax = plt.subplots(figsize=(max(5, 1.3 * len(skills)), 3.6), dpi=110)
    width = 0.8 / max(1, len(columns))
    for j, col in enumerate(columns):
        vals = [table[s][col] for s in skills]
        ax.bar(np.arange(len(skills)) + (j - (len(columns) - 1) / 2) * width, vals, width, label=col)
    ax.set_xticks(np.arange(len(skills)), skills)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("success rate")
    ax.set_title(title)
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path


def markdown_table(headers: list[str], rows: list[list]) -> str:
    def cell(v):
        if isinstance(v, float):
            return f"{v:.2f}"
        return str(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)
