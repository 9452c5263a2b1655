"""Training through the library API: artefacts, best-checkpoint evaluation, resume, divergence, safety."""

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from simrnn.errors import TrainingDivergedError, UserInputError
from simrnn.sequence import load_run, predict, train
from simrnn.sequence.hdf5 import read_triaxial_hdf5

SMALL = {"window_size": 5, "pad_length": 4, "lstm_units": 16, "dense_units": 16, "batch_size": 64,
         "learning_rate": 1e-2, "progress_bar": False, "seed": 0}


@pytest.fixture(scope="module")
def trained(tmp_path_factory, learnable_h5_writer):
    """A finished 4-epoch run. Tests that change a run work on a copy (see ``run_copy``)."""
    tmp = tmp_path_factory.mktemp("train")
    data = learnable_h5_writer(tmp / "data.h5", n_per_group=40, groups=("0.2e6",))
    run_dir = train(dict(SMALL, raw_data=str(data), runs_root=str(tmp / "runs"), epochs=4, patience=10))
    return data, run_dir


@pytest.fixture
def run_copy(trained, tmp_path):
    """A private copy of the module's run directory, safe to resume or break."""
    data, run_dir = trained
    return data, shutil.copytree(run_dir, tmp_path / "sequence" / run_dir.name)


def test_run_directory_holds_every_artefact(trained):
    data, run_dir = trained
    assert run_dir.parent.name == "sequence"
    for name in ("config.json", "history.json", "test_results.json", "training_losses.png",
                 "checkpoints/best.ckpt", "checkpoints/last.ckpt"):
        assert (run_dir / name).is_file(), name
    config = json.loads((run_dir / "config.json").read_text())
    assert config["task"] == "sequence" and config["model"]["name"] == "lstm"
    assert config["settings"]["seed"] == 0 and config["settings"]["window_size"] == 5
    assert config["data"]["sha256"] and config["data"]["n_sequences"] == 40
    assert sorted(sum(config["data"]["split"].values(), [])) == list(range(40))
    assert {"torch", "lightning", "simrnn"} <= set(config["versions"])
    assert config["hardware"]["cpu_cores"] >= 1 and config["loggers"]["csv"].endswith("logs/train")
    history = json.loads((run_dir / "history.json").read_text())
    assert [h["epoch"] for h in history] == [0, 1, 2, 3]
    assert all({"train_loss", "val_loss", "train_mae", "val_mae"} <= set(h) for h in history)
    assert (run_dir / "training_losses.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_test_results_have_the_common_shape_and_come_from_the_best_checkpoint(trained):
    data, run_dir = trained
    results = json.loads((run_dir / "test_results.json").read_text())
    assert set(results) == {"task", "model", "checkpoint", "best_epoch", "epochs_trained", "metrics",
                            "higher_is_better", "baselines", "details"}
    assert (results["task"], results["model"], results["checkpoint"]) == ("sequence", "lstm", "checkpoints/best.ckpt")
    history = json.loads((run_dir / "history.json").read_text())
    assert results["best_epoch"] == min(history, key=lambda h: h["val_loss"])["epoch"]
    assert results["metrics"]["mse"] < results["baselines"]["training_mean"]["mse"]
    best = torch.load(run_dir / "checkpoints/best.ckpt", weights_only=True)
    assert best["epoch"] == results["best_epoch"]
    assert best["hyper_parameters"]["model_name"] == "lstm" and best["hyper_parameters"]["simrnn_version"]


def test_test_metrics_match_a_hand_computation(trained):
    """MSE/MAE (standardised), baseline and per-label RMSE recomputed from the model's own forward."""
    data, run_dir = trained
    results = json.loads((run_dir / "test_results.json").read_text())
    config = json.loads((run_dir / "config.json").read_text())
    run = load_run(run_dir)
    d = read_triaxial_hdf5(data)
    test = np.asarray(config["data"]["split"]["test"])
    params = np.concatenate([d.contact_params, np.full((40, 1), 0.2), np.ones((40, 1))], axis=1)[test]
    x = np.concatenate([np.repeat(d.inputs[test][:, :1], 4, axis=1), d.inputs[test]], axis=1)  # pad 4
    mean, std = np.array(run.meta["output_mean"]), np.array(run.meta["output_std"])
    pred = np.empty((len(test), 30, 7))
    with torch.no_grad():
        for k in range(30):  # window k = padded steps k..k+4, estimates original step k
            window = torch.as_tensor(x[:, k:k + 5], dtype=torch.float32)
            pred[:, k] = run.model(window, torch.as_tensor(params, dtype=torch.float32)).numpy() * std + mean
    truth = d.outputs[test]
    z_err = (pred - truth) / std
    assert results["metrics"]["mse"] == pytest.approx(np.mean(z_err**2), rel=1e-4)
    assert results["metrics"]["mae"] == pytest.approx(np.mean(np.abs(z_err)), rel=1e-4)
    assert results["baselines"]["training_mean"]["mse"] == pytest.approx(np.mean(((truth - mean) / std) ** 2), rel=1e-5)
    for j, label in enumerate(d.output_names):
        rmse = np.sqrt(np.mean((pred[..., j] - truth[..., j]) ** 2))
        assert results["details"]["rmse_per_label"][label] == pytest.approx(rmse, rel=1e-4)


def test_prediction_covers_every_step_with_padding(trained):
    data, run_dir = trained
    run = load_run(run_dir)
    d = read_triaxial_hdf5(data)
    params = np.concatenate([d.contact_params, np.full((40, 1), 0.2), np.ones((40, 1))], axis=1)
    out = predict(run, d.inputs[:3], params[:3])
    assert out.shape == (3, 30, 7)  # S - W + 1 + pad = 30 - 5 + 1 + 4
    assert run.first_predicted_step() == 0


def test_resume_continues_after_the_last_epoch_not_the_best(tiny_h5, tmp_path):
    """A learning rate too small to move float32 weights: val_loss never improves after epoch 0."""
    cfg = dict(SMALL, raw_data=str(tiny_h5), runs_root=str(tmp_path), epochs=4, patience=10, learning_rate=1e-30)
    run_dir = train(cfg)
    history_before = (run_dir / "history.json").read_text()
    assert torch.load(run_dir / "checkpoints/last.ckpt", weights_only=True)["epoch"] == 3
    assert torch.load(run_dir / "checkpoints/best.ckpt", weights_only=True)["epoch"] == 0
    train({"epochs": 6}, resume=run_dir)
    history = json.loads((run_dir / "history.json").read_text())
    assert [h["epoch"] for h in history] == [0, 1, 2, 3, 4, 5]
    before = json.loads(history_before)
    assert json.dumps(history[:4], indent=2) == json.dumps(before, indent=2)  # earlier entries unchanged
    assert torch.load(run_dir / "checkpoints/last.ckpt", weights_only=True)["epoch"] == 5
    config = json.loads((run_dir / "config.json").read_text())
    assert config["settings"]["epochs"] == 6 and config["resumed"][0]["overrides"] == {"epochs": 6}
    assert (run_dir / "logs" / "resume_1" / "metrics.csv").is_file()
    assert json.loads((run_dir / "test_results.json").read_text())["epochs_trained"] == 6


KILLED_TRAINING = textwrap.dedent("""
    import os, signal, sys
    from lightning.pytorch.callbacks import Callback
    from simrnn.engine import fit

    class KillAtEpoch(Callback):
        def on_train_epoch_end(self, trainer, module):  # runs before the engine writes last.ckpt
            if trainer.current_epoch == 2:
                os.kill(os.getpid(), signal.SIGKILL)

    fit("sequence", dict(raw_data=sys.argv[1], runs_root=sys.argv[2], epochs=5, window_size=3, lstm_units=8,
                         dense_units=8, progress_bar=False, accelerator="cpu", devices="1"),
        callbacks=[KillAtEpoch()])
""")


def test_a_killed_training_resumes_from_its_last_complete_epoch(tiny_h5, tmp_path):
    result = subprocess.run([sys.executable, "-c", KILLED_TRAINING, str(tiny_h5), str(tmp_path)],
                            capture_output=True, text=True, timeout=240, stdin=subprocess.DEVNULL)
    assert result.returncode == -signal.SIGKILL, result.stderr[-2000:]
    (run_dir,) = (tmp_path / "sequence").iterdir()
    history = json.loads((run_dir / "history.json").read_text())
    assert [h["epoch"] for h in history] == [0, 1]  # never ahead of last.ckpt
    assert torch.load(run_dir / "checkpoints/last.ckpt", weights_only=True)["epoch"] == 1
    assert not (run_dir / "test_results.json").exists()
    train({"epochs": 5}, resume=run_dir)
    assert [h["epoch"] for h in json.loads((run_dir / "history.json").read_text())] == [0, 1, 2, 3, 4]
    assert json.loads((run_dir / "test_results.json").read_text())["epochs_trained"] == 5


class _Payload:
    """Runs code when unpickled without weights_only: must never happen on any checkpoint path."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_a_malicious_last_checkpoint_is_refused_before_lightning_reads_it(run_copy, tmp_path, monkeypatch):
    data, run_dir = run_copy
    marker = tmp_path / "pwned"
    torch.save({"hyper_parameters": {"model_name": "lstm", "model_args": {}}, "x": _Payload(str(marker))},
               run_dir / "checkpoints/last.ckpt")
    config_before = (run_dir / "config.json").read_bytes()
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    with pytest.raises(UserInputError, match=r"last.ckpt: not a readable simrnn checkpoint"):
        train({"epochs": 6}, resume=run_dir)
    assert not marker.exists()
    assert (run_dir / "config.json").read_bytes() == config_before


def test_a_failed_resume_leaves_config_json_untouched(run_copy):
    data, run_dir = run_copy
    (run_dir / "checkpoints/last.ckpt").unlink()
    before = (run_dir / "config.json").read_bytes()
    with pytest.raises(UserInputError, match="last.ckpt: checkpoint not found"):
        train({"epochs": 6}, resume=run_dir)
    assert (run_dir / "config.json").read_bytes() == before


def test_resume_refuses_to_change_the_data_settings(run_copy):
    _, run_dir = run_copy
    before = (run_dir / "config.json").read_bytes()
    with pytest.raises(UserInputError, match="cannot change window_size when resuming"):
        train({"window_size": 3}, resume=run_dir)
    assert (run_dir / "config.json").read_bytes() == before


def test_resume_refuses_a_changed_data_file(run_copy, tmp_path, learnable_h5_writer):
    data, run_dir = run_copy
    config = json.loads((run_dir / "config.json").read_text())
    config["settings"]["raw_data"] = str(learnable_h5_writer(tmp_path / "other.h5", n_per_group=40, groups=("0.5e6",)))
    (run_dir / "config.json").write_text(json.dumps(config))
    with pytest.raises(UserInputError, match="the data file changed since .* was created"):
        train({"epochs": 9}, resume=run_dir)


def test_nan_loss_stops_with_a_clear_error_and_keeps_the_run(trained, tmp_path):
    data, _ = trained
    with pytest.raises(TrainingDivergedError, match="the training loss became (nan|inf) at epoch 0, batch"):
        train(dict(SMALL, raw_data=str(data), runs_root=str(tmp_path), epochs=2, learning_rate=1e30,
                   epsilon=1e-30, beta_1=0.0, beta_2=0.0))
    assert len(list((tmp_path / "sequence").iterdir())) == 1


@pytest.mark.parametrize(("bad", "message"), [
    ({"precision": "fp8"}, "'precision' is 'fp8'"),
    ({"accelerator": "quantum"}, "accelerator='quantum'"),
    ({"strategy": "telepathy"}, "strategy='telepathy'"),
    ({"devices": "99", "accelerator": "cpu"}, "'devices' is 99"),
    ({"beta_1": 1.5}, "'beta_1' must be in"),
    ({"epsilon": 0.0}, "'epsilon' must be positive"),
    ({"gradient_clip_val": -2.0}, "'gradient_clip_val' must be a finite number"),
    ({"seed": -5}, "'seed' must be between"),
    ({"model": "transformer"}, "'model' is 'transformer'; expected one of lstm"),
    ({"learning_rate": "fast"}, "'learning_rate' should be a number"),
    ({"window_size": 99}, "window_size 99 is longer than the sequences"),
])
def test_settings_errors_leave_no_run_directory(tiny_h5, tmp_path, bad, message):
    with pytest.raises(UserInputError, match=message):
        train(dict(SMALL, raw_data=str(tiny_h5), runs_root=str(tmp_path), epochs=1, **bad))
    assert not (tmp_path / "sequence").exists()


def test_runs_are_never_overwritten(trained, tmp_path):
    data, _ = trained
    cfg = dict(SMALL, raw_data=str(data), runs_root=str(tmp_path), epochs=1)
    first, second = train(cfg), train(cfg)
    assert first != second and first.parent == second.parent


def test_a_grainlearning_config_is_accepted_unchanged(tiny_h5, tmp_path, recwarn):
    from pathlib import Path

    from simrnn.config import load_config_file
    from simrnn.sequence.training import load_sequence_config

    config = load_config_file(Path(__file__).parents[1] / "data/grainlearning/rnn_triaxial_drained/config.yml")
    cfg = load_sequence_config(dict(config, raw_data=str(tiny_h5)))
    assert not [w for w in recwarn if "unknown config keys" in str(w.message)]
    assert (cfg.lstm_units, cfg.window_size, cfg.batch_size, cfg.patience) == (200, 4, 256, 25)
    assert cfg.beta_1 == pytest.approx(0.8759275136104745) and cfg.epsilon == pytest.approx(6.938886685126222e-06)


@pytest.mark.parametrize(("logger", "folder"), [("tensorboard", "tensorboard/train"), ("wandb", "wandb")])
def test_optional_loggers_write_into_the_run(tiny_h5, tmp_path, logger, folder, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    run_dir = train(dict(SMALL, raw_data=str(tiny_h5), runs_root=str(tmp_path), epochs=1, logger=logger))
    assert any((run_dir / folder).iterdir())
    assert (run_dir / "logs" / "train" / "metrics.csv").is_file()
    assert folder.split("/")[0] in json.loads((run_dir / "config.json").read_text())["loggers"]


def test_the_thread_count_is_chosen_or_given_and_recorded(tiny_h5, tmp_path):
    from simrnn.engine.settings import available_cpu_cores

    before = torch.get_num_threads()
    given = train(dict(SMALL, raw_data=str(tiny_h5), runs_root=str(tmp_path), epochs=1, threads="1"))
    assert json.loads((given / "config.json").read_text())["hardware"]["torch_threads"] == 1
    auto = train(dict(SMALL, raw_data=str(tiny_h5), runs_root=str(tmp_path), epochs=1))
    assert json.loads((auto / "config.json").read_text())["hardware"]["torch_threads"] in {1, min(available_cpu_cores(), before)}
    assert torch.get_num_threads() == before  # restored after training
    with pytest.raises(UserInputError, match="'threads' is '999'; expected auto or 1.."):
        train(dict(SMALL, raw_data=str(tiny_h5), runs_root=str(tmp_path / "bad"), epochs=1, threads="999"))
    assert not (tmp_path / "bad").exists()
