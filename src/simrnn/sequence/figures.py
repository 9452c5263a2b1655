"""Figures of sequence predictions: one panel per output label, against axial strain, in physical units.

Predicted curves are dashed, true ones (when there are any) solid; each sequence's legend entry
names its parameters (``E 7.58, v 0.445, ..., pressure 0.2 MPa``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from simrnn.plots import colormap, save_figure, subplots

#: axis labels of GrainLearning's output labels (p, q in MPa); other labels are shown as they are.
LABEL_AXES = {"e": "void ratio e [-]", "p": "mean stress p [MPa]", "q": "deviatoric stress q [MPa]",
              "f0": "mean contact force f0", "a_c": "contact anisotropy a_c [-]",
              "a_n": "normal-force anisotropy a_n [-]", "a_t": "tangential-force anisotropy a_t [-]"}
#: units of parameter columns shown in legends.
PARAM_UNITS = {"pressure": " MPa"}


def strain_axis(inputs: np.ndarray, input_features: list[str]) -> tuple[np.ndarray, str]:
    """The x values ``[N, S]`` of the curves and their axis label.

    The axial strain ``e_z`` when the run has that input (as a fraction, compression positive),
    else the step index.
    """
    if "e_z" in input_features:
        return inputs[:, :, input_features.index("e_z")], "axial strain e_z [-]"
    n, steps = inputs.shape[:2]
    return np.broadcast_to(np.arange(steps, dtype=float), (n, steps)), "step"


def param_label(names: list[str], values: np.ndarray) -> str:
    """``"E 7.58, v 0.445, kr 0.478, eta 0.225, mu 56.1, pressure 0.2 MPa"`` for one sequence."""
    return ", ".join(f"{n} {float(v):.3g}{PARAM_UNITS.get(n, '')}" for n, v in zip(names, values, strict=True))


def plot_prediction_curves(x: np.ndarray, predicted: np.ndarray, predicted_steps: np.ndarray, labels: list[str],
                           path: str | Path, *, truth: np.ndarray | None = None, x_label: str = "step",
                           legends: list[str] | None = None, title: str = "") -> Path:
    """One panel per output label: predicted (dashed) and, when given, true (solid) curves.

    Args:
        x: ``[n, S]`` x value of every original step of each sequence (axial strain or step).
        predicted: ``[n, K, L]`` predictions in physical units; ``predicted_steps [K]`` the
            original step each estimates (indices into ``x``'s steps, all >= 0).
        truth: ``[n, S, L]`` true outputs, or None for new conditions.
        legends: one legend entry per sequence (e.g. its parameters, :func:`param_label`).
    """
    n, _, n_labels = predicted.shape
    cols = min(4, n_labels)
    rows = int(np.ceil(n_labels / cols))
    fig, axes = subplots(rows, cols, figsize=(3.4 * cols, 2.7 * rows + 0.35 * n), squeeze=False, layout="constrained")
    colors = colormap("tab10")(np.arange(n) % 10)
    for j in range(rows * cols):
        ax = axes.flat[j]
        if j >= n_labels:
            ax.axis("off")
            continue
        for i in range(n):
            name = legends[i] if legends is not None else f"sequence {i}"
            if truth is not None:
                ax.plot(x[i], truth[i, :, j], color=colors[i], lw=1.5, label=f"{name} (true)")
            ax.plot(x[i, predicted_steps], predicted[i, :, j], color=colors[i], lw=1.2, ls="--", label=name)
        ax.set_ylabel(LABEL_AXES.get(labels[j], labels[j]), fontsize=8)
        ax.set_xlabel(x_label, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    handles, names = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="outside lower center", fontsize=7, ncol=1 if truth is None else 2)
    fig.suptitle(title or ("predicted (dashed) vs true (solid)" if truth is not None else "predicted"))
    return save_figure(fig, path)
