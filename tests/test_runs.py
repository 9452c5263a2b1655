"""runs list / compare and Run.open on hand-made run directories (no training)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from simrnn.cli import app
from simrnn.errors import UserInputError
from simrnn.runs import Run, compare_runs, summarize_run


def make_run(root: Path, task: str, name: str, results=None, config=None) -> Path:
    run = root / task / name
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.json").write_text(json.dumps(config or {"task": task, "created": "2026-01-01T00:00:00",
                                                           "data": {"file": f"/data/{name}.h5"}}))
    if results is not None:
        (run / "test_results.json").write_text(json.dumps(results))
    return run


def results(mse, baseline=None):
    return {"task": "x", "epochs_trained": 3, "best_epoch": 1, "metrics": {"mse": mse},
            "baselines": {"mean": {"mse": 1.0}} if baseline is None else baseline}


def test_a_malformed_test_results_flags_its_run_and_the_others_are_listed(tmp_path):
    good = make_run(tmp_path, "sequence", "a", results(0.5))
    text = make_run(tmp_path, "sequence", "b", {**results(0.5), "metrics": {"mse": "low"}})
    listed = make_run(tmp_path, "sequence", "c", results(0.5, baseline=[1, 2]))
    rows = {Path(r["run"]).name: r for r in map(summarize_run, (good, text, listed))}
    assert rows["a"]["error"] is None and rows["a"]["metrics"] == {"mse": 0.5}
    assert rows["b"]["error"] == f"{text / 'test_results.json'}: 'metrics'['mse'] is 'low', expected a number."
    assert rows["c"]["error"] == f"{listed / 'test_results.json'}: 'baselines' is a list, expected a mapping."
    result = CliRunner().invoke(app, ["runs", "list", "--root", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert result.output.count("unreadable") == 2 and "a   sequence -         3/1  mse 0.5\n" in result.output


def test_compare_gives_the_change_against_the_first_run_of_one_task(tmp_path):
    a = make_run(tmp_path, "fields", "a", results(0.5))
    b = make_run(tmp_path, "fields", "b", results(0.25))
    rows = {r["name"]: r for r in compare_runs([a, b])["rows"]}
    assert rows["mse"]["values"] == [0.5, 0.25] and rows["mse"]["change_percent"] == [0.0, -50.0]
    assert rows["mean/mse"]["change_percent"] == [0.0, 0.0]
    c = make_run(tmp_path, "sequence", "c", results(0.5))
    with pytest.raises(UserInputError, match=f"{c} is a sequence run but {a} is a fields run; compare runs of one task"):
        compare_runs([a, c])


def test_open_names_the_task_it_expected(tmp_path):
    run = make_run(tmp_path, "fields", "a")
    assert Run.open(run, "fields", which=None).task == "fields"
    with pytest.raises(UserInputError, match=f"^{run} is a fields run, expected a sequence run.$"):
        Run.open(run, "sequence")
    (run / "config.json").write_text(json.dumps({"created": "x"}))
    with pytest.raises(UserInputError, match="config.json: no 'task' key; not a simrnn run record"):
        Run.open(run)
