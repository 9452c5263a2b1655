"""Bayesian calibration through GrainLearning's iterative filter, with a surrogate or the simulator.

GrainLearning (Cheng et al. 2023; Cheng et al., CMAME 2019, doi:10.1016/j.cma.2019.01.027) calibrates
parameters by an iterative Bayesian filter: sequential Monte Carlo weights over an ensemble of N
parameter samples, then a Gaussian mixture fitted to the weighted ensemble proposes the next
ensemble. Each iteration calls a *callback* that simulates every sample (:mod:`.callbacks`). The
likelihood is the error model of :mod:`.likelihood`; GrainLearning lowers its sigma iteration by
iteration (each time to reach the target effective sample size) and stops once sigma reaches 1,
where the weighted ensemble is the error model's posterior (:mod:`.bayes_filter`).
"""

from __future__ import annotations

import contextlib
import io
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from simrnn.errors import UserInputError
from simrnn.sequence.calibration.callbacks import (
    ModelCallback,
    SurrogateCallback,
    names_list,
    surrogate_callback,
)
from simrnn.sequence.calibration.likelihood import ErrorModel, model_error_from_metrics
from simrnn.sequence.calibration.observations import read_observation_table
from simrnn.sequence.calibration.posterior import CalibrationResult, IterationStats

if TYPE_CHECKING:  # imported where used: reading calibrate's options (--help) loads no PyTorch
    from simrnn.sequence.predict import SequenceRun

#: GrainLearning's sigma at which the likelihood is the error model's own (the stopping value).
SIGMA_POSTERIOR = 1.0
#: Iterations at sigma = 1 after GrainLearning's stopping rule fired (see :func:`run_iterations`).
SETTLE_ITERATIONS = 3
#: Largest parameter bound accepted: surrogates compute in float32 (max 3.4e38) and the sampler
#: squares normalised values.
MAX_ABS_BOUND = 1e30


@dataclass(frozen=True)
class SamplingSettings:
    """GrainLearning's Gaussian-mixture resampling settings, with ``GaussianMixtureModel.from_dict``'s
    defaults: ``n_init`` fits per iteration (the best is kept), ``max_components`` mixture
    components, ``prior_weight`` the Dirichlet weight-concentration prior (None: 1/max_components).
    """

    n_init: int = 10
    max_components: int = 1
    prior_weight: float | None = None

    def validate(self) -> None:
        if self.n_init < 1 or self.max_components < 1:
            raise UserInputError(
                f"gmm_n_init ({self.n_init}) and max_components ({self.max_components}) must be at least 1.",
                key=("gmm_n_init", "max_components"),
            )
        if self.prior_weight is not None and not (np.isfinite(self.prior_weight) and self.prior_weight > 0):
            raise UserInputError(f"prior_weight must be a positive number, got {self.prior_weight}.", key="prior_weight")


def default_ranges(callback: ModelCallback) -> dict[str, tuple[float, float]]:
    """GrainLearning's ranges (E 7-10, v 0-0.5, kr 0-1, eta 0-1, mu 0-60) for the model's contact
    parameters that are not fixed."""
    from simrnn.sequence.triaxial import PARAM_RANGES

    return {n: PARAM_RANGES[n] for n in callback.param_names if n in PARAM_RANGES and n not in callback.fixed_params}


def _check_ranges(param_ranges: Mapping[str, tuple[float, float]]) -> None:
    if not param_ranges:
        raise UserInputError("give at least one parameter range to calibrate, e.g. E=7:10.")
    for name, (low, high) in param_ranges.items():
        if not (np.isfinite(low) and np.isfinite(high) and low < high):
            raise UserInputError(f"range of {name!r} must be finite with LOW < HIGH, got {low}:{high}.")
        if max(abs(low), abs(high)) > MAX_ABS_BOUND or not np.isfinite(high - low):
            raise UserInputError(f"range of {name!r} ({low}:{high}) must lie within +-{MAX_ABS_BOUND:g}.")


#: the largest ensemble and number of iterations accepted (memory grows with samples x curve length).
MAX_SAMPLES, MAX_ITERATIONS = 100_000, 10_000


