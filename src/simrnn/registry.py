"""One registry for every task and model, filled where each class is defined.

The command line choices, the sweep choices and checkpoint loading all derive from it::

    @register_model("lstm", task="sequence")
    class ParamConditionedLSTM(nn.Module): ...

    build_model("lstm", n_input_features=1, n_params=6, n_outputs=7, hidden_size=8, dense_size=8)

A *task package* is a sub-package of :mod:`simrnn` with a ``task`` module (``simrnn.sequence``,
``simrnn.fields``, ...) and a ``config`` module defining its settings class. Model names are read
from the ``@register_model`` decorators in its source (:func:`declared_models`), and the defining
module is imported when a model is built; importing its ``task`` module registers the task
(:func:`register_task`). Adding a task means adding its folder: nothing here lists them.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from simrnn.errors import UserInputError


@dataclass(frozen=True)
class ModelEntry:
    name: str
    task: str
    cls: type


_MODELS: dict[str, ModelEntry] = {}
_TASKS: dict[str, Any] = {}


def register_model(name: str, task: str) -> Callable[[type], type]:
    """Class decorator adding a model to the registry under ``name`` for ``task``."""

    def decorate(cls: type) -> type:
        if name in _MODELS and _MODELS[name].cls is not cls:
            raise ValueError(f"model name {name!r} is registered twice")
        _MODELS[name] = ModelEntry(name, task, cls)
        cls.registry_name = name
        return cls

    return decorate


def register_task(task: Any) -> Any:
    """Add a task object (see :class:`simrnn.engine.Task`) under its ``name``; returns it."""
    if task.name in _TASKS and type(_TASKS[task.name]) is not type(task):
        raise ValueError(f"task name {task.name!r} is registered twice")
    _TASKS[task.name] = task
    return task


@cache
def task_names() -> tuple[str, ...]:
    """Names of the task packages: sub-packages of simrnn that have a ``task`` module, sorted."""
    import simrnn

    return tuple(sorted(
        info.name for info in pkgutil.iter_modules(simrnn.__path__)
        if info.ispkg and (Path(info.module_finder.path) / info.name / "task.py").is_file()
    ))


@cache
def declared_models() -> dict[str, tuple[str, str]]:
    """``{model name: (task, module)}`` read from the ``@register_model("name", task="...")`` decorators in
    the task packages' source, without importing them: the CLI lists models (``--help``) without
    loading PyTorch; :func:`build_model` imports the module that registers the model."""
    import simrnn

    found = {}
    for task in task_names():
        folder = Path(simrnn.__path__[0]) / task
        for path in sorted(folder.rglob("*.py")):
            module = ".".join(("simrnn", *path.relative_to(folder.parent).with_suffix("").parts))
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "register_model"
                        and node.args and isinstance(node.args[0], ast.Constant)):
                    owner = next((k.value.value for k in node.keywords if k.arg == "task"
                                  and isinstance(k.value, ast.Constant)), task)
                    found[node.args[0].value] = (owner, module)
    return found


def get_task(name: str) -> Any:
    """The registered task ``name`` (importing its ``task`` module); a one-line error if unknown."""
    if name not in task_names():
        raise UserInputError(f"unknown task {name!r}; expected one of {', '.join(task_names())}.")
    importlib.import_module(f"simrnn.{name}.task")
    return _TASKS[name]


def config_class(name: str) -> type:
    """The settings dataclass of task ``name``: the TrainSettings subclass its ``config`` module defines.

    Reading it imports neither Lightning nor the task's training code (``--help`` stays fast); it
    is the same class as ``get_task(name).config_class``.
    """
    from simrnn.engine.settings import TrainSettings

    if name not in task_names():
        raise UserInputError(f"unknown task {name!r}; expected one of {', '.join(task_names())}.")
    module = importlib.import_module(f"simrnn.{name}.config")
    (cls,) = [c for c in vars(module).values() if isinstance(c, type) and issubclass(c, TrainSettings)
              and c.__module__ == module.__name__]
    return cls


def model_names(task: str | None = None) -> list[str]:
    """Registered model names (declared in the source or registered at run time), optionally of one task, sorted."""
    entries = {n: e.task for n, e in _MODELS.items()} | {n: t for n, (t, _) in declared_models().items()}
    return sorted(n for n, t in entries.items() if task is None or t == task)


def build_model(name: str, **model_args: Any):
    """Instantiate the registered model ``name`` with its constructor arguments (importing its module)."""
    if name not in _MODELS and name in declared_models():
        importlib.import_module(declared_models()[name][1])
    if name not in _MODELS:
        raise UserInputError(f"unknown model {name!r}; expected one of {', '.join(model_names())}.")
    return _MODELS[name].cls(**model_args)
