"""Figures of field predictions: one sample (target vs prediction) and a rollout's error per horizon."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from simrnn.plots import colormap, save_figure, subplots

_SHOWN = {"origin": "lower", "aspect": "auto", "interpolation": "nearest"}
_IPF = (("IPF-X", slice(0, 3)), ("IPF-Y", slice(3, 6)), ("IPF-Z", slice(6, 9)))


def _rgb(ipf: np.ndarray, channels: slice) -> np.ndarray:
    """``ipf [9, H, W]`` -> RGB image ``[H, W, 3]`` of one sample direction, clipped to [0, 1]."""
    return np.clip(np.moveaxis(ipf[channels], 0, -1).astype(np.float32), 0, 1)


def plot_prediction(sample: dict[str, Any], path: str | Path, plane: str = "xz", model: str = "model") -> Path:
    """Save a PNG of one predicted sample (see :func:`simrnn.fields.predict.predict_sample`).

    Row 1: the normalised temperature of the ``L`` context frames and of the predicted step.
    Row 2: IPF-X/Y/Z of the target as RGB, and the solidification band. Row 3: the prediction
    and the absolute error (mean over the nine channels; grey outside the mask). The title gives
    the masked metrics of the model and of the persistence baseline.
    """
    context, target, pred = sample["context"], sample["target"], sample["prediction"]
    length = context.shape[0]
    cols = max(length + 1, 4)
    fig, axes = subplots(3, cols, figsize=(3.2 * cols, 6.6), squeeze=False, constrained_layout=True)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    frames = [*context[:, 0], sample["future_temp"]]
    names = [f"step {int(s)}: T (context)" for s in sample["context_steps"]] + [f"step {sample['target_step']}: T (given)"]
    for col, (frame, name) in enumerate(zip(frames, names, strict=True)):
        im = axes[0, col].imshow(frame, cmap="inferno", vmin=0, vmax=1, **_SHOWN)
        axes[0, col].set_title(name, fontsize=9)
    fig.colorbar(im, ax=axes[0, len(frames) - 1], fraction=0.04, label="T (normalised)")
    for ax in axes[0, len(frames):]:
        ax.set_axis_off()
    for col, (name, channels) in enumerate(_IPF):
        axes[1, col].imshow(_rgb(target, channels), **_SHOWN)
        axes[1, col].set_title(f"{name} target", fontsize=9)
        axes[2, col].imshow(_rgb(pred, channels), **_SHOWN)
        axes[2, col].set_title(f"{name} {model}", fontsize=9)
    axes[1, 3].imshow(np.where(sample["mask"], sample["band"], np.nan), cmap="Greens", vmin=0, vmax=1, **_SHOWN)
    axes[1, 3].set_title("solidification band (target step)", fontsize=9)
    error = np.where(sample["mask"], np.abs(pred - target).mean(axis=0), np.nan)
    cmap = colormap("magma").with_extremes(bad="0.7")
    im = axes[2, 3].imshow(error, cmap=cmap, vmin=0, **_SHOWN)
    axes[2, 3].set_title("|prediction - target| (mean of 9)", fontsize=9)
    fig.colorbar(im, ax=axes[2, 3], fraction=0.04)
    for row in (1, 2):
        for ax in axes[row, 4:]:
            ax.set_axis_off()
    m, p = sample["metrics"], sample["persistence_metrics"]
    skill = f", skill {m['skill']:.3f}" if "skill" in m else ""
    fig.suptitle(
        f"{model}, {plane} slice {sample['slice_index']}, step {sample['target_step']}: "
        f"MSE {m['mse']:.4g}, MAE {m['mae']:.4g}, SSIM {m['ssim']:.3f}, PSNR {m['psnr']:.1f} dB{skill}\n"
        f"persistence (last context frame): MSE {p['mse']:.4g}, SSIM {p['ssim']:.3f}, PSNR {p['psnr']:.1f} dB",
        fontsize=10)
    return save_figure(fig, path)


def plot_rollout(records: list[dict[str, Any]], path: str | Path, title: str = "rollout") -> Path:
    """Save a PNG of the masked MSE and SSIM per horizon step, model vs persistence."""
    horizon = [r["horizon"] for r in records]
    fig, (ax_mse, ax_ssim) = subplots(1, 2, figsize=(9, 3.6), constrained_layout=True)
    for ax, key, label in ((ax_mse, "mse", "MSE (masked)"), (ax_ssim, "ssim", "SSIM (masked)")):
        ax.plot(horizon, [r[key] for r in records], marker="o", label="model")
        ax.plot(horizon, [r["persistence"][key] for r in records], marker="s", ls="--", label="persistence")
        ax.set_xlabel("horizon step")
        ax.set_ylabel(label)
        ax.set_xticks(horizon)
        ax.grid(alpha=0.3)
    ax_mse.legend()
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)


def ipf_key_image(size: int = 101) -> np.ndarray:
    """The cubic IPF colour key over the standard triangle ``[size, size, 4]`` RGBA (transparent outside).

    Pixel (row i, column j) is the direction ``r [001] + g [101] + b [111]`` with barycentric
    coordinates taken from the triangle with corners [001] (bottom left), [101] (bottom right) and
    [111] (top right), coloured by :func:`simrnn.fields.ipf.ipf_colour` (drawn in barycentric
    coordinates, not the stereographic projection).
    """
    from simrnn.fields.ipf import ipf_colour

    v = np.linspace(0, 1, size)
    x, y = np.meshgrid(v, v)  # corners: A (0, 0) = [001], B (1, 0) = [101], C (1, 1) = [111]
    b = y
    g = x - y
    r = 1 - x
    inside = (r >= 0) & (g >= 0) & (b >= 0)
    directions = r[..., None] * np.array([0, 0, 1.0]) + g[..., None] * np.array([1, 0, 1.0]) + b[..., None]
    rgb = ipf_colour(np.where(inside[..., None], directions, [0, 0, 1.0]).reshape(-1, 3)).reshape(size, size, 3)
    return np.concatenate([rgb, inside[..., None].astype(float)], axis=-1)


def plot_rollout_frames(frames: dict[str, Any], path: str | Path, cascade: dict[str, Any] | None = None,
                        title: str = "rollout") -> Path:
    """Save a PNG of one slice's rollout (see :func:`simrnn.fields.rollout.rollout_frames`).

    One column per horizon step. Rows: true IPF-X, the model's IPF-X (true temperatures),
    persistence (the last true context frame), then with ``cascade`` the model's IPF-X with the
    predicted temperatures; then the true temperature (K) and, with ``cascade``, the predicted one.
    Axes in metres; an IPF colour key and a temperature colour bar on the right.
    """
    horizon = len(frames["target_steps"])
    rows = [("truth", frames["target"]), ("model, true T", frames["pred"]), ("persistence", frames["held"])]
    if cascade is not None:
        rows.append(("model, predicted T", cascade["pred"]))
    t_rows = [("T (K), simulated", frames["temp_K"])]
    if cascade is not None:
        t_rows.append(("T (K), predicted", cascade["temp_given_K"]))
    n_rows = len(rows) + len(t_rows)
    fig, axes = subplots(n_rows, horizon + 1, figsize=(3.0 * horizon + 2.4, 1.9 * n_rows + 0.6), squeeze=False,
                         constrained_layout=True)
    shown = {"origin": "lower", "aspect": "auto", "interpolation": "nearest", "extent": frames["extent_m"]}
    t_lo = min(float(np.min(t)) for _, t in t_rows)
    t_hi = max(float(np.max(t)) for _, t in t_rows)
    for k in range(horizon):
        for row, (name, ipf) in enumerate(rows):
            axes[row, k].imshow(_rgb(ipf[k], slice(0, 3)), **shown)
            axes[row, k].set_title(f"step {frames['target_steps'][k]} (+{k + 1}): IPF-X {name}", fontsize=8)
        for row, (name, temp) in enumerate(t_rows, start=len(rows)):
            im = axes[row, k].imshow(temp[k], cmap="inferno", vmin=t_lo, vmax=t_hi, **shown)
            axes[row, k].set_title(f"step {frames['target_steps'][k]} (+{k + 1}): {name}", fontsize=8)
    for ax in axes[:, :horizon].ravel():
        ax.set_xlabel(f"{frames['axes'][0]} (m)", fontsize=7)
        ax.set_ylabel(f"{frames['axes'][1]} (m)", fontsize=7)
        ax.tick_params(labelsize=6)
        ax.ticklabel_format(style="sci", scilimits=(0, 0))
    for ax in axes[:, horizon]:
        ax.set_axis_off()
    key = axes[0, horizon]
    key.imshow(ipf_key_image(), origin="lower", extent=[0, 1, 0, 1])
    for text, xy in (("001", (0, -0.08)), ("101", (1, -0.08)), ("111", (1, 1.04))):
        key.annotate(text, xy, ha="center", fontsize=7, annotation_clip=False)
    key.set_title("IPF key (cubic)", fontsize=8)
    fig.colorbar(im, ax=axes[len(rows):, horizon], fraction=0.5, label="T (K)")
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)
