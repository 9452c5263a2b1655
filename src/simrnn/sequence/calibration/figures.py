"""Figures of a calibration: final-ensemble curves vs observations, posteriors per iteration."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from simrnn.plots import save_figure, subplots

if TYPE_CHECKING:
    from simrnn.sequence.calibration.posterior import IterationStats


def plot_final_curves(control: np.ndarray, control_name: str, observed: np.ndarray, simulated: np.ndarray,
                      weights: np.ndarray, obs_names: Sequence[str], first_step: int, path: str | Path) -> Path:
    """One panel per observable: every sample of the final ensemble (opacity ~ posterior weight),
    the weighted mean, the most probable sample and the observation, against the control.

    Args:
        control: ``[T]``; observed: ``[num_obs, T]``; simulated: ``[N, num_obs, T]``; weights: ``[N]``.
        first_step: steps before it are not predicted by the surrogate (shaded).
    """
    num_obs = observed.shape[0]
    fig, axes = subplots(1, num_obs, figsize=(3.6 * num_obs, 3.2), squeeze=False,
                             layout="constrained")
    alpha = 0.05 + 0.6 * weights / max(weights.max(), 1e-300)
    best = int(np.argmax(weights))
    mean = np.einsum("n,not->ot", weights, simulated)
    for o, ax in enumerate(axes.flat):
        for i in np.argsort(weights):
            ax.plot(control, simulated[i, o], color="tab:blue", lw=0.6, alpha=float(alpha[i]))
        ax.plot(control, mean[o], color="tab:orange", lw=1.5, label="weighted mean")
        ax.plot(control, simulated[best, o], color="tab:red", lw=1.2, ls="--", label="most probable")
        ax.plot(control, observed[o], "k.", ms=2.5, label="observed")
        if first_step > 0:
            ax.axvspan(control[0], control[first_step - 1], color="0.85", label="not predicted")
        ax.set_xlabel(control_name)
        ax.set_title(obs_names[o])
        ax.grid(alpha=0.3)
    axes.flat[0].legend(fontsize=7)
    fig.suptitle(f"final ensemble ({len(weights)} samples) vs observation")
    return save_figure(fig, path)


def plot_posteriors(names: Sequence[str], history: Sequence[IterationStats],
                    param_ranges: Mapping[str, tuple[float, float]], reference: Mapping[str, float],
                    path: str | Path) -> Path:
    """One panel per parameter: the samples of each iteration coloured by posterior weight, the
    posterior mean +- std, and the known value (``reference``) where given."""
    cols = min(3, len(names))
    rows = int(np.ceil(len(names) / cols))
    fig, axes = subplots(rows, cols, figsize=(3.6 * cols, 2.9 * rows), squeeze=False,
                             layout="constrained")
    for j, ax in enumerate(axes.flat):
        if j >= len(names):
            ax.axis("off")
            continue
        for it in history:
            order = np.argsort(it.weights)
            ax.scatter(np.full(len(order), it.iteration), it.samples[order, j], c=it.weights[order],
                       cmap="viridis", s=8, vmin=0.0)
        ax.errorbar([it.iteration for it in history], [it.mean[j] for it in history],
                    yerr=[it.std[j] for it in history], color="tab:red", capsize=2, lw=1, label="mean +- std")
        if names[j] in reference:
            ax.axhline(reference[names[j]], color="k", ls=":", label="reference")
        ax.set_ylim(*param_ranges[names[j]])
        ax.set_title(names[j])
        ax.set_xlabel("iteration")
        ax.grid(alpha=0.3)
    axes.flat[0].legend(fontsize=7)
    fig.suptitle("parameter samples per iteration (colour: posterior weight)")
    return save_figure(fig, path)


def _label(name: str, unit: str) -> str:
    return f"{name} [{unit}]" if unit and unit != "-" else name


def plot_corner(result, path: str | Path) -> Path:
    """Corner plot of ``result.samples [M, P]`` (the ``corner`` package): 2-D densities below the
    diagonal, marginals with the 90 % interval on it, the truth (``result.reference``) in red."""
    import corner

    from simrnn.sequence.calibration.protocol import unit_of

    names = result.param_names
    truths = [result.reference.get(n) for n in names] if result.reference else None
    size = len(names)
    fig, _ = subplots(size, size, figsize=(2.0 * size + 1, 2.0 * size + 1))  # corner fills these axes
    corner.corner(result.samples, fig=fig, labels=[_label(n, unit_of(n)) for n in names], truths=truths,
                        truth_color="tab:red", quantiles=[0.05, 0.5, 0.95],
                        range=[result.param_ranges[n] for n in names], show_titles=True, title_fmt=".3g",
                        plot_datapoints=False, fill_contours=True, bins=25)
    fig.suptitle(f"posterior ({len(result.samples)} MCMC draws; red: truth)" if truths else
                 f"posterior ({len(result.samples)} MCMC draws)", y=1.02)
    return save_figure(fig, path)


def plot_predictive_curves(result, models: Sequence, path: str | Path) -> Path:
    """One row per experiment, one panel per observable: posterior-predictive curves (thin), their
    mean and the observation, against the control with units (e.g. axial strain, MPa)."""
    rows = len(result.experiments)
    cols = max(len(e["observables"]) for e in result.experiments)
    fig, axes = subplots(rows, cols, figsize=(3.6 * cols, 3.0 * rows), squeeze=False, layout="constrained")
    for r, (exp, model, curves, observed) in enumerate(zip(result.experiments, models, result.predictive,
                                                           result.observed, strict=True)):
        x = np.asarray(model.control)
        from simrnn.sequence.calibration.protocol import unit_of

        xlabel = unit_of(model.control_name) or model.control_name
        for o, ax in enumerate(axes[r]):
            if o >= len(exp["observables"]):
                ax.axis("off")
                continue
            name = exp["observables"][o]
            ax.plot(x, curves[:, :, o].T, color="tab:blue", lw=0.5, alpha=0.15)
            ax.plot(x, curves[:, :, o].mean(axis=0), color="tab:orange", lw=1.5, label="posterior mean")
            ax.plot(x, observed[:, o], "k.", ms=2.5, label="observed")
            if exp["first_step"] > 0:
                ax.axvspan(x[0], x[exp["first_step"] - 1], color="0.85", label="not predicted")
            ax.set_xlabel(f"{xlabel} ({model.control_name})" if xlabel != model.control_name else xlabel)
            ax.set_ylabel(_label(name, model.obs_units.get(name, unit_of(name))))
            fixed = ", ".join(f"{k}={v:g}" for k, v in exp["fixed"].items())
            ax.set_title(f"{name}" + (f" ({fixed})" if fixed else ""), fontsize=9)
            ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=7)
    fig.suptitle("observations vs posterior-predictive curves")
    return save_figure(fig, path)
