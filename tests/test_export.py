"""simrnn export: exported files predict what simrnn predicts (onnxruntime, torch.jit.load), manifests."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from export_helpers import (
    FIELD_META,
    field_run,
    make_run,
    random_fields,
    random_sequences,
    sequence_run,
)

from simrnn.checkpoints import model_from_checkpoint, read_checkpoint
from simrnn.export import export_run
from simrnn.export.formats import load_torchscript
from simrnn.fields.dataset import FieldSequenceDataset
from simrnn.fields.predict import load_fields_run
from simrnn.files import sha256_file
from simrnn.sequence import import_keras, load_run, predict

ort = pytest.importorskip("onnxruntime")

GRAINLEARNING = Path(__file__).resolve().parent / "data" / "grainlearning"
FORMATS = ("onnx", "torchscript")


def run_exported(folder: Path, *arrays: np.ndarray) -> np.ndarray:
    """Predict with an exported folder, as a user without simrnn would (onnxruntime or torch.jit.load)."""
    manifest = json.loads((folder / "manifest.json").read_text())
    path = folder / manifest["file"]
    if manifest["format"] == "onnx":
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        feeds = {spec["name"]: a for spec, a in zip(manifest["inputs"], arrays, strict=True)}
        return session.run(None, feeds)[0]
    with torch.no_grad(), torch.jit.optimized_execution(False):  # no re-profiling per new shape
        return load_torchscript(path)(*map(torch.from_numpy, arrays)).numpy()


def assert_matches(got: np.ndarray, want: np.ndarray) -> None:
    """Equal shapes and values to 1e-5 of the largest output (relative)."""
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())


@pytest.fixture(scope="module")
def sequence_exports(tmp_path_factory):
    """``{(kind, format): (run, export folder)}`` for a built run (pad 3 = W - 1) and GrainLearning's drained model."""
    root = tmp_path_factory.mktemp("sequence")
    runs = {"built": sequence_run(root / "built"),
            "grainlearning": import_keras(GRAINLEARNING / "rnn_triaxial_undrained", out=root / "gl")}
    return {(kind, fmt): (run, export_run(run, fmt)) for kind, run in runs.items() for fmt in FORMATS}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("kind", ["built", "grainlearning"])
def test_sequence_export_predicts_whole_sequences_like_simrnn(sequence_exports, kind, fmt):
    """Other batch sizes and lengths than traced, down to the shortest sequence the padding allows."""
    run_dir, folder = sequence_exports[kind, fmt]
    run = load_run(run_dir)
    f = run.model.n_input_features
    for n, steps in [(5, 23), (1, 40), (3, run.window_size - run.pad_length)]:
        inputs, params = random_sequences(n, steps, seed=steps)
        inputs = (np.repeat(inputs, f, axis=2) * np.linspace(1, -0.5, f)).astype(np.float32)
        params = params[:, : run.model.n_params]
        want = predict(run, inputs, params)
        assert want.shape == (n, steps + run.pad_length - run.window_size + 1, len(run.output_labels))
        assert_matches(run_exported(folder, inputs, params), want)


def test_sequence_manifest_describes_inputs_outputs_alignment_and_source(sequence_exports):
    run_dir, folder = sequence_exports["built", "onnx"]
    manifest = json.loads((folder / "manifest.json").read_text())
    run = load_run(run_dir)
    assert manifest["format"] == "onnx" and (folder / manifest["file"]).is_file()
    assert sorted(p.name for p in folder.iterdir()) == ["manifest.json", "model.onnx"]
    inputs, params = manifest["inputs"]
    assert inputs["shape"] == ["batch", "steps", 1] and inputs["labels"] == run.meta["input_features"]
    assert params["labels"] == run.meta["param_names"] and params["units"][-1] == "MPa"
    (outputs,) = manifest["outputs"]
    assert outputs["labels"] == run.output_labels and outputs["units"] == ["-", "MPa", "MPa"]
    alignment = manifest["time_alignment"]
    assert alignment["first_predicted_step"] == run.first_predicted_step() == 0
    assert (alignment["window_size"], alignment["pad_length"]) == (4, 3)
    assert manifest["source_run"]["checkpoint_sha256"] == sha256_file(run_dir / "checkpoints" / "best.ckpt")
    assert manifest["model"]["name"] == "lstm" and manifest["verification"]["max_relative_difference"] <= 1e-5
    # the ONNX graph's own names and dynamic axes are those of the manifest
    session = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    assert [(i.name, i.shape) for i in session.get_inputs()] == [("inputs", ["batch", "steps", 1]),
                                                                ("params", ["batch", 6])]


