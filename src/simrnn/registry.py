"""One model registry for every task, filled where each model class is defined.

The command line choices, the sweep choices and checkpoint loading all derive from it::

    @register_model("lstm", task="sequence")
    class ParamConditionedLSTM(nn.Module): ...

    build_model("lstm", n_input_features=1, n_params=6, n_outputs=7)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from simrnn.errors import UserInputError


@dataclass(frozen=True)
class ModelEntry:
    name: str
    task: str
    cls: type


_MODELS: dict[str, ModelEntry] = {}


def register_model(name: str, task: str) -> Callable[[type], type]:
    """Class decorator adding a model to the registry under ``name`` for ``task``."""

    def decorate(cls: type) -> type:
        if name in _MODELS and _MODELS[name].cls is not cls:
            raise ValueError(f"model name {name!r} is registered twice")
        _MODELS[name] = ModelEntry(name, task, cls)
        cls.registry_name = name
        return cls

    return decorate


#: modules whose import registers models (add a family's models module here).
MODEL_MODULES = ("simrnn.sequence.model",)


def _import_model_modules() -> None:
    """Import the modules that define models so that their registrations run."""
    import importlib

    for module in MODEL_MODULES:
        importlib.import_module(module)


def model_names(task: str | None = None) -> list[str]:
    """Registered model names, optionally only those of one task, sorted."""
    _import_model_modules()
    return sorted(n for n, e in _MODELS.items() if task is None or e.task == task)


def build_model(name: str, **model_args: Any):
    """Instantiate the registered model ``name`` with its constructor arguments."""
    _import_model_modules()
    if name not in _MODELS:
        raise UserInputError(f"unknown model {name!r}; expected one of {', '.join(model_names())}.")
    return _MODELS[name].cls(**model_args)
