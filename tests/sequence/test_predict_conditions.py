"""`simrnn sequence predict RUN` for new conditions (no ground truth): --param/--strain and CSV inputs.

Known answer: GrainLearning's drained model, imported, must give GrainLearning's own TensorFlow
predictions (tests/data/grainlearning/*/reference_predictions.npz) for the tutorial's conditions.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from simrnn.cli import app
from simrnn.sequence import import_keras, load_run, predict

DATA = Path(__file__).resolve().parents[1] / "data" / "grainlearning" / "rnn_triaxial_drained"
runner = CliRunner()


@pytest.fixture(scope="module")
def drained(tmp_path_factory):
    """GrainLearning's drained model as a run, and its reference predictions."""
    run_dir = import_keras(DATA, out=tmp_path_factory.mktemp("gl") / "drained")
    with np.load(DATA / "reference_predictions.npz") as ref:
        return run_dir, {key: ref[key] for key in ref.files}


def _written(output: str, name: str) -> Path:
    return Path(next(line.strip() for line in output.splitlines() if line.strip().endswith(name)))


def test_param_and_strain_reproduce_grainlearnings_prediction(drained, tmp_path):
    run_dir, ref = drained
    names = ["E", "v", "kr", "eta", "mu", "pressure"]
    options = [f"--param={n}={v!r}" for n, v in zip(names, ref["params"][0].tolist(), strict=True)]
    result = runner.invoke(app, ["sequence", "predict", str(run_dir), *options, "--strain", "0:0.199:200",
                                 "--out", str(tmp_path / "out")], terminal_width=200)
    assert result.exit_code == 0, result.output
    with open(_written(result.output, "predictions.csv"), newline="") as handle:
        rows = list(csv.DictReader(handle))
    window = int(ref["window_size"])
    steps = [int(r["step"]) for r in rows]
    assert steps == list(range(window - 1, 200))  # pad 0: the first window ends at step W-1
    ours = np.array([[float(r[label]) for label in ref["output_labels"]] for r in rows])
    # GrainLearning's element k estimates step k+W-1 and stops one step early (196 of 197 steps); the CSV
    # holds 6 significant digits
    np.testing.assert_allclose(ours[:196], ref["predictions"][0], rtol=1e-4, atol=2e-4 * ref["output_std"].max())
    assert np.allclose([float(r["e_z"]) for r in rows], np.linspace(0, 0.199, 200)[window - 1:], atol=1e-9)
    assert _written(result.output, "prediction_curves.png").read_bytes()[:4] == b"\x89PNG"


def test_csv_of_two_sequences_matches_the_python_api(drained, tmp_path):
    run_dir, ref = drained
    names = ["E", "v", "kr", "eta", "mu", "pressure"]
    path = tmp_path / "conditions.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sequence", "e_z", *names])
        for i in (0, 1):
            for k in range(200):
                writer.writerow([f"s{i}", ref["inputs"][i, k, 0], *ref["params"][i]])
    result = runner.invoke(app, ["sequence", "predict", str(run_dir), "--inputs", str(path), "--out",
                                 str(tmp_path / "out")], terminal_width=200)
    assert result.exit_code == 0, result.output
    with np.load(_written(result.output, "predictions.npz")) as saved:
        predictions, param_names = saved["predictions"], list(saved["param_names"])
    expected = predict(load_run(run_dir), ref["inputs"][:2], ref["params"][:2])
    np.testing.assert_allclose(predictions, expected, rtol=1e-6)
    assert predictions.shape == (2, 197, 7) and param_names == names


@pytest.mark.parametrize(("args", "message"), [
    (["--param", "E=7", "--strain", "0:0.2"], "--strain is '0:0.2'; expected START:STOP:STEPS"),  # library keys strain, params
    (["--strain", "0:0.2:200"], "--param and --strain go together"),
    (["--param", "E=7", "--strain", "0:0.2:200"], "--param missing for v, kr, eta, mu, pressure"),
    (["--param", "X=1", "--strain", "0:0.2:200"], "--param 'X=1': expected NAME=VALUE with NAME one of E, v, kr, eta, mu, pressure"),
    ([], "give the sequences to predict once"),
    (["--inputs", "nope.csv", "--strain", "0:0.2:10"], "give the sequences to predict once"),
])
def test_bad_conditions_are_one_sentence_and_exit_2(drained, tmp_path, args, message):
    run_dir, _ = drained
    result = runner.invoke(app, ["sequence", "predict", str(run_dir), *args], terminal_width=200)
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output


