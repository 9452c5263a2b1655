"""The worker loop: run trials of one study until it has enough of them.

``trials`` is the size of the STUDY, not of this process: every worker (one ``simrnn sweep run``,
or N ``simrnn sweep worker`` processes on N nodes) keeps starting trials until the study holds
that many finished or running ones, so re-running the same command after a crash finishes the
study instead of starting over, and workers share the work without counting each other's trials.
A grid sweep stops when every grid point is taken.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import optuna
from optuna.trial import FrozenTrial, TrialState

from simrnn.engine import get_task, task_config
from simrnn.errors import Interrupted, TrainingDivergedError, UserInputError
from simrnn.sweep.spec import SweepSpec, parse_sweep
from simrnn.sweep.study import database_sentence, make_sampler, optuna_quiet
from simrnn.sweep.trial import FAILURE_ATTR, SurplusTrial, run_trial

#: study user attribute: how many trials the study should have (set by ``sweep run --trials``).
TARGET_ATTR = "simrnn_trials"
DEFAULT_TRIALS = 20
_COUNTED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.WAITING)


def counted_trials(trials: list[FrozenTrial]) -> int:
    """Trials that use up the study's budget: finished, running, queued, or failed by divergence.

    A trial whose worker was killed, or a surplus grid draw, does not count: it is replaced.
    """
    return sum(t.state in _COUNTED or str(t.user_attrs.get(FAILURE_ATTR, "")).startswith("diverged")
               for t in trials)


def wants_another(study: optuna.Study, spec: SweepSpec, target: int) -> bool:
    """Whether this worker should start one more trial (stale trials of dead workers are failed first)."""
    with optuna_quiet():
        optuna.storages.fail_stale_trials(study)
    trials = study.get_trials(deepcopy=False)
    if spec.metric.target is not None and _target_reached(trials, spec):
        return False
    if any(t.state == TrialState.WAITING for t in trials):
        return True  # a killed grid trial queued again
    if spec.method == "grid":
        taken = {t.system_attrs["grid_id"] for t in trials if "grid_id" in t.system_attrs}
        if len(taken) >= spec.grid_size():
            return False
    return counted_trials(trials) < target


def _target_reached(trials: list[FrozenTrial], spec: SweepSpec) -> bool:
    values = [t.value for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
    if not values:
        return False
    best = min(values) if spec.metric.goal == "minimize" else max(values)
    return best <= spec.metric.target if spec.metric.goal == "minimize" else best >= spec.metric.target


def check_sweep(spec: SweepSpec, task_name: str):
    """Check a sweep against its task before anything is created; return the task.

    Every setting must exist; the metric must be one the task reports (``task.metrics``); and the
    task's own validation must accept the fixed settings with every searched parameter at each end
    of its range and every categorical choice (``values: [8, 0]`` for a batch size fails here,
    not in trial 7).
    """
    task = get_task(task_name)
    spec.check_settings(task.config_class, task_name, getattr(task, "ignored_keys", frozenset()))
    reported = task.metrics
    if spec.metric.name not in reported:
        raise UserInputError(f"sweep metric {spec.metric.name!r} is not reported by task {task_name!r}; "
                             f"expected one of {', '.join(reported)}.")
    source = f"sweep {spec.file or spec.name or ''}".strip()
    for values in spec.settings_to_check():
        task_config(task, values, source=source)
    return task


def check_timeout(timeout: float | None) -> None:
    """``timeout`` must be a finite number of seconds >= 0 (or None)."""
    if timeout is not None and not (isinstance(timeout, (int, float)) and math.isfinite(timeout) and timeout >= 0):
        raise UserInputError(f"timeout {timeout!r}: expected a finite number of seconds, 0 or more.", key="timeout")


def work(study: optuna.Study, spec: SweepSpec, task_name: str, *, trials: int, storage: str,
         timeout: float | None = None, on_trial: Callable[[FrozenTrial], None] | None = None) -> int:
    """Run trials until :func:`wants_another` says no or ``timeout`` seconds have passed; return how many ran.

    A diverged trial is recorded as failed and the sweep goes on; any other error stops the worker
    (its trial is marked failed first) as ONE sentence: a user error as it is, a lost database
    connection as :func:`~simrnn.sweep.study.database_sentence`, Ctrl-C as
    :class:`~simrnn.errors.Interrupted` saying how to continue. Optuna's own failure log (a
    traceback per failed trial) is silenced.
    """
    check_timeout(timeout)
    task = check_sweep(spec, task_name)
    deadline = math.inf if timeout is None else time.monotonic() + timeout
    callbacks = [lambda _study, frozen: on_trial(frozen)] if on_trial else []
    ran = 0
    try:
        while time.monotonic() < deadline and wants_another(study, spec, trials):
            # reseed per trial: workers that share one sweep seed still draw different, reproducible points
            study.sampler = make_sampler(spec, spec.seed + len(study.get_trials(deepcopy=False)))
            with optuna_quiet(optuna.logging.ERROR):
                study.optimize(lambda trial: run_trial(trial, spec, task), n_trials=1,
                               catch=(TrainingDivergedError, SurplusTrial), callbacks=callbacks, gc_after_trial=True)
            ran += 1
    except KeyboardInterrupt:
        raise Interrupted(f"study {study.study_name!r} keeps every finished trial (the interrupted one is marked "
                          "failed and replaced); run the same sweep command again to continue it.") from None
    except UserInputError:
        raise
    except Exception as exc:
        sentence = database_sentence(exc, storage)
        if sentence is None:
            raise
        raise UserInputError(sentence, key="storage") from None
    return ran


def running_note(study: optuna.Study) -> str | None:
    """A note when trials are still marked running after this worker stopped (other workers, or killed ones)."""
    from simrnn.sweep.study import SPEC_ATTR

    running = [t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))]
    if not running:
        return None
    spec = parse_sweep(study.user_attrs[SPEC_ATTR], f"study {study.study_name}")
    grace = spec.grace_period or 2 * spec.heartbeat_interval
    return (f"trial(s) {', '.join(map(str, running))} are still marked running: other workers, or a worker that was "
            f"killed; a killed worker's trial is failed and replaced once its heartbeat is {grace} s old "
            "(simrnn.grace_period), so run the same command again after that.")
