"""GrainLearning's "mixed" scheme, the baseline of the hybrid loop: half simulated, half predicted.

As GrainLearning's tutorials ``tutorials/data_driven/LSTM/{hyperbola,triax}_calibration_mixed.py``
run it, with stock GrainLearning (:class:`grainlearning.BayesianCalibration`, its filter, its
Gaussian-mixture resampling with slice sampling, its sigma search and stopping rules) and a callback
that

- in iteration 0 simulates every sample;
- in every later iteration splits the samples 50/50 at random: one half is simulated, a surrogate
  is trained FROM SCRATCH on every simulation so far and predicts the other half.

The tutorials' surrogate is GrainLearning's TensorFlow LSTM; TensorFlow is not installed in simrnn's
environment (nor a dependency of it), so the surrogate here is the hybrid loop's own
:class:`~.hybrid_surrogates.MlpSurrogate`, a new object trained from scratch each iteration with the
hybrid loop's initial-training settings. Two more departures, both for reproducibility and fairness:
the split is drawn from a seeded generator (the tutorials call ``np.random.seed()``), and the
filter starts at the first step (the tutorial's ``init_inference_step = window_size + 1`` skips the
steps its LSTM cannot predict; the MLP predicts every step).

The posterior is GrainLearning's final weighted ensemble: the last iteration's samples ``[N, P]``
with the filter's posterior weights at the last step ``[N]``. GrainLearning's slice sampling draws
ever larger quasi-random sets until enough fall inside its mixture and the bounds; when the mixture
has collapsed onto a tiny region that never happens and the draw exhausts the memory. A caller that
limits the address space (the benchmark does) gets a :class:`MemoryError` there, which ends the run
with the last complete iteration's ensemble and a ``failure`` note.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from math import log

import numpy as np

from simrnn.sequence.calibration.hybrid import HybridSettings, seeded_mlp
from simrnn.sequence.calibration.hybrid_surrogates import MlpSurrogate
from simrnn.sequence.calibration.posterior import WeightedEnsemble


@dataclass(frozen=True)
class MixedSettings:
    """GrainLearning's triaxial mixed tutorial: ``num_iter`` 5, ``error_tol`` 0.1, its sample count
    rule ``int(5 P log P)`` (``samples`` None), covariance scaled with the observation's maximum,
    ``ess_target`` 0.3 (GrainLearning's default), at most 5 tied Gaussian components fitted from
    ``n_init`` 10 starts (``from_dict``'s default), slice sampling; the surrogate trained as the
    hybrid loop's first one: at most ``epochs`` epochs, early-stopped after ``patience`` on a
    ``holdout`` fraction."""

    num_iter: int = 5
    samples: int | None = None
    error_tol: float | None = 0.1
    ess_target: float = 0.3
    max_components: int = 5
    covariance_type: str = "tied"
    n_init: int = 10
    epochs: int = MlpSurrogate.initial_epochs
    patience: int = MlpSurrogate.patience
    holdout: float = HybridSettings.holdout
    seed: int = 0

    def num_samples(self, num_params: int) -> int:
        return self.samples or int(5 * num_params * log(num_params))


@dataclass
class MixedResult(WeightedEnsemble):
    """GrainLearning's final weighted ensemble ``samples [N, P]``, ``weights [N]``, the cost, and
    ``failure``: why GrainLearning stopped early, if it did."""

    samples: np.ndarray
    weights: np.ndarray
    simulations: int
    iterations: int
    sigma: list[float]
    failure: str | None = None


def mixed_calibrate(simulate: Callable[[np.ndarray], np.ndarray], observed: np.ndarray, control: np.ndarray,
                    param_ranges: Mapping[str, tuple[float, float]], obs_names: list[str],
                    settings: MixedSettings | None = None) -> MixedResult:
    """Run GrainLearning's mixed scheme on ``simulate(params [N, P]) -> curves [N, T, O]`` against
    ``observed [O, T]`` over ``control [T]``; returns its final weighted ensemble."""
    from grainlearning import BayesianCalibration

    settings = settings or MixedSettings()
    names = list(param_ranges)
    bounds = np.array([param_ranges[n] for n in names], dtype=np.float64)
    shape = (len(control), len(obs_names))
    rng = np.random.default_rng(settings.seed)
    store = {"params": np.zeros((0, len(names))), "curves": np.zeros((0, *shape)), "calls": 0}

    def run_original(params: np.ndarray) -> np.ndarray:
        curves = simulate(params)  # [n, T, O]
        store["params"] = np.vstack([store["params"], params])
        store["curves"] = np.concatenate([store["curves"], curves])
        store["calls"] += len(params)
        return np.moveaxis(curves, 1, 2)  # GrainLearning's [n, O, T]

    def run_surrogate(params: np.ndarray, iteration: int) -> np.ndarray:
        net = seeded_mlp(bounds, shape, settings.seed + iteration)  # new: trained from scratch on every simulation
        net.fit(store["params"], store["curves"], settings.epochs, settings.patience, settings.holdout,
                settings.seed + iteration)
        return np.moveaxis(net(params), 1, 2)

    def callback(calib) -> None:
        params = calib.system.param_data
        if calib.curr_iter == 0:
            calib.system.set_sim_data(run_original(params))
            return
        ids = rng.permutation(len(params))
        origin, surrogate = ids[:len(ids) // 2], ids[len(ids) // 2:]
        data = np.zeros((len(params), *shape[::-1]))
        data[origin] = run_original(params[origin])
        data[surrogate] = run_surrogate(params[surrogate], calib.curr_iter)
        calib.system.set_sim_data(data)

    calibration = BayesianCalibration.from_dict({
        "num_iter": settings.num_iter,
        "error_tol": settings.error_tol,
        "callback": callback,
        "system": {
            "param_min": bounds[:, 0].tolist(), "param_max": bounds[:, 1].tolist(), "param_names": names,
            "num_samples": settings.num_samples(len(names)), "obs_names": list(obs_names), "ctrl_name": "control",
            "obs_data": np.asarray(observed, dtype=np.float64), "ctrl_data": np.asarray(control, dtype=np.float64),
            "sim_name": "mixed",
        },
        "inference": {
            "Bayes_filter": {"ess_target": settings.ess_target, "scale_cov_with_max": True},
            "sampling": {"max_num_components": settings.max_components, "covariance_type": settings.covariance_type,
                         "slice_sampling": True, "n_init": settings.n_init, "random_state": settings.seed},
        },
        "save_fig": -1,
    })
    failure = None
    try:
        calibration.run()
    except MemoryError as exc:  # GrainLearning's resampling grows its draw while too few fall in bounds
        failure = (f"GrainLearning's resampling after its iteration {calibration.curr_iter + 1} of {settings.num_iter} ran "
                   f"out of memory ({exc}); "
                   "the posterior is that iteration's weighted ensemble")
    sigma = [float(np.ravel(s)[0]) for s in calibration.inference.sigma_list]
    if failure:  # the failed iteration's inference was done; GrainLearning records its sigma after resampling
        sigma.append(float(np.ravel(calibration.system.sigma_max)[0]))
    weights = np.asarray(calibration.inference.posterior, dtype=np.float64)
    return MixedResult(np.array(calibration.system.param_data, dtype=np.float64), weights / weights.sum(),
                       store["calls"], len(sigma), sigma, failure)
