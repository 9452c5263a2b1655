"""GrainLearning Keras import: reference predictions, file variants, errors, CLI; fast prediction path."""

from __future__ import annotations

import datetime
import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from simrnn.cli import app, main
from simrnn.errors import UserInputError
from simrnn.sequence import import_keras, load_run, predict
from simrnn.sequence.keras_import import load_pickled_dict
from simrnn.sequence.model import ParamConditionedLSTM
from simrnn.sequence.predict import SequenceRun, _predict_lstm, sliding_windows

DATA = Path(__file__).resolve().parents[1] / "data" / "grainlearning"  # vendored from ../shared/data
MODELS = ("rnn_triaxial_drained", "rnn_triaxial_undrained")


def reference(model: str) -> dict[str, np.ndarray]:
    with np.load(DATA / model / "reference_predictions.npz") as z:
        return {k: z[k] for k in z.files}


def model_folder(tmp_path: Path, model: str = "rnn_triaxial_drained", skip: tuple[str, ...] = ()) -> Path:
    """A writable copy of a shipped model folder without the files in ``skip``."""
    folder = tmp_path / model
    folder.mkdir()
    for name in ("config.yml", "model-best.h5", "train_stats.npy"):
        if name not in skip:
            shutil.copyfile(DATA / model / name, folder / name)
    return folder


def keras_layers(path: Path) -> dict[str, list[np.ndarray]]:
    """Layer name -> arrays (Keras order) of a Keras 2 weights file, read independently of simrnn."""
    with h5py.File(path, "r") as f:
        return {
            name: [f[name][w][()] for w in f[name].attrs["weight_names"]]
            for name in f.attrs["layer_names"] if len(f[name].attrs["weight_names"])
        }


def write_keras3(path: Path, layers: dict[str, list[np.ndarray]]) -> None:
    """Keras 3 ``.weights.h5`` layout: ``layers/<name>/vars/<i>``, the LSTM's under ``cell/vars``."""
    with h5py.File(path, "w") as f:
        f.create_group("vars")
        f.create_group("layers/input_layer/vars")
        f.create_dataset("optimizer/vars/0", data=np.int64(7))
        for name, arrays in layers.items():
            group = f.create_group(f"layers/{name}/cell/vars" if len(arrays) == 3 else f"layers/{name}/vars")
            for i, array in enumerate(arrays):
                group.create_dataset(str(i), data=array)


