"""Figures shared by every task (matplotlib, Agg backend, atomic writes)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from simrnn.files import atomic_path


def save_figure(fig, path: str | Path, dpi: int = 120) -> Path:
    """Save ``fig`` atomically as PNG and close it."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")
    plt.close(fig)
    return Path(path)


def plot_training_losses(history: list[dict[str, float]], path: str | Path) -> Path:
    """Train and validation loss per epoch (log scale) from ``history.json`` entries."""
    fig, ax = plt.subplots(figsize=(6, 4))
    epochs = [h["epoch"] for h in history]
    for key, label in (("train_loss", "train"), ("val_loss", "validation")):
        values = [h.get(key) for h in history]
        if any(v is not None for v in values):
            ax.plot(epochs, values, marker="o", label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (MSE)")
    if history and all(h.get("train_loss", 1) > 0 for h in history):
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title("training losses")
    return save_figure(fig, path)
