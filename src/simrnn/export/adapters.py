"""Which adapter turns a loaded model into an :class:`~simrnn.export.plan.ExportPlan`.

Adapters are found through the model registry (:mod:`simrnn.registry`), never by listing models:
first by the model's class (its MRO, so every subclass of a registered base is covered), then by
the task the model is registered for. A new model family adds one decorated function::

    @register_adapter(FieldModel)                  # the class and its subclasses
    def field_plan(model, meta) -> ExportPlan: ...

    @register_adapter(task="fields-temperature")   # every model registered for the task
    def temperature_plan(model, meta) -> ExportPlan: ...
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from simrnn.errors import UserInputError
from simrnn.export.plan import ExportPlan
from simrnn.registry import model_names

Adapter = Callable[[torch.nn.Module, dict[str, Any]], ExportPlan]

_BY_CLASS: dict[type, Adapter] = {}
_BY_TASK: dict[str, Adapter] = {}


def register_adapter(cls: type | None = None, *, task: str | None = None) -> Callable[[Adapter], Adapter]:
    """Decorator registering an adapter for a model class (and its subclasses) or for a whole task."""
    if (cls is None) == (task is None):
        raise ValueError("register_adapter takes exactly one of a model class or task=")

    def decorate(adapter: Adapter) -> Adapter:
        if cls is not None:
            _BY_CLASS[cls] = adapter
        else:
            _BY_TASK[task] = adapter
        return adapter

    return decorate


def _load_family_adapters() -> None:
    """Import the adapters shipped with simrnn (they register themselves)."""
    from simrnn.export import fields, sequence  # noqa: F401


def adapter_for(model: torch.nn.Module, where: str) -> Adapter:
    """The adapter of ``model`` (class first, then registered task); one sentence if there is none."""
    _load_family_adapters()
    for cls in type(model).__mro__:
        if cls in _BY_CLASS:
            return _BY_CLASS[cls]
    name = getattr(type(model), "registry_name", type(model).__name__)
    for task, adapter in _BY_TASK.items():
        if name in model_names(task):
            return adapter
    raise UserInputError(f"{where}: model {name!r} has no exporter yet; exportable families: "
                         f"{', '.join(sorted([c.__name__ for c in _BY_CLASS] + [f'{t} task' for t in _BY_TASK]))}.")


def build_plan(model: torch.nn.Module, meta: dict[str, Any], where: str) -> ExportPlan:
    """The export plan of a loaded model with its checkpoint's ``data_meta``."""
    return adapter_for(model, where)(model, meta)
