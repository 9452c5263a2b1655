"""The whole life of a training run, the same for every task: :func:`fit`.

validate the settings (nothing written yet) -> load the data (nothing written yet) -> claim a fresh
run directory (rank 0 under DDP) -> config.json -> Trainer -> fit, or resume from
``checkpoints/last.ckpt`` (read through the safe checkpoint reader) -> evaluate the BEST checkpoint
on the test split -> test_results.json -> loss figure. See ``docs/engine.md``.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback

from simrnn.checkpoints import model_from_checkpoint, read_checkpoint
from simrnn.config import build_config, config_to_dict
from simrnn.cpu import cpu_model
from simrnn.engine.distributed import claim_run_dir, run_dir_exported
from simrnn.engine.settings import (
    RESUMABLE_ENGINE_KEYS,
    TrainSettings,
    available_cpu_cores,
    check_trainer_settings,
)
from simrnn.engine.taskspec import Evaluation, Task, TaskData
from simrnn.engine.threads import is_cpu_single_process, training_threads
from simrnn.engine.trainer import build_trainer, lightning_warnings_filtered, log_version, logger_record
from simrnn.errors import Interrupted, UserInputError
from simrnn.files import read_json, to_jsonable
from simrnn.plots import plot_training_losses
from simrnn.registry import get_task, model_names
from simrnn.runs import (
    CONFIG_FILE,
    HISTORY_FILE,
    LOSS_FIGURE,
    TEST_RESULTS_FILE,
    checkpoint_path,
    package_versions,
    require_run_dir,
    write_artifact,
)

_REQUIRED_HPARAMS = ("model_name", "model_args", "data_meta")


class TrainingInterrupted(Interrupted):
    """Ctrl+C stopped the training; the run directory is kept and can be resumed (the CLI exits 130)."""


def task_config(task: Task | str, values: dict[str, Any] | TrainSettings | None = None, *,
                source: str = "config") -> TrainSettings:
    """The task's config dataclass built from ``values`` (types coerced) and validated, or an error."""
    task = get_task(task) if isinstance(task, str) else task
    if isinstance(values, task.config_class):
        cfg = values
        cfg.validate(source)
    else:
        cfg = build_config(task.config_class, dict(values or {}), source=source,
                           ignored=getattr(task, "ignored_keys", frozenset()))
    names = model_names(task.name)
    if getattr(cfg, "model", None) not in names:
        raise UserInputError(f"{source}: 'model' is {getattr(cfg, 'model', None)!r}; expected one of {', '.join(names)}.")
    check_trainer_settings(cfg, source)
    return cfg


def fit(task: Task | str, values: dict[str, Any] | TrainSettings | None = None, *,
        resume: str | Path | None = None, callbacks: Sequence[Callback] = (), source: str = "config") -> Path:
    """Train a task into a fresh run directory, or resume one; return the run directory.

    Args:
        task: a registered task name (``"sequence"``, ``"fields"``) or a :class:`Task`.
        values: settings (keys of the task's config class); when resuming only the overrides,
            of which only resumable keys (epochs, patience, devices, ...) may differ.
        resume: a run directory whose ``checkpoints/last.ckpt`` is continued in place
            (history kept byte-identical up to that epoch, training goes on at the next one).
        callbacks: extra Lightning callbacks (e.g. an Optuna pruning callback), run first.
        source: what to name in error messages (the config file, ``command line`` ...).
    """
    task = get_task(task) if isinstance(task, str) else task
    if resume is None:
        cfg = task_config(task, values, source=source)
        saved, last = None, None
    else:
        run_dir = require_run_dir(resume)
        saved = _saved_config(run_dir, task)
        cfg = _resumed_config(task, run_dir, saved, dict(values or {}))
        last = checkpoint_path(run_dir, "last")
        read_checkpoint(last)  # refuse a foreign or malicious file before Lightning sees it
    data = task.load_data(cfg)
    if saved is not None:
        _check_same_data(run_dir, saved, data)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    module = task.build_module(cfg, data)
    missing = [k for k in _REQUIRED_HPARAMS if k not in module.hparams]
    if missing:
        raise TypeError(f"{type(module).__name__} must save_hyperparameters() {', '.join(missing)}")
    single = is_cpu_single_process(cfg.accelerator, cfg.devices, cfg.num_nodes, cfg.strategy)
    with training_threads(cfg.threads, module, data.datamodule, single) as threads:
        L.seed_everything(cfg.seed, workers=True, verbose=False)  # the thread probe drew a batch
        if saved is None:
            run_dir, is_owner = claim_run_dir(cfg.runs_root, task.name)
        else:
            is_owner = True
        log_name = log_version(run_dir, resuming=last is not None)
        if is_owner:
            record = _config_record(task, cfg, data, run_dir, log_name, saved, values, threads)
            write_artifact(run_dir, CONFIG_FILE, record)
        trainer = build_trainer(run_dir, cfg, log_name=log_name, callbacks=callbacks)
        try:
            with lightning_warnings_filtered(), run_dir_exported(run_dir):
                trainer.fit(module, datamodule=data.datamodule, ckpt_path=str(last) if last else None,
                            weights_only=True)
        except SystemExit:
            if not trainer.interrupted:
                raise
            raise TrainingInterrupted(
                f"training stopped in epoch {trainer.current_epoch}; the run is kept in {run_dir} with its last "
                f"complete epoch in checkpoints/last.ckpt (continue with --resume {run_dir})"
            ) from None
        if trainer.is_global_zero:
            finish_run(task, run_dir, cfg, data)
    return run_dir


