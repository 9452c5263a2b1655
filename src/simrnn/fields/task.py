"""The fields task for the engine: plane sequences of a field cache -> CNN-LSTM / PredRNN surrogate.

The networks (:mod:`simrnn.fields.models`) are plain ``nn.Module``\\ s; :class:`FieldsModule` adds
the masked (optionally band-weighted) loss, PredRNN-V2's decoupling loss, Adam and an optional
cosine schedule, and stores ``model_name``, ``model_args`` and ``data_meta`` (normalisation
included) so a checkpoint alone rebuilds the model and feeds it. :class:`FieldsTask` is what
:func:`simrnn.engine.fit` calls; ``evaluate`` scores the BEST checkpoint on the test split (see
:mod:`simrnn.fields.metrics`).

Logged per epoch: ``train_loss`` (the training objective, decoupling term included),
``train_decouple`` (PredRNN), ``val_loss`` (the masked prediction loss only: it picks the best
checkpoint) and ``val_mse`` (unweighted masked MSE, comparable between ``--loss`` choices).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader

from simrnn.engine.taskspec import Evaluation, Task, TaskData
from simrnn.errors import UserInputError
from simrnn.fields.cache import open_cache
from simrnn.fields.config import FieldsConfig
from simrnn.fields.dataset import SPLITS, FieldSequenceDataset
from simrnn.fields.hardware import LAYOUTS, hardware_summary
from simrnn.fields.metrics import HIGHER_IS_BETTER, band_mask, score_batches
from simrnn.fields.pointcloud import IPF_COLUMNS
from simrnn.files import sha256_file
from simrnn.registry import build_model, register_task


def masked_mse(pred: torch.Tensor, target: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``sum(w (pred - target)^2) / (C sum(w))`` for ``pred``/``target [B, C, H, W]``, ``weights [B, H, W]``.

    Cells of weight 0 (outside the mask) do not count; with all weights 1 this is the plain MSE.
    """
    sq = (pred.float() - target.float()).square().sum(dim=1)
    return (sq * weights).sum() / (weights.sum() * pred.shape[1]).clamp_min(1e-12)


def loss_weights(batch: dict[str, torch.Tensor], loss: dict[str, Any], normalisation: dict[str, Any]) -> torch.Tensor:
    """Per-cell loss weights ``[B, H, W]``: the mask, times ``base_weight`` outside the band for "weighted"."""
    mask = batch["mask"].float()
    if loss["kind"] != "weighted":
        return mask
    band = band_mask(batch["future_temp"], normalisation, loss["t_solidus"], loss["t_liquidus"])
    return mask * torch.where(band, 1.0, loss["base_weight"])


class FieldsModule(L.LightningModule):
    """Trains a registered field model on ``(context [B,L,10,H,W], future_temp [B,1,H,W]) -> IPF [B,9,H,W]``.

    Args:
        model_name: registry name (``"cnn-lstm"``, ``"predrnn"``).
        model_args: constructor arguments of the model.
        data_meta: normalisation, plane, sequence length ... (see :meth:`FieldsTask.load_data`).
        optim: ``lr``, ``cosine_schedule``, ``epochs`` (the schedule's length).
        loss: ``kind`` ("mse" | "weighted"), ``t_solidus``, ``t_liquidus``, ``base_weight``, ``decouple_beta``.
    """

    def __init__(self, model_name: str, model_args: dict[str, Any], data_meta: dict[str, Any],
                 optim: dict[str, Any], loss: dict[str, Any]) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.model = build_model(model_name, **model_args)

    def forward(self, context: torch.Tensor, future_temp: torch.Tensor) -> torch.Tensor:
        """``context [B, L, 10, H, W]``, ``future_temp [B, 1, H, W]`` -> IPF ``[B, 9, H, W]`` in [0, 1]."""
        return self.model(context, future_temp)

    def _prediction_loss(self, pred: torch.Tensor, batch: dict[str, torch.Tensor], stage: str) -> torch.Tensor:
        weights = loss_weights(batch, self.hparams.loss, self.hparams.data_meta["normalisation"])
        loss = masked_mse(pred, batch["target"], weights)
        n = len(batch["target"])
        if stage == "val":
            mse = loss if self.hparams.loss["kind"] == "mse" else masked_mse(pred, batch["target"], batch["mask"].float())
            self.log("val_mse", mse, on_step=False, on_epoch=True, batch_size=n, sync_dist=True)
        return loss

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        pred, aux = self.model.forward_with_aux(batch["context"], batch["future_temp"])
        loss = self._prediction_loss(pred, batch, "train")
        n = len(batch["target"])
        beta = self.hparams.loss["decouple_beta"]
        if "decouple" in aux:
            self.log("train_decouple", aux["decouple"], on_step=False, on_epoch=True, batch_size=n, sync_dist=True)
            if beta > 0:
                loss = loss + beta * aux["decouple"].float()
        self.log("train_loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=n, sync_dist=True)
        return loss

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        loss = self._prediction_loss(self(batch["context"], batch["future_temp"]), batch, "val")
        self.log("val_loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=len(batch["target"]),
                 sync_dist=True)

    def configure_optimizers(self):
        o = self.hparams.optim
        optimizer = torch.optim.Adam(self.parameters(), lr=o["lr"])
        if not o["cosine_schedule"]:
            return optimizer
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, o["epochs"]))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "epoch"}}


