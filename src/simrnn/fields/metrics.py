"""Masked test metrics of field predictions, and the persistence baseline.

Every metric counts only cells where the window's ``mask`` is True (points present in every
step), over the nine IPF channels:

- ``mse``, ``mae``: pooled over all masked cells and channels of the split; ``mse/<channel>``,
  ``mae/<channel>`` per channel (``ipf_x:0`` ... ``ipf_z:2``);
- ``psnr``: torchmetrics' PSNR (``data_range=1``) of the masked cells, i.e.
  ``10 log10(1 / mse)``, higher is better;
- ``ssim``: torchmetrics' SSIM map (``data_range=1``, Gaussian sigma 1.5, i.e. an 11-cell window
  with reflected borders; a narrower one for images under 6 cells) averaged over the masked
  cells, higher is better;
- ``band_mse``: MSE of the cells whose target-step temperature lies in the solidification band
  ``t_solidus..t_liquidus`` (absent when no test cell is in the band);
- ``skill = 1 - mse / mse_persistence``: the gain over the *persistence* baseline, which predicts
  that the microstructure does not change (the last context frame's IPF). 1 is perfect, 0 is no
  better than persistence, negative is worse.

**Change categories** (:func:`change_categories`). Each masked cell is sorted by what happens
between the *reference* frame (the last true context frame, i.e. the persistence prediction) and
the target frame. A cell is *liquid* when its largest IPF channel is below ``LIQUID_THRESHOLD``
(0.5): molten cells are black (all nine channels 0), while every solid IPF colour has each RGB
triple scaled to a largest value of 1 (:mod:`simrnn.fields.ipf`). Then

- ``melt``: solid in the reference, liquid in the target (colour -> 0);
- ``solidify``: liquid in the reference, solid in the target (0 -> colour);
- ``recolour``: solid in both, some channel differs by more than ``RECOLOUR_TOLERANCE`` (0.05;
  the cache's float16 IPF is exact to 5e-4);
- ``unchanged``: everything else (liquid in both, or the same colour).

For each category ``<cat>/mse`` and ``<cat>/mae`` (pooled over its cells and the nine channels),
and, next to a baseline, ``<cat>/skill = 1 - <cat>/mse / <cat>/mse_persistence`` (left out for
``unchanged``, where persistence is exact up to the tolerance, and for an empty category).

Example::

    scores = FieldScores()
    scores.update(pred, target, mask, band, reference)   # [B, 9, H, W] x 2, [B, H, W] x 2, [B, 9, H, W]
    scores.compute()["mse"], scores.compute()["solidify/mse"]
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torchmetrics.functional.image import structural_similarity_index_measure
from torchmetrics.image import PeakSignalNoiseRatio

from simrnn.fields.pointcloud import IPF_COLUMNS

#: SSIM's Gaussian sigma (torchmetrics' and Wang et al.'s default; window 2 * int(3.5 sigma + 0.5) + 1 = 11).
SSIM_SIGMA = 1.5
#: metrics where a larger value is better (everything else: lower is better).
HIGHER_IS_BETTER = ("ssim", "psnr", "skill")
#: a cell is liquid (molten, black) when its largest IPF channel is below this.
LIQUID_THRESHOLD = 0.5
#: a solid cell changes colour when some IPF channel moves by more than this.
RECOLOUR_TOLERANCE = 0.05
#: change categories, in the order of their integer codes (see :func:`change_categories`).
CATEGORIES = ("unchanged", "melt", "solidify", "recolour")
#: categories that get a skill against a baseline (persistence is exact on ``unchanged``).
SKILL_CATEGORIES = ("melt", "solidify", "recolour")


def kelvin(future_temp: torch.Tensor, normalisation: dict[str, Any]) -> torch.Tensor:
    """Normalised temperature (any shape) -> kelvin, with a run's normalisation constants."""
    lo, hi = normalisation["t_ambient_K"], normalisation["t_max_train_K"]
    return lo + future_temp.float() * (hi - lo)


def band_mask(future_temp: torch.Tensor, normalisation: dict[str, Any], t_solidus: float | None,
              t_liquidus: float | None) -> torch.Tensor:
    """``future_temp [B, 1, H, W]`` -> ``[B, H, W]`` bool: target-step temperature in the band (K).

    A band of ``None`` (none could be derived from the data) holds no cell.
    """
    if t_solidus is None or t_liquidus is None:
        return torch.zeros(future_temp[:, 0].shape, dtype=torch.bool, device=future_temp.device)
    t = kelvin(future_temp[:, 0], normalisation)
    return (t >= t_solidus) & (t <= t_liquidus)