def finish_run(task: Task, run_dir: Path, cfg: TrainSettings, data: TaskData) -> dict[str, Any]:
    """Loss figure, then the BEST checkpoint evaluated on the test split into test_results.json."""
    history = read_json(Path(run_dir) / HISTORY_FILE)
    plot_training_losses(history, Path(run_dir) / LOSS_FIGURE, title=f"{getattr(cfg, 'model', task.name)}, run {Path(run_dir).name}")
    best = read_checkpoint(checkpoint_path(run_dir, "best"))
    evaluation: Evaluation = task.evaluate(model_from_checkpoint(best), data, cfg)
    results = {
        "task": task.name,
        "model": best["hyper_parameters"]["model_name"],
        "checkpoint": "checkpoints/best.ckpt",
        "best_epoch": int(best.get("epoch", -1)),
        "epochs_trained": len(history),
        "metrics": evaluation.metrics,
        "higher_is_better": list(evaluation.higher_is_better),
        "baselines": evaluation.baselines,
        "details": evaluation.details,
    }
    write_artifact(run_dir, TEST_RESULTS_FILE, results)
    return results


def _saved_config(run_dir: Path, task: Task) -> dict[str, Any]:
    saved = read_json(Path(run_dir) / CONFIG_FILE)
    if not isinstance(saved, dict) or not isinstance(saved.get("settings"), dict) or not isinstance(saved.get("data"), dict):
        raise UserInputError(f"{run_dir / CONFIG_FILE}: not a simrnn run configuration (no settings/data sections).")
    if saved.get("task") != task.name:
        raise UserInputError(f"{run_dir}: a {saved.get('task')!r} run cannot be resumed as a {task.name!r} run.")
    return saved


def _resumed_config(task: Task, run_dir: Path, saved: dict[str, Any], overrides: dict[str, Any]) -> TrainSettings:
    """The run's saved settings with ``overrides`` applied; only resumable keys may change."""
    source = str(run_dir / CONFIG_FILE)
    known = {f.name for f in fields(task.config_class)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise UserInputError(f"{run_dir}: unknown setting(s) {', '.join(unknown)} for a {task.name} run.")
    settings = {k: v for k, v in saved["settings"].items() if k in known}
    cfg = task_config(task, {**settings, **overrides}, source=source)
    new = to_jsonable(config_to_dict(cfg))
    allowed = RESUMABLE_ENGINE_KEYS | task.resumable_keys
    fixed = sorted(k for k in overrides if k not in allowed and new[k] != saved["settings"].get(k))
    if fixed:
        raise UserInputError(
            f"{run_dir}: cannot change {', '.join(fixed)} when resuming; only "
            f"{', '.join(sorted(allowed))} may change (start a new run otherwise)."
        )
    return cfg


def _check_same_data(run_dir: Path, saved: dict[str, Any], data: TaskData) -> None:
    if data.record.get("sha256") != saved["data"].get("sha256"):
        raise UserInputError(
            f"{data.record.get('file')}: the data file changed since {run_dir} was created (SHA-256 differs); "
            "resume with the original file or start a new run."
        )


def _config_record(task: Task, cfg: TrainSettings, data: TaskData, run_dir: Path, log_name: str,
                   saved: dict[str, Any] | None, overrides: Any, threads: int) -> dict[str, Any]:
    """config.json: every setting, the data record, model, normalisation, versions, hardware, loggers."""
    now = _dt.datetime.now().isoformat(timespec="seconds")
    loggers = logger_record(run_dir, cfg.logger, log_name)
    if saved is not None:
        record = dict(saved, settings=config_to_dict(cfg))
        record.setdefault("resumed", []).append({"at": now, "overrides": dict(overrides or {}), "loggers": loggers,
                                                 "torch_threads": threads})
        return record
    return {
        "task": task.name,
        "created": now,
        "settings": config_to_dict(cfg),
        "data": data.record,
        "model": {"name": cfg.model, "args": data.model_args},
        "data_meta": data.data_meta,
        "versions": package_versions(),
        "hardware": hardware_record(),  # torch_threads: the count this training used (see engine/threads.py)
        "loggers": loggers,
    }


def hardware_record() -> dict[str, Any]:
    """The machine a run trained on: CPU model, usable cores, torch threads, CUDA devices."""
    cuda = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
    return {"cpu": cpu_model(), "cpu_cores": available_cpu_cores(), "torch_threads": torch.get_num_threads(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(), "cuda_devices": cuda}