def check_counts(samples: int, iterations: int, ess_target: float, seed: int = 0) -> None:
    """One sentence, before any work, for counts or a seed that cannot run."""
    if not 2 <= samples <= MAX_SAMPLES or not 1 <= iterations <= MAX_ITERATIONS:
        raise UserInputError(f"samples must be >= 2 and iterations >= 1 (at most {MAX_SAMPLES} and "
                             f"{MAX_ITERATIONS}), got {samples} and {iterations}.", key=("samples", "iterations"))
    if not 0 <= seed < 2**32:
        raise UserInputError(f"seed must be from 0 to {2**32 - 1}, got {seed}.", key="seed")
    if not 0 < ess_target <= 1:
        raise UserInputError(f"ess_target must lie in (0, 1], got {ess_target}.", key="ess_target")


def _check_model_is_finite(callback: ModelCallback, param_ranges: Mapping[str, tuple[float, float]],
                           ctrl: np.ndarray, observed: np.ndarray) -> None:
    """One sentence if the model's curves at the centre of the ranges are NaN or inf (e.g. a fixed
    value far outside anything it was trained on) instead of a calibration of garbage."""
    names = list(param_ranges)
    center = np.array([[(param_ranges[n][0] + param_ranges[n][1]) / 2 for n in names]])
    with np.errstate(all="ignore"):
        curves = callback.simulate(center, names, ctrl, observed)
    if not np.all(np.isfinite(curves)):
        raise UserInputError(
            f"the model's curves are NaN or inf at the centre of the ranges with the fixed values "
            f"{callback.fixed_params}; check fixed_params and param_ranges.", key=("fixed_params", "param_ranges")
        )


def _grainlearning():
    try:
        import grainlearning
        from sklearn.exceptions import ConvergenceWarning
    except ModuleNotFoundError as exc:
        raise UserInputError(
            f"calibration needs the optional dependency grainlearning ({exc.name} is missing); "
            "install simrnn[calibration]."
        ) from None
    return grainlearning, ConvergenceWarning


def build_grainlearning_calibration(callback: ModelCallback, observed: np.ndarray, ctrl: np.ndarray,
                                    ctrl_name: str, param_ranges: Mapping[str, tuple[float, float]],
                                    variances: np.ndarray, samples: int, iterations: int, ess_target: float,
                                    seed: int, sampling: SamplingSettings):
    """GrainLearning's ``BayesianCalibration`` driven by ``callback``, stopping at sigma = 1.

    Args:
        observed: ``[num_obs, T]`` in ``callback.obs_names`` order; ctrl: ``[T]`` or ``[F, T]``.
        variances: per-step variances ``[num_obs]`` at sigma = 1 (:meth:`ErrorModel.step_variances`).
    """
    gl, _ = _grainlearning()
    from simrnn.sequence.calibration.bayes_filter import (
        CheckedMixture,
        ErrorModelSMC,
        ProposalCorrectedFilter,
    )

    names = list(param_ranges)
    system = gl.DynamicSystem(
        obs_data=observed, ctrl_data=ctrl, obs_names=list(callback.obs_names), ctrl_name=ctrl_name,
        num_samples=samples, param_names=names, sim_name="simrnn",
        param_min=[float(param_ranges[n][0]) for n in names],
        param_max=[float(param_ranges[n][1]) for n in names],
        sigma_tol=SIGMA_POSTERIOR,
    )
    inference = ProposalCorrectedFilter(
        Bayes_filter=ErrorModelSMC(variances, ess_target, callback.init_inference_step),
        sampling=CheckedMixture(
            max_num_components=sampling.max_components, weight_concentration_prior=sampling.prior_weight,
            n_init=sampling.n_init, random_state=seed,
        ),
    )
    return gl.BayesianCalibration(system=system, inference=inference, num_iter=iterations, save_fig=-1,
                                  callback=callback)


