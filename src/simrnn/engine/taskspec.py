"""What a task supplies to the engine: its config class, data, LightningModule and evaluation.

See ``docs/engine.md``: :class:`Task` states every member the engine, sweeps, ``runs`` and the
command line use.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import lightning as L
import torch

from simrnn.engine.settings import TrainSettings
from simrnn.runs import Run


@dataclass
class TaskData:
    """A task's data, ready for training.

    Attributes:
        datamodule: train/val/test loaders.
        data_meta: JSON-ready normalisation, names and sizes, stored in every checkpoint.
        model_args: constructor arguments of the model (sizes taken from the data).
        record: config.json's ``data`` section; must hold ``file`` (absolute path) and ``sha256``.
        payload: anything else the task's ``evaluate`` needs (not saved).
    """

    datamodule: L.LightningDataModule
    data_meta: dict[str, Any]
    model_args: dict[str, Any]
    record: dict[str, Any]
    payload: Any = None


@dataclass
class Evaluation:
    """Test-split results: flat ``metrics``, ``baselines`` ``{name: {metric: value}}``, free ``details``."""

    metrics: dict[str, float]
    baselines: dict[str, dict[str, float]] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    higher_is_better: tuple[str, ...] = ()


class Task(abc.ABC):
    """The contract between a task and the engine, sweeps, ``runs`` and the CLI: every member they use.

    Subclasses set the class attributes and implement the three abstract methods, and may implement
    :meth:`load_fine_tuning_data` (warm starts); nothing else of a task is read (no ``getattr``
    probing). See ``docs/engine.md``.

    Attributes:
        name: the task's name: ``runs/<name>/...``, ``simrnn <name> train``, config.json's ``task``.
        config_class: its settings dataclass (extends :class:`TrainSettings`; its ``model`` field
            names a model registered for this task).
        resumable_keys: task settings that may change when a run is resumed (engine keys are added).
        ignored_keys: keys accepted in a config file without a warning although unused
            (e.g. GrainLearning's ``save_weights_only``).
        monitor: the per-epoch metric the LightningModule logs that picks ``best.ckpt``, stops
            training early and is the default objective and pruning signal of sweeps.
        monitor_mode: ``"min"`` or ``"max"``: which way ``monitor`` improves.
        metrics: names a sweep may optimise: logged every epoch, or test metrics of ``evaluate``.
        meta_keys: ``data_meta`` keys every checkpoint of this task must hold (dotted for nested
            keys); :meth:`simrnn.runs.Run.open` refuses a run that lacks one.

    A task's own command-line commands are found by the registry, not through this object (so
    ``simrnn --help`` does not import Lightning): see :func:`simrnn.registry.task_commands`.
    """

    name: ClassVar[str]
    config_class: ClassVar[type[TrainSettings]]
    resumable_keys: ClassVar[frozenset[str]] = frozenset()
    ignored_keys: ClassVar[frozenset[str]] = frozenset()
    monitor: ClassVar[str] = "val_loss"
    monitor_mode: ClassVar[Literal["min", "max"]] = "min"
    meta_keys: ClassVar[tuple[str, ...]] = ()
    metrics: ClassVar[tuple[str, ...]] = ("train_loss", "val_loss")

    @abc.abstractmethod
    def load_data(self, cfg: Any) -> TaskData:
        """Read and check the data of ``cfg`` (one-sentence :class:`UserInputError`); write nothing."""

    @abc.abstractmethod
    def build_module(self, cfg: Any, data: TaskData) -> L.LightningModule:
        """The LightningModule: logs ``train_loss`` and :attr:`monitor` every epoch, keeps its network in
        ``self.model`` and calls ``save_hyperparameters()`` with ``model_name``, ``model_args``, ``data_meta``."""

    @abc.abstractmethod
    def evaluate(self, model: torch.nn.Module, data: TaskData, cfg: Any) -> Evaluation:
        """Test-split metrics of ``model`` (the best checkpoint's ``nn.Module``, eval mode)."""

    def load_fine_tuning_data(self, cfg: Any, meta: dict[str, Any]) -> TaskData:
        """The data of ``cfg`` normalised as the run whose ``data_meta`` is ``meta`` was (fine-tuning that
        run's weights, ``init_from``); a one-sentence :class:`UserInputError` where the data does not fit
        that run (other features, labels, window). Default: this task's runs cannot be fine-tuned."""
        from simrnn.errors import UserInputError

        raise UserInputError(f"{self.name} runs cannot start from a trained run's weights (init_from).",
                             key="init_from")

    def open_run(self, path: str | Path, which: str = "best") -> Run:
        """Open and validate one of this task's runs with its model (see :meth:`simrnn.runs.Run.open`)."""
        return Run.open(path, self.name, which=which, meta_keys=self.meta_keys)
