"""Fine-tuning: a new run whose training starts from a trained run's best weights (``init_from``).

The new run is an ordinary run of the same task (its own folder, config.json, checkpoints; it can be
resumed), with three things taken from the source run so that its weights mean what they meant:

- the model: name and constructor arguments from the source's best checkpoint (a config's
  ``lstm_units`` ... cannot contradict the weights);
- the task's settings (window, parameter columns, ...) from the source's config.json, under the
  settings given now (new data, epochs, patience, split, learning rate);
- the data normalisation: :meth:`~simrnn.engine.taskspec.Task.load_fine_tuning_data` standardises the
  new data with the source's statistics and refuses data of other features or labels.

A resumed fine-tuned run keeps using its own ``data_meta`` (the source's normalisation), so the
source run may be gone by then.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

import torch

from simrnn.checkpoints import read_checkpoint
from simrnn.engine.settings import TrainSettings
from simrnn.engine.taskspec import Task, TaskData
from simrnn.files import sha256_file
from simrnn.runs import Run


@dataclass(frozen=True)
class Source:
    """The run ``init_from`` names (opened and validated, its best model loaded) and that model's
    registry name and constructor arguments, from its best checkpoint."""

    run: Run
    model_name: str
    model_args: dict[str, Any]


def source_run(task: Task, values: dict[str, Any] | TrainSettings | None) -> Source | None:
    """The run named by ``values``' ``init_from``, or None."""
    init = values.init_from if isinstance(values, TrainSettings) else dict(values or {}).get("init_from")
    if not init:
        return None
    run = task.open_run(str(init), which="best")
    hparams = read_checkpoint(run.checkpoint_path("best"))["hyper_parameters"]
    return Source(run, hparams["model_name"], dict(hparams["model_args"]))


def fine_tuning_values(task: Task, values: dict[str, Any] | TrainSettings | None,
                       source: Source) -> dict[str, Any] | TrainSettings:
    """The source run's task settings (not the engine's) with ``values`` on top, and its model's name."""
    if isinstance(values, TrainSettings):
        return replace(values, model=source.model_name)
    saved = source.run.config.get("settings")
    engine_keys = {f.name for f in fields(TrainSettings)}
    task_keys = {f.name for f in fields(task.config_class)} - engine_keys
    base = {k: v for k, v in saved.items() if k in task_keys} if isinstance(saved, dict) else {}
    return {**base, **dict(values or {}), "model": source.model_name}


def fine_tuning_data(task: Task, cfg: TrainSettings, meta: dict[str, Any], model_args: dict[str, Any],
                     source: Run | None) -> TaskData:
    """The task's data normalised by ``meta``, built for the model of ``model_args``; with the source
    run, its path and best checkpoint's SHA-256 are recorded under ``data.init_from``."""
    data = task.load_fine_tuning_data(cfg, meta)
    record = dict(data.record)
    if source is not None:
        best = source.checkpoint_path("best")
        record["init_from"] = {"run": str(source.path.resolve()), "checkpoint": str(best.relative_to(source.path)),
                               "sha256": sha256_file(best)}
    return replace(data, model_args=dict(model_args), record=record)


def load_source_weights(module: torch.nn.Module, source: Run) -> None:
    """Copy the source run's model weights into the new LightningModule's ``model``."""
    module.model.load_state_dict(source.model.state_dict())
