"""Hostile sweep inputs: one sentence, exit 2, and nothing created (no storage, study, run or report)."""

from __future__ import annotations

import re

import optuna
import pytest
import yaml
from typer.testing import CliRunner

from simrnn.cli import app
from simrnn.errors import UserInputError
from simrnn.sweep import parse_sweep, run_sweep, running_note
from simrnn.sweep import worker as worker_module
from simrnn.sweep.parameters import MAX_GRID_POINTS
from simrnn.sweep.spec import MAX_SEED
from simrnn.sweep.study import create_study, storage_url

runner = CliRunner()
BASE = {"method": "random", "metric": {"name": "val_loss"}}


def _spec(parameters, **top):
    return parse_sweep({**BASE, "parameters": parameters, **top}, "s.yaml")


@pytest.mark.parametrize(("parameters", "top", "message"), [
    ({"learning_rate": {"distribution": "log_uniform", "min": 0, "max": 1000}}, {},
     "log_uniform takes natural logs as min and max (values exp(min) to exp(max)); 0 to 1000 is beyond"),
    ({"learning_rate": {"distribution": "log_normal", "mu": 1000, "sigma": 1}}, {},
     "log_normal with mu 1000 and sigma 1 reaches exp(1005), beyond floating point"),
    ({"learning_rate": {"distribution": "uniform", "min": 0, "max": float("inf")}}, {},
     "parameter 'learning_rate': max should be a finite number, got inf."),
    ({"learning_rate": {"distribution": "uniform", "min": float("nan"), "max": 1}}, {},
     "parameter 'learning_rate': min should be a finite number, got nan."),
    ({"learning_rate": {"distribution": "normal", "mu": 0, "sigma": float("nan")}}, {},
     "sigma should be a finite number, got nan."),
    ({"lstm_units": {"values": [4, 8]}}, {"early_terminate": {"type": "hyperband", "min_iter": 1, "eta": float("inf")}},
     "early_terminate: eta should be a finite number, got inf."),
    ({"lstm_units": {"values": [4, 8]}}, {"early_terminate": {"type": "hyperband", "min_iter": 1, "eta": float("nan")}},
     "early_terminate: eta should be a finite number, got nan."),
    ({"lstm_units": {"values": [4, 8]}}, {"simrnn": {"seed": 2**40}},
     f"simrnn.seed should be an integer from 0 to {MAX_SEED}, got 1099511627776."),
    ({"lstm_units": {"values": [4, 8]}}, {"metric": {"name": "val_loss", "target": float("nan")}},
     "metric.target should be a finite number, got nan."),
    ({"a": {"min": 0, "max": 2**32}, "b": {"values": [1, 2]}}, {"method": "grid"},
     f"the grid has 8.59e+09 points; at most {MAX_GRID_POINTS} are accepted"),
    ({"a": {"min": 0, "max": 10**5}, "b": {"min": 0, "max": 10**5}, "c": {"min": 0, "max": 10**5}}, {"method": "grid"},
     "the grid has 1e+15 points"),
])
def test_impossible_sweeps_are_refused_while_reading(parameters, top, message):
    with pytest.raises(UserInputError, match=re.escape(message)):
        _spec(parameters, **top)


def test_a_huge_integer_range_is_counted_never_listed():
    """int_uniform over 0..2**32 under random/bayes is fine: its values are never materialised."""
    spec = _spec({"lstm_units": {"min": 1, "max": 2**32}})
    (parameter,) = spec.parameters
    assert parameter.value_count() == 2**32 and parameter.extremes() == [1, 2**32]
    assert [s["lstm_units"] for s in spec.settings_to_check()] == [1, 2**32]


def _sweep_file(tmp_path, parameters, settings=None, metric="val_loss"):
    raw = {**BASE, "metric": {"name": metric}, "parameters": parameters,
           "simrnn": {"settings": {"raw_data": str(tmp_path / "data.h5"), "runs_root": str(tmp_path / "runs"),
                                   **(settings or {})}}}
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.parametrize(("parameters", "settings", "metric", "message"), [
    ({"lstm_units": {"values": [4, 8]}}, {"batch_size": 0}, "val_loss", "'batch_size' must be at least 1, got 0."),
    ({"batch_size": {"values": [8, 0]}}, {}, "val_loss", "'batch_size' must be at least 1, got 0."),
    ({"learning_rate": {"min": -1.0, "max": 1.0}}, {}, "val_loss", "'learning_rate' must be positive, got -1.0."),
    ({"lstm_units": {"values": [4, 8]}}, {}, "ssim",
     "sweep metric 'ssim' is not reported by task 'sequence'; expected one of train_loss, val_loss, mse, mae."),
])
def test_settings_and_metric_are_checked_before_anything_is_created(tmp_path, parameters, settings, metric, message):
    path = _sweep_file(tmp_path, parameters, settings, metric)
    result = runner.invoke(app, ["sweep", "run", str(path), "--task", "sequence"])
    assert result.exit_code == 2 and message in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.yaml"]  # no runs/, no sweeps.db


