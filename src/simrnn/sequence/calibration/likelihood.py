"""The calibration's error model: how far a simulated curve may lie from the observation.

Each observed curve ``o`` gets one standard deviation, the observation noise and the model's own
error added in quadrature::

    s_o^2 = (noise_fraction * range_o)^2 + model_error_o^2

with ``range_o`` the peak-to-peak range of the observed curve over the likelihood's steps and
``model_error_o`` the surrogate's RMSE on held-out sequences (0 for the simulator itself). A
model's error along a test is a smooth bias, not independent noise at every step, so the whole
curve counts as ONE observation per observable: the per-step variance is ``T' s_o^2`` over the
``T'`` steps of the likelihood, and the log-likelihood of a sample is
``-1/2 sum_o mean_t (sim_o,t - obs_o,t)^2 / s_o^2``. GrainLearning's sigma scales these variances
(:class:`~simrnn.sequence.calibration.bayes_filter.ErrorModelSMC`); its iterations lower sigma
and stop at ``sigma = 1``, the error model's own posterior.

Why not GrainLearning's default covariance ``sigma * obs_t^2``: it measures every step relative to
the observation itself, so a void ratio near 0.8 counts 3 % errors as small while q near 0 at the
start of a test counts tiny absolute errors as huge; the filter then fits the first steps of q
and lets e drift 0.02-0.03 below the observation (issue 11).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from simrnn.errors import UserInputError

#: Default observation noise as a fraction of each observed curve's range.
NOISE_FRACTION = 0.01
#: Largest accepted noise fraction (beyond it every sample fits equally well).
MAX_NOISE_FRACTION = 100.0


@dataclass(frozen=True)
class ErrorModel:
    """Observation noise ``noise_fraction`` (of each curve's range) plus ``model_error`` {label: RMSE}."""

    noise_fraction: float = NOISE_FRACTION
    model_error: dict[str, float] = field(default_factory=dict)

    def validate(self) -> None:
        if not 0 <= self.noise_fraction <= MAX_NOISE_FRACTION:
            raise UserInputError(f"--noise must lie in [0, {MAX_NOISE_FRACTION:g}] (a fraction of each curve's "
                                 f"range), got {self.noise_fraction}.")
        bad = {k: v for k, v in self.model_error.items() if not (np.isfinite(v) and 0 <= v < 1e100)}
        if bad:
            name, value = next(iter(bad.items()))
            raise UserInputError(f"--model-error {name}={value}: expected a finite RMSE >= 0.")

    def std_per_curve(self, observed: np.ndarray, obs_names: Sequence[str], start: int) -> np.ndarray:
        """``s_o [num_obs]`` for ``observed [num_obs, T]`` over the steps ``t >= start``."""
        unknown = sorted(set(self.model_error) - set(obs_names))
        if unknown:
            raise UserInputError(f"--model-error names {', '.join(unknown)}, which are not observed curves "
                                 f"({', '.join(obs_names)}).")
        span = np.ptp(observed[:, start:], axis=1)
        noise = self.noise_fraction * span
        model = np.array([self.model_error.get(n, 0.0) for n in obs_names])
        std = np.sqrt(noise**2 + model**2)
        flat = [n for n, s in zip(obs_names, std, strict=True) if not s > 0]
        if flat:
            raise UserInputError(
                f"observation(s) {', '.join(flat)} are constant and no --model-error is given for them; the "
                "likelihood needs a positive error (give --model-error NAME=RMSE or drop the curve)."
            )
        return std

    def step_variances(self, observed: np.ndarray, obs_names: Sequence[str], start: int) -> np.ndarray:
        """Per-step variances ``T' s_o^2 [num_obs]`` at GrainLearning's sigma = 1."""
        return (observed.shape[1] - start) * self.std_per_curve(observed, obs_names, start) ** 2


def model_error_from_metrics(metrics: Mapping, obs_names: Sequence[str]) -> dict[str, float]:
    """The per-label RMSE (``rmse_per_label``, at the top of a run's test_results.json or in its
    ``metrics`` or ``details``) for the observed curves."""
    rmse = next((part["rmse_per_label"] for part in (metrics, metrics.get("metrics", {}), metrics.get("details", {}))
                 if isinstance(part, Mapping) and "rmse_per_label" in part), {})
    return {n: float(rmse[n]) for n in obs_names if n in rmse}