def persistence(context: torch.Tensor) -> torch.Tensor:
    """The persistence prediction: ``context [B, L, 10, H, W]`` -> last frame's IPF ``[B, 9, H, W]``."""
    return context[:, -1, 1:]


def is_liquid(ipf: torch.Tensor) -> torch.Tensor:
    """``ipf [B, 9, H, W]`` -> ``[B, H, W]`` bool: molten (largest channel below ``LIQUID_THRESHOLD``)."""
    return ipf.amax(dim=1) < LIQUID_THRESHOLD


def change_categories(reference: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Code per cell of what happens from ``reference`` to ``target`` (both ``[B, 9, H, W]`` IPF).

    Returns ``[B, H, W]`` int64 indices into :data:`CATEGORIES`: 0 unchanged, 1 melt (solid -> liquid),
    2 solidify (liquid -> solid), 3 recolour (solid -> another colour).
    """
    if reference.shape != target.shape or reference.dim() != 4:
        raise ValueError(f"reference and target must both be [batch, 9, height, width], "
                         f"got {list(reference.shape)} and {list(target.shape)}")
    was, now = is_liquid(reference), is_liquid(target)
    moved = (reference.float() - target.float()).abs().amax(dim=1) > RECOLOUR_TOLERANCE
    codes = torch.zeros(was.shape, dtype=torch.int64, device=reference.device)
    codes[~was & now] = CATEGORIES.index("melt")
    codes[was & ~now] = CATEGORIES.index("solidify")
    codes[~was & ~now & moved] = CATEGORIES.index("recolour")
    return codes


def ssim_sigma(height: int, width: int) -> float:
    """SSIM's Gaussian sigma: 1.5, or smaller where the window's reflected border (5 cells) does not fit."""
    pad = min(5, min(height, width) - 1)
    return SSIM_SIGMA if pad == 5 else pad / 3.5


class FieldScores:
    """Accumulates the masked errors of one predictor over batches; :meth:`compute` gives the metrics."""

    def __init__(self, channels: tuple[str, ...] = IPF_COLUMNS) -> None:
        self.channels = channels
        n = len(channels)
        self.sq = torch.zeros(n, dtype=torch.float64)
        self.abs = torch.zeros(n, dtype=torch.float64)
        self.cells = 0
        self.band_sq = 0.0
        self.band_cells = 0
        self.ssim_sum = 0.0
        n_cat = len(CATEGORIES)
        self.category_sq = torch.zeros(n_cat, dtype=torch.float64)
        self.category_abs = torch.zeros(n_cat, dtype=torch.float64)
        #: masked cells per change category (all zero when no reference frame was given).
        self.category_cells = torch.zeros(n_cat, dtype=torch.int64)
        self.psnr = PeakSignalNoiseRatio(data_range=1.0, sync_on_compute=False)  # local: rank 0 evaluates alone

    def update(self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, band: torch.Tensor,
               reference: torch.Tensor | None = None) -> None:
        """Add a batch: ``pred``/``target [B, C, H, W]`` in [0, 1], ``mask``/``band [B, H, W]`` bool.

        ``reference [B, C, H, W]``: the last true context frame; with it the errors are also split
        by :func:`change_categories`.
        """
        if pred.shape != target.shape or pred.dim() != 4 or pred.shape[1] != len(self.channels):
            raise ValueError(f"pred and target must both be [batch, {len(self.channels)}, height, width], "
                             f"got {list(pred.shape)} and {list(target.shape)}")
        if mask.shape != (pred.shape[0], *pred.shape[2:]) or band.shape != mask.shape:
            raise ValueError(f"mask and band must be [batch, height, width] = {[pred.shape[0], *pred.shape[2:]]}, "
                             f"got {list(mask.shape)} and {list(band.shape)}")
        pred, target = pred.detach().double().cpu(), target.detach().double().cpu()
        mask, band = mask.cpu().bool(), band.cpu().bool()
        m = mask[:, None].expand_as(pred)
        err = pred - target
        self.sq += (err.square() * m).sum(dim=(0, 2, 3))
        self.abs += (err.abs() * m).sum(dim=(0, 2, 3))
        self.cells += int(mask.sum())
        in_band = (band & mask)[:, None].expand_as(pred)
        self.band_sq += float((err.square() * in_band).sum())
        self.band_cells += int((band & mask).sum())
        if reference is not None:
            codes = change_categories(reference.detach().cpu(), target)[mask]  # [cells]
            cell_sq, cell_abs = (e.movedim(1, -1)[mask].sum(dim=1) for e in (err.square(), err.abs()))
            n_cat = len(CATEGORIES)
            self.category_sq += torch.bincount(codes, cell_sq, minlength=n_cat)
            self.category_abs += torch.bincount(codes, cell_abs, minlength=n_cat)
            self.category_cells += torch.bincount(codes, minlength=n_cat)
        if m.any():
            self.psnr.update(pred[m], target[m])
        # SSIM's Gaussian filtering in float32 (30x faster than float64 on CPU; agrees to ~1e-6), summed in float64
        _, ssim_map = structural_similarity_index_measure(
            pred.float(), target.float(), data_range=1.0, sigma=ssim_sigma(*pred.shape[2:]), reduction="none",
            return_full_image=True)
        self.ssim_sum += float((ssim_map.double() * m).sum())

    def compute(self) -> dict[str, float]:
        """``mse, mae, ssim, psnr, band_mse`` (if any band cell), ``<category>/mse``, ``<category>/mae``
        (categories with cells), ``mse/<channel>``, ``mae/<channel>``."""
        if self.cells == 0:
            raise ValueError("no masked cells were scored (every mask was False)")
        n = self.cells
        per_sq, per_abs = self.sq / n, self.abs / n
        out = {
            "mse": float(per_sq.mean()),
            "mae": float(per_abs.mean()),
            "ssim": self.ssim_sum / (n * len(self.channels)),
            "psnr": float(self.psnr.compute()),
        }
        if self.band_cells:
            out["band_mse"] = self.band_sq / (self.band_cells * len(self.channels))
        for name, sq, ab, cells in zip(CATEGORIES, self.category_sq, self.category_abs, self.category_cells,
                                       strict=True):
            if cells:
                out[f"{name}/mse"] = float(sq) / (int(cells) * len(self.channels))
                out[f"{name}/mae"] = float(ab) / (int(cells) * len(self.channels))
        out.update({f"mse/{c}": float(v) for c, v in zip(self.channels, per_sq, strict=True)})
        out.update({f"mae/{c}": float(v) for c, v in zip(self.channels, per_abs, strict=True)})
        return out


def skill(mse: float, mse_reference: float) -> float | None:
    """``1 - mse / mse_reference`` (1: perfect, 0: as good as the reference); None if the reference is exact."""
    return 1.0 - mse / mse_reference if mse_reference > 0 else None


def add_skills(metrics: dict[str, float], reference: dict[str, float]) -> dict[str, float]:
    """``metrics`` with ``skill`` and ``<category>/skill`` against ``reference``'s MSEs (where defined)."""
    out = dict(metrics)
    for prefix in ("", *(f"{c}/" for c in SKILL_CATEGORIES)):
        if f"{prefix}mse" in metrics and f"{prefix}mse" in reference:
            gain = skill(metrics[f"{prefix}mse"], reference[f"{prefix}mse"])
            if gain is not None:
                out[f"{prefix}skill"] = gain
    return out


def category_cells(scores: FieldScores) -> dict[str, int]:
    """Masked cells per change category of ``scores``."""
    return {name: int(n) for name, n in zip(CATEGORIES, scores.category_cells, strict=True)}


@torch.no_grad()
def score_batches(model: torch.nn.Module, batches: Iterable[dict[str, torch.Tensor]], normalisation: dict[str, Any],
                  band_K: tuple[float, float], device: torch.device | str = "cpu") -> dict[str, Any]:
    """Run ``model`` over ``batches`` (dataset items collated) and score it and the persistence baseline.

    Returns ``{"metrics": {..., "skill", "<category>/skill"}, "persistence": {...}, "cells": n,
    "band_cells": n, "category_cells": {category: n}}``.
    """
    model_scores, persistence_scores = FieldScores(), FieldScores()
    for batch in batches:
        context, future_temp = batch["context"].to(device), batch["future_temp"].to(device)
        pred = model(context, future_temp).float()
        band = band_mask(batch["future_temp"], normalisation, *band_K)
        held = persistence(batch["context"])
        model_scores.update(pred, batch["target"], batch["mask"], band, held)
        persistence_scores.update(held, batch["target"], batch["mask"], band, held)
    baseline = persistence_scores.compute()
    return {"metrics": add_skills(model_scores.compute(), baseline), "persistence": baseline,
            "cells": model_scores.cells, "band_cells": model_scores.band_cells,
            "category_cells": category_cells(model_scores)}