def test_sequence_export_output_steps_follow_the_alignment(sequence_exports):
    """GrainLearning's model: pad_length < W - 1, so the first outputs estimate later steps."""
    run_dir, folder = sequence_exports["grainlearning", "onnx"]
    run, manifest = load_run(run_dir), json.loads((folder / "manifest.json").read_text())
    inputs, params = random_sequences(2, 30)
    inputs = np.repeat(inputs, 3, axis=2)
    out = run_exported(folder, inputs, params[:, : run.model.n_params])
    assert out.shape[1] == 30 - manifest["time_alignment"]["first_predicted_step"]
    assert manifest["time_alignment"]["first_predicted_step"] == run.first_predicted_step()


def simrnn_field_prediction(run, context: np.ndarray, future: np.ndarray) -> np.ndarray:
    """simrnn's own prediction: the run's model on temperatures normalised by the dataset's code."""
    dataset = SimpleNamespace(normalisation=run.meta["normalisation"])
    normalised = context.copy()
    normalised[:, :, 0] = FieldSequenceDataset.normalise(dataset, context[:, :, 0])
    with torch.no_grad():
        return run.model(torch.from_numpy(normalised),
                         torch.from_numpy(FieldSequenceDataset.normalise(dataset, future))).numpy()


@pytest.fixture(scope="module")
def field_exports(tmp_path_factory):
    root = tmp_path_factory.mktemp("fields")
    runs = {name: field_run(root / name, name) for name in ("cnn-lstm", "predrnn")}
    return {(name, fmt): (run, export_run(run, fmt)) for name, run in runs.items() for fmt in FORMATS}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", ["cnn-lstm", "predrnn"])
def test_field_export_predicts_like_simrnn_on_any_grid(field_exports, name, fmt):
    """Other batch sizes and grids than traced (11 x 13), multiples of the encoder's 4 or not."""
    run_dir, folder = field_exports[name, fmt]
    run = load_fields_run(run_dir)
    for batch, height, width in [(3, 11, 13), (1, 24, 9), (2, 5, 16)]:
        context, future = random_fields(batch, FIELD_META["seq_length"], height, width, seed=height)
        want = simrnn_field_prediction(run, context, future)
        assert want.shape == (batch, 9, height, width)
        assert_matches(run_exported(folder, context, future), want)


def test_field_manifest_names_channels_units_and_normalisation(field_exports):
    _, folder = field_exports["predrnn", "onnx"]
    manifest = json.loads((folder / "manifest.json").read_text())
    context, future = manifest["inputs"]
    assert context["shape"] == ["batch", 3, 10, "height", "width"] and context["label_axis"] == 2
    assert context["labels"][0] == "temperature" and context["units"][:2] == ["K", "-"]
    assert future["units"] == ["K"] and manifest["outputs"][0]["labels"][-1] == "ipf_z_b"
    assert manifest["normalisation"]["t_ambient_K"] == 300.0 and manifest["family"] == "fields"


def test_temperature_model_export_predicts_kelvin_like_simrnn(tmp_path):
    """The temperature surrogate (task ``fields-temperature``), when the fields package has it."""
    models = pytest.importorskip("simrnn.fields.temperature_models")
    name = models.TEMPERATURE_PREFIX + "predrnn"
    run_dir = make_run(tmp_path, "fields", name, {"hidden_channels": 4, "n_layers": 2, "encoder_channels": [4, 8]},
                       {**FIELD_META, "seq_length": 2, "target": "temperature"})
    model = model_from_checkpoint(read_checkpoint(run_dir / "checkpoints" / "best.ckpt"))
    norm = FIELD_META["normalisation"]
    span = norm["t_max_train_K"] - norm["t_ambient_K"]
    context = random_fields(2, 2, 10, 15)[0][:, :, :1]  # [2, 2, 1, 10, 15] kelvin
    with torch.no_grad():
        want = model(torch.from_numpy((context - norm["t_ambient_K"]) / span)).numpy() * span + norm["t_ambient_K"]
    for fmt in FORMATS:
        folder = export_run(run_dir, fmt)
        manifest = json.loads((folder / "manifest.json").read_text())
        assert [i["name"] for i in manifest["inputs"]] == ["temperature"] and manifest["outputs"][0]["units"] == ["K"]
        assert_matches(run_exported(folder, context), want)
