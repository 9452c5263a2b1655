"""Bayesian calibration of a sequence model's parameters: ensemble MCMC (emcee) or GrainLearning's filter.

Modules, in the order data flows (each imports only those above it, never the other way):

- :mod:`.observations`  the observation table (GrainLearning's tutorial format)
- :mod:`.protocol`      the model protocol params [N, P] -> curves [N, T, O] and its adapters
- :mod:`.callbacks`     GrainLearning callbacks: a trained surrogate, or the synthetic simulator
- :mod:`.likelihood`    the error model (noise + model error per curve, AR(1) residuals, dependent observables)
- :mod:`.mcmc`          emcee's ensemble sampler and its diagnostics (tau, ESS, split R-hat)
- :mod:`.posterior`     weighted-ensemble statistics: mean, std, 90 % interval; the result type
- :mod:`.bayes_filter`  GrainLearning's filter classes with that likelihood, computed stably
- :mod:`.sensitivity`   how strongly each parameter moves the curves (identifiability)
- :mod:`.artefacts`, :mod:`.figures`  the files and figures of a calibration
- :mod:`.mcmc_driver`   :func:`calibrate_mcmc`: several curves, one joint posterior
- :mod:`.driver`        :func:`calibrate`: either sampler; GrainLearning's iterations
- :mod:`.demo`          a held-out synthetic curve calibrated with the surrogate and the simulator

Example::

    from simrnn.sequence.calibration import calibrate

    result = calibrate("runs/drained", "experimental_test_drained_s3=0.2.dat",
                       param_ranges={"E": (7, 10), "mu": (0, 60), ...}, fixed_params={"pressure": 0.2})
    result.posterior["E"]     # {"mean", "std", "ci90", "most_probable", ...}
"""

from simrnn.sequence.calibration.callbacks import (
    SimulatorCallback,
    SurrogateCallback,
    simulator_callback,
    surrogate_callback,
)
from simrnn.sequence.calibration.driver import calibrate
from simrnn.sequence.calibration.mcmc_driver import McmcResult, calibrate_mcmc
from simrnn.sequence.calibration.posterior import CalibrationResult, IterationStats
from simrnn.sequence.calibration.protocol import CurveModel, function_model, run_model, simulator_model

__all__ = [
    "CalibrationResult", "CurveModel", "IterationStats", "McmcResult", "SimulatorCallback", "SurrogateCallback",
    "calibrate", "calibrate_mcmc", "function_model", "run_model", "simulator_callback", "simulator_model",
    "surrogate_callback",
]
