"""What training prints: a compact progress bar on a terminal, one line per epoch in a batch log.

- On a terminal: :class:`CompactProgressBar`, Lightning's rich bar with one-based epochs, a
  16-cell bar, elapsed time and two metrics (``loss``, ``val``), about 70 columns in all, so it
  never wraps at 80-100 columns (Lightning's default shows every logged metric plus ``v_num`` and
  wraps them over several lines).
- Otherwise (stdout redirected to an LSF/SLURM ``.out`` file, a pipe): :class:`EpochLines`, one
  line per epoch: ``epoch 3/50  train_loss 0.1234  val_loss 0.2345  best 0.2100 (epoch 2)  4.1 s``.
- Lightning's "GPU available / TPU available" and "`Trainer.fit` stopped" lines are dropped
  (:class:`QuietLightningInfo`): config.json records the hardware, the run summary the epochs.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback, RichProgressBar
from lightning.pytorch.callbacks.progress.rich_progress import BatchesProcessedColumn, CustomBarColumn

#: Lightning info lines that need no action (the hardware is in config.json; the summary says how many epochs ran).
_DROPPED = ("GPU available:", "TPU available:", "HPU available:", "IPU available:", "litlogger", "`Trainer.fit` stopped")


class QuietLightningInfo(logging.Filter):
    """Drop Lightning's hardware-availability lines and its cloud-logger advertisement."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(text in message for text in _DROPPED)


def quiet_lightning_info() -> None:
    """Install :class:`QuietLightningInfo` on Lightning's rank-zero logger (once; called by the trainer builder)."""
    logger = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    if not any(isinstance(f, QuietLightningInfo) for f in logger.filters):
        logger.addFilter(QuietLightningInfo())


def _epoch_metrics(trainer: L.Trainer) -> tuple[float | None, float | None]:
    """``(train_loss, val_loss)`` of the epoch just finished (None when not logged)."""
    metrics = trainer.callback_metrics

    def get(*names: str) -> float | None:
        for name in names:
            if name in metrics:
                return float(metrics[name])
        return None

    return get("train_loss_epoch", "train_loss"), get("val_loss")


class CompactProgressBar(RichProgressBar):
    """Lightning's rich progress bar, narrowed to fit 80 columns: ``Epoch 3/50 ━━━ 12/40 0:00:02 loss: 0.12 val: 0.2``."""

    def configure_columns(self, trainer: L.Trainer) -> list:
        from rich.progress import TextColumn, TimeElapsedColumn

        return [
            TextColumn("[progress.description]{task.description}"),
            CustomBarColumn(bar_width=16, complete_style=self.theme.progress_bar,
                            finished_style=self.theme.progress_bar_finished, pulse_style=self.theme.progress_bar_pulse),
            BatchesProcessedColumn(style=self.theme.batch_progress),
            TimeElapsedColumn(),
        ]

    def _get_train_description(self, current_epoch: int) -> str:
        total = f"/{self.trainer.max_epochs}" if self.trainer.max_epochs is not None else ""
        return f"Epoch {current_epoch + 1}{total}"

    def get_metrics(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any]:
        train_loss, val_loss = _epoch_metrics(trainer)
        shown = {"loss": train_loss, "val": val_loss}
        return {k: f"{v:.4g}" for k, v in shown.items() if v is not None and math.isfinite(v)}


class EpochLines(Callback):
    """One line per epoch on stdout (rank 0): epoch, train/val loss, best val_loss so far and its epoch, seconds."""

    def __init__(self, stream=None) -> None:
        self.stream = stream
        self.best: tuple[float, int] | None = None
        self.started = 0.0

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.started = time.perf_counter()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero or trainer.sanity_checking:
            return
        epoch = trainer.current_epoch + 1
        train_loss, val_loss = _epoch_metrics(trainer)
        if val_loss is not None and math.isfinite(val_loss) and (self.best is None or val_loss < self.best[0]):
            self.best = (val_loss, epoch)
        total = f"/{trainer.max_epochs}" if trainer.max_epochs is not None else ""
        parts = [f"epoch {epoch}{total}"]
        parts += [f"{name} {value:.4g}" for name, value in (("train_loss", train_loss), ("val_loss", val_loss))
                  if value is not None]
        if self.best is not None:
            parts.append(f"best {self.best[0]:.4g} (epoch {self.best[1]})")
        parts.append(f"{time.perf_counter() - self.started:.1f} s")
        print("  ".join(parts), file=self.stream or sys.stdout, flush=True)

    def state_dict(self) -> dict[str, Any]:
        return {"best": list(self.best) if self.best else None}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        best = state_dict.get("best")
        self.best = (float(best[0]), int(best[1])) if best else None


def progress_callbacks(enabled: bool, interactive: bool | None = None) -> list[Callback]:
    """The progress display for a run: a compact bar on a terminal, epoch lines otherwise, nothing if disabled."""
    if not enabled:
        return []
    if interactive is None:
        interactive = sys.stdout.isatty()
    return [CompactProgressBar()] if interactive else [EpochLines()]
