"""Figures shared by every task, drawn with matplotlib's object API (atomic PNG writes).

simrnn never touches pyplot's global state: no backend switch, no figure registry. A figure is a
:class:`matplotlib.figure.Figure` with its own Agg canvas (:func:`subplots`), so importing or
using simrnn inside a notebook leaves the notebook's backend and open figures alone.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from simrnn.files import atomic_path


def subplots(nrows: int = 1, ncols: int = 1, *, squeeze: bool = True, **figure_kwargs):
    """``(figure, axes)`` like ``pyplot.subplots``, on a private Agg canvas (no pyplot state).

    ``figure_kwargs`` go to :class:`~matplotlib.figure.Figure` (``figsize``, ``layout`` ...).
    """
    fig = Figure(**figure_kwargs)
    FigureCanvasAgg(fig)
    return fig, fig.subplots(nrows, ncols, squeeze=squeeze)


def colormap(name: str):
    """A registered matplotlib colormap by name (``"tab10"``, ``"magma"`` ...)."""
    return matplotlib.colormaps[name]


def save_figure(fig: Figure, path: str | Path, dpi: int = 120, **savefig_kwargs) -> Path:
    """Save ``fig`` atomically as PNG (``bbox_inches="tight"`` unless given)."""
    savefig_kwargs.setdefault("bbox_inches", "tight")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png", **savefig_kwargs)
    return Path(path)


def plot_training_losses(history: list[dict[str, float]], path: str | Path, title: str = "training losses") -> Path:
    """Train and validation loss per epoch (log scale) from ``history.json`` entries, the best epoch marked.

    The best epoch is the one with the lowest ``val_loss`` (that of ``checkpoints/best.ckpt``);
    ``title`` names the model and run (e.g. ``"lstm, run 2026-11-23_10-00-00"``).
    """
    fig, ax = subplots(figsize=(6, 4))
    epochs = [h["epoch"] + 1 for h in history]  # drawn from 1, as training prints them (history.json: from 0)
    for key, label in (("train_loss", "train"), ("val_loss", "validation")):
        values = [h.get(key) for h in history]
        if any(v is not None for v in values):
            ax.plot(epochs, values, marker="o", label=label)
    scored = [(h["val_loss"], h["epoch"] + 1) for h in history if h.get("val_loss") is not None]
    if scored:
        best_loss, best_epoch = min(scored)
        ax.axvline(best_epoch, color="0.4", ls="--", lw=1)
        ax.plot([best_epoch], [best_loss], marker="*", ms=14, color="tab:red", ls="none",
                label=f"best: epoch {best_epoch}, val_loss {best_loss:.4g}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (MSE)")
    if history and all(h.get("train_loss", 1) > 0 for h in history):
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title(title)
    return save_figure(fig, path)
