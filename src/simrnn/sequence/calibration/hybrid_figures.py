"""Figures of the hybrid loop: the posterior per round, and where the simulations were placed."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from simrnn.plots import save_figure, subplots

#: written by :func:`plot_rounds` into the loop's directory.
ROUNDS_FIGURE = "rounds.png"


def plot_rounds(rounds: Sequence[dict], sim_params: np.ndarray, sim_round: np.ndarray, names: Sequence[str],
                path: str | Path) -> Path:
    """Left panels, one per parameter: posterior mean and 90 % interval against the round. Last panel:
    the simulated points ``sim_params [S, P]`` in the first two parameters, coloured by the round
    ``sim_round [S]`` that placed them (0: the initial design)."""
    num = len(names)
    fig, axes = subplots(1, num + 1, figsize=(3.4 * (num + 1), 3.0), squeeze=False, layout="constrained")
    k = [r["round"] for r in rounds]
    for p, (ax, name) in enumerate(zip(axes.flat, names, strict=False)):
        mean = [r["mean"][p] for r in rounds]
        ax.fill_between(k, [r["ci90"][p][0] for r in rounds], [r["ci90"][p][1] for r in rounds], alpha=0.3,
                        label="90 % interval")
        ax.plot(k, mean, "o-", label="mean")
        ax.set_xlabel("round")
        ax.set_ylabel(name)
    axes.flat[0].legend(fontsize=7)
    ax = axes.flat[num]
    y = sim_params[:, 1] if sim_params.shape[1] > 1 else np.zeros(len(sim_params))
    points = ax.scatter(sim_params[:, 0], y, c=sim_round, cmap="viridis", s=12)
    fig.colorbar(points, ax=ax, label="round")
    ax.set_xlabel(names[0])
    ax.set_ylabel(names[1] if len(names) > 1 else "")
    ax.set_title("simulations placed", fontsize=9)
    return save_figure(fig, path)
