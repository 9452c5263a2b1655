"""Metrics of whole-sequence predictions against the truth, in physical and standardised units."""

from __future__ import annotations

from typing import Any

import numpy as np

from simrnn.sequence.predict import SequenceRun, predict


def evaluate_sequences(run: SequenceRun, inputs: np.ndarray, params: np.ndarray, outputs: np.ndarray) -> dict[str, Any]:
    """Predict with :func:`predict` and score against the truth (see :func:`score_predictions`).

    Args:
        inputs: ``[N, S, F]`` raw (unpadded) load paths; params: ``[N, P]``; outputs: ``[N, S, L]``.
    """
    return score_predictions(run, predict(run, inputs, params), outputs)


def score_predictions(run: SequenceRun, predicted: np.ndarray, outputs: np.ndarray) -> dict[str, Any]:
    """Compare predictions with the true outputs on the steps they estimate.

    Args:
        predicted: ``[N, K, L]`` from :func:`predict`; outputs: ``[N, S, L]`` true sequences.

    Returns:
        ``mse``/``mae`` in standardised units (the training loss's units), ``baseline_mse`` of
        predicting the training mean for every step (1.0 when outputs were standardised on a
        large train split), and per-label ``rmse``/``mae`` in physical units.
    """
    first = run.first_predicted_step()
    steps = np.arange(predicted.shape[1]) + first
    valid = steps >= 0
    truth = outputs[:, steps[valid]]
    predicted = predicted[:, valid]
    mean = np.asarray(run.meta["output_mean"], np.float64)
    std = np.asarray(run.meta["output_std"], np.float64)
    z_pred, z_true = (predicted - mean) / std, (truth - mean) / std
    labels = run.output_labels
    err = predicted - truth
    return {
        "mse": float(np.mean((z_pred - z_true) ** 2)),
        "mae": float(np.mean(np.abs(z_pred - z_true))),
        "baseline_mse": float(np.mean(z_true**2)),
        "rmse_per_label": {lab: float(np.sqrt(np.mean(err[..., j] ** 2))) for j, lab in enumerate(labels)},
        "mae_per_label": {lab: float(np.mean(np.abs(err[..., j]))) for j, lab in enumerate(labels)},
        "predicted_steps": [int(steps[valid][0]), int(steps[valid][-1])],
    }
