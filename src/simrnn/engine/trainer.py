"""The one place that builds a Lightning Trainer for a run directory.

It adds, for every task:

- ``checkpoints/last.ckpt`` written at the end of EVERY epoch, then ``history.json``
  (so the history is never ahead of the resumable checkpoint), both atomically;
- ``checkpoints/best.ckpt`` with the best value of the task's monitored metric (``val_loss``, lowest, for
  the built-in tasks; :attr:`simrnn.engine.Task.monitor`);
- early stopping on the same metric with ``patience``;
- a one-sentence :class:`~simrnn.errors.TrainingDivergedError` when the loss is NaN/inf (run kept);
- CSV logging always, TensorBoard or Weights & Biases (offline without an account) on request;
- accelerator/devices/num_nodes/strategy (DDP on SLURM/LSF is Lightning's), precision, clipping;
- checkpoints read only with ``torch.load(weights_only=True)``, even when resuming.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import lightning as L
import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.pytorch.callbacks import Callback, Checkpoint, EarlyStopping, ModelCheckpoint, ProgressBar

from simrnn.checkpoints import read_checkpoint
from simrnn.engine.progress import progress_callbacks, quiet_lightning_info
from simrnn.engine.settings import TrainSettings, parse_devices
from simrnn.environment import environment
from simrnn.errors import TrainingDivergedError, UserInputError
from simrnn.files import atomic_path, write_json_atomic
from simrnn.runs import BEST_CHECKPOINT, CHECKPOINT_DIR, HISTORY_FILE, LAST_CHECKPOINT


class SafeCheckpointIO(TorchCheckpointIO):
    """Write checkpoints atomically (stamped with simrnn's version); read them with ``weights_only=True``."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options=None) -> None:
        from simrnn import __version__

        hp = checkpoint.get("hyper_parameters")
        if isinstance(hp, dict):
            checkpoint["hyper_parameters"] = dict(hp, simrnn_version=__version__)
        with atomic_path(path) as tmp:
            torch.save(checkpoint, tmp)

    def load_checkpoint(self, path, map_location=None, weights_only=None) -> dict[str, Any]:
        return read_checkpoint(path)


class EpochCheckpoint(Checkpoint):
    """At the end of every epoch: append to the history, write ``last.ckpt``, then ``history.json``.

    ``history.json`` is a list of ``{epoch, train_loss, val_loss, <other logged metrics>}``. The
    history also lives in the checkpoint, so a resumed run rewrites ``history.json`` from
    ``last.ckpt`` (entries byte-identical) and appends from ``last epoch + 1``. Being a
    :class:`Checkpoint`, Lightning calls it after early stopping and the best-model checkpoint,
    so ``last.ckpt`` holds their up-to-date state.
    """

    def __init__(self, run_dir: Path) -> None:
        self.history_path = Path(run_dir) / HISTORY_FILE
        self.last_path = Path(run_dir) / CHECKPOINT_DIR / LAST_CHECKPOINT
        self.history: list[dict[str, float]] = []

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.is_global_zero and self.history_path.exists():  # resumed: drop epochs after last.ckpt
            write_json_atomic(self.history_path, self.history)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if not k.endswith("_step")}
        entry: dict[str, float | None] = {"epoch": trainer.current_epoch}
        # JSON has no NaN: a non-finite metric is recorded as null
        entry.update({k.removesuffix("_epoch"): v if math.isfinite(v) else None for k, v in sorted(metrics.items())})
        self.history.append(entry)
        trainer.save_checkpoint(self.last_path, weights_only=False)
        if trainer.is_global_zero:
            write_json_atomic(self.history_path, self.history)

    def state_dict(self) -> dict[str, Any]:
        return {"history": self.history}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.history = list(state_dict.get("history", []))


class DivergenceCallback(Callback):
    """Stop with a one-sentence error as soon as the training or validation loss is NaN or infinite."""

    def __init__(self, run_dir: Path, monitor: str = "val_loss") -> None:
        self.run_dir, self.monitor = run_dir, monitor

    def on_validation_end(self, trainer, pl_module) -> None:
        loss = trainer.callback_metrics.get(self.monitor)
        if loss is not None and not trainer.sanity_checking and not math.isfinite(float(loss)):
            raise TrainingDivergedError(
                f"the validation loss became {float(loss)} at epoch {trainer.current_epoch} while the training "
                f"loss stayed finite; check the validation data for extreme values (run kept in {self.run_dir})."
            )

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        if loss is not None and not math.isfinite(float(loss)):
            raise TrainingDivergedError(
                f"the training loss became {float(loss)} at epoch {trainer.current_epoch}, batch {batch_idx}; "
                f"check the data for extreme values, lower the learning rate or set gradient_clip_val "
                f"(run kept in {self.run_dir})."
            )


