"""`simrnn runs list` / `runs compare` as a researcher reads them: one line per run, 100 columns,
the settings that differ, warnings when data, splits or bands differ (hand-made run dirs in
docs/engine.md's shape, plus two real 1-epoch sequence runs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from simrnn.cli import app
from simrnn.runs import compare_runs

runner = CliRunner()


def invoke(*args, width=100, check_width=True):
    result = runner.invoke(app, [str(a) for a in args], terminal_width=width)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert not check_width or all(len(line) <= 100 for line in lines), [line for line in lines if len(line) > 100]
    return lines


def fields_config(name, **changes):
    config = {"task": "fields", "created": "2026-01-01T00:00:00",
              "settings": {"model": "predrnn", "lr": 0.001, "seq_length": 3, "t_solidus": 1600.0,
                           "t_liquidus": 1800.0, "split_ratio": [12, 6, 6]},
              "data": {"file": "/data/fields.h5", "sha256": "0c04ce08" + "0" * 56, "split_ratio": [12, 6, 6],
                       "steps": {"train": [0, 1], "val": [2], "test": [3]},
                       "n_samples": {"train": 96, "val": 36, "test": 36}},
              "model": {"name": "predrnn", "args": {}},
              "data_meta": {"solidification_band_K": [1600.0, 1800.0]}}
    for dotted, value in changes.items():
        *parents, key = dotted.split("__")
        target = config
        for parent in parents:
            target = target[parent]
        target[key] = value
    return config


def fields_results(mse, skill, solidify_skill):
    return {"task": "fields", "model": "predrnn", "epochs_trained": 12, "best_epoch": 9,
            "metrics": {"mse": mse, "mae": 0.02, "ssim": 0.97, "skill": skill, "solidify/skill": solidify_skill},
            "higher_is_better": ["ssim", "skill"], "baselines": {"persistence": {"mse": 0.01}}}


def write_run(root: Path, task: str, name: str, config: dict, results: dict | None) -> Path:
    run = root / task / name
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.json").write_text(json.dumps(config))
    if results is not None:
        (run / "test_results.json").write_text(json.dumps(results))
    return run


def imported_config():
    return {"task": "sequence", "created": "2026-01-02T00:00:00", "imported_from": "grainlearning-keras",
            "settings": {"lstm_units": 200, "window_size": 4, "save_weights_only": True},
            "data": {"file": "/gl/rnn_triaxial_drained", "files": {"config.yml": "159c"}},
            "model": {"name": "lstm", "args": {}}}


@pytest.fixture
def fields_runs(tmp_path):
    root = tmp_path / "runs"
    a = write_run(root, "fields", "2026-01-01_10-00-00", fields_config("a"), fields_results(0.004920698, -0.0193715, 0.0697950))
    b = write_run(root, "fields", "2026-01-01_11-00-00", fields_config("b", settings__lr=0.01),
                  fields_results(0.002460349, 0.25, 0.5))
    return root, a, b


def test_list_prints_one_line_per_run_within_100_columns(fields_runs):
    root, _, _ = fields_runs
    write_run(root, "sequence", "2026-01-02_00-00-00_a-very-long-run-name-that-goes-on-and-on-and-on-for-ever",
              imported_config(), None)
    lines = invoke("runs", "list", "--runs-root", root, width=100)
    assert len(lines) == 1 + 3
    assert lines[0].split()[:4] == ["run", "task", "model", "ep/best"]
    assert lines[1].split() == ["2026-01-01_10-00-00", "fields", "predrnn", "12/9", "mse", "0.00492", "skill",
                                "-0.0194", "solidify/skill", "0.0698"]
    assert lines[2].split()[4:] == ["mse", "0.00246", "skill", "0.25", "solidify/skill", "0.5"]
    # the imported GrainLearning run is listed and shown as imported; its long name is cut with an ellipsis
    assert lines[3].split() == ["2026-01-02_00-00-00_a…", "sequence", "lstm", "imported", "from", "grainlearning-keras"]
    assert [line.split() for line in invoke("runs", "list", "--runs-root", root, "--task", "fields")[1:]] == [
        line.split() for line in lines[1:3]]


def test_list_shows_an_imported_run_as_imported(tmp_path):
    write_run(tmp_path, "sequence", "gl", imported_config(), None)
    lines = invoke("runs", "list", "--runs-root", tmp_path)
    assert lines[1].split() == ["gl", "sequence", "lstm", "imported", "from", "grainlearning-keras"]


def test_compare_labels_columns_and_lists_only_the_settings_that_differ(fields_runs):
    _, a, b = fields_runs
    lines = invoke("runs", "compare", a, b)
    assert not any(line.startswith("WARNING") for line in lines)
    assert lines[0] == f"fields runs; change in % against {a.name}"
    assert lines[1].split() == ["model", "predrnn", "predrnn"]
    assert lines[2].split() == ["run", a.name, b.name]
    rows = {line.split()[0]: line.split()[1:] for line in lines[3:]}
    assert rows["mse"] == ["0.004921", "0.00246", "(-50.0", "%)"]
    assert rows["persistence/mse"] == ["0.01", "0.01", "(+0.0", "%)"]
    at = lines.index("settings that differ:")
    assert [line.split() for line in lines[at + 1:]] == [["lr", "0.001", "0.01"]]


@pytest.mark.parametrize(("changes", "warning"), [
    ({"data__sha256": "ffffffff" + "0" * 56},
     "WARNING: metrics not comparable, different data: fields.h5@0c04ce08, fields.h5@ffffffff"),
    ({"data__file": "/data/other.h5"},
     "WARNING: metrics not comparable, different data: fields.h5@0c04ce08, other.h5@0c04ce08"),
    ({"data__n_samples": {"train": 90, "val": 36, "test": 36}},
     "WARNING: metrics not comparable, different splits: data.n_samples"),
    ({"data__steps": {"train": [0, 1, 2], "val": [3], "test": [4]}, "data__split_ratio": [14, 5, 5]},
     "WARNING: metrics not comparable, different splits: data.steps, data.split_ratio"),
    ({"settings__t_solidus": 1500.0},
     "WARNING: band metrics not comparable, different bands: 1600.0-1800.0 K, 1500.0-1800.0 K"),
    ({"data_meta__solidification_band_K": [1600.0, 1900.0], "settings__t_liquidus": 1900.0},
     "WARNING: band metrics not comparable, different bands: 1600.0-1800.0 K, 1600.0-1900.0 K"),
])
def test_compare_warns_once_per_reason_the_metrics_are_not_comparable(fields_runs, changes, warning):
    root, a, _ = fields_runs
    b = write_run(root, "fields", "2026-01-01_12-00-00", fields_config("b", **changes), fields_results(0.1, 0.1, 0.1))
    lines = invoke("runs", "compare", a, b)
    assert [line for line in lines if line.startswith("WARNING")] == [warning]


def test_compare_with_an_imported_run_shows_its_settings_and_no_metrics(tmp_path, fields_runs):
    trained = write_run(tmp_path, "sequence", "t", {**imported_config(), "imported_from": None,
                                                     "settings": {"lstm_units": 16, "window_size": 4, "epochs": 3}},
                        {"epochs_trained": 3, "best_epoch": 2, "metrics": {"mse": 1.0}})
    gl = write_run(tmp_path, "sequence", "gl", imported_config(), None)
    comparison = compare_runs([trained, gl])
    assert comparison["settings_differ"] == [{"key": "lstm_units", "values": [16, 200]}]
    assert comparison["settings_in_some"] == ["epochs", "save_weights_only"]
    lines = invoke("runs", "compare", trained, gl)
    assert lines[1].split() == ["model", "lstm", "lstm", "(imported)"]
    assert lines[3].split() == ["mse", "1", "-"]
    assert lines[-1] == "settings recorded by only some runs: epochs, save_weights_only"


def test_compare_two_real_runs_shows_the_learning_rate_and_the_split(tmp_path, learnable_h5_writer):
    data = learnable_h5_writer(tmp_path / "tiny.h5", n_per_group=8, steps=12)
    for lr, train_frac in ((0.01, 0.7), (0.001, 0.6)):
        invoke("sequence", "train", "--raw-data", data, "--epochs", 1, "--runs-root", tmp_path / "runs",
               "--window-size", 3, "--lstm-units", 4, "--dense-units", 4, "--learning-rate", lr,
               "--train-frac", train_frac, "--no-progress-bar", width=250, check_width=False)
    first, second = sorted((tmp_path / "runs" / "sequence").iterdir())
    lines = invoke("runs", "list", "--runs-root", tmp_path / "runs")
    assert len(lines) == 3 and all(" lstm " in line and " 1/0 " in line and " mse " in line for line in lines[1:])
    lines = invoke("runs", "compare", first, second)
    assert [line for line in lines if line.startswith("WARNING")] == [
        "WARNING: metrics not comparable, different splits: data.split, data.n_windows, "
        "settings.train_frac"]
    at = lines.index("settings that differ:")
    assert [line.split() for line in lines[at + 1:]] == [["learning_rate", "0.01", "0.001"], ["train_frac", "0.7", "0.6"]]
