"""Predict a data file with a run and write predictions, metrics and a figure.

Output directory (fresh, never overwritten): ``RUN/predictions/<timestamp>/`` holding
``predictions.npz`` (``predictions [N,K,L]``, ``steps [K]`` original step of each element,
``sequence_index [N]`` into the file's selection, ``output_labels``), ``metrics.json`` and
``prediction_curves.png``. A file without outputs (new conditions: inputs and contact parameters
only) is predicted unscored, as :func:`simrnn.sequence.conditions.predict_conditions` writes it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from simrnn.errors import UserInputError
from simrnn.files import atomic_path, output_directory, sha256_file, write_json_atomic
from simrnn.sequence.evaluate import score_predictions
from simrnn.sequence.figures import param_label, plot_prediction_curves, strain_axis
from simrnn.sequence.hdf5 import read_triaxial_hdf5
from simrnn.sequence.predict import SequenceRun, predict
from simrnn.sequence.predict_settings import PredictSettings
from simrnn.sequence.preprocess import build_params


def _sequences_to_predict(run: SequenceRun, data_file: Path, split: str, n_sequences: int) -> tuple[np.ndarray, str]:
    """Indices of the sequences to predict and the split they are.

    ``auto``: the run's test split when ``data_file`` is its training file (same checksum), else
    every sequence (an imported run, or a new data file).
    """
    data_cfg = run.config.get("data", {}) if isinstance(run.config.get("data"), dict) else {}
    own_file = "split" in data_cfg and data_cfg.get("sha256") == sha256_file(data_file)
    if split == "auto":
        split = "test" if own_file else "all"
    if split == "all":
        return np.arange(n_sequences), split
    if not own_file:
        raise UserInputError(
            f"{data_file}: split {split!r} needs the run's own training file (checksum differs or the run has "
            "no split); use split 'all'.", key="split"
        )
    return np.asarray(data_cfg["split"][split], dtype=int), split


def predict_file(run: SequenceRun, data_file: str | Path, *, split: str = PredictSettings.split,
                 n_plot: int = PredictSettings.n_plot, out: str | Path | None = None) -> dict[str, Any]:
    """Predict the sequences of ``data_file`` (the run's selection of pressure/experiment type).

    Returns a summary with the output directory, the split predicted, the metrics (None for a file
    without outputs, which is predicted but not scored) and the figure path.
    """
    from simrnn.sequence.conditions import predict_conditions

    PredictSettings(split, n_plot).validate()
    data_file = Path(data_file)
    meta = run.meta
    data = read_triaxial_hdf5(data_file, pressure=meta.get("pressure", "All"),
                              experiment_type=meta.get("experiment_type", "All"), require_outputs=False)
    index, split = _sequences_to_predict(run, data_file, split, len(data.inputs))
    params = build_params(data, meta.get("add_pressure", False), meta.get("add_experiment_type", False),
                          meta.get("add_e0", False))[index]
    if data.outputs is None:
        done = predict_conditions(run, data.inputs[index], params, out=out)
        return {"out_dir": done["out_dir"], "split": split, "metrics": None, "figure": done["figure"],
                "n_sequences": done["n_sequences"]}
    inputs, truth = data.inputs[index], data.outputs[index]
    predictions = predict(run, inputs, params)
    steps = np.arange(predictions.shape[1]) + run.first_predicted_step()
    metrics = score_predictions(run, predictions, truth)
    shown = slice(0, min(n_plot, len(index)))
    valid = steps >= 0
    with output_directory(out, Path(run.path or ".") / "predictions") as made:
        with atomic_path(made / "predictions.npz") as tmp, open(tmp, "wb") as handle:
            np.savez(handle, predictions=predictions, steps=steps, sequence_index=index,
                     output_labels=np.array(run.output_labels))
        write_json_atomic(made / "metrics.json", {"data_file": str(data_file.resolve()), "split": split,
                                                  "n_sequences": int(len(index)), **metrics})
        x, x_label = strain_axis(inputs[shown], list(run.meta["input_features"]))
        legends = [f"#{i}: {param_label(list(run.meta['param_names']), p)}" for i, p in zip(index[shown], params[shown], strict=True)]
        figure = plot_prediction_curves(x, predictions[shown][:, valid], steps[valid], run.output_labels,
                                        made / "prediction_curves.png", truth=truth[shown], x_label=x_label,
                                        legends=legends)
    out_dir, figure = made.path, made.final(figure)
    return {"out_dir": out_dir, "split": split, "metrics": metrics, "figure": figure, "n_sequences": int(len(index))}
