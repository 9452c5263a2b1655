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
            raise UserInputError(f"noise must lie in [0, {MAX_NOISE_FRACTION:g}] (a fraction of each curve's "
                                 f"range), got {self.noise_fraction}.", key="noise")
        bad = {k: v for k, v in self.model_error.items() if not (np.isfinite(v) and 0 <= v < 1e100)}
        if bad:
            name, value = next(iter(bad.items()))
            raise UserInputError(f"model_error {name}={value}: expected a finite RMSE >= 0.", key="model_error")

    def std_per_curve(self, observed: np.ndarray, obs_names: Sequence[str], start: int) -> np.ndarray:
        """``s_o [num_obs]`` for ``observed [num_obs, T]`` over the steps ``t >= start``."""
        unknown = sorted(set(self.model_error) - set(obs_names))
        if unknown:
            raise UserInputError(f"model_error names {', '.join(unknown)}, which are not observed curves "
                                 f"({', '.join(obs_names)}).", key="model_error")
        span = np.ptp(observed[:, start:], axis=1)
        noise = self.noise_fraction * span
        model = np.array([self.model_error.get(n, 0.0) for n in obs_names])
        std = np.sqrt(noise**2 + model**2)
        flat = [n for n, s in zip(obs_names, std, strict=True) if not s > 0]
        if flat:
            raise UserInputError(
                f"observation(s) {', '.join(flat)} are constant and no model_error is given for them; the "
                "likelihood needs a positive error (give model_error NAME=RMSE or drop the curve).", key="model_error"
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


# -- the MCMC likelihood: several experiments, dependent observables, correlated residuals --------

#: Default effective number of independent points per observed curve (residual correlation, see
#: :func:`ar1_coefficient`): a model's error along a test is smooth, so 200 steps are not 200 data.
POINTS_PER_CURVE = 10.0
#: An observable derived from the others within this RMS fraction of its range is dropped.
DEPENDENCE_TOLERANCE = 0.1


def ar1_coefficient(num_steps: int, points_per_curve: float) -> float:
    """Step-to-step correlation ``rho`` of AR(1) residuals whose ``num_steps`` steps carry
    ``points_per_curve`` independent points: ``n_eff = T (1 - rho) / (1 + rho)``, so
    ``rho = (T - n_eff) / (T + n_eff)`` (0: independent steps when ``n_eff >= T``)."""
    return max(0.0, (num_steps - points_per_curve) / (num_steps + points_per_curve))


def ar1_quadratic_form(residual: np.ndarray, rho: float) -> np.ndarray:
    """``r' C^-1 r`` of standardised residuals ``residual [N, T, O]`` (unit marginal variance) under
    AR(1) correlation ``C_st = rho^|s-t|`` along T, summed over O: ``r_0^2 + sum_t (r_t - rho
    r_{t-1})^2 / (1 - rho^2)`` per observable. Returns ``[N]``."""
    innovations = (residual[:, 1:] - rho * residual[:, :-1]) ** 2 / (1.0 - rho**2)
    return (residual[:, 0] ** 2).sum(axis=-1) + innovations.sum(axis=(1, 2))


def dependent_observables(observed: np.ndarray, obs_names: Sequence[str], start: int = 0,
                          tolerance: float = DEPENDENCE_TOLERANCE) -> dict[str, str]:
    """Observables that the others determine, which a likelihood must not count twice.

    The rule: with constant cell pressure (a drained triaxial test) ``p = p_0 + q/3`` holds by the
    test's definition, so ``p`` carries no information beyond ``q``. When both are observed and the
    RMS of ``p - p_0 - q/3`` (``p_0`` the first observed ``p``) over steps ``>= start`` is below
    ``tolerance`` times ``p``'s range, ``p`` is dropped (the synthetic drained data: exactly 0;
    GrainLearning's DEM tutorial curve: 2.6 %; an undrained test: of the order of 100 %).

    Args:
        observed: ``[O, T]`` rows named by ``obs_names``.
    Returns:
        ``{name: reason}`` of the dropped observables.
    """
    names = list(obs_names)
    if "p" not in names or "q" not in names:
        return {}
    p0 = observed[names.index("p"), 0]
    p, q = observed[names.index("p"), start:], observed[names.index("q"), start:]
    span = np.ptp(p)
    if not span > 0:
        return {}
    deviation = float(np.sqrt(np.mean((p - p0 - q / 3) ** 2)) / span)
    if deviation >= tolerance:
        return {}
    return {"p": f"p = p0 + q/3 within {100 * deviation:.2g} % of p's range (RMS; drained test): p is derived "
                 "from q and not counted again"}


@dataclass
class Experiment:
    """One observed curve and the model that simulates it (its own load path and fixed conditions).

    ``observed [T, O]`` in ``model.obs_names`` order; ``used`` the indices of the observables in the
    likelihood (dependent ones dropped); ``std [len(used)]`` each one's error-model std;
    ``rho`` the residual correlation between neighbouring steps.
    """

    name: str
    model: object  # a protocol.CurveModel
    observed: np.ndarray
    used: list[int]
    std: np.ndarray
    rho: float
    dropped: dict[str, str] = field(default_factory=dict)
    fixed: dict[str, float] = field(default_factory=dict)

    def log_likelihood(self, params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``params [N, P]`` -> (log-likelihood ``[N]`` up to a constant, curves ``[N, T, O]``)."""
        curves = self.model(params)
        first = self.model.first_step
        residual = (curves[:, first:, self.used] - self.observed[None, first:, self.used]) / self.std
        with np.errstate(invalid="ignore", over="ignore"):
            loglik = -0.5 * ar1_quadratic_form(residual, self.rho)
        return np.where(np.isfinite(loglik), loglik, -np.inf), curves

    def describe(self) -> dict:
        """The error model of this experiment, as written into calibration.json."""
        first = self.model.first_step
        steps = self.observed.shape[0] - first
        return {
            "name": self.name, "fixed": self.fixed, "first_step": first, "steps": steps,
            "observables_used": [self.model.obs_names[i] for i in self.used], "dropped": self.dropped,
            "std": {self.model.obs_names[i]: float(s) for i, s in zip(self.used, self.std, strict=True)},
            "residual_correlation_rho": self.rho,
            "effective_points_per_curve": steps * (1 - self.rho) / (1 + self.rho),
        }


def build_experiment(name: str, model, observed: np.ndarray, error_model: ErrorModel,
                     points_per_curve: float = POINTS_PER_CURVE, dependence_tolerance: float = DEPENDENCE_TOLERANCE,
                     fixed: Mapping[str, float] | None = None) -> Experiment:
    """An :class:`Experiment` for ``observed [O, T]`` (rows in ``model.obs_names`` order): drops
    dependent observables (:func:`dependent_observables`), sets each remaining curve's std
    (:meth:`ErrorModel.std_per_curve`) and the AR(1) correlation for ``points_per_curve``."""
    if not points_per_curve > 0:
        raise UserInputError(f"points_per_curve must be a positive number, got {points_per_curve}.",
                             key="points_per_curve")
    names = list(model.obs_names)
    start = model.first_step
    dropped = dependent_observables(observed, names, start, dependence_tolerance)
    used = [i for i, n in enumerate(names) if n not in dropped]
    std = error_model.std_per_curve(observed, names, start)[used]
    rho = ar1_coefficient(observed.shape[1] - start, points_per_curve)
    return Experiment(name, model, np.asarray(observed, dtype=np.float64).T, used, std, rho, dropped,
                      dict(fixed or {}))
