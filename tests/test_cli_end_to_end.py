"""The command line end to end: synth -> train 2 epochs -> predict, artefacts parsed, errors exit 2."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from simrnn.cli import app, main

runner = CliRunner()


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    """Tables printed by simrnn's console are not wrapped at 80 columns while a test reads them."""
    from simrnn.cli.output import console

    monkeypatch.setattr(console, "width", 250)


def invoke(*args):
    result = runner.invoke(app, [str(a) for a in args], terminal_width=250)
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli")
    data = tmp / "triaxial.h5"
    invoke("sequence", "synth", data, "--samples-per-group", 12, "--sequence-length", 40, "--seed", 1,
           "--experiment-types", "drained")
    invoke("sequence", "train", "--raw-data", data, "--epochs", 2, "--runs-root", tmp / "runs",
           "--window-size", 4, "--pad-length", 3, "--lstm-units", 32, "--dense-units", 32,
           "--learning-rate", 0.01, "--batch-size", 64, "--no-progress-bar", "--seed", 3)
    (run_dir,) = (tmp / "runs" / "sequence").iterdir()
    return tmp, data, run_dir


def test_train_writes_every_artefact_and_beats_the_mean(cli_run):
    _, data, run_dir = cli_run
    config = json.loads((run_dir / "config.json").read_text())
    assert config["settings"]["seed"] == 3 and config["settings"]["epochs"] == 2
    assert config["data"]["n_sequences"] == 36  # 12 per pressure x 3 pressures, drained only
    history = json.loads((run_dir / "history.json").read_text())
    assert len(history) == 2 and all(np.isfinite(h["val_loss"]) for h in history)
    results = json.loads((run_dir / "test_results.json").read_text())
    assert set(results["details"]["rmse_per_label"]) == {"e", "p", "q", "f0", "a_c", "a_n", "a_t"}
    assert results["metrics"]["mse"] < results["baselines"]["training_mean"]["mse"]
    for name in ("training_losses.png", "checkpoints/best.ckpt", "checkpoints/last.ckpt"):
        assert (run_dir / name).stat().st_size > 0


def test_predict_writes_predictions_metrics_and_figure(cli_run):
    tmp, data, run_dir = cli_run
    result = invoke("sequence", "predict", run_dir, "--data", data, "--out", tmp / "pred")
    assert "predicted 6 sequences (test), steps 0..39" in result.output  # 36 - int(0.7*36) - int(0.15*36) = 6
    with np.load(tmp / "pred" / "predictions.npz") as npz:
        saved = dict(npz)
    assert saved["predictions"].shape == (6, 40, 7)
    np.testing.assert_array_equal(saved["steps"], np.arange(40))
    test_split = json.loads((run_dir / "config.json").read_text())["data"]["split"]["test"]
    np.testing.assert_array_equal(saved["sequence_index"], test_split)
    metrics = json.loads((tmp / "pred" / "metrics.json").read_text())
    assert metrics["n_sequences"] == 6 and metrics["mse"] < metrics["baseline_mse"]
    assert (tmp / "pred" / "prediction_curves.png").stat().st_size > 0


def test_predict_refuses_an_existing_output_directory(cli_run, capsys):
    tmp, data, run_dir = cli_run
    (tmp / "taken").mkdir()
    with pytest.raises(SystemExit) as exit_info:
        main(["sequence", "predict", str(run_dir), "--data", str(data), "--out", str(tmp / "taken")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "taken: already exists; choose a new directory" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["sequence", "train", "--raw-data", "missing.h5", "--epochs", "1"], "missing.h5"),
        (["sequence", "train", "--epochs", "1"], "command line: no data file; give --raw-data (an HDF5 file)."),
        (["fields", "train", "--epochs", "1"], "command line: no data file; give --cache (an HDF5 field cache)."),
        (["sequence", "predict", "not_a_run", "--data", "x.h5"], "not a simrnn run directory"),
        (["sequence", "train", "--raw-data", "x.h5", "--window-size", "zero"], "command line: --window-size should be an integer, got 'zero'"),
        (["sequence", "train", "--raw-data", "x.h5", "--precision", "fp8"], "'precision' is 'fp8'"),
    ],
)
def test_user_errors_exit_2_with_one_line(args, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) <= 3
    assert not (tmp_path / "runs").exists()


