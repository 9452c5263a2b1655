"""The Lightning engine shared by every task: one place builds the Trainer.

It adds, for a run directory:
- ``checkpoints/best.ckpt`` (lowest ``val_loss``) and ``checkpoints/last.ckpt`` (resumable),
  written atomically (temporary name + rename);
- early stopping on ``val_loss`` with ``patience``;
- ``history.json`` rewritten after every epoch (train/val loss and metrics);
- a clear :class:`~simrnn.errors.TrainingDivergedError` when the loss becomes NaN/inf (run kept);
- CSV logging always, TensorBoard or Weights & Biases (offline without an account) on request;
- accelerator/devices/num_nodes/strategy (DDP on SLURM/LSF is Lightning's), precision, clipping.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint

from simrnn.errors import TrainingDivergedError, UserInputError
from simrnn.files import atomic_path, write_json_atomic
from simrnn.runs import BEST_CHECKPOINT, CHECKPOINT_DIR, HISTORY_FILE, create_run_dir

LOGGERS = ("csv", "tensorboard", "wandb")
#: environment variable through which every DDP process learns the run directory of rank 0.
RUN_DIR_ENV = "SIMRNN_RUN_DIR"
_RANK_VARIABLES = ("RANK", "SLURM_PROCID", "OMPI_COMM_WORLD_RANK", "PMI_RANK", "LOCAL_RANK")


class _DropAdvertisements(logging.Filter):
    """Hide Lightning's advertisement for its cloud logger; keep every other message."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "litlogger" not in record.getMessage()


logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(_DropAdvertisements())


@dataclass
class EngineSettings:
    """Trainer settings common to all tasks (defaults written once, here)."""

    max_epochs: int = 100
    patience: int = 5
    accelerator: str = "auto"
    devices: str = "auto"
    num_nodes: int = 1
    strategy: str = "auto"
    precision: str = "32-true"
    gradient_clip_val: float = 0.0
    logger: str = "csv"
    progress_bar: bool = True


class AtomicCheckpointIO(TorchCheckpointIO):
    """Write checkpoints to a temporary file and rename, so a crash never leaves half a file."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options=None) -> None:
        with atomic_path(path) as tmp:
            torch.save(checkpoint, tmp)


class HistoryCallback(Callback):
    """Rewrite ``history.json``: a list of ``{epoch, train_loss, train_mae, val_loss, val_mae, ...}``."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.history: list[dict[str, float]] = []

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if not k.endswith("_step")}
        entry = {"epoch": trainer.current_epoch}
        entry.update({k.removesuffix("_epoch"): v for k, v in sorted(metrics.items())})
        self.history.append(entry)
        if trainer.is_global_zero:
            write_json_atomic(self.path, self.history)

    def state_dict(self) -> dict[str, Any]:
        return {"history": self.history}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.history = list(state_dict.get("history", []))


