"""Predict new conditions without ground truth (GrainLearning's ``predict_macroscopics`` on any input).

The conditions come from a CSV file or from the command line:

- CSV: one row per step; a column per model input (``e_z`` for a drained run, ``e_x, e_y, e_z``
  for an undrained one) and per parameter (``E, v, kr, eta, mu`` and, as the run was trained,
  ``pressure`` in MPa, ``drained``, ``e0``); an optional ``sequence`` column separates several
  sequences (their rows consecutive, all of the same length, parameters constant within one).
- Command line: ``--param E=7.6 --param v=0.44 ... --strain 0:0.2:200`` (one sequence whose axial
  strain ``e_z`` runs from 0 to 0.2 in 200 steps; for runs whose only input is ``e_z``).

Written into a fresh ``RUN/predictions/<timestamp>/``: ``predictions.npz`` (``predictions
[N,K,L]`` in physical units, ``steps [K]``, ``inputs [N,S,F]``, ``params [N,P]``, names),
``predictions.csv`` (one row per sequence and predicted step: inputs, then outputs) and
``prediction_curves.png`` (outputs against axial strain, parameters in the legend).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from simrnn.errors import UserInputError
from simrnn.files import atomic_path
from simrnn.runs import output_dir
from simrnn.sequence.figures import param_label, plot_prediction_curves, strain_axis
from simrnn.sequence.predict import SequenceRun, predict


def parse_strain(text: str) -> np.ndarray:
    """``"START:STOP:STEPS"`` -> ``[STEPS]`` evenly spaced axial strains (fractions), or one sentence."""
    parts = text.split(":")
    try:
        start, stop, steps = float(parts[0]), float(parts[1]), int(parts[2])
        if len(parts) != 3:
            raise ValueError
    except (ValueError, IndexError):
        raise UserInputError(f"strain is {text!r}; expected START:STOP:STEPS, e.g. 0:0.2:200.", key="strain") from None
    if not (np.isfinite(start) and np.isfinite(stop)) or steps < 2:
        raise UserInputError(f"strain is {text!r}; expected finite START and STOP and at least 2 STEPS.", key="strain")
    return np.linspace(start, stop, steps)


def parse_params(run: SequenceRun, items: list[str]) -> np.ndarray:
    """``["E=7.6", "v=0.44", ...]`` -> ``[P]`` in the run's parameter order; every parameter once."""
    names = list(run.meta["param_names"])
    values: dict[str, float] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or name not in names:
            raise UserInputError(f"params {item!r}: expected NAME=VALUE with NAME one of {', '.join(names)}.",
                                 key="params")
        try:
            number = float(value)
        except ValueError:
            raise UserInputError(f"params {item!r}: {value!r} is not a number.", key="params") from None
        if not np.isfinite(number) or abs(number) > 1e30:  # the model computes in float32
            raise UserInputError(f"params {item!r}: expected a finite number within +-1e30.", key="params")
        values[name] = number
    missing = [n for n in names if n not in values]
    if missing:
        raise UserInputError(f"the run needs every parameter; params missing for {', '.join(missing)} "
                             f"(the run's parameters: {', '.join(names)}).", key="params")
    return np.array([values[n] for n in names])


def conditions_from_options(run: SequenceRun, params: list[str], strain: str) -> tuple[np.ndarray, np.ndarray]:
    """One sequence from ``params`` (NAME=VALUE items) and ``strain`` (START:STOP:STEPS): ``inputs [1,S,1]``,
    ``params [1,P]``."""
    features = list(run.meta["input_features"])
    if features != ["e_z"]:
        raise UserInputError(f"strain gives the axial strain e_z only, but the run reads {', '.join(features)}; "
                             "give them as columns of a CSV file of conditions (inputs).", key=("strain", "inputs"))
    return parse_strain(strain)[None, :, None], parse_params(run, params)[None, :]


def conditions_from_csv(run: SequenceRun, path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Sequences of a CSV file (see the module docstring): ``inputs [N,S,F]``, ``params [N,P]``."""
    path = Path(path)
    features, names = list(run.meta["input_features"]), list(run.meta["param_names"])
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UserInputError(f"{path}: cannot read the CSV file ({exc}).") from None
    header = set(rows[0]) if rows else set()
    missing = [c for c in features + names if c not in header]
    if missing:
        raise UserInputError(f"{path}: missing column(s) {', '.join(missing)}; the run needs inputs "
                             f"{', '.join(features)} and parameters {', '.join(names)} (one row per step).")
    sequences: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        sequences.setdefault(row.get("sequence") or "0", []).append(row)
    lengths = {len(r) for r in sequences.values()}
    if len(lengths) != 1 or min(lengths) < 2:
        raise UserInputError(f"{path}: sequences have {sorted(lengths)} rows; all need the same length of at least 2.")

    def number(row: dict[str, str], column: str, line: int) -> float:
        try:
            value = float(row[column])
        except (TypeError, ValueError):
            value = float("nan")
        if not np.isfinite(value):
            raise UserInputError(f"{path}: row {line}, column {column!r} is {row[column]!r}; expected a finite number.")
        return value

    inputs, params, line = [], [], 2
    for key, seq in sequences.items():
        inputs.append([[number(row, c, line + k) for c in features] for k, row in enumerate(seq)])
        first = [number(seq[0], c, line) for c in names]
        for k, row in enumerate(seq):
            if [number(row, c, line + k) for c in names] != first:
                raise UserInputError(f"{path}: the parameters of sequence {key!r} change at row {line + k}; "
                                     "they must be constant within a sequence.")
        params.append(first)
        line += len(seq)
    return np.asarray(inputs, np.float32), np.asarray(params, np.float32)


def predict_conditions(run: SequenceRun, inputs: np.ndarray, params: np.ndarray, *,
                       out: str | Path | None = None) -> dict[str, Any]:
    """Predict ``inputs [N,S,F]`` with ``params [N,P]``; write the files of the module docstring.

    Returns ``{out_dir, figure, n_sequences, steps, predictions}``.
    """
    predictions = predict(run, inputs, params)
    steps = np.arange(predictions.shape[1]) + run.first_predicted_step()
    valid = steps >= 0
    predictions, steps = predictions[:, valid], steps[valid]
    features, names, labels = list(run.meta["input_features"]), list(run.meta["param_names"]), run.output_labels
    x, x_label = strain_axis(inputs, features)
    with output_dir(out, Path(run.path or ".") / "predictions") as out_dir:
        with atomic_path(out_dir / "predictions.npz") as tmp, open(tmp, "wb") as handle:
            np.savez(handle, predictions=predictions, steps=steps, inputs=inputs, params=params,
                     input_features=np.array(features), param_names=np.array(names), output_labels=np.array(labels))
        with atomic_path(out_dir / "predictions.csv") as tmp, open(tmp, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["sequence", "step", *features, *labels])
            for i in range(len(predictions)):
                for k, step in enumerate(steps):
                    writer.writerow([i, int(step), *(f"{v:.6g}" for v in inputs[i, step]),
                                     *(f"{v:.6g}" for v in predictions[i, k])])
        figure = plot_prediction_curves(x, predictions, steps, labels, out_dir / "prediction_curves.png",
                                        x_label=x_label, legends=[param_label(names, p) for p in params],
                                        title=f"prediction for new conditions (run {Path(run.path or '.').name})")
    return {"out_dir": out_dir, "figure": figure, "n_sequences": len(predictions), "steps": steps,
            "predictions": predictions}
