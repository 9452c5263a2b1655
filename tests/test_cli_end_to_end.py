"""The command line end to end: synth -> train 2 epochs -> predict, artefacts parsed, errors exit 2."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from simrnn.cli import app, main

runner = CliRunner()


def invoke(*args):
    result = runner.invoke(app, [str(a) for a in args])
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
           "--learning-rate", 0.01, "--batch-size", 64, "--progress-bar", "false", "--seed", 3)
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
    assert set(results["rmse_per_label"]) == {"e", "p", "q", "f0", "a_c", "a_n", "a_t"}
    assert results["mse"] < results["baseline_mse"]
    for name in ("training_losses.png", "checkpoints/best.ckpt", "checkpoints/last.ckpt"):
        assert (run_dir / name).stat().st_size > 0


def test_predict_writes_predictions_metrics_and_figure(cli_run):
    tmp, data, run_dir = cli_run
    result = invoke("sequence", "predict", run_dir, "--data", data, "--out", tmp / "pred")
    assert "predicted 6 sequences, steps 0..39" in result.output  # 36 - int(0.7*36) - int(0.15*36) = 6
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
    assert "output directory exists already" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["sequence", "train", "--raw-data", "missing.h5", "--epochs", "1"], "missing.h5"),
        (["sequence", "train", "--epochs", "1"], "no data file: give --raw-data"),
        (["sequence", "predict", "not_a_run", "--data", "x.h5"], "not a simrnn run directory"),
        (["sequence", "train", "--raw-data", "x.h5", "--window-size", "zero"], "'window_size' should be an integer"),
    ],
)
def test_user_errors_exit_2_with_one_line(args, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_help_is_available_everywhere():
    for args in (["--help"], ["sequence", "--help"], ["sequence", "train", "--help"], ["sequence", "predict", "--help"]):
        assert runner.invoke(app, args).exit_code == 0


def test_runs_list_shows_the_trained_run(cli_run):
    tmp, data, run_dir = cli_run
    result = invoke("runs", "list", "--root", tmp / "runs", "--task", "sequence")
    assert f"sequence/{run_dir.name}" in result.output and "triaxial.h5" in result.output
    results = json.loads((run_dir / "test_results.json").read_text())
    assert f"{results['mse']:.4g}" in result.output
    empty = invoke("runs", "list", "--root", tmp / "nothing")
    assert "no runs under" in empty.output
