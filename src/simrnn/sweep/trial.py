"""One sweep trial: sample its settings, train a normal run through :func:`simrnn.engine.fit`,
report the validation loss every epoch (so the pruner can stop it), return the objective.

The trial records on itself (user attributes): ``settings`` (the searched values, types kept)
and ``run_dir`` (set as soon as training starts, so pruned and killed trials have it too).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import lightning as L
import optuna
from lightning.pytorch.callbacks import Callback

from simrnn.errors import TrainingDivergedError, UserInputError
from simrnn.files import read_json
from simrnn.runs import HISTORY_FILE, TEST_RESULTS_FILE
from simrnn.sweep.spec import MetricSpec, SweepSpec

RUN_DIR_ATTR = "run_dir"
SETTINGS_ATTR = "settings"
FAILURE_ATTR = "failure"


class SurplusTrial(Exception):
    """A grid worker drew a grid point that another worker already runs; nothing is trained."""


class PruningCallback(Callback):
    """Report the objective to the trial after every validation epoch; stop training when it should be pruned.

    The pruner watches the sweep metric when the task logs it every epoch (``val_loss``,
    ``val_mae`` ...), otherwise the task's monitored metric (:attr:`simrnn.engine.Task.monitor`),
    negated when its direction differs from the study's so that the pruner's "better" always
    agrees with the study's direction. A pruned trial stops at the end of its
    epoch (``trainer.should_stop``), so its run directory is complete: history, checkpoints and
    test results of the epochs it trained. :func:`run_trial` then raises ``optuna.TrialPruned``.
    """

    def __init__(self, trial: optuna.Trial, metric: MetricSpec, monitor: str = "val_loss",
                 monitor_mode: str = "min") -> None:
        self.trial, self.metric, self.monitor = trial, metric, monitor
        self.monitor_sign = 1.0 if (metric.goal == "minimize") == (monitor_mode == "min") else -1.0
        self.pruned: str | None = None

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.is_global_zero:
            self.trial.set_user_attr(RUN_DIR_ATTR, str(Path(trainer.default_root_dir).resolve()))

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or self.pruned:
            return
        logged = trainer.callback_metrics
        if self.metric.name in logged:
            monitor, sign = self.metric.name, 1.0
        elif self.monitor in logged:
            monitor, sign = self.monitor, self.monitor_sign
        else:
            return
        value = float(logged[monitor])
        epoch = trainer.current_epoch
        if math.isfinite(value):
            self.trial.report(sign * value, step=epoch)
        if self.trial.should_prune():
            self.pruned = f"pruned after epoch {epoch} ({monitor} {value:.4g})"
            trainer.should_stop = True


def objective_value(run_dir: str | Path, metric: MetricSpec, monitor: str = "val_loss",
                    monitor_mode: str = "min") -> float:
    """The objective of a finished run.

    A name logged per epoch (``val_loss``, ``val_mae`` ...) is taken from ``history.json`` at the best
    epoch (best ``monitor``, the task's monitored metric: the epoch of ``checkpoints/best.ckpt``);
    otherwise it is a test metric from ``test_results.json`` (computed with that checkpoint).
    """
    run_dir = Path(run_dir)
    history = read_json(run_dir / HISTORY_FILE)
    scored = [h for h in history if math.isfinite(h.get(monitor) if h.get(monitor) is not None else math.nan)]
    if scored and metric.name in scored[0]:
        pick = min if monitor_mode == "min" else max
        return float(pick(scored, key=lambda h: h[monitor])[metric.name])
    metrics = read_json(run_dir / TEST_RESULTS_FILE).get("metrics", {})
    if metric.name in metrics:
        return float(metrics[metric.name])
    logged = sorted(set(history[0]) - {"epoch"}) if history else []
    raise UserInputError(
        f"sweep metric {metric.name!r} is neither logged per epoch ({', '.join(logged)}) nor a test metric "
        f"({', '.join(sorted(metrics))}) of {run_dir}."
    )


def is_surplus_grid_trial(trial: optuna.Trial) -> bool:
    """Whether an earlier trial that has not failed already holds this trial's grid point.

    Optuna's GridSampler gives trial ``k < grid size`` grid point ``k``; later trials (after a
    failure, or racing workers) draw among unvisited points and may collide with a running one.
    The lower trial number keeps the point, so no grid point is trained twice.
    """
    trials = trial.study.get_trials(deepcopy=False)
    mine = next(t for t in trials if t.number == trial.number)
    grid_id = mine.system_attrs.get("grid_id")
    return any(t.number < trial.number and t.system_attrs.get("grid_id") == grid_id
               and t.state != optuna.trial.TrialState.FAIL for t in trials)


def run_trial(trial: optuna.Trial, spec: SweepSpec, task: Any) -> float:
    """Train one trial of ``spec`` for ``task`` (a registered task or its name); return the objective.

    Raises ``optuna.TrialPruned`` when pruned, :class:`SurplusTrial` for a grid point already taken.
    """
    from simrnn import engine

    task = engine.get_task(task) if isinstance(task, str) else task
    if spec.method == "grid" and is_surplus_grid_trial(trial):
        trial.set_user_attr(FAILURE_ATTR, "surplus: another worker holds this grid point")
        trial.study.stop()
        raise SurplusTrial(f"trial {trial.number}: grid point already taken")
    values = spec.sample(trial)
    searched = {p.name: values[p.name] for p in spec.parameters}
    trial.set_user_attr(SETTINGS_ATTR, searched)
    pruning = PruningCallback(trial, spec.metric, task.monitor, task.monitor_mode)
    try:
        # no progress bar in trials unless the sweep asks for one: a worker's log stays readable
        run_dir = engine.fit(task, {"progress_bar": False, **values}, callbacks=[pruning],
                             source=f"sweep trial {trial.number}")
    except TrainingDivergedError as exc:
        trial.set_user_attr(FAILURE_ATTR, f"diverged: {exc}")
        raise
    trial.set_user_attr(RUN_DIR_ATTR, str(Path(run_dir).resolve()))
    if pruning.pruned:
        raise optuna.TrialPruned(pruning.pruned)
    return objective_value(run_dir, spec.metric, task.monitor, task.monitor_mode)