@pytest.fixture(scope="module")
def imported(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("imported")
    return {model: import_keras(DATA / model, out=root / model) for model in MODELS}


@pytest.mark.parametrize("model", MODELS)
def test_imported_models_reproduce_grainlearning_predictions(imported, model):
    ref = reference(model)
    run = load_run(imported[model])
    ws, steps = int(ref["window_size"]), int(ref["sequence_length"])
    assert run.window_size == ws and run.pad_length == 0
    pred = predict(run, ref["inputs"], ref["params"])
    assert pred.shape == (8, steps - ws + 1, 7)
    # GrainLearning stops one window early: its S - ws steps are simrnn's first S - ws.
    err = np.abs(pred[:, : steps - ws] - ref["predictions"]) / ref["output_std"]
    assert err.max() < 1e-4
    with torch.inference_mode():
        raw = run.model(torch.from_numpy(ref["windows_x"]), torch.from_numpy(ref["windows_params"])).numpy()
    assert np.abs(raw - ref["raw_outputs"]).max() < 1e-4


def test_run_directory_records_source_config_and_meta(imported):
    run_dir = imported["rnn_triaxial_drained"]
    config = json.loads((run_dir / "config.json").read_text())
    assert config["imported_from"] == "grainlearning-keras"
    assert config["data"]["file"] == str((DATA / "rnn_triaxial_drained").resolve())
    assert set(config["data"]["files"]) == {"config.yml", "train_stats.npy", "model-best.h5"}
    assert all(len(digest) == 64 for digest in config["data"]["files"].values())
    assert config["settings"]["window_size"] == 4 and "_wandb" not in config["settings"]
    assert config["settings"]["learning_rate"] == pytest.approx(6.475464452786681e-05)
    assert "torch" in config["versions"]
    meta = load_run(run_dir).meta
    assert meta["param_names"] == ["E", "v", "kr", "eta", "mu", "pressure"]
    assert meta["input_features"] == ["e_z"]
    assert meta["output_labels"] == ["e", "p", "q", "f0", "a_c", "a_n", "a_t"]
    assert (run_dir / "checkpoints" / "best.ckpt").is_file()


def test_fresh_timestamped_run_under_runs_root(tmp_path):
    first = import_keras(DATA / "rnn_triaxial_drained", runs_root=tmp_path / "runs")
    second = import_keras(DATA / "rnn_triaxial_drained", runs_root=tmp_path / "runs")
    assert first.parent == second.parent == tmp_path / "runs" / "sequence" and first != second


def test_keras3_layout_with_other_layer_names_and_new_stats_keys(tmp_path, imported):
    """Roles come from shapes: renamed Dense layers, Keras 3 layout, config.npy, new train_stats keys."""
    folder = model_folder(tmp_path, skip=("model-best.h5", "config.yml", "train_stats.npy"))
    layers = keras_layers(DATA / "rnn_triaxial_drained" / "model-best.h5")
    renamed = {"dense_9": layers["dense_1"], "state_h": layers["state_h"], "dense_12": layers["dense"],
               "lstm_3": layers["lstm"], "state_c": layers["state_c"]}
    write_keras3(folder / "model.weights.h5", renamed)
    stats = load_pickled_dict(DATA / "rnn_triaxial_drained" / "train_stats.npy")
    stats["num_input_features"], stats["num_params"] = stats.pop("num_load_features"), stats.pop("num_contact_params")
    np.save(folder / "train_stats.npy", stats)
    np.save(folder / "config.npy", {"window_size": 4, "add_pressure": True, "add_experiment_type": False,
                                    "add_e0": False, "lstm_units": np.int64(200), "experiment_type": "drained"})
    run_dir = import_keras(folder, out=tmp_path / "run")
    ref = reference("rnn_triaxial_drained")
    expected = predict(load_run(imported["rnn_triaxial_drained"]), ref["inputs"], ref["params"])
    np.testing.assert_array_equal(predict(load_run(run_dir), ref["inputs"], ref["params"]), expected)
    config = json.loads((run_dir / "config.json").read_text())
    assert config["settings"]["lstm_units"] == 200
    assert set(config["data"]["files"]) == {"config.npy", "train_stats.npy", "model.weights.h5"}
    assert config["defaults_applied"]["pad_length"] == 0


def _drop(folder: Path, name: str) -> None:
    (folder / name).unlink()


def _state_h_of_5_params(folder: Path) -> None:
    layers = keras_layers(folder / "model-best.h5")
    layers["state_h"][0] = layers["state_h"][0][:5]
    _drop(folder, "model-best.h5")
    write_keras3(folder / "model.weights.h5", layers)


def _bad_recurrent_kernel(folder: Path) -> None:
    layers = keras_layers(folder / "model-best.h5")
    layers["lstm"][1] = layers["lstm"][1][:, :796]
    _drop(folder, "model-best.h5")
    write_keras3(folder / "model.weights.h5", layers)


def _stats(folder: Path, **changes) -> None:
    stats = load_pickled_dict(folder / "train_stats.npy")
    stats.update(changes)
    _drop(folder, "train_stats.npy")
    np.save(folder / "train_stats.npy", stats)


def _config_with_e0(folder: Path) -> None:
    text = (folder / "config.yml").read_text().replace("add_e0:\n  desc: null\n  value: false",
                                                       "add_e0:\n  desc: null\n  value: true")
    _drop(folder, "config.yml")
    (folder / "config.yml").write_text(text)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda f: _drop(f, "train_stats.npy"), "train_stats.npy: file not found"),
        (lambda f: _drop(f, "model-best.h5"), "no Keras weights found; expected model-best.h5 or model.weights.h5"),
        (lambda f: _drop(f, "config.yml"), "no GrainLearning config found"),
        (_state_h_of_5_params, "expected two Dense layers with kernel [6, 200]"),
        (_bad_recurrent_kernel, "expected [F, 4U], [U, 4U], [4U]"),
        (lambda f: _stats(f, num_load_features=3), "num_input_features is 3 but the LSTM kernel"),
        (lambda f: _stats(f, std=np.ones(6)), "'std' has shape (6,); expected num_labels=7 entries"),
        (lambda f: _stats(f, created=datetime.date(2023, 3, 22)), "global 'datetime.date' is not allowed"),
        (lambda f: _stats(f, std=np.array([1, 1, np.nan, 1, 1, 1, 1.0])), "'std'[2] is nan; expected a finite positive"),
        (lambda f: _stats(f, std=np.array([1, 1, 1, 0, 1, 1, 1.0])), "'std'[3] is 0; expected a finite positive"),
        (lambda f: _stats(f, mean=np.array([1, np.inf, 1, 0, 1, 1, 1.0])), "'mean'[1] is inf; expected a finite number"),
        (lambda f: _stats(f, num_labels="7"), "'num_labels' is '7'; expected a positive integer"),
        (_config_with_e0, "gives 7 parameters (E, v, kr, eta, mu, pressure, e0), but the network takes 6"),
    ],
)
def test_bad_model_folders_raise_one_sentence(tmp_path, damage, message):
    folder = model_folder(tmp_path)
    damage(folder)
    with pytest.raises(UserInputError) as info:
        import_keras(folder, out=tmp_path / "run")
    assert message in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "run").exists()


