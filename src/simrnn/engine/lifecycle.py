"""The whole life of a training run, the same for every task: :func:`fit`.

validate the settings (nothing written yet) -> load the data (nothing written yet) -> claim a fresh
run directory (rank 0 under DDP) -> config.json -> Trainer -> fit, or resume from
``checkpoints/last.ckpt`` (read through the safe checkpoint reader) -> evaluate the BEST checkpoint
on the test split -> test_results.json -> loss figure. See ``docs/engine.md``.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import math
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback

from simrnn.checkpoints import check_checkpoint, model_from_checkpoint, read_checkpoint
from simrnn.config import build_config, config_to_dict
from simrnn.engine.distributed import global_rank, run_dir_exported
from simrnn.engine.settings import RESUMABLE_ENGINE_KEYS, TrainSettings, check_trainer_settings
from simrnn.engine.taskspec import Evaluation, Task, TaskData
from simrnn.engine.threads import is_cpu_single_process, training_threads
from simrnn.engine.trainer import build_trainer, lightning_warnings_filtered, log_version, logger_record
from simrnn.engine.warm_start import (
    Source,
    fine_tuning_data,
    fine_tuning_values,
    load_source_weights,
    source_run,
)
from simrnn.errors import Interrupted, UserInputError
from simrnn.files import read_json, to_jsonable, write_json_atomic
from simrnn.plots import plot_training_losses
from simrnn.registry import get_task, model_names
from simrnn.runs import (
    BEST_CHECKPOINT,
    CHECKPOINT_DIR,
    CONFIG_FILE,
    HISTORY_FILE,
    LOSS_FIGURE,
    TEST_RESULTS_FILE,
    Run,
    check_record,
    run_record,
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
        cfg = build_config(task.config_class, dict(values or {}), source=source, ignored=task.ignored_keys)
    for f in fields(cfg):
        value = getattr(cfg, f.name)
        if isinstance(value, float) and not math.isfinite(value):
            raise UserInputError(f"{source}: {f.name!r} is {value}; expected a finite number.")
    names = model_names(task.name)
    if cfg.model not in names:
        raise UserInputError(f"{source}: 'model' is {cfg.model!r}; expected one of {', '.join(names)}.")
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
            The run is locked while it trains: a second ``resume`` of it is refused.
        callbacks: extra Lightning callbacks (e.g. an Optuna pruning callback), run first.
        source: what to name in error messages (the config file, ``command line`` ...).
    """
    task = get_task(task) if isinstance(task, str) else task
    if resume is None:
        origin = source_run(task, values)
        if origin is not None:
            values = fine_tuning_values(task, values, origin)
        return _fit(task, task_config(task, values, source=source), None, None, values, callbacks, origin)
    with contextlib.ExitStack() as stack:
        run = Run.open(resume, task.name, which=None)
        if global_rank() == 0:  # DDP workers re-run this command inside rank 0's training
            stack.enter_context(run.locked())
        cfg = _resumed_config(task, run, dict(values or {}))
        last = run.checkpoint_path("last")
        ckpt = read_checkpoint(last)  # a foreign or crafted file is refused before Lightning reads it
        check_checkpoint(ckpt, last, task.name)
        _check_more_epochs(cfg, ckpt, last)
        return _fit(task, cfg, run, last, values, callbacks)


def _fit(task: Task, cfg: TrainSettings, run: Run | None, last: Path | None, overrides: Any,
         callbacks: Sequence[Callback], origin: Source | None = None) -> Path:
    """Train a new run (``run`` None; ``origin``: the run ``init_from`` starts from) or resume ``run``."""
    if origin is not None:
        data = fine_tuning_data(task, cfg, origin.run.meta, origin.model_args, origin.run)
    elif run is not None and cfg.init_from:  # a fine-tuned run keeps its source's normalisation
        data = fine_tuning_data(task, cfg, run.config["data_meta"], run.config["model"]["args"], None)
    else:
        data = task.load_data(cfg)
    if run is not None:
        _check_same_data(run, data)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    module = task.build_module(cfg, data)
    if origin is not None:
        load_source_weights(module, origin.run)
    missing = [k for k in _REQUIRED_HPARAMS if k not in module.hparams]
    if missing:
        raise TypeError(f"{type(module).__name__} must save_hyperparameters() {', '.join(missing)}")
    single = is_cpu_single_process(cfg.accelerator, cfg.devices, cfg.num_nodes, cfg.strategy)
    with training_threads(cfg.threads, module, data.datamodule, single) as threads:
        L.seed_everything(cfg.seed, workers=True, verbose=False)  # the thread probe drew a batch
        log_name = log_version(run.path if run else None, resuming=last is not None)
        if run is None:
            record = _new_record(task, cfg, data, log_name)
            check_record(record, f"{data.record.get('file')}: its run record")  # NaN/inf: before any folder
            run = Run.create(cfg.runs_root, task.name, record)
        else:
            run.write_record(_resumed_record(run.config, cfg, overrides, log_name, threads))
        trainer = build_trainer(run.path, cfg, log_name=log_name, callbacks=callbacks,
                                monitor=task.monitor, mode=task.monitor_mode)
        try:
            with lightning_warnings_filtered(), run_dir_exported(run.path):
                trainer.fit(module, datamodule=data.datamodule, ckpt_path=str(last) if last else None,
                            weights_only=True)
        except SystemExit:
            if not trainer.interrupted:
                raise
            raise TrainingInterrupted(
                f"training stopped in epoch {trainer.current_epoch}; the run is kept in {run.path} with its last "
                f"complete epoch in checkpoints/last.ckpt (continue with resume {run.path})", key="resume"
            ) from None
        if trainer.is_global_zero:
            finish_run(task, run.path, cfg, data)
    return run.path


