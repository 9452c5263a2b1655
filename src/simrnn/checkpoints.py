"""Self-describing checkpoints: a model loads from its checkpoint file alone.

A simrnn checkpoint is a Lightning checkpoint (a dict) whose ``hyper_parameters`` hold::

    model_name   registry name, e.g. "lstm"
    model_args   constructor keyword arguments
    data_meta    everything needed to feed the model and undo normalisation (task specific)
    simrnn_version

and whose ``state_dict`` keys start with ``model.``. Files are read with
``torch.load(weights_only=True)``, so only tensors and plain Python types are admitted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from simrnn.errors import UserInputError
from simrnn.files import atomic_path
from simrnn.registry import build_model

MODEL_PREFIX = "model."


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint dict safely on the CPU; one-line errors for missing or foreign files."""
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"{path}: checkpoint not found.")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise UserInputError(f"{path}: not a readable simrnn checkpoint ({type(exc).__name__}).") from None
    hp = ckpt.get("hyper_parameters") if isinstance(ckpt, dict) else None
    if not isinstance(hp, dict) or "model_name" not in hp or "model_args" not in hp:
        raise UserInputError(f"{path}: checkpoint lacks hyper_parameters.model_name/model_args.")
    return ckpt


def model_from_checkpoint(ckpt: dict[str, Any]) -> torch.nn.Module:
    """Build the registered model described by ``ckpt`` and load its weights (eval mode)."""
    hp = ckpt["hyper_parameters"]
    model = build_model(hp["model_name"], **hp["model_args"])
    state = {k[len(MODEL_PREFIX):]: v for k, v in ckpt["state_dict"].items() if k.startswith(MODEL_PREFIX)}
    model.load_state_dict(state)
    return model.eval()


def write_checkpoint(path: str | Path, model: torch.nn.Module, hyper_parameters: dict[str, Any]) -> Path:
    """Write a minimal self-describing checkpoint (used by importers; training uses Lightning)."""
    from simrnn import __version__

    hp = dict(hyper_parameters, simrnn_version=__version__)
    ckpt = {
        "state_dict": {MODEL_PREFIX + k: v.detach().cpu() for k, v in model.state_dict().items()},
        "hyper_parameters": hp,
        "epoch": 0,
        "global_step": 0,
    }
    with atomic_path(path) as tmp:
        torch.save(ckpt, tmp)
    return Path(path)
