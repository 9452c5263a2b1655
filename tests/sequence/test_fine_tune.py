"""Fine-tuning a trained sequence run on new data (``init_from``): weights, normalisation, model, refusals."""

import numpy as np
import pytest
import torch

from simrnn.errors import UserInputError
from simrnn.files import read_json
from simrnn.sequence import load_run, train
from simrnn.sequence.hdf5 import write_triaxial_hdf5

SMALL = {"window_size": 5, "pad_length": 4, "lstm_units": 12, "dense_units": 12, "batch_size": 64,
         "learning_rate": 1e-2, "progress_bar": False, "seed": 0, "threads": "1"}


@pytest.fixture(scope="module")
def source(tmp_path_factory, learnable_h5_writer):
    """An 8-epoch run on one toy data set, and a second, differently scaled data set."""
    tmp = tmp_path_factory.mktemp("finetune")
    data = learnable_h5_writer(tmp / "a.h5", n_per_group=30, groups=("0.2e6",))
    other = learnable_h5_writer(tmp / "b.h5", n_per_group=20, groups=("0.5e6",))
    run = train(dict(SMALL, raw_data=str(data), runs_root=str(tmp / "runs"), epochs=8, patience=10))
    return tmp, run, other


def test_fine_tuning_starts_from_the_source_weights_and_keeps_its_normalisation(source):
    tmp, run, other = source
    # a learning rate of 1e-12 moves no weight visibly: the new run's best weights are the source's
    tuned = train({"raw_data": str(other), "init_from": str(run), "runs_root": str(tmp / "tuned"), "epochs": 1,
                   "learning_rate": 1e-12, "lstm_units": 99, "progress_bar": False, "threads": "1"})
    before, after = load_run(run), load_run(tuned)
    for (name, a), b in zip(before.model.state_dict().items(), after.model.state_dict().values(), strict=True):
        assert torch.allclose(a, b, atol=1e-8), name
    assert after.meta["output_mean"] == before.meta["output_mean"]  # not the new data's statistics
    assert after.meta["output_std"] == before.meta["output_std"]
    config = read_json(tuned / "config.json")
    assert config["model"]["args"] == read_json(run / "config.json")["model"]["args"]  # lstm_units 99 ignored
    assert config["settings"]["window_size"] == SMALL["window_size"]  # the source's task settings
    assert config["data"]["init_from"]["run"] == str(run.resolve())
    assert len(config["data"]["init_from"]["sha256"]) == 64


def test_fine_tuning_lowers_the_error_on_the_new_data_faster_than_training_anew(source):
    tmp, run, other = source
    common = {"raw_data": str(other), "epochs": 2, "patience": 10, "progress_bar": False, "threads": "1",
              "learning_rate": 1e-2, "seed": 1}
    tuned = train(dict(common, init_from=str(run), runs_root=str(tmp / "warm")))
    fresh = train(dict(SMALL, **common, runs_root=str(tmp / "cold")))
    # the same test sequences of the new data (same file, split and seed), RMSE in the data's units
    warm = read_json(tuned / "test_results.json")["details"]
    cold = read_json(fresh / "test_results.json")["details"]
    assert warm["n_test_sequences"] == cold["n_test_sequences"]
    rmse = {name: sum(d["rmse_per_label"].values()) for name, d in (("warm", warm), ("cold", cold))}
    assert rmse["warm"] < 0.8 * rmse["cold"], rmse


def test_data_with_other_labels_is_refused_in_one_sentence(source):
    tmp, run, _ = source
    rng = np.random.default_rng(0)
    bad = tmp / "labels.h5"
    write_triaxial_hdf5(bad, {("0.2e6", "drained"): {"inputs": rng.random((8, 30, 1), np.float32),
                                                     "contact_params": rng.random((8, 5), np.float32),
                                                     "outputs": rng.random((8, 30, 2), np.float32)}},
                        input_names=["e_z"], contact_param_names=["E", "v", "kr", "eta", "mu"], output_names=["e", "q"])
    with pytest.raises(UserInputError, match=r"data_meta.output_labels = \['e', 'q'\].*init_from") as info:
        train({"raw_data": str(bad), "init_from": str(run), "runs_root": str(tmp / "bad"), "epochs": 1})
    assert info.value.key == "init_from"
    assert not (tmp / "bad").exists()


def test_a_fields_run_cannot_start_a_sequence_run_and_a_missing_run_is_named(source, tmp_path):
    tmp, run, other = source
    with pytest.raises(UserInputError, match="nowhere"):
        train({"raw_data": str(other), "init_from": str(tmp_path / "nowhere"), "runs_root": str(tmp_path)})
    fake = tmp_path / "fields_run"
    fake.mkdir()
    (fake / "config.json").write_text('{"task": "fields"}')
    with pytest.raises(UserInputError, match="is a fields run, expected a sequence run"):
        train({"raw_data": str(other), "init_from": str(fake), "runs_root": str(tmp_path)})


def test_a_fine_tuned_run_resumes_with_the_source_normalisation(source):
    tmp, run, other = source
    tuned = train({"raw_data": str(other), "init_from": str(run), "runs_root": str(tmp / "resumed"), "epochs": 1,
                   "progress_bar": False, "threads": "1"})
    mean = load_run(tuned).meta["output_mean"]
    assert train({"epochs": 2}, resume=tuned) == tuned
    assert len(read_json(tuned / "history.json")) == 2
    assert load_run(tuned).meta["output_mean"] == mean == load_run(run).meta["output_mean"]
