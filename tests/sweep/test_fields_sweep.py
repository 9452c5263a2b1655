"""The same sweep code trains the field task: nothing in it knows a task's settings."""

from __future__ import annotations

import json

import pytest
from optuna.trial import TrialState

from simrnn.sweep import run_sweep


@pytest.fixture(scope="module")
def tiny_field_cache(tmp_path_factory):
    from simrnn.fields.cache import convert
    from simrnn.fields.synthetic import synthesise

    tmp = tmp_path_factory.mktemp("fields")
    synthesise(tmp / "csv", grid=(16, 4, 8), steps=12)
    return convert(tmp / "csv", tmp / "cache.h5", workers=1)


def test_field_sweep_keeps_list_settings(tiny_field_cache, tmp_path):
    sweep = {"method": "random", "metric": {"name": "val_loss"},
             "parameters": {"encoder_channels": {"values": [[4, 8, 8], [8, 8, 16]]},
                            "lr": {"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-2}},
             "simrnn": {"settings": {"cache": str(tiny_field_cache), "epochs": 1, "hidden_channels": 4, "rnn_layers": 1,
                                     "seq_length": 2, "split_ratio": [4, 4, 4], "batch_size": 4, "t_solidus": 1400.0, "t_liquidus": 1500.0,
                                     "runs_root": str(tmp_path / "runs"), "accelerator": "cpu", "devices": "1"}}}
    study = run_sweep(sweep, "fields", trials=1)
    (trial,) = study.get_trials()
    assert trial.state == TrialState.COMPLETE and trial.value > 0
    config = json.loads((tmp_path / "runs" / "fields" / trial.user_attrs["run_dir"].split("/")[-1] /
                         "config.json").read_text())
    assert config["task"] == "fields"
    assert config["settings"]["encoder_channels"] == trial.user_attrs["settings"]["encoder_channels"]
    assert config["settings"]["encoder_channels"] in ([4, 8, 8], [8, 8, 16])  # a list of ints, not a string
