"""The engine shared by every task: settings, Trainer, run lifecycle, distributed ownership.

``fit(task, values)`` trains a registered task into a fresh run directory (see ``docs/engine.md``).
Names are imported on first use, so that reading a task's settings (``simrnn ... --help``) does
not load Lightning.
"""

import importlib

_EXPORTS = {
    "RUN_DIR_ENV": "distributed", "claim_run_dir": "distributed", "global_rank": "distributed",
    "run_dir_exported": "distributed",
    "TrainingInterrupted": "lifecycle", "finish_run": "lifecycle", "fit": "lifecycle", "task_config": "lifecycle",
    "LOGGERS": "settings", "TrainSettings": "settings", "check_trainer_settings": "settings",
    "Evaluation": "taskspec", "Task": "taskspec", "TaskData": "taskspec",
    "build_trainer": "trainer",
}
_REGISTRY_EXPORTS = ("get_task", "register_task", "task_names")

__all__ = sorted([*_EXPORTS, *_REGISTRY_EXPORTS])


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"simrnn.engine.{_EXPORTS[name]}"), name)
    if name in _REGISTRY_EXPORTS:
        return getattr(importlib.import_module("simrnn.registry"), name)
    raise AttributeError(f"module 'simrnn.engine' has no attribute {name!r}")