class FieldsDataModule(L.LightningDataModule):
    """Loaders of the train/val/test plane-sequence datasets; training batches are shuffled every epoch.

    Shuffling is seeded by Lightning's ``seed_everything``; under DDP Lightning swaps in a
    shuffling ``DistributedSampler``. Validation and test keep the dataset order.
    """

    def __init__(self, datasets: dict[str, FieldSequenceDataset], batch_size: int, num_workers: int = 0) -> None:
        super().__init__()
        self.datasets = datasets
        self.batch_size = batch_size
        self.num_workers = num_workers

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        return DataLoader(self.datasets[split], batch_size=self.batch_size, shuffle=shuffle,
                          num_workers=self.num_workers, persistent_workers=self.num_workers > 0)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)


def evaluation_device(accelerator: str) -> torch.device:
    """Where to run evaluation and the hardware probe: CUDA if the run may use it and it exists, else CPU."""
    cuda = accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available()
    return torch.device("cuda" if cuda else "cpu")


class FieldsTask(Task):
    """LASERNet's microstructure surrogate: field cache -> plane sequences -> CNN-LSTM / PredRNN."""

    name = "fields"
    config_class = FieldsConfig
    resumable_keys = frozenset({"num_workers"})
    metrics = ("train_loss", "val_loss", "val_mse", "mse", "mae", "ssim", "psnr", "skill")  # per epoch, then test

    def load_data(self, cfg: FieldsConfig) -> TaskData:
        """Open the cache, build the three splits (normalised with the train split's constants)."""
        cache = open_cache(cfg.cache)
        options = {"plane": cfg.plane, "split_ratio": tuple(cfg.split_ratio), "seq_length": cfg.seq_length,
                   "preload": cfg.preload}
        train = FieldSequenceDataset(cache, split="train", **options)
        datasets = {"train": train}
        for split in SPLITS[1:]:
            datasets[split] = FieldSequenceDataset(cache, split=split, normalisation=train.normalisation, **options)
        described = train.describe()
        if min(described["image_size"]) < 2:
            raise UserInputError(f"{cfg.cache}: the {cfg.plane} plane is {described['image_size']} cells; "
                                 "the models need at least 2 x 2 (choose another plane).")
        data_meta = {
            "plane": cfg.plane,
            "split_ratio": list(cfg.split_ratio),
            "seq_length": cfg.seq_length,
            "image_size": described["image_size"],
            "n_slices": described["n_slices"],
            "context_channels": ["T_norm", *IPF_COLUMNS],
            "target_channels": list(IPF_COLUMNS),
            "normalisation": dict(train.normalisation),
            "solidification_band_K": [cfg.t_solidus, cfg.t_liquidus],
        }
        model_args = {
            "in_channels": described["context_channels"],
            "out_channels": described["target_channels"],
            "hidden_channels": cfg.hidden_channels,
            "n_layers": cfg.rnn_layers,
            "skip": cfg.skip,
            "encoder_channels": list(cfg.encoder_channels),
            "residual": cfg.residual,
        }
        record = {
            "file": str(Path(cfg.cache).resolve()),
            "sha256": sha256_file(cfg.cache),
            "grid": list(cache.shape[1:]),
            **{k: described[k] for k in ("plane", "split_ratio", "seq_length", "image_size", "n_slices", "steps",
                                         "skipped_steps", "n_samples")},
            "kernels": hardware_summary(evaluation_device(cfg.accelerator)),
        }
        datamodule = FieldsDataModule(datasets, cfg.batch_size, cfg.num_workers)
        return TaskData(datamodule, data_meta, model_args, record)

    def build_module(self, cfg: FieldsConfig, data: TaskData) -> FieldsModule:
        optim = {"lr": cfg.lr, "cosine_schedule": cfg.cosine_schedule, "epochs": cfg.epochs}
        loss = {"kind": cfg.loss, "t_solidus": cfg.t_solidus, "t_liquidus": cfg.t_liquidus,
                "base_weight": cfg.base_weight, "decouple_beta": cfg.decouple_beta}
        module = FieldsModule(cfg.model, data.model_args, data.data_meta, optim, loss)
        module.model.layout = LAYOUTS[data.record["kernels"]["conv_layout"]]  # timed on the training device
        return module

    def evaluate(self, model: torch.nn.Module, data: TaskData, cfg: FieldsConfig) -> Evaluation:
        """Masked test metrics of ``model`` (fp32) and of the persistence baseline; see :mod:`.metrics`."""
        device = evaluation_device(cfg.accelerator)
        scores = score_batches(model.to(device), data.datamodule.test_dataloader(),
                               data.data_meta["normalisation"], tuple(data.data_meta["solidification_band_K"]),
                               device)
        n_samples = len(data.datamodule.datasets["test"])
        return Evaluation(
            metrics=scores["metrics"],
            baselines={"persistence": scores["persistence"]},
            details={"n_test_samples": n_samples, "scored_cells": scores["cells"],
                     "band_cells": scores["band_cells"], "solidification_band_K": [cfg.t_solidus, cfg.t_liquidus],
                     "evaluated_on": str(device), "precision": "32-true"},
            higher_is_better=HIGHER_IS_BETTER,
        )


register_task(FieldsTask())
