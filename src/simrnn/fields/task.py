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

import warnings
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import lightning as L
import torch
from torch.utils.data import DataLoader

from simrnn.engine.taskspec import Evaluation, Task, TaskData
from simrnn.errors import UserInputError
from simrnn.fields.cache import open_cache
from simrnn.fields.config import FieldsConfig
from simrnn.fields.curriculum import predict_sequence, sequence_frames, true_frame_probabilities
from simrnn.fields.dataset import SPLITS, FieldSequenceDataset
from simrnn.fields.hardware import LAYOUTS, hardware_summary
from simrnn.fields.metrics import (
    CATEGORIES,
    HIGHER_IS_BETTER,
    band_mask,
    change_categories,
    persistence,
    score_batches,
)
from simrnn.fields.pointcloud import IPF_COLUMNS
from simrnn.fields.predict import META_KEYS
from simrnn.files import sha256_file
from simrnn.registry import build_model, register_task


@runtime_checkable
class FieldSurrogate(Protocol):
    """What :class:`FieldsModule` needs of a registered field model (``cnn-lstm``, ``predrnn`` ...).

    ``forward(context [B, L, 10, H, W], future_temp [B, 1, H, W]) -> IPF [B, 9, H, W]``, and
    ``forward_with_aux`` returning the same prediction plus auxiliary training losses
    (``{"decouple": scalar}`` for PredRNN-V2, ``{}`` otherwise).
    """

    def __call__(self, context: torch.Tensor, future_temp: torch.Tensor) -> torch.Tensor: ...

    def forward_with_aux(self, context: torch.Tensor, future_temp: torch.Tensor
                         ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]: ...


