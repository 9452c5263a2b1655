"""Training through the library API: artefacts, best-checkpoint evaluation, resume, divergence."""

import json

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
    tmp = tmp_path_factory.mktemp("train")
    data = learnable_h5_writer(tmp / "data.h5", n_per_group=40, groups=("0.2e6",))
    run_dir = train(dict(SMALL, raw_data=str(data), runs_root=str(tmp / "runs"), epochs=4, patience=10))
    return data, run_dir


def test_run_directory_holds_every_artefact(trained):
    data, run_dir = trained
    assert run_dir.parent.name == "sequence"
    for name in ("config.json", "history.json", "test_results.json", "training_losses.png",
                 "checkpoints/best.ckpt", "checkpoints/last.ckpt"):
        assert (run_dir / name).is_file(), name
    config = json.loads((run_dir / "config.json").read_text())
    assert config["settings"]["seed"] == 0 and config["settings"]["window_size"] == 5
    assert config["data"]["sha256"] and config["data"]["n_sequences"] == 40
    assert sorted(sum(config["data"]["split"].values(), [])) == list(range(40))
    assert {"torch", "lightning", "simrnn"} <= set(config["versions"])
    history = json.loads((run_dir / "history.json").read_text())
    assert [h["epoch"] for h in history] == [0, 1, 2, 3]
    assert all({"train_loss", "val_loss", "train_mae", "val_mae"} <= set(h) for h in history)
    assert (run_dir / "training_losses.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_test_results_come_from_the_best_checkpoint_and_beat_the_mean(trained):
    data, run_dir = trained
    results = json.loads((run_dir / "test_results.json").read_text())
    history = json.loads((run_dir / "history.json").read_text())
    assert results["best_epoch"] == min(history, key=lambda h: h["val_loss"])["epoch"]
    assert results["mse"] < results["baseline_mse"]
    best = torch.load(run_dir / "checkpoints/best.ckpt", weights_only=True)
    assert best["epoch"] == results["best_epoch"]
    assert best["hyper_parameters"]["model_name"] == "lstm"


def test_prediction_covers_every_step_with_padding(trained):
    data, run_dir = trained
    run = load_run(run_dir)
    d = read_triaxial_hdf5(data)
    params = np.concatenate([d.contact_params, np.full((40, 1), 0.2), np.ones((40, 1))], axis=1)
    out = predict(run, d.inputs[:3], params[:3])
    assert out.shape == (3, 30, 7)  # S - W + 1 + pad = 30 - 5 + 1 + 4
    assert run.first_predicted_step() == 0


def test_resume_continues_the_same_run(trained):
    data, run_dir = trained
    train({"epochs": 6}, resume=run_dir)
    history = json.loads((run_dir / "history.json").read_text())
    assert [h["epoch"] for h in history] == [0, 1, 2, 3, 4, 5]
    config = json.loads((run_dir / "config.json").read_text())
    assert config["settings"]["epochs"] == 6 and config["resumed"][0]["overrides"] == {"epochs": 6}


def test_resume_refuses_to_change_the_data_settings(trained):
    _, run_dir = trained
    with pytest.raises(UserInputError, match="cannot change window_size when resuming"):
        train({"window_size": 3}, resume=run_dir)


def test_resume_refuses_a_changed_data_file(trained, tmp_path, learnable_h5_writer):
    import shutil

    data, run_dir = trained
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    config = json.loads((copy / "config.json").read_text())
    config["settings"]["raw_data"] = str(learnable_h5_writer(tmp_path / "other.h5", n_per_group=40, groups=("0.5e6",)))
    (copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(UserInputError, match="the data file changed since .* was created"):
        train({"epochs": 9}, resume=copy)


def test_nan_loss_stops_with_a_clear_error_and_keeps_the_run(trained, tmp_path):
    data, _ = trained
    with pytest.raises(TrainingDivergedError, match="the training loss became nan at epoch 0, batch"):
        train(dict(SMALL, raw_data=str(data), runs_root=str(tmp_path), epochs=2, learning_rate=1e30,
                   epsilon=0.0, beta_1=0.0, beta_2=0.0))
    assert len(list((tmp_path / "sequence").iterdir())) == 1


def test_runs_are_never_overwritten(trained, tmp_path):
    data, _ = trained
    cfg = dict(SMALL, raw_data=str(data), runs_root=str(tmp_path), epochs=1)
    first, second = train(cfg), train(cfg)
    assert first != second and first.parent == second.parent


def test_a_grainlearning_config_is_accepted_unchanged(tiny_h5, tmp_path, recwarn):
    from pathlib import Path

    from simrnn.config import load_config_file
    from simrnn.sequence.train import load_sequence_config

    config = load_config_file(Path(__file__).parents[1] / "data/grainlearning/rnn_triaxial_drained/config.yml")
    cfg = load_sequence_config(config)
    assert not [w for w in recwarn if "unknown config keys" in str(w.message)]
    assert (cfg.lstm_units, cfg.window_size, cfg.batch_size, cfg.patience) == (200, 4, 256, 25)
    assert cfg.beta_1 == pytest.approx(0.8759275136104745) and cfg.epsilon == pytest.approx(6.938886685126222e-06)


@pytest.mark.parametrize(("logger", "folder"), [("tensorboard", "tensorboard/train"), ("wandb", "wandb")])
def test_optional_loggers_write_into_the_run(tiny_h5, tmp_path, logger, folder, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    run_dir = train(dict(SMALL, raw_data=str(tiny_h5), runs_root=str(tmp_path), epochs=1, logger=logger))
    assert any((run_dir / folder).iterdir())
    assert (run_dir / "logs" / "train" / "metrics.csv").is_file()
