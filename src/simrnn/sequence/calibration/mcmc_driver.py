"""Calibration by ensemble MCMC: one or several observed curves, one joint posterior.

Each observed curve is an :class:`~.likelihood.Experiment`: its table, its fixed conditions (e.g.
``pressure=0.2``), the model at that load path (:mod:`.protocol`) and its error model. The joint
log-posterior of the calibrated parameters is the sum of the experiments' log-likelihoods
(independent tests) plus the uniform prior on the box; :func:`~.mcmc.run_mcmc` samples it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from simrnn.errors import UserInputError
from simrnn.sequence.calibration.likelihood import (
    DEPENDENCE_TOLERANCE,
    POINTS_PER_CURVE,
    ErrorModel,
    Experiment,
    build_experiment,
)
from simrnn.sequence.calibration.mcmc import CHAIN_FILE, McmcRun, McmcSettings, run_mcmc, settings_dict
from simrnn.sequence.calibration.observations import read_observation_table
from simrnn.sequence.calibration.posterior import IterationStats, posterior_summary

#: Posterior-predictive curves drawn for the figure and the fit (random posterior draws).
PREDICTIVE_DRAWS = 64
SIMULATOR = "simulator"


@dataclass(frozen=True)
class Observation:
    """One observed curve: its table and the fixed conditions of that test (merged over the global ones)."""

    path: Path
    fixed: dict[str, float]


def as_observations(obs: str | Path | Observation | Sequence, fixed: Mapping[str, float] | None) -> list[Observation]:
    """``obs`` (a path, an :class:`Observation`, ``(path, {fixed})`` or a list of them) -> observations
    whose fixed values are the global ``fixed`` overridden by each curve's own."""
    items = [obs] if isinstance(obs, str | Path | Observation) or (
        isinstance(obs, tuple) and len(obs) == 2 and isinstance(obs[1], Mapping)) else list(obs)
    result = []
    for item in items:
        path, own = (item.path, item.fixed) if isinstance(item, Observation) else (
            item if isinstance(item, tuple) else (item, {}))
        result.append(Observation(Path(path), {**{k: float(v) for k, v in (fixed or {}).items()},
                                               **{k: float(v) for k, v in own.items()}}))
    if not result:
        raise UserInputError("give at least one observation file (obs FILE).", key="obs")
    return result


def _model_for(model, observation: Observation, obs_names: Sequence[str] | None, control: Sequence[str] | None,
               param_names: Sequence[str], precision: str):
    """The :class:`~.protocol.CurveModel` of one observed curve, and its observed rows ``[O, T]``."""

    from simrnn.sequence.calibration.callbacks import ModelCallback
    from simrnn.sequence.calibration.protocol import from_callback

    table = read_observation_table(observation.path)
    if isinstance(model, ModelCallback):
        return (from_callback(model, param_names, table.stack(model.control), table.stack(model.obs_names)),
                table.stack(model.obs_names), table)
    if not isinstance(model, str | Path) and callable(model) and hasattr(model, "obs_names"):
        observed = table.stack(list(model.obs_names))
        if observed.shape[1] != len(model.control):
            raise UserInputError(f"{table.path}: {observed.shape[1]} steps, but the model's curves have "
                                 f"{len(model.control)}.")
        return model, observed, table
    control = list(control) if control else table.names[:1]
    names = list(obs_names) if obs_names else [n for n in table.names if n not in control]
    ctrl, observed = table.stack(control), table.stack(names)
    from simrnn.sequence.calibration.protocol import run_model, simulator_model

    if isinstance(model, str) and model == SIMULATOR:
        fixed = dict(observation.fixed)
        kind = "drained" if fixed.pop("drained", 1.0) else "undrained"
        return simulator_model(names, ctrl, param_names, fixed, kind, control), observed, table
    return run_model(model, names, control, ctrl, observed, param_names, observation.fixed, precision), observed, table


def _run_rmse(model, obs_names: Sequence[str]) -> dict[str, float]:
    """A run's test RMSE per label (its test_results.json), {} for anything else."""
    from simrnn.files import read_json
    from simrnn.runs import TEST_RESULTS_FILE
    from simrnn.sequence.calibration.likelihood import model_error_from_metrics
    from simrnn.sequence.predict import SequenceRun

    if not isinstance(model, SequenceRun) or model.path is None:
        return {}
    path = Path(model.path) / TEST_RESULTS_FILE
    return model_error_from_metrics(read_json(path), obs_names) if path.is_file() else {}