def _one_iteration(calib, log: io.StringIO) -> tuple[bool, bool]:
    """One GrainLearning iteration; returns (its stopping rule fired, the weights were degenerate)."""
    from threadpoolctl import threadpool_limits

    from simrnn.sequence.calibration.bayes_filter import DegenerateWeights

    _, convergence_warning = _grainlearning()
    degenerate = stopped = False
    # one BLAS thread: the mixture's 5x5 solves are 10-60x slower when OpenBLAS threads spin
    with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(log), \
            threadpool_limits(limits=1, user_api="blas"):
        warnings.filterwarnings("always", category=convergence_warning)
        warnings.filterwarnings("always", category=RuntimeWarning, module=r"grainlearning\.")
        calib.inference.posterior = None  # set again only by a completed inference
        try:
            stopped = calib.run_one_iteration()
        except DegenerateWeights as exc:
            log.write(f"stopped: {exc}\n")
            degenerate = True
    for item in caught:
        log.write(f"warning: {item.category.__name__}: {item.message}\n")
    return stopped, degenerate


def run_iterations(calib, iterations: int, log: io.StringIO,
                   progress: Callable[[IterationStats], None] | None = None,
                   settle: int = SETTLE_ITERATIONS) -> tuple[list[IterationStats], str]:
    """Run GrainLearning's iterations one by one (as ``BayesianCalibration.run`` does), recording each.

    Up to ``iterations`` iterations lower sigma until GrainLearning's stopping rule fires at
    sigma = 1; then ``settle`` more iterations run at sigma = 1, each refitting the mixture to the
    weighted ensemble and reweighting new samples by the error model's posterior over that proposal
    (adaptive importance sampling, Cappe et al. 2004): the proposal, narrowed by the annealing,
    widens again to the posterior's own spread, so the final intervals are not too narrow.
    GrainLearning's prints go to ``log``, with the warnings of its mixture fits and sigma search.
    Returns the per-iteration statistics and the stop reason (see :class:`CalibrationResult`).
    """
    history: list[IterationStats] = []
    settling: int | None = None  # iterations left at sigma = 1, once the stopping rule fired
    while len(history) < iterations or settling is not None:
        stopped, degenerate = _one_iteration(calib, log)
        posterior = calib.inference.posterior
        if posterior is None or not np.all(np.isfinite(posterior)):
            return history, "degenerate_weights"  # this iteration's inference itself failed
        system = calib.system
        stats = IterationStats(
            iteration=len(history), sigma=max(float(np.ravel(system.sigma_max)[0]), system.sigma_tol),
            ess=float(calib.inference.Bayes_filter.ess[-1, 0]),
            samples=np.array(system.param_data, dtype=np.float64),
            weights=np.array(posterior, dtype=np.float64), param_names=tuple(system.param_names),
        )
        history.append(stats)
        if progress is not None:
            progress(stats)
        if degenerate:
            return history, "degenerate_weights"
        if stopped:
            settling = settle if settling is None else settling - 1
            if settling == 0:
                return history, "converged"
            calib.increase_curr_iter()
    return history, "max_iterations"


def _notes(reason: str, history: list[IterationStats], num_samples: int) -> list[str]:
    """One sentence per caveat of the result, for calibration.json and the command's output."""
    if reason == "degenerate_weights":
        return [f"the posterior weights of iteration {history[-1].iteration} collapsed onto very few samples "
                f"(ESS {history[-1].ess * num_samples:.1f} of {num_samples}): no sample fits the observation within "
                "the error model, so the intervals understate the uncertainty (train the surrogate longer, give "
                "a larger --model-error or more --samples)."]
    if reason == "max_iterations":
        return [f"GrainLearning's sigma is still {history[-1].sigma:.3g} > 1 after {len(history)} iterations: the "
                "ensemble is wider than the error model's posterior (give more iterations)."]
    return []


def _run_model_error(callback: ModelCallback, obs_names: Sequence[str]) -> dict[str, float]:
    """The surrogate's test RMSE per observed label from its run's test_results.json, if it has one."""
    if not isinstance(callback, SurrogateCallback) or callback.run.path is None:
        return {}
    from simrnn.files import read_json
    from simrnn.runs import TEST_RESULTS_FILE

    path = Path(callback.run.path) / TEST_RESULTS_FILE
    return model_error_from_metrics(read_json(path), obs_names) if path.is_file() else {}


