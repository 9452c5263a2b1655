"""The run an export starts from: its best checkpoint's model and ``data_meta``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from simrnn.checkpoints import model_from_checkpoint, read_checkpoint
from simrnn.errors import UserInputError
from simrnn.runs import Run


@dataclass
class ExportSource:
    """A run opened for export: ``model`` (eval mode) and ``meta`` from ``checkpoint``."""

    run: Run
    path: Path
    checkpoint: Path
    task: str
    model_name: str
    model_args: dict[str, Any]
    model: torch.nn.Module
    meta: dict[str, Any]


def open_source(path: str | Path) -> ExportSource:
    """Open run directory ``path`` from its best checkpoint; one sentence if it is not a trained run."""
    run = Run.open(path, which=None)  # config.json checked; the model is validated below
    run_dir, where = run.path, run.checkpoint_path("best")
    ckpt = read_checkpoint(where)
    hp = ckpt["hyper_parameters"]
    meta = hp.get("data_meta")
    if not isinstance(meta, dict):
        raise UserInputError(f"{where}: hyper_parameters.data_meta is missing; cannot tell the model's inputs.")
    return ExportSource(run=run, path=run_dir, checkpoint=where, task=run.task,
                        model_name=str(hp["model_name"]), model_args=dict(hp["model_args"]),
                        model=model_from_checkpoint(ckpt, where, run.task), meta=dict(meta))