@dataclass
class McmcResult:
    """What an MCMC calibration found; everything is also written to ``out_dir``."""

    out_dir: Path
    param_names: list[str]
    param_ranges: dict[str, tuple[float, float]]
    samples: np.ndarray
    """Posterior draws ``[M, P]`` (after burn-in, walkers pooled)."""
    best: np.ndarray
    """The chain's draw of highest posterior density ``[P]`` (reported as ``most_probable``)."""
    diagnostics: dict
    reference: dict[str, float]
    notes: list[str]
    timings: dict[str, float]
    experiments: list[dict]
    predictive: list[np.ndarray]
    """Per experiment, the curves ``[D, T, O]`` of :data:`PREDICTIVE_DRAWS` random posterior draws."""
    observed: list[np.ndarray]
    """Per experiment, the observation ``[T, O]``."""

    @property
    def converged(self) -> bool:
        return bool(self.diagnostics["converged"])

    @property
    def stop_reason(self) -> str:
        return "converged" if self.converged else "not_converged"

    @property
    def final(self) -> IterationStats:
        m = len(self.samples)
        return IterationStats(self.diagnostics["steps"], 1.0, 1.0, self.samples, np.full(m, 1.0 / m))

    @property
    def posterior(self) -> dict[str, dict[str, Any]]:
        """Per parameter mean, std, 90 % interval, ... (:func:`~.posterior.posterior_summary`)."""
        summary = posterior_summary(self.final, self.param_names, self.param_ranges, self.reference)
        for name, value in zip(self.param_names, self.best, strict=True):
            summary[name]["most_probable"] = float(value)
        return summary

    @property
    def mean(self) -> dict[str, float]:
        return dict(zip(self.param_names, self.samples.mean(axis=0).tolist(), strict=True))

    @property
    def std(self) -> dict[str, float]:
        return dict(zip(self.param_names, self.samples.std(axis=0).tolist(), strict=True))

    @property
    def fit(self) -> list[dict[str, dict[str, float]]]:
        """Per experiment and observable: mean offset and RMS residual of the posterior-mean curve."""
        fits = []
        for exp, curves, observed in zip(self.experiments, self.predictive, self.observed, strict=True):
            first = exp["first_step"]
            residual = curves.mean(axis=0)[first:] - observed[first:]
            fits.append({n: {"mean_offset": float(residual[:, o].mean()),
                             "rms_residual": float(np.sqrt(np.mean(residual[:, o] ** 2)))}
                         for o, n in enumerate(exp["observables"])})
        return fits


def _notes(run: McmcRun, experiments: list[Experiment], error_model: ErrorModel, reference: Mapping) -> list[str]:
    notes = []
    if not run.diagnostics["converged"]:
        notes.append("the MCMC chain has NOT converged (" + "; ".join(run.diagnostics["failed"]) + "): the "
                     "posterior statistics are not reliable; extend the chain with --resume and more --steps.")
    if not reference:
        missing = sorted({exp.model.obs_names[i] for exp in experiments for i in exp.used
                          if not error_model.model_error.get(exp.model.obs_names[i], 0.0) > 0})
        if missing:
            notes.append(f"no model error for {', '.join(missing)}: a real observation is calibrated as if the model "
                         "were exact, so the posterior is too narrow (give --model-error NAME=RMSE, e.g. the "
                         "surrogate's test RMSE, or the simulator's own error).")
    return notes


