"""Figures of sequence predictions: predicted vs true curves per output label."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from simrnn.plots import colormap, save_figure, subplots


def plot_prediction_curves(steps: np.ndarray, truth: np.ndarray, predicted: np.ndarray, labels: list[str],
                           path: str | Path, sequence_ids: list[int] | None = None) -> Path:
    """One panel per output label, true (solid) vs predicted (dashed) for a few sequences.

    Args:
        steps: original time-step indices ``[K]`` that ``predicted`` estimates.
        truth: ``[n, S, L]`` true outputs (all steps); predicted: ``[n, K, L]``.
    """
    n, _, n_labels = truth.shape
    cols = min(4, n_labels)
    rows = int(np.ceil(n_labels / cols))
    fig, axes = subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False, layout="constrained")
    colors = colormap("tab10")(np.arange(n) % 10)
    for j in range(rows * cols):
        ax = axes.flat[j]
        if j >= n_labels:
            ax.axis("off")
            continue
        for i in range(n):
            name = f"seq {sequence_ids[i]}" if sequence_ids is not None else f"seq {i}"
            ax.plot(np.arange(truth.shape[1]), truth[i, :, j], color=colors[i], lw=1.5, label=f"{name} true")
            ax.plot(steps, predicted[i, :, j], color=colors[i], lw=1.2, ls="--", label=f"{name} predicted")
        ax.set_title(labels[j])
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    axes.flat[0].legend(fontsize=6)
    fig.suptitle("predicted (dashed) vs true (solid)")
    return save_figure(fig, path)
