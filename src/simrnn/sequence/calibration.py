"""Bayesian calibration with a trained sequence surrogate, through GrainLearning's iterative filter.

GrainLearning (Cheng et al. 2023; Cheng et al., CMAME 2019, doi:10.1016/j.cma.2019.01.027) calibrates
parameters by an iterative Bayesian filter: sequential Monte Carlo weights over an ensemble of N
parameter samples, then a Gaussian mixture fitted to the weighted ensemble proposes the next
ensemble. Each iteration calls a *callback* that must simulate every sample; here a trained
surrogate does it in ONE batched forward pass (:class:`SurrogateCallback`).

Time alignment. Observations ``obs_data [num_obs, T]`` and the control ``ctrl_data [T]`` (or
``[F, T]``) share the time axis ``t = 0..T-1``; the control curves are the surrogate's load path
``inputs [N, T, F]`` (identical for every sample). :func:`~simrnn.sequence.predict.predict`
returns element ``k`` as the estimate of step ``k + first`` with
``first = window_size - 1 - pad_length``, so ``sim_data[:, :, t] = predicted[:, t - first]`` for
``t >= first`` (every step up to T-1 is predicted; GrainLearning's own RNN stopped one step early).
Steps ``t < first`` cannot be predicted; they are set to the observation itself, which makes
their likelihood identical for every sample (no information), and :func:`calibrate` also starts
GrainLearning's likelihood at ``init_inference_step >= first`` so they are skipped outright.
A run trained with ``pad_length = window_size - 1`` predicts every step (``first = 0``).
GrainLearning's covariance is ``sigma * obs_t^2`` per step (``scale_cov_with_max=False``, its
default), singular where an observation is 0 (q = 0 at the start of a test), so :func:`calibrate`
starts the likelihood at the first predicted step where every observation is nonzero.

Example, inside one's own GrainLearning script::

    from grainlearning import BayesianCalibration
    from simrnn.sequence.predict import load_run
    from simrnn.sequence.calibration import surrogate_callback

    callback = surrogate_callback(load_run("runs/imported/drained"), ["e", "p", "q"],
                                  "epsilon_axial", fixed_params={"pressure": 0.2})
    calib = BayesianCalibration.from_dict({
        "num_iter": 10, "callback": callback,
        "system": {"param_names": ["E", "v", "kr", "eta", "mu"], "param_min": [...],
                   "param_max": [...], "num_samples": 50, "obs_data": obs [3, T],
                   "ctrl_data": strain [T], "obs_names": ["e", "p", "q"]},
        "inference": {"Bayes_filter": {"ess_target": 0.3,
                                       "init_inference_step": callback.init_inference_step},
                      "sampling": {"max_num_components": 5}},
    })
    calib.run()
"""

from __future__ import annotations

import contextlib
import io
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from simrnn.errors import UserInputError
from simrnn.sequence.predict import SequenceRun, load_run, predict


