"""Hyper-parameter sweeps with Optuna, from Weights & Biases sweep files, for every task.

Example::

    from simrnn.sweep import run_sweep, best_run
    study = run_sweep("example_sweep.yaml", task="sequence", trials=20)   # SQLite in runs/sweeps.db
    run_dir = best_run(None, study.study_name)                           # ready for load_run(run_dir)

Many workers on many nodes share one study through PostgreSQL: ``run_sweep(..., storage=
"postgresql://user@host/db")`` once (or ``simrnn sweep run``), then ``run_worker(storage, name)``
(``simrnn sweep worker``) in every job. See ``docs/sweeps.md``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from simrnn.errors import UserInputError
from simrnn.sweep.spec import SweepSpec, load_sweep, parse_sweep
from simrnn.sweep.study import create_study, default_study_name, load_study, storage_url
from simrnn.sweep.trial import RUN_DIR_ATTR, SETTINGS_ATTR
from simrnn.sweep.worker import DEFAULT_TRIALS, TARGET_ATTR, check_sweep, check_timeout, running_note, work

__all__ = ["SweepSpec", "best_run", "best_trial", "check_sweep", "leaderboard", "load_sweep", "parse_sweep",
           "run_sweep", "run_worker", "running_note", "storage_url", "sweep_storage"]


def run_sweep(sweep: str | Path | Mapping[str, Any] | SweepSpec, task: str, *, trials: int | None = None,
              storage: str | None = None, study: str | None = None, timeout: float | None = None,
              on_trial: Callable[[FrozenTrial], None] | None = None) -> optuna.Study:
    """Create (or resume) the study of a W&B sweep for ``task`` and run trials in this process.

    Everything is checked before the storage or the study is created (see :func:`check_sweep`).

    Args:
        sweep: a W&B sweep file, dict or :class:`SweepSpec` (see :mod:`simrnn.sweep.spec`).
        task: a registered task name (``sequence``, ``fields``).
        trials: trials the study should hold (default: W&B ``run_cap``, else 20; a grid stops when done).
        storage: SQLAlchemy URL or SQLite file; default ``<runs_root>/sweeps.db``.
        study: study name; default the sweep's ``name``, else ``<task>-<file stem>``.
        timeout: seconds after which no new trial is started.
        on_trial: called with each finished trial (the CLI prints a line).
    """
    spec = sweep if isinstance(sweep, SweepSpec) else load_sweep(sweep)
    _check_trials(trials)
    check_timeout(timeout)
    check_sweep(spec, task)
    url = sweep_storage(spec, task, storage, create=True)
    name = study or default_study_name(spec, task, spec.file)
    opened = create_study(spec, task, url, name)
    target = trials or spec.run_cap or DEFAULT_TRIALS
    opened.set_user_attr(TARGET_ATTR, target)
    work(opened, spec, task, trials=target, storage=url, timeout=timeout, on_trial=on_trial)
    return opened


def sweep_storage(spec: SweepSpec, task: str, storage: str | None = None, *, create: bool = False) -> str:
    """The storage URL of a sweep: ``storage`` if given, else ``<runs_root>/sweeps.db`` beside its runs
    (the sweep's fixed ``runs_root``, else the task's default); see :func:`storage_url` for ``create``."""
    from simrnn.engine import get_task

    config_class = get_task(task).config_class
    runs_root = spec.fixed.get("runs_root") or next(
        f.default for f in dataclasses.fields(config_class) if f.name == "runs_root")
    return storage_url(storage, runs_root, create=create)


def run_worker(storage: str | None, study: str, *, trials: int | None = None, timeout: float | None = None,
               on_trial: Callable[[FrozenTrial], None] | None = None) -> optuna.Study:
    """Join an existing study (created by :func:`run_sweep`) and run trials until it has enough."""
    _check_trials(trials)
    check_timeout(timeout)
    url = storage_url(storage)
    opened, spec, task = load_study(url, study)
    target = trials or opened.user_attrs.get(TARGET_ATTR) or DEFAULT_TRIALS
    work(opened, spec, task, trials=target, storage=url, timeout=timeout, on_trial=on_trial)
    return opened


def _check_trials(trials: int | None) -> None:
    if trials is not None and (isinstance(trials, bool) or not isinstance(trials, int) or trials < 1):
        raise UserInputError(f"trials {trials!r}: expected 1 or more (the trials the study should hold).", key="trials")


def best_trial(storage: str | None, study: str) -> FrozenTrial:
    """The best complete trial of a study; a one-line error if none has completed (nothing is created)."""
    opened, _, _ = load_study(storage_url(storage), study)
    if not opened.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        raise UserInputError(f"study {study!r} has no complete trial yet.")
    return opened.best_trial


def best_run(storage: str | None, study: str) -> Path:
    """Run directory of the best trial, ready for ``simrnn.sequence.load_run`` (GrainLearning's
    ``get_best_run_from_sweep``)."""
    return Path(best_trial(storage, study).user_attrs[RUN_DIR_ATTR])


_STATE_ORDER = {TrialState.COMPLETE: 0, TrialState.PRUNED: 1, TrialState.RUNNING: 2, TrialState.WAITING: 3,
                TrialState.FAIL: 4}


def leaderboard(study: optuna.Study) -> list[dict[str, Any]]:
    """Every trial as a row (number, state, value, settings, epochs, run_dir), best first:
    complete trials by value in the study's direction, then pruned, running, failed."""
    sign = 1.0 if study.direction == optuna.study.StudyDirection.MINIMIZE else -1.0
    rows = []
    for t in study.get_trials(deepcopy=False):
        rows.append({
            "number": t.number, "state": t.state.name.lower(), "value": t.value,
            "settings": t.user_attrs.get(SETTINGS_ATTR, {}), "epochs": len(t.intermediate_values) or None,
            "run_dir": t.user_attrs.get(RUN_DIR_ATTR), "failure": t.user_attrs.get("failure"),
        })
    return sorted(rows, key=lambda r: (_STATE_ORDER[TrialState[r["state"].upper()]],
                                       sign * r["value"] if r["value"] is not None else 0.0, r["number"]))

