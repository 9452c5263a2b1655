"""One registry for every task and model, filled where each class is defined.

The command line choices, the sweep choices and checkpoint loading all derive from it::

    @register_model("lstm", task="sequence")
    class ParamConditionedLSTM(nn.Module): ...

    build_model("lstm", n_input_features=1, n_params=6, n_outputs=7, hidden_size=8, dense_size=8)

A *task package* has a ``task`` module and a ``config`` module defining its settings class:
``simrnn.sequence``, ``simrnn.fields``, or a package of one's own made known through the entry-point
group ``simrnn.tasks`` or ``$SIMRNN_TASKS`` (:func:`task_packages`). Model names are read from the
``@register_model`` decorators in its source (:func:`declared_models`), and the defining module is
imported when a model is built; importing its ``task`` module registers the task
(:func:`register_task`). Adding a task means adding its folder: nothing here lists them.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib.metadata import entry_points
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


#: entry-point group through which an installed package adds a task: ``name = "package.path"``.
ENTRY_POINT_GROUP = "simrnn.tasks"
#: environment variable naming task packages on ``sys.path`` (comma-separated), for a task folder
#: of one's own that is not installed; read once per process (:mod:`simrnn.environment`).
TASKS_ENV = "SIMRNN_TASKS"


@dataclass(frozen=True)
class TaskPackage:
    """Where a task lives: ``package.config`` (settings, read without Lightning), ``package.task``
    (the :class:`simrnn.engine.Task`, registered on import) and, optionally, ``commands`` (a module
    whose ``app`` is a Typer group of the task's own commands, mounted as ``simrnn <name> ...``)."""

    name: str
    package: str
    commands: str | None


def _has_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


@cache
def task_packages() -> dict[str, TaskPackage]:
    """Every task package, by name, found without importing any (so ``simrnn --help`` stays fast).

    1. sub-packages of :mod:`simrnn` that have a ``task.py`` (commands in ``simrnn.cli.<name>``);
    2. installed plugins: entry points of the group ``simrnn.tasks`` (``name = "package"``);
    3. packages named in ``$SIMRNN_TASKS`` (``a.b,c``; the task name is the last component).

    Plugins keep their commands in ``<package>.commands`` (optional). A name found twice is an error.
    """
    import simrnn
    from simrnn.environment import environment

    found: dict[str, TaskPackage] = {}

    def add(name: str, package: str, commands: str) -> None:
        if name in found and found[name].package != package:
            raise UserInputError(f"task {name!r} is provided by both {found[name].package} and {package}; "
                                 f"remove one (entry point group {ENTRY_POINT_GROUP} or ${TASKS_ENV}).")
        found[name] = TaskPackage(name, package, commands if _has_module(commands) else None)

    for info in pkgutil.iter_modules(simrnn.__path__):
        if info.ispkg and (Path(info.module_finder.path) / info.name / "task.py").is_file():
            add(info.name, f"simrnn.{info.name}", f"simrnn.cli.{info.name}")
    for point in entry_points(group=ENTRY_POINT_GROUP):
        add(point.name, point.value, f"{point.value}.commands")
    for package in environment().tasks:
        if not _has_module(package):
            raise UserInputError(f"${TASKS_ENV}: task package {package!r} cannot be imported (not on sys.path).")
        add(package.rpartition(".")[2], package, f"{package}.commands")
    return dict(sorted(found.items()))


def rediscover() -> None:
    """Forget the task packages and declared models found so far (after ``$SIMRNN_TASKS`` changed)."""
    task_packages.cache_clear()
    declared_models.cache_clear()


def task_names() -> tuple[str, ...]:
    """Names of the task packages, sorted."""
    return tuple(task_packages())


def _package(name: str) -> str:
    if name not in task_packages():
        raise UserInputError(f"unknown task {name!r}; expected one of {', '.join(task_names())}.")
    return task_packages()[name].package


@cache
def declared_models() -> dict[str, tuple[str, str]]:
    """``{model name: (task, module)}`` read from the ``@register_model("name", task="...")`` decorators in
    the task packages' source, without importing them: the CLI lists models (``--help``) without
    loading PyTorch; :func:`build_model` imports the module that registers the model."""
    found = {}
    for task, entry in task_packages().items():
        spec = importlib.util.find_spec(entry.package)
        for folder in map(Path, spec.submodule_search_locations or []):
            for path in sorted(folder.rglob("*.py")):
                module = ".".join((entry.package, *path.relative_to(folder).with_suffix("").parts))
                module = module.removesuffix(".__init__")
                for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                    if (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "register_model"
                            and node.args and isinstance(node.args[0], ast.Constant)):
                        owner = next((k.value.value for k in node.keywords if k.arg == "task"
                                      and isinstance(k.value, ast.Constant)), task)
                        found[node.args[0].value] = (owner, module)
    return found


def get_task(name: str) -> Any:
    """The registered task ``name`` (importing its ``task`` module); a one-line error if unknown."""
    importlib.import_module(f"{_package(name)}.task")
    return _TASKS[name]


def config_class(name: str) -> type:
    """The settings dataclass of task ``name``: the TrainSettings subclass its ``config`` module defines.

    Reading it imports neither Lightning nor the task's training code (``--help`` stays fast); it
    is the same class as ``get_task(name).config_class``.
    """
    from simrnn.engine.settings import TrainSettings

    module = importlib.import_module(f"{_package(name)}.config")
    (cls,) = [c for c in vars(module).values() if isinstance(c, type) and issubclass(c, TrainSettings)
              and c.__module__ == module.__name__]
    return cls


def run_model_names(task: str) -> list[str]:
    """Models a checkpoint of a ``task`` run may hold: the task's own and its families ``<task>-<family>``
    (a fields run trained with ``--target temperature`` holds a ``fields-temperature`` model)."""
    entries = {n: e.task for n, e in _MODELS.items()} | {n: t for n, (t, _) in declared_models().items()}
    return sorted(n for n, t in entries.items() if t == task or t.startswith(f"{task}-"))


def model_names(task: str | None = None) -> list[str]:
    """Registered model names (declared in the source or registered at run time), optionally of one task, sorted."""
    entries = {n: e.task for n, e in _MODELS.items()} | {n: t for n, (t, _) in declared_models().items()}
    return sorted(n for n, t in entries.items() if task is None or t == task)


def model_class(name: str) -> type:
    """The class registered as model ``name`` (importing its module); a one-line error if unknown."""
    if name not in _MODELS and name in declared_models():
        importlib.import_module(declared_models()[name][1])
    if name not in _MODELS:
        raise UserInputError(f"unknown model {name!r}; expected one of {', '.join(model_names())}.")
    return _MODELS[name].cls


def build_model(name: str, **model_args: Any):
    """Instantiate the registered model ``name`` with its constructor arguments."""
    return model_class(name)(**model_args)
