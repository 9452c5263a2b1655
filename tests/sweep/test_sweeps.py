"""Sweeps that train: a 4-trial SQLite sweep through the CLI, a grid, pruning (tiny data, 1-4 epochs)."""

from __future__ import annotations

import json
import math
from pathlib import Path

from optuna.trial import TrialState
from typer.testing import CliRunner

from simrnn.cli import app
from simrnn.sweep import best_run, run_sweep
from simrnn.sweep.spec import parse_sweep
from simrnn.sweep.study import create_study, load_study, storage_url

runner = CliRunner()


def history_min(run_dir: Path, key: str = "val_loss") -> float:
    history = json.loads((run_dir / "history.json").read_text())
    return min(h[key] for h in history if math.isfinite(h[key]))


def test_four_trial_sweep_cli_best_report_and_resume(write_sweep, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sweep = write_sweep({"learning_rate": {"distribution": "log_uniform_values", "min": 1e-3, "max": 3e-2},
                         "lstm_units": {"values": [4, 8]}}, method="bayes", program="train.py", name="four")
    result = runner.invoke(app, ["sweep", "run", str(sweep), "--task", "sequence", "--trials", "4"])
    assert result.exit_code == 0, result.output
    assert "note: ignoring the W&B key(s) program" in result.output
    storage = str(tmp_path / "runs" / "sweeps.db")  # beside the runs by default
    study, _, task = load_study(storage_url(storage), "sequence-four")
    trials = study.get_trials()
    assert task == "sequence" and [t.state for t in trials] == [TrialState.COMPLETE] * 4
    for t in trials:
        run_dir = tmp_path / "runs" / "sequence" / t.user_attrs["run_dir"].split("/")[-1]
        assert (run_dir / "test_results.json").is_file()
        assert t.value == history_min(run_dir)  # the objective is the best epoch's val_loss
        assert type(t.user_attrs["settings"]["lstm_units"]) is int
        assert 1e-3 <= t.user_attrs["settings"]["learning_rate"] <= 3e-2
    best = min(trials, key=lambda t: t.value)
    assert str(best_run(storage, "sequence-four")) == best.user_attrs["run_dir"]
    assert f"trial {best.number}" in result.output and "study sequence-four (minimize)" in result.output

    shown = runner.invoke(app, ["sweep", "best", "--storage", storage, "--study", "sequence-four"])
    assert shown.exit_code == 0 and best.user_attrs["run_dir"] in shown.output
    assert f"best trial {best.number}: value {best.value:.6g}" in shown.output

    report = runner.invoke(app, ["sweep", "report", "--storage", storage, "--study", "sequence-four", "--out", "rep"])
    assert report.exit_code == 0, report.output
    written = sorted(p.name for p in (tmp_path / "rep").iterdir())
    assert written == ["index.html", "optimization_history.html", "optimization_history.png", "parallel_coordinate.html",
                       "parallel_coordinate.png", "param_importances.html", "param_importances.png", "plotly.min.js"]
    index = (tmp_path / "rep" / "index.html").read_text()
    assert 'src="optimization_history.png"' in index and 'href="param_importances.html"' in index
    assert "val_loss" in (tmp_path / "rep" / "optimization_history.html").read_text()  # the metric, not "Objective Value"
    assert (tmp_path / "rep" / "optimization_history.png").read_bytes()[:4] == b"\x89PNG"
    assert 'src="plotly.min.js"' in (tmp_path / "rep" / "optimization_history.html").read_text()

    again = runner.invoke(app, ["sweep", "run", str(sweep), "--task", "sequence", "--trials", "4"])
    assert again.exit_code == 0 and len(study.get_trials()) == 4  # the study holds 4 already: nothing to do
    more = runner.invoke(app, ["sweep", "worker", "--storage", storage, "--study", "sequence-four", "--trials", "5"])
    assert more.exit_code == 0, more.output
    assert [t.number for t in study.get_trials(states=(TrialState.COMPLETE,))] == [0, 1, 2, 3, 4]


def test_cli_errors_exit_2(write_sweep, tmp_path):
    sweep = write_sweep({"windw_size": {"values": [3, 5]}})
    result = runner.invoke(app, ["sweep", "run", str(sweep), "--task", "sequence"])
    assert result.exit_code == 2 and "'windw_size' is not a setting of task 'sequence'" in result.output
    for command in ("best", "leaderboard", "report", "worker"):  # reading a missing storage creates nothing
        missing = runner.invoke(app, ["sweep", command, "--storage", str(tmp_path / "new" / "x.db"), "--study", "s"])
        assert missing.exit_code == 2 and missing.stderr.strip() == (
            f"error: --storage {tmp_path}/new/x.db: no such sweep database; give the storage that "
            "`simrnn sweep run` used.")
        assert not (tmp_path / "new").exists()
    create_study(parse_sweep({"method": "random", "metric": {"name": "val_loss"},
                              "parameters": {"lstm_units": {"values": [4, 8]}}}),
                 "sequence", storage_url(tmp_path / "x.db", create=True), "other")
    missing = runner.invoke(app, ["sweep", "best", "--storage", str(tmp_path / "x.db"), "--study", "nope"])
    assert missing.exit_code == 2 and "no study 'nope'" in missing.output


def test_grid_visits_each_point_once(write_sweep, tmp_path):
    sweep = write_sweep({"lstm_units": {"values": [4, 8]}, "window_size": {"values": [2, 3]}},
                        method="grid", settings={"epochs": 1})
    study = run_sweep(sweep, "sequence", trials=50)
    points = sorted((t.user_attrs["settings"]["lstm_units"], t.user_attrs["settings"]["window_size"])
                    for t in study.get_trials())
    assert points == [(4, 2), (4, 3), (8, 2), (8, 3)]
    assert all(t.state == TrialState.COMPLETE for t in study.get_trials())


def test_pruning_stops_a_bad_trial_early(write_sweep):
    # grid order with seed 1: a sane learning rate first, then one so large that the first epoch's
    # val_loss is far above the first trial's, so the median pruner (one startup trial) stops it
    sweep = write_sweep({"learning_rate": {"values": [0.003, 1.0]}}, method="grid",
                        settings={"epochs": 4, "patience": 10},
                        simrnn={"seed": 1, "pruner": {"type": "median", "n_startup_trials": 1}})
    study = run_sweep(sweep, "sequence")
    good, bad = study.get_trials()
    assert good.params["learning_rate"] == 0.003 and good.state == TrialState.COMPLETE
    assert len(good.intermediate_values) == 4
    assert bad.state == TrialState.PRUNED and len(bad.intermediate_values) == 1
    assert bad.intermediate_values[0] > good.intermediate_values[0]
    history = json.loads((Path(bad.user_attrs["run_dir"]) / "history.json").read_text())
    assert len(history) < 4  # it did not train all its epochs


def test_bad_values_are_refused_before_any_training(write_sweep, tmp_path):
    sweep = write_sweep({"lstm_units": {"values": ["many", 8]}})
    result = runner.invoke(app, ["sweep", "run", str(sweep), "--task", "sequence"])
    assert result.exit_code == 2 and "'lstm_units' should be an integer, got 'many'" in result.output
    assert not (tmp_path / "runs" / "sequence").exists()
