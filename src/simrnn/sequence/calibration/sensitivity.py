"""Identifiability: how strongly (and how distinctly) each parameter moves the observed curves.

The calibration's likelihood (:mod:`.likelihood`) measures residuals in units of each curve's
error-model standard deviation ``s_o``. So the sensitivity is measured in the same units, by
central differences around a point ``theta``, over the steps the likelihood uses (``t >= start``)::

    J[j, o, t] = (y_o,t(theta + d_j) - y_o,t(theta - d_j)) / s_o  *  (0.1 (high_j - low_j)) / (2 d_j)

the change of observable ``o`` at step ``t``, in error-model standard deviations, when parameter
``j`` moves by 10 % of its calibration range (``d_j`` = ``step_fraction`` of the range, clipped
into the range). A parameter whose RMS change is well below 1 cannot be pinned down by the data; two
parameters whose change vectors are nearly parallel (cosine close to +-1) compensate each other;
the singular vectors of ``J`` (flattened over o, t) name the best and worst determined
combinations. All ``2 P + 1`` curves are simulated in one batched surrogate pass.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from simrnn.sequence.calibration.callbacks import ModelCallback


def curve_sensitivity(callback: ModelCallback, names: Sequence[str], center: np.ndarray,
                      param_ranges: Mapping[str, tuple[float, float]], ctrl: np.ndarray, observed: np.ndarray,
                      start: int, curve_std: np.ndarray, step_fraction: float = 0.05) -> dict[str, Any]:
    """Sensitivity of the simulated curves to each calibrated parameter around ``center``.

    Args:
        callback: the calibration's model callback.
        names: calibrated parameter names ``[P]``; center: their values ``[P]``.
        ctrl: control ``[T]`` or ``[F, T]``; observed: ``[num_obs, T]`` in ``callback.obs_names`` order.
        start: first step of the likelihood; curve_std: the error model's ``s_o [num_obs]``.

    Returns:
        A JSON-ready dict: ``rms_change_in_std_per_10pct_range`` {param: {obs: value}},
        ``fit_rms_residual_in_std`` and ``fit_rms_residual_fraction_of_range`` {obs: value} at
        ``center``, ``effect_cosine`` {param: {param: value}} and ``principal_directions`` (singular values = RMS change in std per 10 % move along a unit
        direction in range-normalised parameter space, strongest first).
    """
    center = np.asarray(center, dtype=np.float64)
    num = len(names)
    low = np.array([param_ranges[n][0] for n in names], dtype=np.float64)
    high = np.array([param_ranges[n][1] for n in names], dtype=np.float64)
    plus = np.clip(center + step_fraction * (high - low), low, high)
    minus = np.clip(center - step_fraction * (high - low), low, high)
    batch = np.repeat(center[None], 2 * num + 1, axis=0)
    batch[1 + np.arange(num), np.arange(num)] = plus
    batch[1 + num + np.arange(num), np.arange(num)] = minus
    sim = callback.simulate(batch, names, ctrl, observed)  # [2P+1, num_obs, T]
    scale = np.asarray(curve_std, dtype=np.float64)[:, None]  # [num_obs, 1]
    per_tenth = 0.1 * (high - low) / (plus - minus)  # [P]
    change = (sim[1:num + 1, :, start:] - sim[num + 1:, :, start:]) / scale * per_tenth[:, None, None]
    rms = np.sqrt(np.mean(change**2, axis=-1))  # [P, num_obs]
    misfit = sim[0, :, start:] - observed[:, start:]  # [num_obs, T']
    residual = np.sqrt(np.mean((misfit / scale) ** 2, axis=-1))
    obs_range = np.ptp(observed[:, start:], axis=-1)
    obs_range = np.where(obs_range > 0, obs_range, np.abs(observed).max(axis=-1))  # constant curve: magnitude
    residual_of_range = np.sqrt(np.mean(misfit**2, axis=-1)) / obs_range
    flat = change.reshape(num, -1) / np.sqrt(change[0].size)  # rows: RMS-normalised change vectors
    norms = np.maximum(np.linalg.norm(flat, axis=1), 1e-300)
    cosine = flat @ flat.T / np.outer(norms, norms)
    _, singular, directions = np.linalg.svd(flat.T, full_matrices=False)
    obs_names = list(callback.obs_names)
    return {
        "center": dict(zip(names, center.tolist(), strict=True)),
        "step_fraction_of_range": step_fraction,
        "rms_change_in_std_per_10pct_range": {
            n: dict(zip(obs_names, rms[j].tolist(), strict=True)) for j, n in enumerate(names)
        },
        "fit_rms_residual_in_std": dict(zip(obs_names, residual.tolist(), strict=True)),
        "fit_rms_residual_fraction_of_range": dict(zip(obs_names, residual_of_range.tolist(), strict=True)),
        "effect_cosine": {n: dict(zip(names, cosine[j].tolist(), strict=True)) for j, n in enumerate(names)},
        "principal_directions": [
            {"rms_change_in_std": float(s), "direction": dict(zip(names, d.tolist(), strict=True))}
            for s, d in zip(singular, directions, strict=True)
        ],
    }
