"""The engine's settings, shared by every task (defaults written once, here), and their checks.

A task's config dataclass extends :class:`TrainSettings`; every field's ``metadata["help"]`` is
its ``--help`` text. :func:`check_trainer_settings` rejects settings Lightning cannot use on this
machine BEFORE anything is written (so a bad ``--precision`` never leaves a run directory behind).
"""

from __future__ import annotations

import contextlib
import logging
import math
import warnings
from dataclasses import dataclass
from typing import Any, Literal

from simrnn.config import setting
from simrnn.errors import UserInputError

LOGGERS = ("csv", "tensorboard", "wandb")
#: Lightning's precision names (``"32"``, ``"bf16"`` ... are its aliases).
PRECISIONS = ("32-true", "16-mixed", "bf16-mixed", "bf16-true", "16-true", "64-true", "32", "16", "bf16", "64")
#: engine settings that may change when a run is resumed (data and model settings may not).
RESUMABLE_ENGINE_KEYS = frozenset({"epochs", "patience", "accelerator", "devices", "num_nodes", "strategy",
                                   "logger", "progress_bar", "gradient_clip_val", "threads"})
MAX_SEED = 2**32 - 1


@dataclass
class TrainSettings:
    """Trainer settings common to every task; a task's config dataclass extends this one."""

    model: str = setting("", "Registry name of the model (a task's config sets its default).")
    epochs: int = setting(100, "Maximum number of epochs.")
    patience: int = setting(5, "Epochs without a lower val_loss before stopping early.")
    seed: int = setting(42, f"Seed of the split, initialisation and shuffling (0..{MAX_SEED}).")
    accelerator: str = setting("auto", "Lightning accelerator: cpu, gpu, cuda, mps or auto.")
    devices: str = setting("auto", "Number of devices, a list such as 0,1, or auto.")
    num_nodes: int = setting(1, "Nodes of a multi-node DDP job.")
    strategy: str = setting("auto", "Lightning strategy: auto, ddp, ddp_spawn, fsdp ...")
    precision: str = setting("32-true", f"Lightning precision: {', '.join(PRECISIONS[:6])}.")
    gradient_clip_val: float = setting(0.0, "Clip the gradient norm to this value; 0 turns clipping off.")
    logger: Literal["csv", "tensorboard", "wandb"] = setting(
        "csv", "Extra logger besides CSV: tensorboard, or wandb (offline without an account).")
    runs_root: str = setting("runs", "Folder in which <task>/<timestamp> run directories are created.")
    progress_bar: bool = setting(True, "Show Lightning's progress bar.")
    init_from: str = setting("", "A trained run of the same task whose best weights start this training "
                                 "(fine-tuning on new data): its model and data normalisation are kept.")
    threads: str = setting("auto", "PyTorch CPU threads: auto (1 or all usable cores, whichever trains a batch "
                                   "faster, timed once), or a number.")

    def validate(self, source: str = "config") -> None:
        """One-sentence :class:`UserInputError` for values out of range (types are already coerced)."""
        for key in ("epochs", "num_nodes"):
            if getattr(self, key) < 1:
                raise UserInputError(f"{source}: {key!r} must be at least 1, got {getattr(self, key)}.")
        if self.patience < 0:
            raise UserInputError(f"{source}: 'patience' must not be negative, got {self.patience}.")
        if not 0 <= self.seed <= MAX_SEED:
            raise UserInputError(f"{source}: 'seed' must be between 0 and {MAX_SEED}, got {self.seed}.")
        if not (math.isfinite(self.gradient_clip_val) and self.gradient_clip_val >= 0):
            raise UserInputError(
                f"{source}: 'gradient_clip_val' must be a finite number >= 0 (0 = off), got {self.gradient_clip_val}.")
        if self.precision not in PRECISIONS:
            raise UserInputError(
                f"{source}: 'precision' is {self.precision!r}; expected one of {', '.join(PRECISIONS)}.")
        try:
            resolve_threads(self.threads)
        except UserInputError as exc:
            raise UserInputError(f"{source}: {exc}") from None
        if not self.runs_root:
            raise UserInputError(f"{source}: 'runs_root' must name a folder.")


def parse_devices(value: str) -> Any:
    """``"auto"`` | ``"2"`` -> 2 | ``"0,1"`` -> ``"0,1"`` (Lightning's forms)."""
    value = str(value).strip()
    if value == "auto":
        return value
    try:
        return int(value)
    except ValueError:
        return value


def available_cpu_cores() -> int:
    """CPU cores this process may run on (its affinity mask, else ``os.cpu_count()``)."""
    from simrnn.cpu import affinity_cpus

    return len(affinity_cpus())


def resolve_threads(value: str) -> int | None:
    """``auto`` -> None (to be timed, see :mod:`simrnn.engine.threads`), a number -> that number; else one sentence."""
    if str(value).strip() == "auto":
        return None
    try:
        n = int(value)
    except ValueError:
        n = 0
    if not 1 <= n <= available_cpu_cores():
        raise UserInputError(f"'threads' is {value!r}; expected auto or 1..{available_cpu_cores()} (the usable cores).")
    return n


def runs_on_cpu(accelerator: str) -> bool:
    import torch

    if accelerator == "cpu":
        return True
    if accelerator != "auto":
        return False
    mps = getattr(torch.backends, "mps", None)
    return not torch.cuda.is_available() and not (mps is not None and mps.is_available())


def check_trainer_settings(settings: TrainSettings, source: str = "config") -> None:
    """Refuse settings Lightning cannot run here, in one sentence, without writing anything.

    CPU device counts above the available cores are refused (each CPU "device" is one DDP
    process; 99 of them exhaust the memory). The rest is checked by building a throw-away
    Trainer with the same accelerator/devices/strategy/precision and translating its error.
    """
    devices = parse_devices(settings.devices)
    if isinstance(devices, int) and runs_on_cpu(settings.accelerator):
        cores = available_cpu_cores()
        if not 1 <= devices <= cores:
            raise UserInputError(
                f"{source}: 'devices' is {devices}, but on the CPU each device is one process and this machine "
                f"has {cores} core(s); use 1..{cores} or auto.")
    import lightning as L

    try:
        with _quiet_lightning():
            L.Trainer(accelerator=settings.accelerator, devices=devices, num_nodes=settings.num_nodes,
                      strategy=settings.strategy, precision=settings.precision, logger=False,
                      enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                      max_epochs=1)
    except Exception as exc:  # Lightning raises ValueError, MisconfigurationException, RuntimeError ...
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise UserInputError(
            f"{source}: Lightning cannot use accelerator={settings.accelerator!r}, devices={settings.devices!r}, "
            f"strategy={settings.strategy!r}, precision={settings.precision!r} here: {reason.rstrip('.')}."
        ) from None


@contextlib.contextmanager
def _quiet_lightning():
    """Hide the "GPU available: ..." lines and warnings of the throw-away Trainer."""
    loggers = [logging.getLogger(n) for n in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)