def finish_run(task: Task, run_dir: Path, cfg: TrainSettings, data: TaskData) -> dict[str, Any]:
    """Loss figure, then the BEST checkpoint evaluated on the test split into test_results.json."""
    history = read_json(Path(run_dir) / HISTORY_FILE)
    plot_training_losses(history, Path(run_dir) / LOSS_FIGURE, title=f"{cfg.model}, run {Path(run_dir).name}")
    best_path = Path(run_dir) / CHECKPOINT_DIR / BEST_CHECKPOINT
    best = read_checkpoint(best_path)
    evaluation: Evaluation = task.evaluate(model_from_checkpoint(best, best_path, task.name), data, cfg)
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
    write_json_atomic(Path(run_dir) / TEST_RESULTS_FILE, results)
    return results


def _check_more_epochs(cfg: TrainSettings, last: dict[str, Any], where: Path) -> None:
    """Refuse a resume whose ``epochs`` does not go beyond the epochs ``last.ckpt`` has trained."""
    trained = int(last.get("epoch", -1)) + 1
    if cfg.epochs <= trained:
        raise UserInputError(f"{where}: the run has trained {trained} epochs already; resume with epochs above "
                             f"{trained} (got {cfg.epochs}).")


def _resumed_config(task: Task, run: Run, overrides: dict[str, Any]) -> TrainSettings:
    """The run's saved settings with ``overrides`` applied; only resumable keys may change."""
    source = str(run.path / CONFIG_FILE)
    saved = run.config
    if not isinstance(saved.get("settings"), dict) or not isinstance(saved.get("data"), dict):
        raise UserInputError(f"{source}: not a simrnn training record (no settings/data sections); "
                             "only trained runs can be resumed.")
    known = {f.name for f in fields(task.config_class)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise UserInputError(f"{run.path}: unknown setting(s) {', '.join(unknown)} for a {task.name} run.")
    settings = {k: v for k, v in saved["settings"].items() if k in known}
    cfg = task_config(task, {**settings, **overrides}, source=source)
    new = to_jsonable(config_to_dict(cfg))
    allowed = RESUMABLE_ENGINE_KEYS | task.resumable_keys
    fixed = sorted(k for k in overrides if k not in allowed and new[k] != saved["settings"].get(k))
    if fixed:
        raise UserInputError(
            f"{run.path}: cannot change {', '.join(fixed)} when resuming; only "
            f"{', '.join(sorted(allowed))} may change (start a new run otherwise)."
        )
    return cfg


def _check_same_data(run: Run, data: TaskData) -> None:
    if data.record.get("sha256") != run.config["data"].get("sha256"):
        raise UserInputError(
            f"{data.record.get('file')}: the data file changed since {run.path} was created (SHA-256 differs); "
            "resume with the original file or start a new run."
        )


def _new_record(task: Task, cfg: TrainSettings, data: TaskData, log_name: str) -> dict[str, Any]:
    """config.json of a new run (:func:`simrnn.runs.run_record`; torch_threads: the count this training uses)."""
    return run_record(task.name, settings=config_to_dict(cfg), data=data.record, model_name=cfg.model,
                      model_args=data.model_args, data_meta=data.data_meta,
                      loggers=logger_record(cfg.logger, log_name))


def _resumed_record(saved: dict[str, Any], cfg: TrainSettings, overrides: Any, log_name: str,
                    threads: int) -> dict[str, Any]:
    """The saved record with the new settings and one more ``resumed`` entry."""
    record = dict(saved, settings=config_to_dict(cfg))
    record["resumed"] = [*saved.get("resumed", []), {
        "at": _dt.datetime.now().isoformat(timespec="seconds"), "overrides": dict(overrides or {}),
        "loggers": logger_record(cfg.logger, log_name), "torch_threads": threads}]
    return record
