"""The sequence task for the engine: data, LightningModule and evaluation of a GrainLearning-style surrogate.

The model itself (:mod:`simrnn.sequence.model`) is a plain ``nn.Module``; :class:`SequenceModule`
adds MSE loss, MAE metric and GrainLearning's Adam settings, and stores what a checkpoint needs
(``model_name``, ``model_args``, ``data_meta``) as hyper-parameters. :class:`SequenceTask` is what
:func:`simrnn.engine.fit` calls.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, SequentialSampler, TensorDataset

from simrnn.engine.taskspec import Evaluation, Task, TaskData
from simrnn.errors import UserInputError
from simrnn.files import sha256_file
from simrnn.registry import build_model, register_task
from simrnn.sequence.config import GRAINLEARNING_COMPAT_KEYS, SequenceConfig
from simrnn.sequence.evaluate import evaluate_sequences
from simrnn.sequence.hdf5 import read_triaxial_hdf5
from simrnn.sequence.predict import META_KEYS, SequenceRun
from simrnn.sequence.preprocess import PreparedSequences, prepare_sequences

SPLITS = ("train", "val", "test")
#: data_meta keys a fine-tuned run must share with the run it starts from (init_from).
FINE_TUNING_KEYS = ("input_features", "param_names", "output_labels", "window_size", "pad_length",
                    "standardize_outputs")


class SequenceModule(L.LightningModule):
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
        self.log(f"{stage}_loss", loss, on_step=stage == "train", on_epoch=True, prog_bar=True,
                 batch_size=len(targets), sync_dist=True)
        self.log(f"{stage}_mae", mae, on_step=False, on_epoch=True, batch_size=len(targets), sync_dist=True)
        return loss

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch, batch_idx: int) -> None:
        self._step(batch, "val")

    def configure_optimizers(self) -> torch.optim.Optimizer:
        o = self.hparams.optim
        return torch.optim.Adam(
            self.parameters(), lr=o["learning_rate"], betas=(o["beta_1"], o["beta_2"]), eps=o["epsilon"]
        )


def _check_like(cfg: SequenceConfig, found: dict[str, Any], like: dict[str, Any]) -> None:
    """One sentence for the first ``data_meta`` value of the new data that differs from the source run's."""
    for key, value in found.items():
        if value != like.get(key):
            raise UserInputError(f"{cfg.raw_data}: gives data_meta.{key} = {value!r}, but the run in init_from was "
                                 f"trained with {like.get(key)!r}; fine-tuning needs the same.", key="init_from")


class SequenceDataModule(L.LightningDataModule):
    """Window datasets of the train/val/test splits, built once in memory.

    Training windows are reshuffled every epoch (seeded through Lightning's ``seed_everything``).
    """

    def __init__(self, prepared: PreparedSequences, batch_size: int) -> None:
        super().__init__()
        self.prepared = prepared
        self.batch_size = batch_size
        self._datasets = {split: TensorDataset(*prepared.windows(split)) for split in SPLITS}

    def n_windows(self, split: str) -> int:
        return len(self._datasets[split])

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._loader("test")

    def _loader(self, split: str, shuffle: bool = False) -> DataLoader:
        """Batches of ``batch_size`` windows, each gathered by one tensor index (``dataset[indices]``).

        The same batches, in the same order and from the same random draws, as
        ``DataLoader(dataset, batch_size, shuffle)`` (same test MSE to the last digit), without its
        per-window ``__getitem__`` and ``torch.stack``.
        """
        dataset = self._datasets[split]
        order = RandomSampler(dataset) if shuffle else SequentialSampler(dataset)
        return DataLoader(dataset, batch_size=None, sampler=BatchSampler(order, self.batch_size, drop_last=False))


class SequenceTask(Task):
    """GrainLearning's RNN surrogate: HDF5 triaxial sequences -> parameter-conditioned LSTM."""

    name = "sequence"
    config_class = SequenceConfig
    ignored_keys = GRAINLEARNING_COMPAT_KEYS
    monitor = "val_loss"
    meta_keys = META_KEYS
    metrics = ("train_loss", "val_loss", "mse", "mae")  # per epoch, then test (see evaluate)

    def load_data(self, cfg: SequenceConfig) -> TaskData:
        return self._load(cfg, None)

    def load_fine_tuning_data(self, cfg: SequenceConfig, meta: dict[str, Any]) -> TaskData:
        """``cfg``'s sequences standardised with ``meta``'s output mean/std; the features, parameter
        columns, labels and window must be ``meta``'s (else one sentence naming the key)."""
        return self._load(cfg, meta)

    def _load(self, cfg: SequenceConfig, like: dict[str, Any] | None) -> TaskData:
        data = read_triaxial_hdf5(cfg.raw_data, pressure=cfg.pressure, experiment_type=cfg.experiment_type)
        if like is not None:
            _check_like(cfg, {"input_features": list(data.input_names), "output_labels": list(data.output_names)}, like)
        standardisation = None if like is None else (like["output_mean"], like["output_std"])
        prepared = prepare_sequences(cfg, data, standardisation)
        if like is not None:
            _check_like(cfg, {k: prepared.meta[k] for k in FINE_TUNING_KEYS}, like)
        datamodule = SequenceDataModule(prepared, cfg.batch_size)
        model_args = {
            "n_input_features": data.inputs.shape[2],
            "n_params": prepared.arrays["train"]["params"].shape[1],
            "n_outputs": data.outputs.shape[2],
            "hidden_size": cfg.lstm_units,
            "dense_size": cfg.dense_units,
        }
        record = {
            "file": str(Path(cfg.raw_data).resolve()),
            "sha256": sha256_file(cfg.raw_data),
            "n_sequences": len(data.inputs),
            "split": {k: v.tolist() for k, v in prepared.indices.items()},
            "n_windows": {s: datamodule.n_windows(s) for s in SPLITS},
        }
        return TaskData(datamodule, prepared.meta, model_args, record, payload=(data, prepared))

    def build_module(self, cfg: SequenceConfig, data: TaskData) -> SequenceModule:
        optim = {"learning_rate": cfg.learning_rate, "beta_1": cfg.beta_1, "beta_2": cfg.beta_2,
                 "epsilon": cfg.epsilon}
        return SequenceModule(cfg.model, data.model_args, data.data_meta, optim)

    def evaluate(self, model: torch.nn.Module, data: TaskData, cfg: SequenceConfig) -> Evaluation:
        """Whole test sequences predicted (every window) and scored: see :func:`score_predictions`."""
        raw, prepared = data.payload
        run = SequenceRun(path=None, model=model, meta=data.data_meta)
        test = prepared.indices["test"]
        scores = evaluate_sequences(run, raw.inputs[test], prepared.arrays["test"]["params"], raw.outputs[test])
        return Evaluation(
            metrics={"mse": scores["mse"], "mae": scores["mae"]},
            baselines={"training_mean": {"mse": scores["baseline_mse"]}},
            details={k: scores[k] for k in ("rmse_per_label", "mae_per_label", "predicted_steps")}
            | {"n_test_sequences": len(test)},
        )


register_task(SequenceTask())