def calibrate_mcmc(model, obs, *, param_ranges: Mapping[str, tuple[float, float]],
                   fixed_params: Mapping[str, float] | None = None, obs_names: Sequence[str] | None = None,
                   control: Sequence[str] | None = None, settings: McmcSettings | None = None,
                   noise: float | None = None, model_error: Mapping[str, float] | None = None,
                   points_per_curve: float = POINTS_PER_CURVE, dependence_tolerance: float = DEPENDENCE_TOLERANCE,
                   precision: str = "fp32", reference: Mapping[str, float] | None = None,
                   out_dir: str | Path | None = None, runs_root: str | Path = "runs", figures: bool = True,
                   resume: str | Path | None = None,
                   progress: Callable[[dict, np.ndarray], None] | None = None) -> McmcResult:
    """Sample the joint posterior of ``param_ranges``' parameters given every observed curve.

    Args:
        model: a sequence run (directory or loaded), ``"simulator"`` (the synthetic triaxial model; a
            curve's ``drained=0`` fixed value makes it undrained), a :class:`~.protocol.CurveModel`, or a
            list with one of these per observation file.
        obs: observation file(s), see :func:`as_observations`; each with its own fixed conditions.
        settings: walkers, steps, convergence criteria, seed (default :class:`~.mcmc.McmcSettings`).
        noise, model_error: the error model (:class:`~.likelihood.ErrorModel`); ``model_error`` defaults
            to a run's test RMSE per label (0 for the simulator and callables).
        points_per_curve: effective number of independent points per curve (AR(1) residuals).
        dependence_tolerance: the drained ``p = p0 + q/3`` rule's tolerance (:func:`dependent_observables`).
        resume: a previous MCMC calibration directory whose chain is copied and extended.
        progress: called at every convergence check with the diagnostics (and ``param_names``) and the
            current draws ``[M, P]``.
    """
    from simrnn.runs import output_dir
    from simrnn.sequence.calibration import artefacts
    from simrnn.sequence.calibration.likelihood import NOISE_FRACTION
    from simrnn.sequence.predict import load_run

    settings = settings or McmcSettings()
    observations = as_observations(obs, fixed_params)
    if isinstance(model, str | Path) and str(model) != SIMULATOR:
        model = load_run(model)
    names = list(param_ranges)
    bounds = np.array([param_ranges[n] for n in names], dtype=np.float64)
    settings.validate(len(names))
    chain_from = None
    if resume is not None:
        chain_from = Path(resume) / CHAIN_FILE
        if not chain_from.is_file():
            raise UserInputError(f"resume {resume}: no {CHAIN_FILE} there; give an MCMC calibration directory.",
                                 key="resume")
    errors = dict(model_error) if model_error is not None else _run_rmse(model, obs_names or ["e", "p", "q"])
    error_model = ErrorModel(NOISE_FRACTION if noise is None else float(noise), errors)
    error_model.validate()
    experiments, tables = [], []
    models = list(model) if isinstance(model, list | tuple) else [model] * len(observations)
    if len(models) != len(observations):
        raise UserInputError(f"{len(models)} models for {len(observations)} observation files; give one per file.")
    for k, observation in enumerate(observations):
        curve_model, observed, table = _model_for(models[k], observation, obs_names, control, names, precision)
        if curve_model.first_step >= observed.shape[1]:
            raise UserInputError(f"{table.path}: {observed.shape[1]} steps, but the model predicts only from step "
                                 f"{curve_model.first_step}.")
        experiments.append(build_experiment(f"{k}:{table.path.name}", curve_model, observed, error_model,
                                            points_per_curve, dependence_tolerance, observation.fixed))
        tables.append(table)
    center = bounds.mean(axis=1)[None]
    for exp in experiments:
        with np.errstate(all="ignore"):
            if not np.all(np.isfinite(exp.model(center))):
                raise UserInputError(f"{exp.name}: the model's curves are NaN or inf at the centre of the ranges with "
                                     f"the fixed values {exp.fixed}; check fixed_params and param_ranges.",
                                     key=("fixed_params", "param_ranges"))

    def log_likelihood(theta: np.ndarray) -> np.ndarray:
        return sum(exp.log_likelihood(theta)[0] for exp in experiments)

    reference = {str(k): float(v) for k, v in (reference or {}).items()}
    began = time.perf_counter()
    before = sum(exp.model.seconds for exp in experiments if hasattr(exp.model, "seconds"))
    with output_dir(out_dir, Path(runs_root) / "calibration") as out:
        report = None if progress is None else (lambda diag, draws: progress(dict(diag, param_names=names), draws))
        try:
            run = run_mcmc(log_likelihood, bounds, settings, out / CHAIN_FILE, chain_from, report)
        finally:  # a cached simulator keeps what it simulated, even when sampling fails
            for exp in experiments:
                getattr(exp.model, "flush", lambda: None)()
        model_seconds = sum(exp.model.seconds for exp in experiments if hasattr(exp.model, "seconds")) - before
        rng = np.random.default_rng(settings.seed)
        draws = run.samples[rng.choice(len(run.samples), min(PREDICTIVE_DRAWS, len(run.samples)), replace=False)]
        predictive = [exp.log_likelihood(draws)[1][:, :, exp.used] for exp in experiments]
        wall = time.perf_counter() - began
        described = [dict(exp.describe(), observables=[exp.model.obs_names[i] for i in exp.used],
                          obs_file=str(t.path)) for exp, t in zip(experiments, tables, strict=True)]
        best = run.chain.reshape(-1, len(names))[int(np.argmax(run.log_prob.reshape(-1)))]
        result = McmcResult(out, names, {n: tuple(map(float, param_ranges[n])) for n in names}, run.samples, best,
                            run.diagnostics, reference, _notes(run, experiments, error_model, reference),
                            {"wall_seconds": wall, "sampling_seconds": run.wall_seconds, "model_seconds": model_seconds,
                             "model_fraction": model_seconds / wall, "evaluations": run.evaluations,
                             "resumed_steps": run.resumed_steps},
                            described, predictive, [exp.observed[:, exp.used] for exp in experiments])
        settings_out = {
            "model": [str(m) if isinstance(m, str) else str(getattr(m, "path", None) or type(m).__name__)
                      for m in models],
            "param_ranges": result.param_ranges, **settings_dict(settings), "noise_fraction": error_model.noise_fraction,
            "model_error": error_model.model_error, "points_per_curve": points_per_curve,
            "dependence_tolerance": dependence_tolerance, "precision": precision,
            "resumed_from": str(resume) if resume else None,
        }
        artefacts.write_mcmc(result, settings_out, tables)
        if figures:
            from simrnn.sequence.calibration import figures as plots

            plots.plot_corner(result, out / artefacts.CORNER_FIGURE)
            plots.plot_predictive_curves(result, [exp.model for exp in experiments], out / artefacts.CURVES_FIGURE)
    return result
