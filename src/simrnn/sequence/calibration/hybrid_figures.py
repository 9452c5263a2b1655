"""Figures of the hybrid loop: the posterior per round, and where the simulations were placed."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.colors import BoundaryNorm
from matplotlib.ticker import MaxNLocator

from simrnn.plots import save_figure, subplots

#: written by :func:`plot_rounds` into the loop's directory.
ROUNDS_FIGURE = "rounds.png"


def plot_rounds(rounds: Sequence[dict], sim_params: np.ndarray, sim_round: np.ndarray, names: Sequence[str],
                path: str | Path) -> Path:
    """Left panels, one per parameter: posterior mean and 90 % interval against the round. Last two
    panels: the simulated points ``sim_params [S, P]`` in the first two parameters, coloured by the
    round ``sim_round [S]`` that placed them (0: the initial design), over the whole box and zoomed
    to the last posterior (its mean +- 6 stds), where the batches land."""
    num = len(names)
    fig, axes = subplots(1, num + 2, figsize=(3.4 * (num + 2), 3.0), squeeze=False, layout="constrained")
    k = [r["round"] for r in rounds]
    for p, (ax, name) in enumerate(zip(axes.flat, names, strict=False)):
        mean = [r["mean"][p] for r in rounds]
        ax.fill_between(k, [r["ci90"][p][0] for r in rounds], [r["ci90"][p][1] for r in rounds], alpha=0.3,
                        label="90 % interval")
        ax.plot(k, mean, "o-", label="mean")
        ax.set_xlabel("round")
        ax.set_ylabel(name)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.flat[0].legend(fontsize=7)
    y = sim_params[:, 1] if sim_params.shape[1] > 1 else np.zeros(len(sim_params))
    last = int(sim_round.max()) if len(sim_round) else 0
    colours = BoundaryNorm(np.arange(last + 2) - 0.5, ncolors=256)  # one colour per round
    centre, spread = np.asarray(rounds[-1]["mean"]), 6 * np.asarray(rounds[-1]["std"])
    for ax, title, zoom in ((axes.flat[num], "simulations placed", False),
                            (axes.flat[num + 1], "near the last posterior (mean +- 6 std)", True)):
        points = ax.scatter(sim_params[:, 0], y, c=sim_round, cmap="viridis", norm=colours, s=12)
        ax.set_xlabel(names[0])
        ax.set_ylabel(names[1] if len(names) > 1 else "")
        ax.set_title(title, fontsize=9)
        if zoom:
            ax.set_xlim(centre[0] - spread[0], centre[0] + spread[0])
            if len(names) > 1:
                ax.set_ylim(centre[1] - spread[1], centre[1] + spread[1])
    fig.colorbar(points, ax=axes.flat[num + 1], label="round (0: initial design)", ticks=MaxNLocator(integer=True))
    return save_figure(fig, path)
