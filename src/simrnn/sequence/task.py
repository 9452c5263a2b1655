"""Lightning wrappers of the sequence surrogate: loss, metrics, optimiser, data loaders.

The model itself (:mod:`simrnn.sequence.model`) is a plain ``nn.Module``; this module adds
MSE loss, MAE metric and GrainLearning's Adam settings, and stores everything a checkpoint needs
(``model_name``, ``model_args``, ``data_meta``) as hyper-parameters.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader, TensorDataset

from simrnn.registry import build_model
from simrnn.sequence.preprocess import PreparedSequences


class SequenceTask(L.LightningModule):
    """Trains a registered sequence model on windows ``(x [B,W,F], params [B,P]) -> y [B,L]``.

    Args:
        model_name: registry name (e.g. ``"lstm"``).
        model_args: constructor arguments of the model.
        data_meta: normalisation and feature names (see :class:`PreparedSequences`).
        optim: ``learning_rate, beta_1, beta_2, epsilon`` of Adam.
    """

    def __init__(self, model_name: str, model_args: dict[str, Any], data_meta: dict[str, Any],
                 optim: dict[str, float]) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.model = build_model(model_name, **model_args)

    def forward(self, windows: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        """``windows [B,W,F]``, ``params [B,P]`` -> standardised outputs ``[B,L]``."""
        return self.model(windows, params)

    def _step(self, batch, stage: str) -> torch.Tensor:
        windows, params, targets = batch
        pred = self(windows, params)
        loss = torch.nn.functional.mse_loss(pred, targets)
        mae = torch.nn.functional.l1_loss(pred, targets)
        on_step = stage == "train"
        self.log(f"{stage}_loss", loss, on_step=on_step, on_epoch=True, prog_bar=True, batch_size=len(targets),
                 sync_dist=True)
        self.log(f"{stage}_mae", mae, on_step=False, on_epoch=True, batch_size=len(targets), sync_dist=True)
        return loss

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch, batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch, batch_idx: int) -> None:
        self._step(batch, "test")

    def configure_optimizers(self) -> torch.optim.Optimizer:
        o = self.hparams.optim
        return torch.optim.Adam(
            self.parameters(), lr=o["learning_rate"], betas=(o["beta_1"], o["beta_2"]), eps=o["epsilon"]
        )

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        from simrnn import __version__

        checkpoint["hyper_parameters"] = dict(checkpoint["hyper_parameters"], simrnn_version=__version__)


class SequenceDataModule(L.LightningDataModule):
    """Window datasets of the train/val/test splits, built once in memory.

    Training windows are reshuffled every epoch (seeded through Lightning's ``seed_everything``).
    """

    def __init__(self, prepared: PreparedSequences, batch_size: int) -> None:
        super().__init__()
        self.prepared = prepared
        self.batch_size = batch_size
        self._datasets = {split: TensorDataset(*prepared.windows(split)) for split in ("train", "val", "test")}

    def n_windows(self, split: str) -> int:
        return len(self._datasets[split])

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self._datasets["train"], batch_size=self.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self._datasets["val"], batch_size=self.batch_size)

    def test_dataloader(self) -> DataLoader:
        return DataLoader(self._datasets["test"], batch_size=self.batch_size)