def calibrate(model: str | Path | SequenceRun | ModelCallback, obs_file, *, sampler: str = "emcee",
              param_ranges: Mapping[str, tuple[float, float]] | None = None, obs_names: Sequence[str] | None = None,
              control: str | Sequence[str] | None = None, fixed_params: Mapping[str, float] | None = None,
              samples: int = 200, iterations: int = 60, ess_target: float = 0.3, seed: int = 0,
              gmm_n_init: int = 1, max_components: int = 3, prior_weight: float | None = None,
              noise: float | None = None, model_error: Mapping[str, float] | None = None, precision: str = "fp32",
              reference: Mapping[str, float] | None = None, out_dir: str | Path | None = None,
              runs_root: str | Path = "runs", figures: bool = True,
              progress: Callable | None = None, walkers: int | None = None, steps: int | None = None,
              move: str | None = None, points_per_curve: float | None = None, resume: str | Path | None = None):
    """Calibrate a model's parameters against observed curves: ensemble MCMC (default) or GrainLearning.

    ``sampler="emcee"`` hands over to :func:`~.mcmc_driver.calibrate_mcmc` (several curves, the
    error model of :mod:`.likelihood`, convergence diagnostics) and returns its
    :class:`~.mcmc_driver.McmcResult`; ``sampler="grainlearning"`` runs GrainLearning's iterative
    filter on one curve and returns a :class:`CalibrationResult`.

    Args:
        model: a trained or imported sequence run (directory or :class:`SequenceRun`), a ready
            callback (e.g. :func:`~.callbacks.simulator_callback`; then ``obs_names``, ``control``
            and ``fixed_params`` are the callback's), and for MCMC also ``"simulator"`` or a
            :class:`~.protocol.CurveModel`.
        obs_file: whitespace table with a ``#`` header (see :mod:`.observations`), ``T`` rows; for
            MCMC also several, each ``(path, {fixed conditions})`` (:func:`~.mcmc_driver.as_observations`).
        sampler: ``"emcee"`` or ``"grainlearning"``.
        points_per_curve: for GrainLearning, each curve counts as this many independent observations
            (per-step variance ``T' s_o^2 / points_per_curve``; None: 1, the whole curve one observation).
        walkers, steps, move, points_per_curve, resume: MCMC; None keeps the defaults of
            :class:`~.mcmc.McmcSettings` (``steps`` is its ``max_steps``) and
            :data:`~.likelihood.POINTS_PER_CURVE`; ``resume`` a previous MCMC directory to extend.
        param_ranges: ``{name: (low, high)}`` of the parameters to calibrate (uniform prior bounds);
            default :func:`default_ranges`.
        obs_names: observed columns to fit (model output labels); default: all but the control.
        control: control column(s), one per model input feature; default: the first column.
        fixed_params: values of the run's parameters that are not calibrated (e.g. pressure).
        samples, iterations, ess_target: GrainLearning's ``num_samples``, ``num_iter``, ``ess_target``.
        seed: random state of the Gaussian mixture (the first ensemble is a Halton sequence).
        gmm_n_init, max_components, prior_weight: see :class:`SamplingSettings` (the defaults here are
            the settings measured in docs/calibration.md, not GrainLearning's 10 fits and 1 component).
        noise: observation noise as a fraction of each curve's range (default
            :data:`~.likelihood.NOISE_FRACTION`).
        model_error: the model's RMSE per observed label (default: a run's test RMSE from its
            test_results.json, 0 for a callback or a run without one).
        precision: the surrogate's prediction precision (:func:`~simrnn.sequence.predict.predict`).
        reference: known parameter values (synthetic tests), compared in the outputs.
        out_dir: a new directory to write; default ``runs_root/calibration/<timestamp>``.
        figures: draw curves.png and posteriors.png (most of the cost of a short calibration).
        progress: called with each iteration's :class:`IterationStats`.
    """
    from simrnn.sequence.calibration import artefacts
    from simrnn.sequence.calibration import figures as plots
    from simrnn.sequence.calibration.likelihood import NOISE_FRACTION
    from simrnn.sequence.calibration.sensitivity import curve_sensitivity

    check_counts(samples, iterations, ess_target)  # GrainLearning's settings are checked whichever sampler runs
    if sampler == "emcee":
        return _calibrate_emcee(model, obs_file, param_ranges=param_ranges, obs_names=obs_names, control=control,
                                fixed_params=fixed_params, seed=seed, noise=noise, model_error=model_error,
                                precision=precision, reference=reference, out_dir=out_dir, runs_root=runs_root,
                                figures=figures, progress=progress, walkers=walkers, steps=steps, move=move,
                                points_per_curve=points_per_curve, resume=resume)
    if sampler != "grainlearning":
        raise UserInputError(f"sampler must be 'emcee' or 'grainlearning', got {sampler!r}.", key="sampler")
    if not isinstance(obs_file, str | Path):
        raise UserInputError("sampler 'grainlearning' calibrates against one observation file; give one obs "
                             "(several curves need the default sampler, emcee).", key=("sampler", "obs"))
    table = read_observation_table(obs_file)
    if isinstance(model, ModelCallback):
        callback = model
        control, obs_names = callback.control, callback.obs_names
    else:
        control = names_list(control) if control is not None else table.names[:1]
        obs_names = list(obs_names) if obs_names else [n for n in table.names if n not in control]
    ctrl = table.stack(list(control))
    observed = table.stack(list(obs_names))
    check_counts(samples, iterations, ess_target, seed)
    sampling = SamplingSettings(gmm_n_init, max_components, prior_weight)
    sampling.validate()
    reference = {str(k): float(v) for k, v in (reference or {}).items()}
    if not isinstance(model, ModelCallback):
        callback = surrogate_callback(model, obs_names, control, fixed_params, precision)
    param_ranges = param_ranges or default_ranges(callback)
    param_ranges = {str(k): (float(v[0]), float(v[1])) for k, v in param_ranges.items()}
    _check_ranges(param_ranges)
    callback.check_param_names(list(param_ranges))
    unknown = [n for n in reference if n not in callback.param_names]
    if unknown:
        raise UserInputError(f"reference names unknown parameter(s) {', '.join(unknown)}; the model's parameters "
                             f"are {', '.join(callback.param_names)}.", key="reference")
    artefacts.check_new_directory(out_dir)
    error_model = ErrorModel(NOISE_FRACTION if noise is None else float(noise),
                             dict(model_error) if model_error is not None else _run_model_error(callback, obs_names))
    error_model.validate()
    start = callback.init_inference_step
    if start >= table.num_steps:
        raise UserInputError(f"{table.path}: {table.num_steps} steps, but the model predicts only from step {start}.")
    curve_std = error_model.std_per_curve(observed, obs_names, start)
    ctrl_curve = ctrl[0] if len(control) == 1 else ctrl
    names = list(param_ranges)
    _check_model_is_finite(callback, param_ranges, ctrl_curve, observed)
    calib = build_grainlearning_calibration(callback, observed, ctrl_curve, ",".join(control), param_ranges,
                                            error_model.step_variances(observed, obs_names, start) / (points_per_curve or 1.0), samples,
                                            iterations, ess_target, seed, sampling)
    log = io.StringIO()
    began = time.perf_counter()
    spent_before = callback.seconds
    history, reason = run_iterations(calib, iterations, log, progress)
    if not history:
        raise UserInputError(f"{table.path}: the model returned NaN or inf for every sample; nothing to calibrate.")
    wall = time.perf_counter() - began
    model_seconds = callback.seconds - spent_before
    timings = {
        "wall_seconds": wall,
        "surrogate_seconds": model_seconds,
        "grainlearning_seconds": wall - model_seconds,
        "surrogate_fraction": model_seconds / wall,
        "evaluations": len(history),
        "surrogate_ms_per_evaluation": 1e3 * model_seconds / max(len(history), 1),
    }
    simulated = np.array(calib.system.sim_data)
    centers = {"mean": history[-1].mean}
    if set(names) <= set(reference):
        centers["reference"] = np.array([reference[n] for n in names])
    sensitivity = {key: curve_sensitivity(callback, names, center, param_ranges, ctrl_curve, observed, start,
                                          curve_std)
                   for key, center in centers.items()}
    out = artefacts.fresh_directory(out_dir, runs_root)
    result = CalibrationResult(out, names, param_ranges, history, reason, timings, sensitivity, simulated,
                               reference, _notes(reason, history, samples), observed, list(obs_names), start)
    settings = {
        "model": str(getattr(getattr(callback, "run", None), "path", None) or type(callback).__name__),
        "obs_file": str(table.path), "obs_names": list(obs_names), "control": list(control),
        "param_ranges": param_ranges, "fixed_params": callback.fixed_params, "samples": samples,
        "iterations": iterations, "ess_target": ess_target, "seed": seed,
        "gmm_n_init": sampling.n_init, "max_components": sampling.max_components,
        "prior_weight": sampling.prior_weight, "noise_fraction": error_model.noise_fraction,
        "model_error": error_model.model_error,
        "curve_std": dict(zip(obs_names, curve_std.tolist(), strict=True)),
        "init_inference_step": start, "precision": getattr(callback, "precision", "fp64"),
        "points_per_curve": points_per_curve or 1.0,
    }
    artefacts.write_calibration(result, settings, table, observed, ctrl_curve, log.getvalue())
    if not figures:
        return result
    plots.plot_final_curves(ctrl[-1], control[-1], observed, simulated, history[-1].weights, obs_names,
                              start, out / artefacts.CURVES_FIGURE)
    plots.plot_posteriors(names, history, param_ranges, reference, out / artefacts.POSTERIORS_FIGURE)
    return result