def test_csv_with_a_missing_column_or_changing_parameters_is_refused(drained, tmp_path):
    run_dir, _ = drained
    path = tmp_path / "bad.csv"
    path.write_text("e_z,E,v,kr,eta,mu\n0,7,0.3,0.5,0.5,30\n0.1,7,0.3,0.5,0.5,30\n")
    result = runner.invoke(app, ["sequence", "predict", str(run_dir), "--inputs", str(path)], terminal_width=200)
    assert result.exit_code == 2 and "missing column(s) pressure" in result.output
    path.write_text("e_z,E,v,kr,eta,mu,pressure\n0,7,0.3,0.5,0.5,30,0.2\n0.1,8,0.3,0.5,0.5,30,0.2\n")
    result = runner.invoke(app, ["sequence", "predict", str(run_dir), "--inputs", str(path)], terminal_width=200)
    assert result.exit_code == 2 and "change at row 3" in result.output
    assert not (Path(run_dir) / "predictions").exists()  # nothing half-written


def _write_conditions_h5(path: Path, ref: dict, output_names: list[str] | None = None) -> list[int]:
    """GrainLearning's layout without ``outputs``: the reference sequences grouped by pressure (file order)."""
    import h5py

    order = []
    with h5py.File(path, "w") as f:
        f.attrs["contact_params"] = np.array(["E", "v", "kr", "eta", "mu"], dtype=h5py.string_dtype())
        f.attrs["inputs"] = np.array(["e_z"], dtype=h5py.string_dtype())
        if output_names is not None:
            f.attrs["outputs"] = np.array(output_names, dtype=h5py.string_dtype())
        for mpa in sorted(set(ref["params"][:, 5].round(3).tolist())):
            rows = np.flatnonzero(ref["params"][:, 5].round(3) == mpa)
            group = f.require_group(f"{mpa!r}e6/drained")
            group.create_dataset("contact_params", data=ref["params"][rows, :5])
            group.create_dataset("inputs", data=ref["inputs"][rows])
            order += rows.tolist()
    return order


def test_hdf5_without_outputs_is_predicted_unscored_as_grainlearning_does(drained, tmp_path):
    """Issue 17 point 7: new conditions as HDF5 with inputs and parameters only (no outputs)."""
    run_dir, ref = drained
    order = _write_conditions_h5(tmp_path / "new.h5", ref)
    result = runner.invoke(app, ["sequence", "predict", str(run_dir), "--data", str(tmp_path / "new.h5"), "--out",
                                 str(tmp_path / "out")], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert f"predicted {len(order)} sequence(s)" in result.output and "not scored" in result.output
    assert "MSE" not in result.output
    with np.load(_written(result.output, "predictions.npz")) as saved:
        predictions = saved["predictions"]
    # GrainLearning's element k estimates step k+W-1 and stops one step early (196 of 197 steps)
    np.testing.assert_allclose(predictions[:, :196], ref["predictions"][order], rtol=1e-4,
                               atol=2e-4 * ref["output_std"].max())
    assert not (tmp_path / "out" / "metrics.json").exists()


def test_training_data_without_outputs_is_refused_in_one_sentence(drained, tmp_path):
    from simrnn.errors import UserInputError
    from simrnn.sequence.hdf5 import read_triaxial_hdf5

    _, ref = drained
    _write_conditions_h5(tmp_path / "new.h5", ref, output_names=["e", "p", "q"])
    with pytest.raises(UserInputError, match="has no dataset 'outputs' \\(a file without outputs can only be "
                                             "predicted, not trained on\\)"):
        read_triaxial_hdf5(tmp_path / "new.h5")
    assert read_triaxial_hdf5(tmp_path / "new.h5", require_outputs=False).outputs is None