def masked_mse(pred: torch.Tensor, target: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``sum(w (pred - target)^2) / (C sum(w))`` for ``pred``/``target [B, C, H, W]``, ``weights [B, H, W]``.

    Cells of weight 0 (outside the mask) do not count; with all weights 1 this is the plain MSE.
    """
    sq = (pred.float() - target.float()).square().sum(dim=1)
    return (sq * weights).sum() / (weights.sum() * pred.shape[1]).clamp_min(1e-12)


def loss_weights(batch: dict[str, torch.Tensor], loss: dict[str, Any], normalisation: dict[str, Any],
                 band_K: tuple[float, float]) -> torch.Tensor:
    """Per-cell loss weights ``[B, H, W]``: the mask, times ``change_weight`` on changing cells for
    "change", times ``base_weight`` outside the band ``band_K`` for "weighted"."""
    mask = batch["mask"].float()
    if loss["kind"] == "change":
        changing = change_categories(persistence(batch["context"]), batch["target"]) != 0
        return mask * torch.where(changing, loss["change_weight"], 1.0)
    if loss["kind"] == "weighted":
        band = band_mask(batch["future_temp"], normalisation, *band_K)
        return mask * torch.where(band, 1.0, loss["base_weight"])
    return mask


class FieldsModule(L.LightningModule):
    """Trains a registered field model on ``(context [B,L,10,H,W], future_temp [B,1,H,W]) -> IPF [B,9,H,W]``.

    Args:
        model_name: registry name (``"cnn-lstm"``, ``"predrnn"``).
        model_args: constructor arguments of the model.
        data_meta: normalisation, plane, sequence length ... (see :meth:`FieldsTask.load_data`).
        optim: ``lr``, ``cosine_schedule``, ``epochs`` (the schedule's length).
        loss: ``kind`` ("change" | "mse" | "weighted"), ``change_weight``, ``base_weight``, ``decouple_beta``
            (the band of "weighted" is ``data_meta["solidification_band_K"]``).
        curriculum: ``train_horizon``, ``sampling``, ``sampling_ramp`` (:mod:`.curriculum`); None or
            horizon 1 with sampling "off": one frame predicted from the true context.
    """

    def __init__(self, model_name: str, model_args: dict[str, Any], data_meta: dict[str, Any],
                 optim: dict[str, Any], loss: dict[str, Any], curriculum: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.model: FieldSurrogate = build_model(model_name, **model_args)
        if not isinstance(self.model, FieldSurrogate):
            raise TypeError(f"field model {model_name!r} must implement FieldSurrogate (forward_with_aux)")

    def forward(self, context: torch.Tensor, future_temp: torch.Tensor) -> torch.Tensor:
        """``context [B, L, 10, H, W]``, ``future_temp [B, 1, H, W]`` -> IPF ``[B, 9, H, W]`` in [0, 1]."""
        return self.model(context, future_temp)

    def _prediction_loss(self, pred: torch.Tensor, batch: dict[str, torch.Tensor], stage: str) -> torch.Tensor:
        meta = self.hparams.data_meta
        weights = loss_weights(batch, self.hparams.loss, meta["normalisation"], tuple(meta["solidification_band_K"]))
        loss = masked_mse(pred, batch["target"], weights)
        n = len(batch["target"])
        if stage == "val":
            mse = loss if self.hparams.loss["kind"] == "mse" else masked_mse(pred, batch["target"], batch["mask"].float())
            self.log("val_mse", mse, on_step=False, on_epoch=True, batch_size=n, sync_dist=True)
        return loss

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        n = len(batch["target"])
        c = self.hparams.get("curriculum") or {"train_horizon": 1, "sampling": "off"}
        if c["train_horizon"] == 1 and c["sampling"] == "off":
            pred, aux = self.model.forward_with_aux(batch["context"], batch["future_temp"])
            loss = self._prediction_loss(pred, batch, "train")
            decouple = aux.get("decouple")
        else:
            loss, decouple = self._sequence_loss(batch, c)
        beta = self.hparams.loss["decouple_beta"]
        if decouple is not None:
            self.log("train_decouple", decouple, on_step=False, on_epoch=True, batch_size=n, sync_dist=True)
            if beta > 0:
                loss = loss + beta * decouple.float()
        self.log("train_loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=n, sync_dist=True)
        return loss

    def _sequence_loss(self, batch: dict[str, torch.Tensor], c: dict[str, Any]
                       ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Mean prediction loss over the frames of a training sequence (:mod:`.curriculum`), and the
        mean decoupling loss (PredRNN) or None."""
        progress = self.global_step / max(1, self.trainer.estimated_stepping_batches)
        p_context, p_forecast = true_frame_probabilities(progress, c["sampling"], c["sampling_ramp"])
        n = len(batch["target"])
        self.log("train_p_true_context", p_context, on_step=False, on_epoch=True, batch_size=n)
        self.log("train_p_true_forecast", p_forecast, on_step=False, on_epoch=True, batch_size=n)
        temps, ipf = sequence_frames(batch)
        frames = predict_sequence(self.model, temps, ipf, self.hparams.data_meta["seq_length"], c["sampling"],
                                  p_context, p_forecast)
        losses, decouples = [], []
        for j, pred, aux in frames:
            # weights and change categories of frame j: from the true frame j - 1 to the true frame j
            step = {"context": torch.cat([temps[:, j - 1:j], ipf[:, j - 1:j]], dim=2), "future_temp": temps[:, j],
                    "target": ipf[:, j], "mask": batch["mask"]}
            losses.append(self._prediction_loss(pred, step, "train"))
            if "decouple" in aux:
                decouples.append(aux["decouple"])
        return torch.stack(losses).mean(), (torch.stack(decouples).mean() if decouples else None)

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
    monitor = "val_loss"  # the masked prediction loss (see the module docstring)
    meta_keys = META_KEYS
    #: per epoch, then test metrics of either target (see :mod:`.metrics` and :mod:`.temperature`)
    metrics = ("train_loss", "val_loss", "val_mse", "mse", "mae", "ssim", "psnr", "skill", "band_mse",
               *(f"{c}/{m}" for c in CATEGORIES for m in ("mse", "mae", "skill")),
               *(f"{m}/{c}" for m in ("mse", "mae") for c in IPF_COLUMNS),
               "mse_K2", "mae_K", "pool_mae_K", "band_mae_K")

    def load_data(self, cfg: FieldsConfig) -> TaskData:
        """Open the cache, build the three splits (normalised with the train split's constants)."""
        cache = open_cache(cfg.cache)
        options = {"plane": cfg.plane, "split_ratio": tuple(cfg.split_ratio), "seq_length": cfg.seq_length,
                   "preload": cfg.preload}
        train_length = cfg.seq_length + cfg.train_horizon - 1  # the curriculum's longer training sequences
        train = FieldSequenceDataset(cache, split="train", **{**options, "seq_length": train_length})
        datasets = {"train": train}
        for split in SPLITS[1:]:
            datasets[split] = FieldSequenceDataset(cache, split=split, normalisation=train.normalisation, **options)
        described = train.describe()
        band, band_source = self._band(cfg, cache, train)
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
            "solidification_band_K": list(band),
            "solidification_band_source": band_source,
        }
        data_meta["target"] = cfg.target
        if cfg.target == "temperature":
            data_meta.update(context_channels=["T_norm"], target_channels=["T_norm"])
        model_args = {"in_channels": 1, "out_channels": 1} if cfg.target == "temperature" else {
            "in_channels": described["context_channels"], "out_channels": described["target_channels"],
            "output": cfg.output}
        model_args.update({
            "hidden_channels": cfg.hidden_channels,
            "n_layers": cfg.rnn_layers,
            "skip": cfg.skip,
            "encoder_channels": list(cfg.encoder_channels),
        })
        record = {
            "file": str(Path(cfg.cache).resolve()),
            "sha256": sha256_file(cfg.cache),
            "grid": list(cache.shape[1:]),
            **{k: described[k] for k in ("plane", "split_ratio", "image_size", "n_slices", "steps", "skipped_steps")},
            "seq_length": cfg.seq_length,
            "train_sequence_frames": train_length + 1,
            "n_samples": {split: len(ds) for split, ds in datasets.items()},
            "kernels": hardware_summary(evaluation_device(cfg.accelerator)),
            "precision": {"setting": cfg.precision, "chosen_by": getattr(cfg, "precision_choice", "given")},
        }
        datamodule = FieldsDataModule(datasets, cfg.batch_size, cfg.num_workers)
        return TaskData(datamodule, data_meta, model_args, record)

    @staticmethod
    def _band(cfg: FieldsConfig, cache, train: FieldSequenceDataset
              ) -> tuple[tuple[float, float] | tuple[None, None], str]:
        """The solidification band (K) and where it came from: the settings, or the train steps' data."""
        from simrnn.fields.band import derive_band

        if cfg.t_solidus is not None:
            return (cfg.t_solidus, cfg.t_liquidus), "given"
        steps = [t for t in train.blocks["train"] if t not in train.skipped_steps]
        band = derive_band(cache, steps)
        if band is not None:
            return band, "derived from the train steps (simrnn.fields.band)"
        if cfg.loss == "weighted":
            raise UserInputError(f"{cfg.cache}: no cell solidifies between consecutive train steps, so the "
                                 "solidification band of loss weighted cannot be derived; give t_solidus and "
                                 "t_liquidus (K).", key="loss")
        return (None, None), ("none: no cell solidifies between consecutive train steps (no band_mse; give "
                              "t_solidus and t_liquidus for one)")

    def build_module(self, cfg: FieldsConfig, data: TaskData) -> FieldsModule:
        optim = {"lr": cfg.lr, "cosine_schedule": cfg.cosine_schedule, "epochs": cfg.epochs}
        loss = {"kind": cfg.loss, "change_weight": cfg.change_weight, "base_weight": cfg.base_weight,
                "decouple_beta": cfg.decouple_beta}
        if cfg.target == "temperature":
            from simrnn.fields.temperature import TemperatureModule
            from simrnn.fields.temperature_models import TEMPERATURE_PREFIX

            module = TemperatureModule(TEMPERATURE_PREFIX + cfg.model, data.model_args, data.data_meta, optim, loss)
        else:
            curriculum = {"train_horizon": cfg.train_horizon, "sampling": cfg.sampling,
                          "sampling_ramp": cfg.sampling_ramp}
            module = FieldsModule(cfg.model, data.model_args, data.data_meta, optim, loss, curriculum)
        module.model.layout = LAYOUTS[data.record["kernels"]["conv_layout"]]  # timed on the training device
        return module

    def evaluate(self, model: torch.nn.Module, data: TaskData, cfg: FieldsConfig) -> Evaluation:
        """Masked test metrics of ``model`` (fp32) and of the persistence baseline; see :mod:`.metrics`."""
        device = evaluation_device(cfg.accelerator)
        band_K = tuple(data.data_meta["solidification_band_K"])
        if cfg.target == "temperature":
            return self._evaluate_temperature(model.to(device), data, band_K, device)
        scores = score_batches(model.to(device), data.datamodule.test_dataloader(),
                               data.data_meta["normalisation"], band_K, device)
        n_samples = len(data.datamodule.datasets["test"])
        if not scores["band_cells"] and band_K[0] is not None:
            warnings.warn(f"no test cell lies in the solidification band {band_K[0]:g}..{band_K[1]:g} K, so "
                          "test_results.json has no band_mse; check t_solidus/t_liquidus.", UserWarning, stacklevel=2)
        return Evaluation(
            metrics=scores["metrics"],
            baselines={"persistence": scores["persistence"]},
            details={"n_test_samples": n_samples, "scored_cells": scores["cells"],
                     "band_cells": scores["band_cells"], "category_cells": scores["category_cells"],
                     "solidification_band_K": list(band_K),
                     "evaluated_on": str(device), "precision": "32-true"},
            higher_is_better=HIGHER_IS_BETTER,
        )


    @staticmethod
    def _evaluate_temperature(model: torch.nn.Module, data: TaskData, band_K: tuple[float, float],
                              device: torch.device) -> Evaluation:
        """Kelvin errors of the temperature model and of persistence (:mod:`.temperature`)."""
        from simrnn.fields.temperature import TEMPERATURE_HIGHER_IS_BETTER, score_temperature

        scores = score_temperature(model, data.datamodule.test_dataloader(), data.data_meta["normalisation"], band_K,
                                   device)
        return Evaluation(
            metrics=scores["metrics"], baselines={"persistence": scores["persistence"]},
            details={"n_test_samples": len(data.datamodule.datasets["test"]), "scored_cells": scores["cells"]["all"],
                     "pool_cells": scores["cells"]["pool"], "band_cells": scores["cells"]["band"],
                     "solidification_band_K": list(band_K), "evaluated_on": str(device), "precision": "32-true"},
            higher_is_better=TEMPERATURE_HIGHER_IS_BETTER,
        )


register_task(FieldsTask())