def _calibrate_emcee(model, obs_file, *, param_ranges, obs_names, control, fixed_params, seed, walkers, steps, move,
                     progress, **kwargs):
    """:func:`calibrate` with the MCMC sampler: default ranges, settings, then :func:`calibrate_mcmc`."""
    from simrnn.sequence.calibration.mcmc import McmcSettings
    from simrnn.sequence.calibration.mcmc_driver import SIMULATOR, as_observations, calibrate_mcmc
    from simrnn.sequence.triaxial import CONTACT_PARAM_NAMES, PARAM_RANGES

    if isinstance(model, ModelCallback):
        obs_names, control = model.obs_names, model.control
        fixed_params = {**model.fixed_params, **(fixed_params or {})}
    control = names_list(control) if control else None
    obs_names = names_list(obs_names) if obs_names else None
    if not param_ranges:
        fixed = set().union(*(o.fixed for o in as_observations(obs_file, fixed_params)))
        if getattr(model, "bounds", None):
            param_ranges = dict(model.bounds)
        else:
            if isinstance(model, ModelCallback):
                names = model.param_names
            elif isinstance(model, str) and model == SIMULATOR:
                names = CONTACT_PARAM_NAMES
            else:
                from simrnn.sequence.predict import SequenceRun, load_run

                model = model if isinstance(model, SequenceRun) else load_run(model)
                names = model.meta["param_names"]
            param_ranges = {n: PARAM_RANGES[n] for n in names if n in PARAM_RANGES and n not in fixed}
    param_ranges = {str(k): (float(v[0]), float(v[1])) for k, v in param_ranges.items()}
    _check_ranges(param_ranges)
    given = {"walkers": walkers, "max_steps": steps, "move": move}
    settings = McmcSettings(seed=seed, **{k: v for k, v in given.items() if v is not None})
    if kwargs.get("points_per_curve") is None:
        kwargs.pop("points_per_curve")
    return calibrate_mcmc(model, obs_file, param_ranges=param_ranges, fixed_params=fixed_params,
                          obs_names=obs_names, control=control, settings=settings, progress=progress, **kwargs)