class DivergenceCallback(Callback):
    """Stop with a one-sentence error as soon as the training loss is NaN or infinite."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        if loss is not None and not math.isfinite(float(loss)):
            raise TrainingDivergedError(
                f"the training loss became {float(loss)} at epoch {trainer.current_epoch}, batch {batch_idx}; "
                f"lower learning_rate or set gradient_clip_val (run kept in {self.run_dir})."
            )


def _loggers(run_dir: Path, name: str, version: str) -> list:
    from lightning.pytorch.loggers import CSVLogger

    loggers: list = [CSVLogger(save_dir=str(run_dir), name="logs", version=version)]
    if name == "tensorboard":
        try:
            from lightning.pytorch.loggers import TensorBoardLogger

            loggers.append(TensorBoardLogger(save_dir=str(run_dir), name="tensorboard", version=version))
        except ModuleNotFoundError:
            raise UserInputError("--logger tensorboard needs the tensorboard package: pip install 'simrnn[tensorboard]'.") from None
    elif name == "wandb":
        try:
            import wandb  # noqa: F401
        except ModuleNotFoundError:
            raise UserInputError("--logger wandb needs the wandb package: pip install 'simrnn[wandb]'.") from None
        from lightning.pytorch.loggers import WandbLogger

        offline = os.environ.get("WANDB_MODE", "offline") != "online" or not os.environ.get("WANDB_API_KEY")
        loggers.append(WandbLogger(save_dir=str(run_dir), project="simrnn", offline=offline))
    elif name != "csv":
        raise UserInputError(f"unknown logger {name!r}; expected one of {', '.join(LOGGERS)}.")
    return loggers


def _devices(value: str) -> Any:
    if value == "auto":
        return value
    try:
        return int(value)
    except ValueError:
        return value  # e.g. "0,1"


def global_rank() -> int:
    """This process's rank in a distributed job (0 when not distributed), from the launcher's variables."""
    for name in _RANK_VARIABLES:
        if os.environ.get(name, "").isdigit():
            return int(os.environ[name])
    return 0


def claim_run_dir(runs_root: str | Path, task: str) -> tuple[Path, bool]:
    """The run directory of this (possibly distributed) training and whether this process owns it.

    Rank 0 creates a fresh ``runs_root/task/<timestamp>`` (or the empty directory named by
    ``$SIMRNN_RUN_DIR``, as an HPC job script may set); :func:`run_dir_exported` then tells the
    processes that Lightning's DDP launcher starts. Other ranks only read the variable and
    write nothing.
    """
    shared = os.environ.get(RUN_DIR_ENV)
    if global_rank() != 0:
        if not shared:
            raise UserInputError(f"distributed rank {global_rank()} started without ${RUN_DIR_ENV}; "
                                 "launch through `simrnn` or set it in the job script.")
        return Path(shared), False
    if shared:
        run_dir = Path(shared)
        if (run_dir / "config.json").exists():
            raise UserInputError(f"${RUN_DIR_ENV}={run_dir} is an existing run; use --resume or a new directory.")
        (run_dir / CHECKPOINT_DIR).mkdir(parents=True, exist_ok=True)
    else:
        run_dir = create_run_dir(runs_root, task)
    return run_dir, True


@contextlib.contextmanager
def run_dir_exported(run_dir: Path):
    """Set ``$SIMRNN_RUN_DIR`` while the block runs (DDP workers started inside inherit it)."""
    previous = os.environ.get(RUN_DIR_ENV)
    os.environ[RUN_DIR_ENV] = str(run_dir)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(RUN_DIR_ENV, None)
        else:
            os.environ[RUN_DIR_ENV] = previous


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


def _log_version(run_dir: Path, resuming: bool) -> str:
    if not resuming:
        return "train"
    n = 1
    while (run_dir / "logs" / f"resume_{n}").exists():
        n += 1
    return f"resume_{n}"


def build_trainer(run_dir: Path, settings: EngineSettings, resuming: bool = False) -> L.Trainer:
    """A Trainer writing checkpoints, history and logs into ``run_dir``.

    Logs of a resumed fit go to a new ``logs/resume_<n>/`` folder, so earlier logs are kept.
    """
    run_dir = Path(run_dir)
    checkpoint = ModelCheckpoint(
        dirpath=run_dir / CHECKPOINT_DIR,
        filename=BEST_CHECKPOINT.removesuffix(".ckpt"),
        monitor="val_loss",
        mode="min",
        save_top_k=1,
        save_last=True,
        enable_version_counter=False,
    )
    callbacks = [
        checkpoint,
        EarlyStopping(monitor="val_loss", mode="min", patience=settings.patience, check_finite=False),
        HistoryCallback(run_dir / HISTORY_FILE),
        DivergenceCallback(run_dir),
    ]
    return L.Trainer(
        default_root_dir=str(run_dir),
        max_epochs=settings.max_epochs,
        accelerator=settings.accelerator,
        devices=_devices(settings.devices),
        num_nodes=settings.num_nodes,
        strategy=settings.strategy,
        precision=settings.precision,
        gradient_clip_val=settings.gradient_clip_val or None,
        callbacks=callbacks,
        logger=_loggers(run_dir, settings.logger, _log_version(run_dir, resuming)),
        enable_progress_bar=settings.progress_bar,
        enable_model_summary=False,
        plugins=[AtomicCheckpointIO()],
        log_every_n_steps=10,
        deterministic=False,
    )
