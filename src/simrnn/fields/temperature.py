"""Training and scoring of the temperature surrogate (``simrnn fields train CACHE --target temperature``).

The same plane sequences as the microstructure models (:class:`~simrnn.fields.dataset.FieldSequenceDataset`)
serve here: the context's channel 0 (normalised temperature of the ``L`` context frames) is the
input and ``future_temp`` (the next frame's normalised temperature) the target. The loss is the
masked MSE of the normalised temperature (plus PredRNN's decoupling term).

Test metrics, in kelvin (``T = t_ambient + T_norm (t_max_train - t_ambient)``), over masked cells:

- ``mse_K2``, ``mae_K``: all cells;
- ``pool_mae_K``: cells inside the melt pool of the target step (liquid IPF, see
  :func:`~simrnn.fields.metrics.is_liquid`);
- ``band_mae_K``: cells whose true target temperature lies in the solidification band;
- ``skill = 1 - mse / mse_persistence``, with *persistence* the last context frame's temperature.

Example::

    scores = score_temperature(model, loader, normalisation, (1597.0, 1690.0))
    scores["metrics"]["mae_K"], scores["persistence"]["mae_K"]
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import lightning as L
import torch

from simrnn.fields.metrics import band_mask, is_liquid, kelvin, skill
from simrnn.fields.task import FieldsModule, masked_mse
from simrnn.registry import build_model

#: the temperature metrics where a larger value is better.
TEMPERATURE_HIGHER_IS_BETTER = ("skill",)


class TemperatureScores:
    """Accumulates masked kelvin errors of one temperature predictor; :meth:`compute` gives the metrics."""

    def __init__(self) -> None:
        self.sums = {"sq": 0.0, "abs": 0.0, "pool_abs": 0.0, "band_abs": 0.0}
        self.cells = {"all": 0, "pool": 0, "band": 0}

    def update(self, pred_K: torch.Tensor, target_K: torch.Tensor, mask: torch.Tensor, pool: torch.Tensor,
               band: torch.Tensor) -> None:
        """``pred_K``/``target_K [B, H, W]`` kelvin; ``mask``, ``pool``, ``band [B, H, W]`` bool."""
        if pred_K.shape != target_K.shape or pred_K.dim() != 3 or mask.shape != pred_K.shape:
            raise ValueError(f"pred_K, target_K and mask must all be [batch, height, width], got {list(pred_K.shape)}, "
                             f"{list(target_K.shape)} and {list(mask.shape)}")
        err = (pred_K.detach().double() - target_K.double()).cpu()
        mask, pool, band = mask.cpu().bool(), pool.cpu().bool() & mask.cpu().bool(), band.cpu().bool() & mask.cpu().bool()
        self.sums["sq"] += float(err.square()[mask].sum())
        self.sums["abs"] += float(err.abs()[mask].sum())
        self.sums["pool_abs"] += float(err.abs()[pool].sum())
        self.sums["band_abs"] += float(err.abs()[band].sum())
        self.cells["all"] += int(mask.sum())
        self.cells["pool"] += int(pool.sum())
        self.cells["band"] += int(band.sum())

    def compute(self) -> dict[str, float]:
        """``mse_K2``, ``mae_K`` and, where they have cells, ``pool_mae_K`` and ``band_mae_K``."""
        if not self.cells["all"]:
            raise ValueError("no masked cells were scored (every mask was False)")
        out = {"mse_K2": self.sums["sq"] / self.cells["all"], "mae_K": self.sums["abs"] / self.cells["all"]}
        for name in ("pool", "band"):
            if self.cells[name]:
                out[f"{name}_mae_K"] = self.sums[f"{name}_abs"] / self.cells[name]
        return out


def temperature_context(context: torch.Tensor) -> torch.Tensor:
    """The temperature model's input: ``context [B, L, 10, H, W]`` -> normalised T ``[B, L, 1, H, W]``."""
    return context[:, :, :1]


@torch.no_grad()
def score_temperature(model: torch.nn.Module, batches: Iterable[dict[str, torch.Tensor]],
                      normalisation: dict[str, Any], band_K: tuple[float, float],
                      device: torch.device | str = "cpu") -> dict[str, Any]:
    """Score ``model`` and the persistence baseline on ``batches``: ``{"metrics", "persistence", "cells"}``."""
    model_scores, held_scores = TemperatureScores(), TemperatureScores()
    for batch in batches:
        pred = model(temperature_context(batch["context"]).to(device)).float().cpu()
        target_K = kelvin(batch["future_temp"][:, 0], normalisation)
        pool, band = is_liquid(batch["target"]), band_mask(batch["future_temp"], normalisation, *band_K)
        model_scores.update(kelvin(pred[:, 0], normalisation), target_K, batch["mask"], pool, band)
        held_scores.update(kelvin(batch["context"][:, -1, 0], normalisation), target_K, batch["mask"], pool, band)
    metrics, baseline = model_scores.compute(), held_scores.compute()
    gain = skill(metrics["mse_K2"], baseline["mse_K2"])
    if gain is not None:
        metrics["skill"] = gain
    return {"metrics": metrics, "persistence": baseline, "cells": dict(model_scores.cells)}


class TemperatureModule(L.LightningModule):
    """Trains a registered temperature model on ``context T [B, L, 1, H, W] -> next T [B, 1, H, W]`` (normalised).

    Args: as :class:`~simrnn.fields.task.FieldsModule` (``loss`` uses only ``decouple_beta``).
    """

    def __init__(self, model_name: str, model_args: dict[str, Any], data_meta: dict[str, Any],
                 optim: dict[str, Any], loss: dict[str, Any]) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.model = build_model(model_name, **model_args)

    def forward(self, context: torch.Tensor) -> torch.Tensor:
        """``context [B, L, 1, H, W]`` -> ``[B, 1, H, W]`` normalised temperature."""
        return self.model(context)

    def _loss(self, pred: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return masked_mse(pred, batch["future_temp"], batch["mask"].float())

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        pred, aux = self.model.forward_with_aux(temperature_context(batch["context"]))
        loss = self._loss(pred, batch)
        n = len(batch["target"])
        if "decouple" in aux:
            self.log("train_decouple", aux["decouple"], on_step=False, on_epoch=True, batch_size=n, sync_dist=True)
            loss = loss + self.hparams.loss["decouple_beta"] * aux["decouple"].float()
        self.log("train_loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=n, sync_dist=True)
        return loss

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        pred = self(temperature_context(batch["context"]))
        loss = self._loss(pred, batch)
        n = len(batch["target"])
        norm = self.hparams.data_meta["normalisation"]
        scale = norm["t_max_train_K"] - norm["t_ambient_K"]
        mask = batch["mask"]
        mae = ((pred[:, 0] - batch["future_temp"][:, 0]).abs() * mask).sum() / mask.sum().clamp_min(1) * scale
        self.log("val_loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=n, sync_dist=True)
        self.log("val_mae_K", mae, on_step=False, on_epoch=True, batch_size=n, sync_dist=True)

    configure_optimizers = FieldsModule.configure_optimizers
