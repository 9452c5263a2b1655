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

import inspect
from pathlib import Path
from typing import Any

import torch

from simrnn.errors import UserInputError
from simrnn.files import atomic_path
from simrnn.registry import build_model, model_class, model_names, run_model_names

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


def check_checkpoint(ckpt: dict[str, Any], where: str | Path = "checkpoint",
                     task: str | None = None) -> dict[str, torch.Tensor]:
    """Check a checkpoint from :func:`read_checkpoint` describes a model; return its weights (no prefix).

    Everything is checked without allocating the model: ``state_dict`` is a mapping of tensors,
    ``model_name`` is registered (a model of ``task`` or its families, if given), ``model_args`` is a mapping of the
    constructor's own keyword arguments, and the model, built first on PyTorch's ``meta`` device
    (shapes only, no memory), has exactly the checkpoint's tensor names and shapes. So a crafted
    ``hidden_channels: 100000`` is refused in one sentence naming ``where`` instead of allocating
    terabytes. Every refusal is a :class:`UserInputError` naming ``where`` and the key.
    """
    hp = ckpt["hyper_parameters"]
    state = ckpt.get("state_dict")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UserInputError(f"{where}: 'state_dict' is missing or not a mapping of tensors; not a simrnn checkpoint.")
    name, args = hp["model_name"], hp["model_args"]
    known = model_names() if task is None else run_model_names(task)
    if name not in known:
        raise UserInputError(f"{where}: hyper_parameters.model_name is {name!r}; expected one of {', '.join(known)}.")
    if not isinstance(args, dict) or not all(isinstance(k, str) for k in args):
        raise UserInputError(f"{where}: hyper_parameters.model_args must be a mapping of argument names, "
                             f"got a {type(args).__name__}.")
    parameters = inspect.signature(model_class(name)).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        unknown = sorted(set(args) - set(parameters))
        if unknown:
            raise UserInputError(f"{where}: hyper_parameters.model_args has unknown key(s) {', '.join(unknown)} "
                                 f"for model {name!r}; expected some of {', '.join(parameters)}.")
    weights = {k[len(MODEL_PREFIX):]: v for k, v in state.items() if k.startswith(MODEL_PREFIX)}
    _check_shapes(name, args, weights, where)
    return weights


def model_from_checkpoint(ckpt: dict[str, Any], where: str | Path = "checkpoint",
                          task: str | None = None) -> torch.nn.Module:
    """Build the registered model described by ``ckpt`` and load its weights (eval mode).

    The checkpoint is checked first (:func:`check_checkpoint`), so nothing is allocated for a
    crafted one.
    """
    weights = check_checkpoint(ckpt, where, task)
    hp = ckpt["hyper_parameters"]
    model = build_model(hp["model_name"], **hp["model_args"])
    model.load_state_dict(weights)
    return model.eval()


def _check_shapes(name: str, args: dict[str, Any], weights: dict[str, torch.Tensor], where: str | Path) -> None:
    """Build the model on the ``meta`` device and compare its tensors with the checkpoint's."""
    try:
        with torch.device("meta"):
            expected = {k: tuple(v.shape) for k, v in build_model(name, **args).state_dict().items()}
    except UserInputError as exc:
        raise UserInputError(f"{where}: hyper_parameters.model_args are refused by model {name!r}: {exc}") from None
    except (TypeError, ValueError, RuntimeError) as exc:
        raise UserInputError(f"{where}: hyper_parameters.model_args do not build model {name!r} "
                             f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}).") from None
    missing = sorted(set(expected) - set(weights))
    extra = sorted(set(weights) - set(expected))
    if missing or extra:
        what = f"lacks {MODEL_PREFIX}{missing[0]}" if missing else f"has the unexpected tensor {MODEL_PREFIX}{extra[0]}"
        raise UserInputError(f"{where}: state_dict {what} for model {name!r} with its model_args.")
    for key, shape in expected.items():
        if tuple(weights[key].shape) != shape:
            raise UserInputError(f"{where}: state_dict tensor {MODEL_PREFIX}{key} has shape {list(weights[key].shape)}, "
                                 f"but model_args give {list(shape)}; the checkpoint is inconsistent.")


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
