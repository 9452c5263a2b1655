"""The engine shared by every task: settings, Trainer, run lifecycle, distributed ownership.

``fit(task, values)`` trains a registered task into a fresh run directory (see ``docs/engine.md``).
"""

from simrnn.engine.distributed import RUN_DIR_ENV, claim_run_dir, global_rank, run_dir_exported
from simrnn.engine.lifecycle import TrainingInterrupted, finish_run, fit, task_config
from simrnn.engine.settings import LOGGERS, TrainSettings, check_trainer_settings
from simrnn.engine.taskspec import Evaluation, Task, TaskData
from simrnn.engine.trainer import build_trainer
from simrnn.registry import get_task, register_task, task_names

__all__ = [
    "LOGGERS", "RUN_DIR_ENV", "Evaluation", "Task", "TaskData", "TrainSettings", "TrainingInterrupted",
    "build_trainer", "check_trainer_settings", "claim_run_dir", "finish_run", "fit", "get_task", "global_rank",
    "register_task", "run_dir_exported", "task_config", "task_names",
]
