"""What a task supplies to the engine: its config class, data, LightningModule and evaluation.

See ``docs/engine.md``. A task is an object with::

    name            "sequence", "fields", ...
    config_class    a dataclass extending :class:`~simrnn.engine.settings.TrainSettings`
    resumable_keys  task keys that may change when a run is resumed (engine keys are added)
    metrics         names a sweep may optimise: logged every epoch, or test metrics of ``evaluate``
    load_data(cfg) -> TaskData                       reads and checks the data; writes nothing
    build_module(cfg, data) -> LightningModule        logs train_loss and val_loss every epoch
    evaluate(model, data, cfg) -> Evaluation          ``model``: best checkpoint's nn.Module, eval mode
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import lightning as L
import torch

from simrnn.engine.settings import TrainSettings


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


class Task:
    """Base class of a task (see the module docstring); subclasses set the class attributes."""

    name: ClassVar[str]
    config_class: ClassVar[type[TrainSettings]]
    resumable_keys: ClassVar[frozenset[str]] = frozenset()
    metrics: ClassVar[tuple[str, ...]] = ("train_loss", "val_loss")

    def load_data(self, cfg: Any) -> TaskData:
        raise NotImplementedError

    def build_module(self, cfg: Any, data: TaskData) -> L.LightningModule:
        raise NotImplementedError

    def evaluate(self, model: torch.nn.Module, data: TaskData, cfg: Any) -> Evaluation:
        raise NotImplementedError