def test_existing_out_directory_is_never_overwritten(tmp_path):
    (tmp_path / "run").mkdir()
    with pytest.raises(UserInputError, match="already exists"):
        import_keras(DATA / "rnn_triaxial_drained", out=tmp_path / "run")
    assert list((tmp_path / "run").iterdir()) == []


def test_cli_import_keras_prints_the_run_and_refuses_an_existing_out(tmp_path, capsys):
    out = tmp_path / "cli_run"
    result = CliRunner().invoke(app, ["sequence", "import-keras", str(DATA / "rnn_triaxial_undrained"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert str(out) in result.output and (out / "checkpoints" / "best.ckpt").is_file()
    with pytest.raises(SystemExit) as exit_info:
        main(["sequence", "import-keras", str(DATA / "rnn_triaxial_undrained"), "--out", str(out)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "already exists" in err and "Traceback" not in err


# ------------------------------------------------------------------ predict's shared-work LSTM path

def _forward_all_windows(model: torch.nn.Module, x: torch.Tensor, p: torch.Tensor, window: int) -> torch.Tensor:
    windows = sliding_windows(x, window, 0)
    n, k = windows.shape[:2]
    with torch.inference_mode():
        return model(windows.reshape(n * k, window, -1), p.repeat_interleave(k, 0)).view(n, k, -1)


@pytest.mark.parametrize("chunk_rows", [1, 7, 4096])
def test_fast_path_equals_the_model_forward(chunk_rows):
    torch.manual_seed(0)
    model = ParamConditionedLSTM(n_input_features=3, n_params=6, n_outputs=7, hidden_size=16, dense_size=8).eval()
    with torch.no_grad():
        model.lstm.bias_hh_l0.normal_()  # a trained PyTorch LSTM has both biases
    x, p = torch.randn(5, 23, 3), torch.randn(5, 6)
    with torch.inference_mode():
        fast = _predict_lstm(model, x, p, window_size=4, chunk_rows=chunk_rows)
    torch.testing.assert_close(fast, _forward_all_windows(model, x, p, 4), rtol=0, atol=1e-5)


@pytest.mark.parametrize("model", MODELS)
def test_fast_path_is_as_accurate_as_the_float64_forward(imported, model):
    """Float32 rounding alone moves the undrained model's outputs by ~1e-5 (nn.LSTM vs TF vs any
    other summation order); the fast path must stay at that level against the exact float64 result."""
    ref = reference(model)
    run = load_run(imported[model])
    x, p = torch.from_numpy(ref["inputs"]), torch.from_numpy(ref["params"])
    with torch.inference_mode():
        fast = _predict_lstm(run.model, x, p, run.window_size)
    exact = _forward_all_windows(run.model.double(), x.double(), p.double(), run.window_size)
    assert (fast.double() - exact).abs().max() < 5e-5


def test_padding_predicts_every_step_with_the_documented_alignment(imported):
    ref = reference("rnn_triaxial_undrained")
    run = load_run(imported["rnn_triaxial_undrained"])
    plain = predict(run, ref["inputs"], ref["params"])
    run.meta["pad_length"] = run.window_size - 1
    padded = predict(run, ref["inputs"], ref["params"])
    assert padded.shape == (8, 200, 7) and run.first_predicted_step() == 0
    np.testing.assert_allclose(padded[:, run.window_size - 1 :], plain, rtol=0, atol=1e-5 * np.abs(plain).max())


def test_other_models_are_called_on_all_windows(imported):
    class Wrapped(torch.nn.Module):  # a SequenceSurrogate without a whole-sequence path
        registry_name = "wrapped"

        def __init__(self, inner: ParamConditionedLSTM):
            super().__init__()
            self.inner, self.n_input_features, self.n_params = inner, inner.n_input_features, inner.n_params

        def forward(self, windows, params):
            return self.inner(windows, params)

    ref = reference("rnn_triaxial_drained")
    run = load_run(imported["rnn_triaxial_drained"])
    wrapped = SequenceRun(None, Wrapped(run.model), run.meta)
    np.testing.assert_allclose(predict(wrapped, ref["inputs"], ref["params"]),
                               predict(run, ref["inputs"], ref["params"]), rtol=1e-5, atol=1e-5)
