"""The objective, the pruning callback and the worker's stopping rules, without training."""

from __future__ import annotations

import json
import time
import warnings
from types import SimpleNamespace

import optuna
import pytest
import torch
from optuna.trial import TrialState

from simrnn.errors import UserInputError
from simrnn.sweep import run_sweep
from simrnn.sweep.spec import MetricSpec, parse_sweep
from simrnn.sweep.study import create_study, storage_url
from simrnn.sweep.trial import PruningCallback, is_surplus_grid_trial, objective_value
from simrnn.sweep.worker import counted_trials, wants_another

HISTORY = [{"epoch": 0, "train_loss": 1.0, "val_loss": 0.9, "val_mae": 0.7},
           {"epoch": 1, "train_loss": 0.8, "val_loss": 0.5, "val_mae": 0.6},
           {"epoch": 2, "train_loss": 0.7, "val_loss": 0.6, "val_mae": 0.4}]


@pytest.fixture
def finished_run(tmp_path):
    (tmp_path / "history.json").write_text(json.dumps(HISTORY))
    (tmp_path / "test_results.json").write_text(json.dumps({"metrics": {"mse": 0.3, "mae": 0.25}}))
    return tmp_path


def test_objective_is_taken_at_the_best_epoch_or_from_the_test_metrics(finished_run):
    assert objective_value(finished_run, MetricSpec("val_loss")) == 0.5
    assert objective_value(finished_run, MetricSpec("val_mae")) == 0.6  # at the best epoch, not its own minimum
    assert objective_value(finished_run, MetricSpec("mae", "maximize")) == 0.25  # a test metric
    with pytest.raises(UserInputError, match=r"sweep metric 'r2' is neither logged per epoch \(train_loss, val_loss, "
                                             r"val_mae\) nor a test metric \(mae, mse\)"):
        objective_value(finished_run, MetricSpec("r2"))


def fake_trainer(**metrics):
    return SimpleNamespace(sanity_checking=False, current_epoch=3, should_stop=False,
                           callback_metrics={k: torch.tensor(v) for k, v in metrics.items()})


@pytest.mark.parametrize(("metric", "logged", "reported"), [
    (MetricSpec("val_loss"), {"val_loss": 0.5}, 0.5),
    (MetricSpec("val_mae", "maximize"), {"val_loss": 0.5, "val_mae": 0.2}, 0.2),  # the objective when logged
    (MetricSpec("mae", "maximize"), {"val_loss": 0.5}, -0.5),  # else val_loss, negated for a maximising study
])
def test_pruning_callback_reports_what_the_study_optimises(metric, logged, reported):
    study = optuna.create_study(direction=metric.goal, pruner=optuna.pruners.NopPruner())
    trial = study.ask()
    trainer = fake_trainer(**logged)
    callback = PruningCallback(trial, metric)
    callback.on_validation_end(trainer, None)
    assert study.trials[0].intermediate_values == {3: pytest.approx(reported)}
    assert callback.pruned is None and not trainer.should_stop


def test_pruning_callback_stops_training_at_the_epoch_end():
    study = optuna.create_study(pruner=optuna.pruners.ThresholdPruner(upper=1.0))
    trainer = fake_trainer(val_loss=5.0)
    callback = PruningCallback(study.ask(), MetricSpec("val_loss"))
    callback.on_validation_end(trainer, None)
    assert trainer.should_stop and callback.pruned == "pruned after epoch 3 (val_loss 5)"


def test_two_workers_racing_for_the_last_grid_point():
    study = optuna.create_study(sampler=optuna.samplers.GridSampler({"a": [1, 2]}))
    first, second = study.ask(), study.ask()  # grid points 0 and 1, both running
    late = study.ask()  # no free point left: Optuna's GridSampler hands out a running one again
    assert not is_surplus_grid_trial(first) and not is_surplus_grid_trial(second)
    assert is_surplus_grid_trial(late)  # the later trial yields, so no point is trained twice


def test_worker_stopping_rules():
    spec = parse_sweep({"method": "random", "metric": {"name": "val_loss", "target": 0.1},
                        "parameters": {"a": {"values": [1, 2]}}})
    study = optuna.create_study()
    for value in (0.5, 0.3):
        study.tell(study.ask(), value)
    assert wants_another(study, spec, target=3) and not wants_another(study, spec, target=2)
    diverged = study.ask()
    diverged.set_user_attr("failure", "diverged: loss became nan")
    study.tell(diverged, state=TrialState.FAIL)
    study.tell(study.ask(), state=TrialState.FAIL)  # a killed worker's trial: replaced, not counted
    assert counted_trials(study.get_trials()) == 3
    study.tell(study.ask(), 0.05)  # reaches the metric's target: the sweep is done
    assert not wants_another(study, spec, target=100)
    grid = parse_sweep({"method": "grid", "metric": {"name": "val_loss"}, "parameters": {"a": {"values": [1, 2]}}})
    grid_study = optuna.create_study(sampler=optuna.samplers.GridSampler({"a": [1, 2]}))
    grid_study.ask()
    assert wants_another(grid_study, grid, target=100)
    grid_study.ask()
    assert not wants_another(grid_study, grid, target=100)  # every point taken (running counts)


def test_timeout_zero_creates_the_study_and_trains_nothing(write_sweep, tmp_path):
    study = run_sweep(write_sweep({"lstm_units": {"values": [4, 8]}}), "sequence", timeout=0)
    assert study.study_name == "sequence-sweep" and study.get_trials() == []
    assert (tmp_path / "runs" / "sweeps.db").is_file() and not (tmp_path / "runs" / "sequence").exists()


def test_a_dead_workers_grid_point_is_queued_once_more(tmp_path):
    spec = parse_sweep({"method": "grid", "metric": {"name": "val_loss"}, "parameters": {"a": {"values": [1, 2]}},
                        "simrnn": {"heartbeat_interval": 1, "grace_period": 1}})
    study = create_study(spec, "sequence", storage_url(tmp_path / "s.db", create=True), "g")
    with warnings.catch_warnings():  # Optuna: heartbeats are meant for Study.optimize; here we play the worker
        warnings.simplefilter("ignore", UserWarning)
        dead = study.ask()
        dead.suggest_categorical("a", [1, 2])
        study._storage.record_heartbeat(dead._trial_id)  # the worker's last sign of life ...
        time.sleep(2.5)  # ... longer ago than the grace period (SQLite timestamps have whole seconds)
        assert wants_another(study, spec, target=2)
        trials = study.get_trials()
        assert trials[0].state == TrialState.FAIL and trials[1].state == TrialState.WAITING
        retry = study.ask()
    assert retry.number == 1 and retry.suggest_categorical("a", [1, 2]) == trials[0].params["a"]
    assert not is_surplus_grid_trial(retry)
