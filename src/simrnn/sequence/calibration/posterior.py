"""What a calibration knows: GrainLearning's weighted ensemble and its posterior statistics.

The ensemble of an iteration is ``samples [N, num_params]`` with posterior weights ``weights [N]``
(summing to 1). Per parameter the weighted mean ``m = sum_i w_i x_i``, standard deviation
``s = sqrt(sum_i w_i (x_i - m)^2)`` and the central credible interval ``[q_0.05, q_0.95]`` from the
weighted empirical distribution function (:func:`weighted_quantile`) summarise it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

#: Central credible interval reported for every parameter.
CREDIBLE_LEVEL = 0.9


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """Quantile ``q`` of the distribution putting mass ``weights [N]`` on ``values [N]``.

    The weighted empirical CDF is interpolated linearly between the midpoints of each sample's
    mass, so equal weights reproduce ``np.quantile(..., method="hazen")``.
    """
    order = np.argsort(values, kind="stable")
    x, w = np.asarray(values, np.float64)[order], np.asarray(weights, np.float64)[order]
    cdf = (np.cumsum(w) - 0.5 * w) / w.sum()
    return float(np.interp(q, cdf, x))


class WeightedEnsemble:
    """``samples [N, num_params]`` with posterior ``weights [N]`` (summing to 1) and their statistics."""

    samples: np.ndarray
    weights: np.ndarray

    @property
    def mean(self) -> np.ndarray:
        """Posterior mean ``[num_params]``: sum_i w_i x_i."""
        return self.weights @ self.samples

    @property
    def std(self) -> np.ndarray:
        """Posterior standard deviation ``[num_params]``: sqrt(sum_i w_i (x_i - mean)^2)."""
        return np.sqrt(self.weights @ (self.samples - self.mean) ** 2)

    def credible_interval(self, level: float = CREDIBLE_LEVEL) -> np.ndarray:
        """Central credible interval ``[num_params, 2]`` (lower, upper) holding ``level`` of the mass."""
        tail = (1 - level) / 2
        return np.array([[weighted_quantile(self.samples[:, j], self.weights, q) for q in (tail, 1 - tail)]
                         for j in range(self.samples.shape[1])])


@dataclass(frozen=True)
class IterationStats(WeightedEnsemble):
    """One iteration of the filter: the ensemble ``samples [N, num_params]``, its ``weights [N]``."""

    iteration: int
    sigma: float
    ess: float
    samples: np.ndarray
    weights: np.ndarray
    param_names: tuple[str, ...] = ()
    """Names of the sample columns (for progress lines)."""

    @property
    def most_probable(self) -> np.ndarray:
        """The sample with the largest posterior weight ``[num_params]``."""
        return self.samples[int(np.argmax(self.weights))]


def posterior_summary(stats: IterationStats, names: list[str], param_ranges: dict[str, tuple[float, float]],
                      truth: dict[str, float] | None = None) -> dict[str, dict[str, Any]]:
    """Per parameter: mean, std, most probable, 90 % interval, std as a fraction of the range and,
    where ``truth`` names it, the truth, the error of the mean (also as a fraction of the range) and
    whether the truth lies inside the interval."""
    interval = stats.credible_interval()
    summary = {}
    for j, name in enumerate(names):
        width = param_ranges[name][1] - param_ranges[name][0]
        entry = {
            "mean": float(stats.mean[j]), "std": float(stats.std[j]), "most_probable": float(stats.most_probable[j]),
            "ci90": [float(interval[j, 0]), float(interval[j, 1])],
            "std_fraction_of_range": float(stats.std[j] / width),
        }
        if truth and name in truth:
            entry |= {
                "truth": float(truth[name]),
                "error_fraction_of_range": float((stats.mean[j] - truth[name]) / width),
                "truth_inside_ci90": bool(interval[j, 0] <= truth[name] <= interval[j, 1]),
            }
        summary[name] = entry
    return summary


@dataclass
class CalibrationResult:
    """What a calibration found; everything is also written to ``out_dir``."""

    out_dir: Path
    param_names: list[str]
    param_ranges: dict[str, tuple[float, float]]
    iterations: list[IterationStats]
    stop_reason: str
    """Why the iterations ended: ``"converged"`` (GrainLearning's sigma reached the error model's),
    ``"max_iterations"`` (posterior still tempered: wider than the data support) or
    ``"degenerate_weights"`` (all weight on too few samples; the last usable ensemble is reported)."""
    timings: dict[str, float]
    sensitivity: dict[str, Any]
    simulated: np.ndarray
    """Curves of the final ensemble ``[N, num_obs, T]`` (weights: ``iterations[-1].weights``)."""
    reference: dict[str, float]
    notes: list[str]
    observed: np.ndarray
    """The observation ``[num_obs, T]`` (rows named by ``obs_names``)."""
    obs_names: list[str]
    first_step: int
    """First step of the likelihood; ``fit`` is measured from there."""

    def _named(self, values: np.ndarray) -> dict[str, float]:
        return {n: float(v) for n, v in zip(self.param_names, values, strict=True)}

    @property
    def final(self) -> IterationStats:
        return self.iterations[-1]

    @property
    def most_probable(self) -> dict[str, float]:
        """Most probable parameters of the final ensemble (GrainLearning's ``get_most_prob_params``)."""
        return self._named(self.final.most_probable)

    @property
    def mean(self) -> dict[str, float]:
        return self._named(self.final.mean)

    @property
    def std(self) -> dict[str, float]:
        return self._named(self.final.std)

    @property
    def fit(self) -> dict[str, dict[str, float]]:
        """Per observed curve: mean offset and RMS residual of the posterior-weighted mean curve."""
        mean = np.einsum("n,not->ot", self.final.weights, self.simulated)[:, self.first_step:]
        residual = mean - self.observed[:, self.first_step:]
        return {n: {"mean_offset": float(r.mean()), "rms_residual": float(np.sqrt(np.mean(r**2)))}
                for n, r in zip(self.obs_names, residual, strict=True)}

    @property
    def posterior(self) -> dict[str, dict[str, Any]]:
        """:func:`posterior_summary` of the final ensemble (with the reference as truth)."""
        return posterior_summary(self.final, self.param_names, self.param_ranges, self.reference)