def test_help_is_available_everywhere():
    for args in (["--help"], ["sequence", "--help"], ["sequence", "train", "--help"], ["sequence", "predict", "--help"]):
        assert runner.invoke(app, args).exit_code == 0


def test_train_help_lists_every_setting_with_its_type_and_default(monkeypatch):
    import dataclasses

    from simrnn.sequence.config import SequenceConfig

    monkeypatch.setenv("COLUMNS", "250")  # typer's help console reads it
    text = runner.invoke(app, ["sequence", "train", "--help"]).output
    for field in dataclasses.fields(SequenceConfig):
        assert f"--{field.name.replace('_', '-')} " in text, field.name
    assert "--lstm-units" in text and "(default: 200)" in text and "--no-add-pressure" in text
    assert "[csv|tensorboard|wandb]" in text and "[lstm]" in text


def test_runs_list_shows_the_trained_run(cli_run):
    tmp, data, run_dir = cli_run
    result = invoke("runs", "list", "--root", tmp / "runs", "--task", "sequence")
    assert f"{run_dir.name} sequence lstm" in result.output
    results = json.loads((run_dir / "test_results.json").read_text())
    assert f"mse {results['metrics']['mse']:.3g}" in result.output
    empty = invoke("runs", "list", "--root", tmp / "nothing")
    assert "no runs under" in empty.output


def test_runs_list_flags_a_broken_run_and_lists_the_others(cli_run, tmp_path):
    tmp, data, run_dir = cli_run
    import shutil

    root = tmp_path / "runs"
    shutil.copytree(run_dir, root / "sequence" / run_dir.name)
    broken = root / "sequence" / "2000-01-01_00-00-00"
    broken.mkdir(parents=True)
    (broken / "config.json").write_text("{not json")
    result = invoke("runs", "list", "--root", root)
    assert f"{run_dir.name} sequence lstm" in result.output
    assert "2000-01-01_00-00-00" in result.output and "unreadable" in result.output


def test_runs_compare_shows_metrics_side_by_side_with_the_change(cli_run, tmp_path):
    tmp, data, run_dir = cli_run
    import shutil

    other = shutil.copytree(run_dir, tmp_path / "other")
    results = json.loads((other / "test_results.json").read_text())
    results["metrics"]["mse"] *= 1.5
    (other / "test_results.json").write_text(json.dumps(results))
    output = runner.invoke(app, ["runs", "compare", str(run_dir), str(other)], terminal_width=200).output
    assert "mse" in output and "+50.0 %" in output and "training_mean/mse" in output
    from simrnn.runs import compare_runs

    (row,) = [r for r in compare_runs([run_dir, other])["rows"] if r["name"] == "mse"]
    assert row["change_percent"][1] == pytest.approx(50.0)


def test_the_import_keras_hint_predicts_a_new_data_file(cli_run, tmp_path, monkeypatch):
    """An imported run has no split: `sequence predict RUN --data X.h5` predicts every sequence."""
    from pathlib import Path

    tmp, data, _ = cli_run
    model = Path(__file__).parent / "data" / "grainlearning" / "rnn_triaxial_drained"
    monkeypatch.setenv("COLUMNS", "250")
    assert "simrnn sequence predict RUN --data X.h5" in invoke("sequence", "import-keras", "--help").output
    invoke("sequence", "import-keras", model, "--out", tmp_path / "imported")
    result = invoke("sequence", "predict", tmp_path / "imported", "--data", data, "--out", tmp_path / "pred")
    assert "predicted 36 sequences (all)" in result.output


def test_the_data_file_may_be_the_positional_argument_but_only_once(cli_run, tmp_path, capsys):
    tmp, data, _ = cli_run
    args = ["--epochs", "1", "--runs-root", str(tmp_path), "--window-size", "3", "--lstm-units", "4",
            "--dense-units", "4", "--no-progress-bar"]
    invoke("sequence", "train", data, *args)
    assert len(list((tmp_path / "sequence").iterdir())) == 1
    with pytest.raises(SystemExit) as exit_info:
        main(["sequence", "train", str(data), "--raw-data", "other.h5", *args])
    assert exit_info.value.code == 2 and "the data file is given twice" in capsys.readouterr().err