def _loggers(run_dir: Path, name: str, version: str) -> list:
    from lightning.pytorch.loggers import CSVLogger

    loggers: list = [CSVLogger(save_dir=str(run_dir), name="logs", version=version)]
    if name == "tensorboard":
        try:
            from lightning.pytorch.loggers import TensorBoardLogger

            loggers.append(TensorBoardLogger(save_dir=str(run_dir), name="tensorboard", version=version))
        except ModuleNotFoundError:
            raise UserInputError("logger 'tensorboard' needs the tensorboard package: pip install 'simrnn[tensorboard]'.",
                                 key="logger") from None
    elif name == "wandb":
        try:
            import wandb  # noqa: F401
        except ModuleNotFoundError:
            raise UserInputError("logger 'wandb' needs the wandb package: pip install 'simrnn[wandb]'.",
                                 key="logger") from None
        from lightning.pytorch.loggers import WandbLogger

        offline = not environment().wandb_online
        loggers.append(WandbLogger(save_dir=str(run_dir), project="simrnn", offline=offline))
    elif name != "csv":
        raise UserInputError(f"unknown logger {name!r}; expected one of csv, tensorboard, wandb.")
    return loggers


def logger_record(name: str, version: str) -> dict[str, str]:
    """Which loggers a fit used and where they write, relative to the run directory (for config.json)."""
    record = {"csv": f"logs/{version}"}
    if name == "tensorboard":
        record["tensorboard"] = f"tensorboard/{version}"
    elif name == "wandb":
        record["wandb"] = "wandb"
    return record


@contextlib.contextmanager
def lightning_warnings_filtered():
    """Silence Lightning warnings that need no action from users; every other warning shows."""
    with warnings.catch_warnings():
        # Resuming writes into the run's own checkpoint folder on purpose.
        warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
        # Lightning 2.6 calls a torch pytree API that torch 2.13 deprecates.
        warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
        # In-memory tensors on the CPU need no DataLoader worker processes.
        warnings.filterwarnings("ignore", message=r".*does not have many workers")
        warnings.filterwarnings("ignore", message=r".*The number of training batches .* is smaller than the logging")
        yield


def log_version(run_dir: Path | None, resuming: bool) -> str:
    """``train`` for a new run, ``resume_<n>`` (the first unused n) for a resumed one."""
    if not resuming:
        return "train"
    n = 1
    while (Path(run_dir) / "logs" / f"resume_{n}").exists():
        n += 1
    return f"resume_{n}"


def build_trainer(run_dir: Path, settings: TrainSettings, *, log_name: str = "train",
                  callbacks: Sequence[Callback] = (), monitor: str = "val_loss",
                  mode: Literal["min", "max"] = "min") -> L.Trainer:
    """A Trainer writing checkpoints, history and logs (``logs/<log_name>/``) into ``run_dir``.

    ``monitor``/``mode``: the task's per-epoch metric that picks ``best.ckpt`` and stops early
    (:attr:`simrnn.engine.Task.monitor`). ``callbacks`` (e.g. an Optuna pruning callback) run
    before the engine's own.
    """
    run_dir = Path(run_dir)
    best = ModelCheckpoint(
        dirpath=run_dir / CHECKPOINT_DIR,
        filename=BEST_CHECKPOINT.removesuffix(".ckpt"),
        monitor=monitor,
        mode=mode,
        save_top_k=1,
        save_last=False,
        enable_version_counter=False,
    )
    engine_callbacks = [
        EarlyStopping(monitor=monitor, mode=mode, patience=settings.patience, check_finite=False),
        DivergenceCallback(run_dir, monitor),
        best,
        EpochCheckpoint(run_dir),
    ]
    quiet_lightning_info()
    progress = progress_callbacks(settings.progress_bar)
    return L.Trainer(
        default_root_dir=str(run_dir),
        max_epochs=settings.epochs,
        accelerator=settings.accelerator,
        devices=parse_devices(settings.devices),
        num_nodes=settings.num_nodes,
        strategy=settings.strategy,
        precision=settings.precision,
        gradient_clip_val=settings.gradient_clip_val or None,
        callbacks=[*callbacks, *engine_callbacks, *progress],
        logger=_loggers(run_dir, settings.logger, log_name),
        enable_progress_bar=any(isinstance(c, ProgressBar) for c in progress),
        enable_model_summary=False,
        enable_checkpointing=True,
        plugins=[SafeCheckpointIO()],
        log_every_n_steps=10,
        deterministic=False,
    )