@pytest.mark.parametrize(("option", "message"), [
    (["--timeout", "nan"], "--timeout nan: expected a finite number of seconds, 0 or more."),
    (["--timeout", "-1"], "--timeout -1.0: expected a finite number of seconds, 0 or more."),
    (["--trials", "0"], "--trials 0: expected 1 or more (the trials the study should hold)."),
])
def test_timeout_and_trials_sentences(tmp_path, option, message):
    path = _sweep_file(tmp_path, {"lstm_units": {"values": [4, 8]}})
    result = runner.invoke(app, ["sweep", "run", str(path), "--task", "sequence", *option])
    assert result.exit_code == 2 and result.stderr == f"error: {message}\n"
    assert not (tmp_path / "runs").exists()


@pytest.fixture
def study_with_data(tmp_path, tiny_sequences):
    """A sweep whose trials would train on the tiny data set, and its storage URL."""
    path = _sweep_file(tmp_path, {"lstm_units": {"values": [4, 8]}}, {"raw_data": str(tiny_sequences)})
    return path, storage_url(tmp_path / "runs" / "sweeps.db", create=True)


def test_ctrl_c_is_one_line_with_the_rerun_hint(study_with_data, monkeypatch):
    path, _ = study_with_data

    def interrupted(trial, spec, task):
        raise KeyboardInterrupt

    monkeypatch.setattr(worker_module, "run_trial", interrupted)
    result = runner.invoke(app, ["sweep", "run", str(path), "--task", "sequence", "--study", "c"])
    assert result.exit_code == 130
    assert result.stderr == ("interrupted; study 'c' keeps every finished trial (the interrupted one is marked failed "
                             "and replaced); run the same sweep command again to continue it.\n")


def test_a_database_lost_mid_trial_is_one_sentence(study_with_data, monkeypatch):
    """Optuna's own bookkeeping fails after the database went away (PostgreSQL stopped): one sentence."""
    from sqlalchemy.exc import OperationalError

    path, url = study_with_data

    def database_gone(trial, spec, task):
        try:
            raise OperationalError("UPDATE trials", {}, Exception("server closed the connection unexpectedly"))
        except OperationalError:
            raise UnboundLocalError("cannot access local variable 'updated_state'") from None  # as Optuna 5 does

    monkeypatch.setattr(worker_module, "run_trial", database_gone)
    result = runner.invoke(app, ["sweep", "run", str(path), "--task", "sequence", "--study", "d"])
    assert result.exit_code == 2
    assert result.stderr == (f"error: --storage {url}: the database failed (Exception: server closed the connection "
                             "unexpectedly); finished trials are kept, run the same command again once the database "
                             "is reachable.\n")


def test_report_without_complete_trial_leaves_nothing_and_running_trials_get_a_note(study_with_data, tmp_path):
    path, url = study_with_data
    from simrnn.sweep import load_sweep

    study = create_study(load_sweep(path), "sequence", url, "r")
    out = tmp_path / "report"
    result = runner.invoke(app, ["sweep", "report", "--storage", url, "--study", "r", "--out", str(out)])
    assert result.exit_code == 2 and "has no complete trial to plot yet" in result.stderr and not out.exists()
    assert not (tmp_path / "sweep_reports").exists()
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.RUNNING))
    assert running_note(study) == (
        "trial(s) 0 are still marked running: other workers, or a worker that was killed; a killed worker's trial "
        "is failed and replaced once its heartbeat is 120 s old (simrnn.grace_period), so run the same command "
        "again after that.")


def test_a_corrected_sweep_file_replaces_a_study_that_trained_nothing(study_with_data, tmp_path, tiny_sequences):
    """A first trial refused for its data (a bad path) leaves a study that the corrected file may take over."""
    path, url = study_with_data
    bad = _sweep_file(tmp_path, {"lstm_units": {"values": [4, 8]}}, {"raw_data": str(tmp_path / "missing.h5")})
    result = runner.invoke(app, ["sweep", "run", str(bad), "--task", "sequence", "--study", "fix", "--trials", "1"])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1 and "missing.h5" in result.stderr
    good = _sweep_file(tmp_path, {"lstm_units": {"values": [4, 8]}},
                       {"raw_data": str(tiny_sequences), "epochs": 1, "window_size": 3, "lstm_units": 4})
    study = run_sweep(good, "sequence", study="fix", trials=1)
    assert [t.state.name for t in study.get_trials()] == ["FAIL", "COMPLETE"]


def test_a_postgresql_permission_error_names_the_permission(postgres_url):
    """Optuna reports it as "invalid data in the commit"; the driver's own words are shown instead."""
    import sqlalchemy

    from simrnn.sweep.study import load_study

    url = storage_url(postgres_url)
    create_study(_spec({"lstm_units": {"values": [4, 8]}}), "sequence", url, "perm")
    engine = sqlalchemy.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text("DROP ROLE IF EXISTS simrnn_reader; CREATE ROLE simrnn_reader LOGIN"))
    engine.dispose()
    reader = url.replace("://simrnn@", "://simrnn_reader@")
    with pytest.raises(UserInputError, match=r"cannot open the database \(permission denied for table \w+\)\.") as info:
        load_study(reader, "perm")
    assert info.value.key == "storage"