def _names(value: str | Sequence[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


@dataclass
class SurrogateCallback:
    """A GrainLearning 2.0.5 callback that simulates all N samples with one surrogate pass.

    Called as ``callback(calib)``: reads ``calib.system.param_data [N, num_params]`` (columns named
    by ``calib.system.param_names``), ``ctrl_data [T]`` or ``[F, T]`` and ``obs_data [num_obs, T]``,
    and sets ``calib.system.sim_data [N, num_obs, T]`` (see the module docstring for alignment).

    Args:
        run: the trained or imported surrogate.
        obs_names: output labels to simulate, in the order of the observation rows.
        control: names of the control curves, one per model input feature (in that order).
        fixed_params: values of the run's parameters that are not calibrated, e.g. {"pressure": 0.2}.

    Attributes ``seconds``, ``calls`` and ``samples`` accumulate the surrogate's cost.
    """

    run: SequenceRun
    obs_names: list[str]
    control: list[str]
    fixed_params: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    calls: int = 0
    samples: int = 0

    def __post_init__(self) -> None:
        labels = self.run.output_labels
        unknown = [n for n in self.obs_names if n not in labels]
        if unknown or not self.obs_names:
            raise UserInputError(
                f"observation names {', '.join(map(repr, unknown)) or '(none)'} are not outputs of the surrogate; "
                f"valid names are {', '.join(labels)}."
            )
        features = list(self.run.meta.get("input_features", []))
        if len(self.control) != self.run.model.n_input_features:
            raise UserInputError(
                f"the surrogate takes {self.run.model.n_input_features} control curve(s) "
                f"({', '.join(features)}), got {len(self.control)} ({', '.join(self.control) or 'none'})."
            )
        self.check_param_names([], allow_missing=True)
        self._label_index = np.asarray([labels.index(n) for n in self.obs_names])

    @property
    def param_names(self) -> list[str]:
        """The run's parameter columns, in the order the model expects them."""
        return list(self.run.meta["param_names"])

    @property
    def init_inference_step(self) -> int:
        """First observation step the surrogate predicts; earlier steps carry no information."""
        return max(0, self.run.first_predicted_step())

    def check_param_names(self, calibrated: Sequence[str], allow_missing: bool = False) -> None:
        """One-line errors for unknown, doubly given or (unless ``allow_missing``) missing parameters."""
        valid = self.param_names
        unknown = [n for n in [*calibrated, *self.fixed_params] if n not in valid]
        if unknown:
            raise UserInputError(
                f"unknown parameter name(s) {', '.join(map(repr, unknown))}; the surrogate's parameters are "
                f"{', '.join(valid)}."
            )
        both = sorted(set(calibrated) & set(self.fixed_params))
        if both:
            raise UserInputError(f"parameter(s) {', '.join(both)} are both calibrated and fixed; give each once.")
        missing = [n for n in valid if n not in calibrated and n not in self.fixed_params]
        if missing and not allow_missing:
            raise UserInputError(
                f"parameter(s) {', '.join(missing)} of the surrogate are neither calibrated nor fixed; "
                f"give a range or a fixed value, e.g. {missing[0]}=VALUE."
            )

    def assemble_params(self, param_data: np.ndarray, param_names: Sequence[str]) -> np.ndarray:
        """Calibrated columns ``[N, num_params]`` plus fixed values -> the run's params ``[N, P]``."""
        self.check_param_names(list(param_names))
        param_data = np.asarray(param_data, dtype=np.float32).reshape(-1, len(param_names))
        params = np.empty((param_data.shape[0], len(self.param_names)), dtype=np.float32)
        for j, name in enumerate(self.param_names):
            if name in self.fixed_params:
                params[:, j] = self.fixed_params[name]
            else:
                params[:, j] = param_data[:, list(param_names).index(name)]
        return params

    def simulate(self, param_data: np.ndarray, param_names: Sequence[str], ctrl_data: np.ndarray,
                 obs_data: np.ndarray) -> np.ndarray:
        """Simulate every sample in one batched surrogate pass.

        Args:
            param_data: calibrated parameters ``[N, num_params]``, columns named by ``param_names``.
            ctrl_data: control curves ``[T]`` (one) or ``[F, T]``.
            obs_data: observations ``[num_obs, T]``; fill the steps the surrogate cannot predict.

        Returns:
            ``sim_data [N, num_obs, T]`` aligned with ``obs_data`` step by step.
        """
        start = time.perf_counter()
        obs_data = np.asarray(obs_data, dtype=np.float64).reshape(len(self.obs_names), -1)
        num_steps = obs_data.shape[1]
        ctrl = np.asarray(ctrl_data, dtype=np.float32).reshape(len(self.control), -1)
        if ctrl.shape[1] != num_steps:
            raise UserInputError(
                f"the control curve(s) {', '.join(self.control)} have {ctrl.shape[1]} steps but the observations "
                f"have {num_steps}; both must have the same length."
            )
        params = self.assemble_params(param_data, param_names)
        inputs = np.repeat(ctrl.T[None], params.shape[0], axis=0)  # [N, T, F], the same load path
        predicted = predict(self.run, inputs, params)  # [N, K, L], element k -> step k + first
        first = self.run.first_predicted_step()
        step0 = self.init_inference_step
        sim = np.empty((params.shape[0], len(self.obs_names), num_steps))
        sim[:, :, :step0] = obs_data[None, :, :step0]
        sim[:, :, step0:] = predicted[:, step0 - first:, self._label_index].transpose(0, 2, 1)
        self.seconds += time.perf_counter() - start
        self.calls += 1
        self.samples += params.shape[0]
        return sim

    def __call__(self, calib: Any) -> None:
        """GrainLearning's callback contract: read the system's samples, set its ``sim_data``."""
        system = calib.system
        if system.param_names is None:
            raise UserInputError("the GrainLearning system has no param_names; name its parameter columns.")
        system.set_sim_data(self.simulate(system.param_data, system.param_names, system.ctrl_data,
                                          system.obs_data))


def surrogate_callback(run: SequenceRun | str | Path, obs_names: str | Sequence[str],
                       control: str | Sequence[str], fixed_params: Mapping[str, float] | None = None
                       ) -> SurrogateCallback:
    """A GrainLearning callback simulating with ``run`` (a loaded run or its directory).

    ``obs_names`` select and order the surrogate's outputs like the observation rows; ``control``
    names the control curve(s) feeding the model's input features; ``fixed_params`` fill the run's
    parameter columns that are not calibrated. Set GrainLearning's ``init_inference_step`` to the
    callback's ``init_inference_step`` (see the module docstring for the time alignment).
    """
    if not isinstance(run, SequenceRun):
        run = load_run(run)
    fixed = {str(k): float(v) for k, v in (fixed_params or {}).items()}
    bad = [k for k, v in fixed.items() if not np.isfinite(v)]
    if bad:
        raise UserInputError(f"fixed parameter(s) {', '.join(bad)} must be finite numbers.")
    return SurrogateCallback(run, _names(obs_names), _names(control), fixed)


@dataclass(frozen=True)
class IterationStats:
    """One iteration of the filter: the ensemble ``samples [N, num_params]``, its ``weights [N]``."""

    iteration: int
    sigma: float
    ess: float
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

    @property
    def most_probable(self) -> np.ndarray:
        """The sample with the largest posterior weight ``[num_params]``."""
        return self.samples[int(np.argmax(self.weights))]


@dataclass
class CalibrationResult:
    """What :func:`calibrate` found; everything is also written to ``out_dir``."""

    out_dir: Path
    param_names: list[str]
    iterations: list[IterationStats]
    stopped_early: bool
    timings: dict[str, float]
    sensitivity: dict[str, Any]
    simulated: np.ndarray
    """Curves of the final ensemble ``[N, num_obs, T]`` (weights: ``iterations[-1].weights``)."""

    def _named(self, values: np.ndarray) -> dict[str, float]:
        return {n: float(v) for n, v in zip(self.param_names, values, strict=True)}

    @property
    def most_probable(self) -> dict[str, float]:
        """Most probable parameters of the final ensemble (GrainLearning's ``get_most_prob_params``)."""
        return self._named(self.iterations[-1].most_probable)

    @property
    def mean(self) -> dict[str, float]:
        return self._named(self.iterations[-1].mean)

    @property
    def std(self) -> dict[str, float]:
        return self._named(self.iterations[-1].std)


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
                f"--gmm-n-init ({self.n_init}) and --max-components ({self.max_components}) must be at least 1."
            )
        if self.prior_weight is not None and not self.prior_weight > 0:
            raise UserInputError(f"--prior-weight must be a positive number, got {self.prior_weight}.")


def default_ranges(callback: SurrogateCallback) -> dict[str, tuple[float, float]]:
    """GrainLearning's ranges (E 7-10, v 0-0.5, kr 0-1, eta 0-1, mu 0-60) for the run's contact
    parameters that are not fixed."""
    from simrnn.sequence.triaxial import PARAM_RANGES

    return {n: PARAM_RANGES[n] for n in callback.param_names if n in PARAM_RANGES and n not in callback.fixed_params}


def _check_ranges(param_ranges: Mapping[str, tuple[float, float]]) -> None:
    if not param_ranges:
        raise UserInputError("give at least one parameter range to calibrate, e.g. E=7:10.")
    for name, (low, high) in param_ranges.items():
        if not (np.isfinite(low) and np.isfinite(high) and low < high):
            raise UserInputError(f"range of {name!r} must be finite with LOW < HIGH, got {low}:{high}.")


def _check_counts(samples: int, iterations: int, ess_target: float) -> None:
    if samples < 2 or iterations < 1:
        raise UserInputError(f"--samples must be >= 2 and --iterations >= 1, got {samples} and {iterations}.")
    if not 0 < ess_target <= 1:
        raise UserInputError(f"--ess must lie in (0, 1], got {ess_target}.")


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


def likelihood_start(observed: np.ndarray, obs_names: Sequence[str], first: int, scale_cov_with_max: bool,
                     source: str) -> int:
    """First step GrainLearning's likelihood can use: predicted (``>= first``) and, with the per-step
    covariance ``sigma * obs_t^2``, with every observation nonzero from there on.

    Args:
        observed: ``[num_obs, T]``; first: the surrogate's first predicted step.
    """
    if scale_cov_with_max:
        flat = [n for n, row in zip(obs_names, observed, strict=True) if row.max() <= 0]
        if flat:
            raise UserInputError(f"{source}: with --scale-cov-with-max the maximum of {', '.join(flat)} must be "
                                 "positive (GrainLearning scales the covariance with it).")
        return first
    nonzero = np.all(observed != 0, axis=0)  # [T]
    usable = np.flatnonzero(nonzero[first:])
    start = first + int(usable[0]) if usable.size else observed.shape[1]
    if start >= observed.shape[1] or not nonzero[start:].all():
        step = start + int(np.argmin(nonzero[start:])) if start < observed.shape[1] else first
        name = obs_names[int(np.argmin(observed[:, step] != 0))]
        raise UserInputError(
            f"{source}: observation {name!r} is 0 at step {step}; GrainLearning's covariance sigma*obs^2 is "
            "singular there (use --scale-cov-with-max, or drop that curve)."
        )
    return start


def build_grainlearning_calibration(callback: SurrogateCallback, observed: np.ndarray, ctrl: np.ndarray,
                                    ctrl_name: str, param_ranges: Mapping[str, tuple[float, float]],
                                    samples: int, iterations: int, ess_target: float, seed: int,
                                    sampling: SamplingSettings, init_inference_step: int,
                                    scale_cov_with_max: bool = False):
    """GrainLearning's ``BayesianCalibration`` driven by ``callback``.

    Args:
        observed: ``[num_obs, T]`` in ``callback.obs_names`` order; ctrl: ``[T]`` or ``[F, T]``.
        init_inference_step: first step of the likelihood (:func:`likelihood_start`).
    """
    gl, _ = _grainlearning()
    names = list(param_ranges)
    system = gl.DynamicSystem(
        obs_data=observed, ctrl_data=ctrl, obs_names=list(callback.obs_names), ctrl_name=ctrl_name,
        num_samples=samples, param_names=names, sim_name="simrnn",
        param_min=[float(param_ranges[n][0]) for n in names],
        param_max=[float(param_ranges[n][1]) for n in names],
    )
    inference = gl.IterativeBayesianFilter(
        Bayes_filter=gl.SMC(ess_target=ess_target, init_inference_step=init_inference_step,
                            scale_cov_with_max=scale_cov_with_max),
        sampling=gl.GaussianMixtureModel(
            max_num_components=sampling.max_components, weight_concentration_prior=sampling.prior_weight,
            n_init=sampling.n_init, random_state=seed,
        ),
    )
    return gl.BayesianCalibration(system=system, inference=inference, num_iter=iterations, save_fig=-1,
                                  callback=callback)


def run_iterations(calib, iterations: int, log: io.StringIO,
                   progress: Callable[[IterationStats], None] | None = None) -> tuple[list[IterationStats], bool]:
    """Run GrainLearning's iterations one by one (as ``BayesianCalibration.run`` does), recording each.

    GrainLearning's prints go to ``log``; the scikit-learn convergence warnings of the mixture fit and
    the NumPy warnings GrainLearning's likelihood raises while it searches sigma are logged there too.
    Returns the per-iteration statistics and whether GrainLearning's stopping criterion ended it early.
    """
    _, convergence_warning = _grainlearning()
    history: list[IterationStats] = []
    stopped = False
    for _ in range(iterations):
        with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(log):
            warnings.filterwarnings("always", category=convergence_warning)
            warnings.filterwarnings("always", category=RuntimeWarning, module=r"grainlearning\.")
            stopped = calib.run_one_iteration()
        for item in caught:
            log.write(f"warning: {item.category.__name__}: {item.message}\n")
        system = calib.system
        stats = IterationStats(
            iteration=len(history), sigma=float(np.ravel(system.sigma_max)[0]),
            ess=float(calib.inference.Bayes_filter.ess[-1, 0]),
            samples=np.array(system.param_data, dtype=np.float64),
            weights=np.array(calib.inference.posterior, dtype=np.float64),
        )
        history.append(stats)
        if progress is not None:
            progress(stats)
        if stopped:
            break
    return history, stopped


def calibrate(run_path: str | Path, obs_file: str | Path, *,
              param_ranges: Mapping[str, tuple[float, float]] | None = None, obs_names: Sequence[str] | None = None, control: str | Sequence[str] | None = None,
              fixed_params: Mapping[str, float] | None = None, samples: int = 50, iterations: int = 20,
              ess_target: float = 0.3, seed: int = 0, gmm_n_init: int = 10, max_components: int = 1,
              prior_weight: float | None = None, scale_cov_with_max: bool = False,
              reference: Mapping[str, float] | None = None,
              out_dir: str | Path | None = None, runs_root: str | Path = "runs",
              progress: Callable[[IterationStats], None] | None = None) -> CalibrationResult:
    """Calibrate a surrogate's parameters against an observed curve with GrainLearning.

    Args:
        run_path: a trained or imported sequence run directory.
        obs_file: whitespace table with a ``#`` header (see :mod:`.calibration_io`), ``T`` rows.
        param_ranges: ``{name: (low, high)}`` of the parameters to calibrate (uniform prior bounds);
            default :func:`default_ranges`.
        obs_names: observed columns to fit (surrogate output labels); default: all but the control.
        control: control column(s), one per model input feature; default: the first column.
        fixed_params: values of the run's parameters that are not calibrated (e.g. pressure).
        samples, iterations, ess_target: GrainLearning's ``num_samples``, ``num_iter``, ``ess_target``.
        seed: random state of the Gaussian mixture (the first ensemble is a Halton sequence).
        gmm_n_init, max_components, prior_weight: see :class:`SamplingSettings`.
        scale_cov_with_max: GrainLearning's likelihood option: covariance ``sigma * max_t(obs)^2``
            per observable instead of ``sigma * obs_t^2`` per step (which weights small values most).
        reference: known parameter values (synthetic tests), compared in the outputs.
        out_dir: a new directory to write; default ``runs_root/calibration/<timestamp>``.
        progress: called with each iteration's :class:`IterationStats`.
    """
    from simrnn.sequence import calibration_figures as figures
    from simrnn.sequence import calibration_io as files
    from simrnn.sequence.calibration_sensitivity import curve_sensitivity

    table = files.read_observation_table(obs_file)
    control = _names(control) if control is not None else table.names[:1]
    ctrl = table.stack(control)
    obs_names = list(obs_names) if obs_names else [n for n in table.names if n not in control]
    observed = table.stack(obs_names)
    _check_counts(samples, iterations, ess_target)
    sampling = SamplingSettings(gmm_n_init, max_components, prior_weight)
    sampling.validate()
    reference = {str(k): float(v) for k, v in (reference or {}).items()}
    callback = surrogate_callback(run_path, obs_names, control, fixed_params)
    param_ranges = param_ranges or default_ranges(callback)
    param_ranges = {str(k): (float(v[0]), float(v[1])) for k, v in param_ranges.items()}
    _check_ranges(param_ranges)
    callback.check_param_names(list(param_ranges))
    callback.check_param_names(list(reference), allow_missing=True)
    files.check_new_directory(out_dir)
    start = likelihood_start(observed, obs_names, callback.init_inference_step, scale_cov_with_max,
                             str(table.path))
    ctrl_curve = ctrl[0] if len(control) == 1 else ctrl
    names = list(param_ranges)
    calib = build_grainlearning_calibration(callback, observed, ctrl_curve, ",".join(control), param_ranges,
                                            samples, iterations, ess_target, seed, sampling, start,
                                            scale_cov_with_max)
    log = io.StringIO()
    began = time.perf_counter()
    history, stopped = run_iterations(calib, iterations, log, progress)
    wall = time.perf_counter() - began
    timings = {
        "wall_seconds": wall,
        "surrogate_seconds": callback.seconds,
        "grainlearning_seconds": wall - callback.seconds,
        "surrogate_fraction": callback.seconds / wall,
        "evaluations": callback.calls,
        "surrogate_ms_per_evaluation": 1e3 * callback.seconds / max(callback.calls, 1),
    }
    simulated = np.array(calib.system.sim_data)
    centers = {"most_probable": history[-1].most_probable}
    if set(names) <= set(reference):
        centers["reference"] = np.array([reference[n] for n in names])
    sensitivity = {key: curve_sensitivity(callback, names, center, param_ranges, ctrl_curve, observed, start,
                                          scale_cov_with_max)
                   for key, center in centers.items()}
    out = files.fresh_directory(out_dir, runs_root)
    result = CalibrationResult(out, names, history, stopped, timings, sensitivity, simulated)
    settings = {
        "run": str(Path(run_path)), "obs_file": str(table.path), "obs_names": obs_names, "control": control,
        "param_ranges": param_ranges, "fixed_params": callback.fixed_params, "samples": samples,
        "iterations": iterations, "ess_target": ess_target, "seed": seed,
        "gmm_n_init": sampling.n_init, "max_components": sampling.max_components,
        "prior_weight": sampling.prior_weight, "scale_cov_with_max": scale_cov_with_max,
        "first_predicted_step": callback.init_inference_step, "init_inference_step": start,
    }
    files.write_calibration(result, settings, table, observed, ctrl_curve, reference, log.getvalue())
    figures.plot_final_curves(ctrl[-1], control[-1], observed, simulated, history[-1].weights, obs_names,
                              start, out / files.CURVES_FIGURE)
    figures.plot_posteriors(names, history, param_ranges, reference, out / files.POSTERIORS_FIGURE)
    return result

